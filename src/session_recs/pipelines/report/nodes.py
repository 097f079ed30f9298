"""Nodes of the report pipeline: adapt :mod:`session_recs.evaluation.reporting` to the catalog."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pandas as pd
from matplotlib.figure import Figure
from pydantic import Field

from session_recs.core.config import Settings
from session_recs.core.tables import to_frame
from session_recs.evaluation import (
    breakdown,
    charts,
    compare,
    plotly_theme,
    reporting,
    search_results,
)
from session_recs.evaluation.next_event import EvaluationConfig
from session_recs.evaluation.profile import split_line
from session_recs.evaluation.provenance import decide_exclude_query, split_fingerprints
from session_recs.pipelines.namespaces import pipeline_of, tuned_name

logger = logging.getLogger(__name__)


class ReportConfig(Settings):
    """``params:report``: the K the report shows, and published numbers to show beside ours."""

    section: ClassVar[str] = "report"

    k: int = Field(10, ge=1)
    references: dict[str, Any] = Field(default_factory=dict)


def describe_report_conditions(  # noqa: PLR0917 (a node: Kedro passes inputs by position)
    train_sessions: pd.DataFrame,
    test_pairs: pd.DataFrame,
    test_sessions: pd.DataFrame,
    exclude_query: Any,
    unknown_targets: str,
    dataset: str,
) -> dict[str, Any]:
    """What the report's models must have been measured on to share its tables: the
    fingerprints of the latest split (read from the data, not assumed) and the evaluation
    settings in force that change what is measured (``exclude_query: auto`` decided with
    its evidence)."""
    train_sessions = to_frame(train_sessions)
    settings = EvaluationConfig(exclude_query=exclude_query, unknown_targets=unknown_targets)
    exclude, why = decide_exclude_query(settings.exclude_query, train_sessions)
    conditions = compare.report_conditions(
        str(dataset),
        split_fingerprints(train_sessions, test_pairs, test_sessions),
        exclude,
        settings.unknown_targets,
    )
    words = (
        f"exclude_query {str(exclude).lower()} ({why}); unknown_targets {settings.unknown_targets}"
    )
    return {**conditions, "settings": words}


def compile_model_comparison(
    conditions: dict[str, Any], **metrics: pd.DataFrame | None
) -> pd.DataFrame:
    """One long table of every model's metrics (keyword = model name; None = not run:
    such a model gets one row with protocol ``not_run``, so the report can name it);
    column ``differs`` names what a model was measured on that is not ``conditions``."""
    return compare.compile_comparison(metrics, conditions)


def test_against_best(
    report: ReportConfig, conditions: dict[str, Any], **query_ranks: pd.DataFrame | None
) -> pd.DataFrame:
    """Each model against the best on the same test queries (paired permutation tests of
    Recall@k and MRR@k), from the per-query ranks (None: not run) of the models measured
    under ``conditions``."""
    k = ReportConfig.model_validate(report).k
    return compare.paired_tests(query_ranks, k, conditions=conditions)


def break_down_by_items_seen(
    report: ReportConfig, conditions: dict[str, Any], **query_ranks: pd.DataFrame | None
) -> pd.DataFrame:
    """Recall@k and MRR@k per bucket of items seen (session length or position), per
    model, from the per-query ranks (None: not run) measured under ``conditions``."""
    k = ReportConfig.model_validate(report).k
    return breakdown.by_items_seen(query_ranks, k, conditions)


def chart_model_comparison(comparison: pd.DataFrame, report: ReportConfig) -> Any:
    """The interactive comparison chart (plotly): kedro-viz previews it."""
    report = ReportConfig.model_validate(report)
    # kedro-viz draws it over its light or dark theme: colours that read on both.
    return plotly_theme.theme_neutral(
        charts.comparison_chart(comparison, report.k, report.references)
    )


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


def run_metadata(
    dataset: str,
    input_versions: dict[str, str] | None = None,
    conditions: dict[str, Any] | None = None,
    profile: dict[str, Any] | None = None,
) -> dict[str, str]:
    """When and from what the report was made: date, git commit (when the project is a
    git checkout), the dataset, its split and the evaluation settings (``conditions``),
    the versions of its datasets the report read, and the versions of the packages that
    made the numbers."""
    import datetime
    import subprocess
    from importlib import metadata

    info = {
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "dataset": dataset,
    }
    if conditions:
        info["split"] = _split_text(conditions, profile)
        info["evaluation"] = conditions.get("settings", "")
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


def _split_text(conditions: dict[str, Any], profile: dict[str, Any] | None) -> str:
    """The split in words (strategy, settings, sizes, fingerprints), or what is stale."""
    fingerprints = f"train {conditions['train_fingerprint']}, test {conditions['test_fingerprint']}"
    if not profile or "split" not in profile:
        return f"fingerprints {fingerprints}"
    described = profile.get("fingerprints", {})
    if (described.get("train"), described.get("test")) != (
        conditions["train_fingerprint"],
        conditions["test_fingerprint"],
    ):
        return (
            f"fingerprints {fingerprints}; the dataset profile below describes another split "
            "(an interrupted run): `kedro run --pipelines=split` makes both again"
        )
    train, test = profile["train"], profile["test"]
    return (
        f"{split_line(profile['split'])}; {train['sessions']:,} training sessions, "
        f"{test['pairs']:,} test pairs from {test['sessions']:,} sessions; "
        f"fingerprints {fingerprints}"
    )


def reevaluate_command(model: str, dataset: str) -> str:
    """The command that fits and evaluates ``model`` again on the latest split."""
    pipeline = pipeline_of(model)
    return f"kedro run --pipelines={pipeline} --namespaces={model} --params=dataset={dataset}"


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
    conditions: dict[str, Any] | None = None,
    by_items_seen: pd.DataFrame | None = None,
    **searches: pd.DataFrame | None,
) -> tuple[str, str, Figure]:
    """Markdown, HTML (with the interactive charts) and a static bar chart of the
    comparison at ``report.k``, opening with the dataset's profile, and with each search
    that has run (``searches``: tune results per searched model): its cost and the model
    before and after. A comparison with no model measured yet says so in one log line."""
    report = ReportConfig.model_validate(report)
    tune_results = {
        model: search_results.Search(results, model, tuned_name(model))
        for model, results in searches.items()
    }
    title = f"session-recs model comparison: {dataset}"
    k, references = report.k, report.references
    figure = reporting.comparison_figure(comparison, k, references)
    if compare.measured(comparison).empty:
        logger.warning(
            "No model has metrics for dataset %s yet: the report lists them as not run. "
            "`kedro run --params=dataset=%s` trains and evaluates them.",
            dataset,
            dataset,
        )
    commands = {model: reevaluate_command(model, dataset) for model in comparison["model"].unique()}
    shared = {
        "profile": dataset_profile,
        "tests": tests,
        "metadata": run_metadata(dataset, input_versions, conditions, dataset_profile),
        "commands": commands,
    }
    return (
        reporting.comparison_markdown(comparison, k, references, title, tune_results, **shared),
        reporting.comparison_html(
            comparison,
            k,
            references,
            title,
            tune_results,
            charts=charts.report_charts(comparison, k, references, by_items_seen),
            **shared,
        ),
        figure,
    )
