"""Nodes of the report pipeline: adapt :mod:`session_recs.reporting` to the catalog."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from session_recs import reporting


def compile_model_comparison(**metrics: pd.DataFrame | None) -> pd.DataFrame:
    """One long table of every model's metrics (keyword = model name; None = not trained)."""
    return reporting.compile_comparison(metrics)


def render_model_comparison(
    comparison: pd.DataFrame,
    report: dict[str, Any],
    dataset: str,
    tune_results: pd.DataFrame | None,
) -> tuple[str, str, Figure]:
    """Markdown, HTML and a bar chart of the comparison at ``report.k`` (with the tune
    search's best trials when ``tune_results`` exists)."""
    title = f"session-recs model comparison: {dataset}"
    references = report.get("references") or {}
    k = report["k"]
    return (
        reporting.comparison_markdown(comparison, k, references, title, tune_results),
        reporting.comparison_html(comparison, k, references, title, tune_results),
        reporting.comparison_figure(comparison, k, references),
    )
