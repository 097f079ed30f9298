"""The model comparison rendered: a Markdown report with a static bar chart, and a
self-contained HTML report (templates/report.html.j2) with the interactive charts.

The tables they show are :mod:`session_recs.evaluation.compare`; the charts
:mod:`session_recs.evaluation.charts`; the searches' sections
:mod:`session_recs.evaluation.search_results`; the glossary
:mod:`session_recs.evaluation.glossary`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib.figure import Figure

from session_recs.evaluation.charts import Chart
from session_recs.evaluation.compare import (
    best_models,
    comparison_tables,
    elsewhere_table,
    measured,
    not_run,
    reference_table,
    with_tests,
)
from session_recs.evaluation.glossary import GLOSSARY, glossary_markdown
from session_recs.evaluation.palette import NEUTRAL, model_styles
from session_recs.evaluation.profile import profile_lines
from session_recs.evaluation.search_results import (
    LEGACY,
    Search,
    as_searches,
    search_lines,
    search_table,
)

#: What every table's intervals and tests are.
INTERVALS = (
    "Values with 95% bootstrap confidence intervals (resampled test queries); the best "
    "value of each column is marked. The last column tests each model against the best by "
    "recall on the same queries: the difference and a two-sided paired permutation test's "
    "p-value (2,000 sign flips), Holm-corrected."
)
#: What the correction of the p-values is.
HOLM_NOTE = (
    "The p-values are Holm-corrected: a table tests its m other models against the best "
    "at once, so the smallest p-value is multiplied by m, the next by m - 1, and so on "
    "(never below the one before, at most 1). A corrected p under 0.05 then keeps the "
    "chance of calling any model different from the best by luck under 5%. A permutation "
    "p-value is at least 1/2,001, so a corrected one at least m/2,001 (0.005 for m = 11). "
    "The uncorrected values are in model_significance (column p_value)."
)
#: Columns where the highest value is the best one (marked in the report).
ELSEWHERE = "Measured on other data or settings (not compared)"
ELSEWHERE_TEXT = (
    "These models' metrics were measured on other test queries, training sessions or "
    "evaluation settings than the split and settings above (an earlier split, a one-off "
    "--params run, an interrupted run), so they are left out of the tables and the paired "
    "tests. Each command re-evaluates one of them on the current split."
)


def _marked(table: pd.DataFrame, marks: Mapping[str, str], mark: str) -> pd.DataFrame:
    """``table`` with the best cell of each marked column wrapped as ``mark`` (a format)."""
    table = table.copy()
    for column, model in marks.items():
        if column in table.columns and model in table.index:
            table.loc[model, column] = mark.format(table.loc[model, column])
    return table


def comparison_markdown(
    comparison: pd.DataFrame,
    k: int,
    references: Mapping[str, Any],
    title: str,
    tune_results: pd.DataFrame | None = None,
    *,
    profile: Mapping[str, Any] | None = None,
    tests: pd.DataFrame | None = None,
    metadata: Mapping[str, str] | None = None,
    commands: Mapping[str, str] | None = None,
) -> str:
    """The report as Markdown: the run's metadata, the dataset's profile, a table per
    protocol/context (best values in bold, each model's paired test against the best),
    the models not run yet, then the published numbers."""
    lines = [f"# {title}", ""]
    if metadata:
        lines += [" · ".join(f"{key}: {value}" for key, value in metadata.items()), ""]
    if profile:
        lines += ["## The dataset", "", "| | |", "| --- | --- |"]
        lines += [f"| {label} | {value} |" for label, value in profile_lines(dict(profile))]
        lines.append("")
    n = measured(comparison).groupby(["protocol", "context"])["n_queries"].first()
    tables = comparison_tables(comparison, k)
    marks = best_models(comparison, k)
    if not tables:
        lines += ["No model has metrics for this dataset yet: run `kedro run`.", ""]
    for (protocol, context), plain in tables.items():
        table = _marked(
            with_tests(plain, tests, protocol, context), marks[protocol, context], "**{}**"
        )
        lines += [
            f"## {protocol} protocol, `{context}` context "
            f"({int(n[protocol, context]):,} test queries)",
            "",
            INTERVALS,
            "",
            table.to_markdown(disable_numparse=True),
            "",
        ]
    if tables and tests is not None and not tests.empty:
        lines += [HOLM_NOTE, ""]
    if tables:
        lines += [
            "The charts (Recall, MRR and NDCG across K, accuracy against coverage and "
            "popularity, accuracy by session length) are in the HTML report beside this "
            "file; the static chart is `model_comparison.png`.",
            "",
        ]
    apart = elsewhere_table(comparison, commands, k)
    if apart is not None:
        apart["re-evaluate with"] = "`" + apart["re-evaluate with"] + "`"
        lines += [f"## {ELSEWHERE}", "", ELSEWHERE_TEXT, "", apart.to_markdown(), ""]
    missing = not_run(comparison)
    if missing:
        lines += [f"Not run yet: {', '.join(missing)}.", ""]
    if references.get("models"):
        lines += [
            f"## Published reference numbers ({references.get('source', '')})",
            "",
            reference_table(comparison, references, k).to_markdown(),
            "",
        ]
    searches = as_searches(tune_results)
    tuned = search_table(comparison, searches, k)
    if tuned is not None:
        lines += [
            f"## Tuned models (test recall@{k} before and after each search)",
            "",
            "Each search's best configuration on the validation pairs, refitted on the "
            "training sessions as `<model>_tuned`; its cost in trials and trial-hours.",
            "",
            tuned.to_markdown(disable_numparse=True),
            "",
        ]
    search = search_lines(searches.get(LEGACY, Search(None, "", "")).results, comparison)
    if search is not None:
        text, table = search
        lines += [
            "## Hyperparameter search (validation pairs)",
            "",
            text,
            "",
            table.to_markdown(index=False, floatfmt=".4g"),
        ]
        lines.append("")
    lines += ["## Glossary", "", glossary_markdown()]
    return "\n".join(lines)


def comparison_html(
    comparison: pd.DataFrame,
    k: int,
    references: Mapping[str, Any],
    title: str,
    tune_results: pd.DataFrame | None = None,
    *,
    profile: Mapping[str, Any] | None = None,
    tests: pd.DataFrame | None = None,
    metadata: Mapping[str, str] | None = None,
    charts: Sequence[Chart] = (),
    commands: Mapping[str, str] | None = None,
) -> str:
    """The report as one self-contained HTML page rendered from templates/report.html.j2,
    in step with :func:`comparison_markdown`: styles inline, the ``charts`` interactive,
    plotly.js inlined once (no network needed to open it)."""
    tables = comparison_tables(comparison, k)
    n = measured(comparison).groupby(["protocol", "context"])["n_queries"].first()
    marks = best_models(comparison, k)
    sections = [
        {
            "protocol": protocol,
            "context": context,
            "queries": f"{int(n[protocol, context]):,}",
            "table": _html_table(
                _marked(
                    with_tests(plain, tests, protocol, context).map(html.escape),
                    marks[protocol, context],
                    "<strong>{}</strong>",
                ).rename_axis(index=None, columns=None),
                escape=False,
            ),
        }
        for (protocol, context), plain in tables.items()
    ]
    apart = elsewhere_table(comparison, commands, k)
    searches = as_searches(tune_results)
    tuned = search_table(comparison, searches, k)
    search = search_lines(searches.get(LEGACY, Search(None, "", "")).results, comparison)
    shown = list(charts) if tables else []
    page = {
        "title": title,
        "metadata": dict(metadata or {}),
        "profile": profile_lines(dict(profile)) if profile else [],
        "intervals": INTERVALS,
        "holm_note": HOLM_NOTE if sections and tests is not None and not tests.empty else "",
        "sections": sections,
        "charts": [
            {"key": c.key, "title": c.title, "caption": c.caption, "div": _chart_div(c)}
            for c in shown
        ],
        "plotly_js": Markup(_plotly_js()) if shown else "",
        "elsewhere": _html_table(apart) if apart is not None else "",
        "elsewhere_heading": ELSEWHERE,
        "elsewhere_text": ELSEWHERE_TEXT,
        "not_run": not_run(comparison),
        "references_source": references.get("source", ""),
        "references": (
            _html_table(reference_table(comparison, references, k))
            if references.get("models")
            else ""
        ),
        "tuned": _html_table(tuned) if tuned is not None else "",
        "k": k,
        "search_text": _code(search[0]) if search else "",
        "search": _html_table(search[1], index=False) if search else "",
        "glossary": _glossary_groups(),
    }
    return str(_template("report.html.j2").render(**page))


def _code(text: str) -> Markup:
    """``text`` escaped, its Markdown `code` spans as <code> elements."""
    import re

    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text)))


def _html_table(table: pd.DataFrame, *, escape: bool = True, index: bool = True) -> Markup:
    return Markup(table.to_html(escape=escape, index=index, border=0))


def _chart_div(chart: Chart) -> Markup:
    div = chart.figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        include_mathjax=False,
        div_id=f"chart-{chart.key}",
        config={"displaylogo": False, "responsive": True},
    )
    return Markup(div)


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def _glossary_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for group, term, definition in GLOSSARY:
        groups.setdefault(group, []).append((term, definition))
    return list(groups.items())


def _template(name: str) -> Any:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("session_recs.evaluation", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    return environment.get_template(name)


def _recall_groups(comparison: pd.DataFrame, k: int) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    comparison = measured(comparison)
    at_k = comparison[(comparison["k"] == k) & (comparison["metric"] == "recall")]
    return [
        (key, group.sort_values("value"))
        for key, group in at_k.groupby(["protocol", "context"], sort=False)
    ]


def comparison_figure(comparison: pd.DataFrame, k: int, references: Mapping[str, Any]) -> Figure:
    """Recall@k per model with 95% CI error bars, one panel per protocol/context."""
    groups = _recall_groups(comparison, k)
    styles = model_styles(measured(comparison)["model"]) if groups else {}
    # A bare Figure (no pyplot): no global figure state, any backend, notebooks included.
    if not groups:
        fig = Figure(figsize=(6, 2))
        fig.text(0.5, 0.5, "No model has metrics yet", ha="center", va="center")
        return fig
    fig = Figure(figsize=(6 * len(groups), 4.5))
    axes = fig.subplots(1, len(groups), squeeze=False)
    for ax, ((protocol, context), group) in zip(axes[0], groups, strict=True):
        part = group
        errors = np.vstack([part["value"] - part["ci_low"], part["ci_high"] - part["value"]])
        bars = ax.barh(
            part["model"],
            part["value"],
            xerr=errors,
            color=[styles[str(model)].colour for model in part["model"]],
            ecolor=NEUTRAL,
            capsize=3,
        )
        for bar, model in zip(bars, part["model"], strict=True):
            bar.set_hatch(styles[str(model)].hatch)
        for name, values in (references.get("models") or {}).items():
            if "recall" in values:
                ax.axvline(values["recall"], linestyle="--", linewidth=1, color=NEUTRAL)
                ax.text(
                    values["recall"],
                    -0.6,
                    name,
                    rotation=90,
                    fontsize=7,
                    color=NEUTRAL,
                    va="bottom",
                )
        ax.set_xlabel(f"Recall@{k} (95% CI)")
        ax.set_title(f"{protocol}, {context} context")
    fig.tight_layout()
    return fig
