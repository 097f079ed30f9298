"""Nodes of the report pipeline: adapt :mod:`session_recs.reporting` to the catalog."""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd
from matplotlib.figure import Figure
from pydantic import Field

from session_recs import reporting
from session_recs.config import Settings
from session_recs.pipelines.namespaces import tuned_name


class ReportConfig(Settings):
    """``params:report``: the K the report shows, and published numbers to show beside ours."""

    section: ClassVar[str] = "report"

    k: int = Field(10, ge=1)
    references: dict[str, Any] = Field(default_factory=dict)


def compile_model_comparison(**metrics: pd.DataFrame | None) -> pd.DataFrame:
    """One long table of every model's metrics (keyword = model name; None = not run:
    such a model gets one row with protocol ``not_run``, so the report can name it)."""
    return reporting.compile_comparison(metrics)


def test_against_best(report: ReportConfig, **query_ranks: pd.DataFrame | None) -> pd.DataFrame:
    """Each model against the best on the same test queries (paired permutation tests of
    Recall@k and MRR@k), from every model's per-query ranks (None: not run)."""
    return reporting.paired_tests(query_ranks, ReportConfig.model_validate(report).k)


def chart_model_comparison(comparison: pd.DataFrame, report: ReportConfig) -> Any:
    """The interactive comparison chart (plotly): kedro-viz previews it."""
    report = ReportConfig.model_validate(report)
    return reporting.comparison_chart(comparison, report.k, report.references)


def versions_line(versions: dict[str, str] | None) -> str:
    """The input datasets' versions, grouped: ``<version>: <n> datasets (a, b, ...)``,
    newest first."""
    groups: dict[str, list[str]] = {}
    for name, version in (versions or {}).items():
        groups.setdefault(version, []).append(name)
    parts = []
    for version in sorted(groups, reverse=True):
        names = sorted(groups[version])
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        parts.append(f"{version}: {len(names)} dataset{'s' * (len(names) > 1)} ({shown})")
    return "; ".join(parts)


def run_metadata(dataset: str, input_versions: dict[str, str] | None = None) -> dict[str, str]:
    """When and from what the report was made: date, git commit (when the project is a
    git checkout), the dataset and the versions of its datasets the report read, and the
    versions of the packages that made the numbers."""
    import datetime
    import subprocess
    from importlib import metadata

    info = {
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "dataset": dataset,
    }
    if input_versions:
        info["input versions"] = versions_line(input_versions)
    try:
        commit = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
        info["git commit"] = commit + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass  # not a git checkout, or no git: the report says nothing about it
    versions = []
    for package in ("session-recs", "kedro", "gensim", "ray", "torch", "numpy", "pandas"):
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    info["packages"] = ", ".join(versions)
    return info


def _git(*args: str) -> str:
    import subprocess

    done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, check=True)
    return done.stdout.strip()


def render_model_comparison(
    comparison: pd.DataFrame,
    report: ReportConfig,
    dataset: str,
    dataset_profile: dict[str, Any] | None,
    *,
    tests: pd.DataFrame | None = None,
    input_versions: dict[str, str] | None = None,
    **searches: pd.DataFrame | None,
) -> tuple[str, str, Figure]:
    """Markdown, HTML and a bar chart of the comparison at ``report.k``, opening with the
    dataset's profile, and with each search that has run (``searches``: tune results per
    searched model): its cost and the model before and after."""
    report = ReportConfig.model_validate(report)
    tune_results = {
        model: reporting.Search(results, model, tuned_name(model))
        for model, results in searches.items()
    }
    title = f"session-recs model comparison: {dataset}"
    k, references = report.k, report.references
    figure = reporting.comparison_figure(comparison, k, references)
    shared = {
        "profile": dataset_profile,
        "tests": tests,
        "metadata": run_metadata(dataset, input_versions),
    }
    return (
        reporting.comparison_markdown(comparison, k, references, title, tune_results, **shared),
        reporting.comparison_html(
            comparison, k, references, title, tune_results, figure=figure, **shared
        ),
        figure,
    )
