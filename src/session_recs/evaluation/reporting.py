"""The model comparison rendered: a Markdown and a self-contained HTML report, an
interactive (plotly) chart and a static bar chart.

The tables they show are :mod:`session_recs.evaluation.compare`; the searches'
sections :mod:`session_recs.evaluation.search_results`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from session_recs.evaluation import plotly_theme
from session_recs.evaluation.compare import (
    best_models,
    comparison_tables,
    elsewhere_table,
    measured,
    not_run,
    reference_table,
    with_tests,
)
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
    "p-value (2,000 sign flips)."
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
    search = search_lines(searches.get(LEGACY, Search(None, "", "")).results)
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
    figure: Figure | None = None,
    commands: Mapping[str, str] | None = None,
) -> str:
    """The report as one self-contained HTML page (styles inline, ``figure`` embedded as
    a PNG data URI, no external reference), in step with :func:`comparison_markdown`."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse;margin-bottom:1em}td,th{border:1px solid #ccc;"
        "padding:4px 8px;text-align:right}th{background:#f4f4f4}.meta{color:#555}"
        "</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if metadata:
        parts.append(
            "<p class='meta'>"
            + " · ".join(
                f"{html.escape(key)}: {html.escape(value)}" for key, value in metadata.items()
            )
            + "</p>"
        )
    if profile:
        rows = "".join(
            f"<tr><th>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>"
            for label, value in profile_lines(dict(profile))
        )
        parts.append(f"<h2>The dataset</h2><table>{rows}</table>")
    tables = comparison_tables(comparison, k)
    if not tables:
        parts.append(
            "<p>No model has metrics for this dataset yet: run <code>kedro run</code>.</p>"
        )
    n = measured(comparison).groupby(["protocol", "context"])["n_queries"].first()
    marks = best_models(comparison, k)
    for (protocol, context), plain in tables.items():
        table = _marked(
            with_tests(plain, tests, protocol, context).map(html.escape),
            marks[protocol, context],
            "<strong>{}</strong>",
        )
        parts.append(
            f"<h2>{protocol} protocol, <code>{context}</code> context "
            f"({int(n[protocol, context]):,} test queries)</h2><p>{html.escape(INTERVALS)}</p>"
        )
        parts.append(table.rename_axis(index=None, columns=None).to_html(escape=False))
    if figure is not None and tables:
        parts.append(f"<img alt='Recall@{k} per model' src='{_png_data_uri(figure)}'>")
    apart = elsewhere_table(comparison, commands, k)
    if apart is not None:
        parts.append(f"<h2>{ELSEWHERE}</h2><p>{html.escape(ELSEWHERE_TEXT)}</p>")
        parts.append(apart.to_html())
    missing = not_run(comparison)
    if missing:
        parts.append(f"<p>Not run yet: {html.escape(', '.join(missing))}.</p>")
    if references.get("models"):
        parts.append(f"<h2>Published reference numbers ({references.get('source', '')})</h2>")
        parts.append(reference_table(comparison, references, k).to_html())
    searches = as_searches(tune_results)
    tuned = search_table(comparison, searches, k)
    if tuned is not None:
        parts.append(f"<h2>Tuned models (test recall@{k} before and after each search)</h2>")
        parts.append(tuned.to_html())
    search = search_lines(searches.get(LEGACY, Search(None, "", "")).results)
    if search is not None:
        text, table = search
        parts += ["<h2>Hyperparameter search (validation pairs)</h2>", f"<p>{text}</p>"]
        parts.append(table.to_html(index=False))
    parts.append("</body></html>")
    return "\n".join(parts)


def _png_data_uri(figure: Figure) -> str:
    import base64
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


#: 48 distinct colours (plotly's Dark24 then Light24): a model keeps its colour in every
#: panel and chart, and no two of up to 48 models share one.
PALETTE = (
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86",
    "#EB663B", "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE",
    "#862A16", "#A777F1", "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038",
    "#FD3216", "#00FE35", "#6A76FC", "#FED4C4", "#FE00CE", "#0DF9FF", "#F6F926", "#FF9616",
    "#479B55", "#EEA6FB", "#DC587D", "#D626FF", "#6E899C", "#00B5F7", "#B68E00", "#C9FBE5",
    "#FF0092", "#22FFA7", "#E3EE9E", "#86CE00", "#BC7196", "#7E7DCD", "#FC6955", "#E48F72",
)  # fmt: skip


def model_colours(models: Sequence[str]) -> dict[str, str]:
    """A colour per model, by the models' sorted names (the same in every chart of a run)."""
    return {
        model: PALETTE[i % len(PALETTE)] for i, model in enumerate(sorted(set(map(str, models))))
    }


def _recall_groups(comparison: pd.DataFrame, k: int) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    comparison = measured(comparison)
    at_k = comparison[(comparison["k"] == k) & (comparison["metric"] == "recall")]
    return [
        (key, group.sort_values("value"))
        for key, group in at_k.groupby(["protocol", "context"], sort=False)
    ]


def comparison_chart(comparison: pd.DataFrame, k: int, references: Mapping[str, Any]) -> Any:
    """The interactive (plotly) comparison: Recall@k per model with its 95% interval, one
    panel per protocol and context side by side (the models in one order, named once), the
    model's other figures on hover; for kedro-viz, legible on its light and dark themes."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    groups = _recall_groups(comparison, k)
    if not groups:
        figure = go.Figure()
        figure.add_annotation(text="No model has metrics yet", showarrow=False)
        return plotly_theme.theme_neutral(figure)
    colours = plotly_theme.colours(measured(comparison)["model"])
    hatches = plotly_theme.patterns(measured(comparison)["model"])
    protocols = {protocol for (protocol, _), _ in groups}
    titles = [
        f"{context} context" if len(protocols) == 1 else f"{protocol}, {context}"
        for (protocol, context), _ in groups
    ]
    figure = make_subplots(
        rows=1, cols=len(groups), subplot_titles=titles, shared_yaxes=True,
        horizontal_spacing=0.04,
    )  # fmt: skip
    for column, ((protocol, context), part) in enumerate(groups, start=1):
        queries = part["n_queries"] if "n_queries" in part else pd.Series(0, index=part.index)
        figure.add_trace(
            go.Bar(
                x=part["value"],
                y=part["model"],
                orientation="h",
                marker={
                    "color": [colours[str(model)] for model in part["model"]],
                    "pattern": {
                        "shape": [hatches[str(model)] for model in part["model"]],
                        "fillmode": "overlay",
                        "fgcolor": plotly_theme.HATCH,
                    },
                },
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": part["ci_high"] - part["value"],
                    "arrayminus": part["value"] - part["ci_low"],
                },
                customdata=np.column_stack([part["ci_low"], part["ci_high"], queries]),
                hovertemplate=(
                    f"%{{y}}<br>Recall@{k} %{{x:.3f}} [%{{customdata[0]:.3f}}, "
                    "%{customdata[1]:.3f}]<br>%{customdata[2]:,} test queries<extra></extra>"
                ),
                name=f"{protocol}, {context}",
                showlegend=False,
            ),
            row=1,
            col=column,
        )
        for name, values in (references.get("models") or {}).items():
            if "recall" in values:
                figure.add_vline(
                    x=values["recall"], line_dash="dash", line_color=plotly_theme.OKABE_ITO[5],
                    row=1, col=column, annotation_text=name, annotation_textangle=-90,
                )  # fmt: skip
        figure.update_xaxes(title_text=f"Recall@{k}", rangemode="tozero", row=1, col=column)
    # One model order for every panel (the first panel's, best on top): names shown once.
    order = groups[0][1]["model"].astype(str).tolist()
    rest = sorted({str(m) for _, part in groups for m in part["model"]} - set(order))
    # Every name as a tick (kedro-viz's preview would otherwise thin them to 5).
    names = rest + order
    figure.update_yaxes(
        categoryorder="array", categoryarray=names, tickmode="array", tickvals=names
    )
    protocol = next(iter(protocols)) if len(protocols) == 1 else ""
    title = f"Recall@{k} with 95% intervals" + (f", {protocol} protocol" if protocol else "")
    height = 200 + 22 * max(len(part) for _, part in groups)
    figure.update_layout(title=title, height=height, margin={"l": 10, "r": 10, "t": 60, "b": 10})
    return plotly_theme.theme_neutral(figure)


def comparison_figure(comparison: pd.DataFrame, k: int, references: Mapping[str, Any]) -> Figure:
    """Recall@k per model with 95% CI error bars, one panel per protocol/context."""
    groups = _recall_groups(comparison, k)
    colours = model_colours(measured(comparison)["model"]) if groups else {}
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
        bar_colours = [colours[str(model)] for model in part["model"]]
        ax.barh(part["model"], part["value"], xerr=errors, color=bar_colours, capsize=3)
        for name, values in (references.get("models") or {}).items():
            if "recall" in values:
                ax.axvline(values["recall"], linestyle="--", linewidth=1, color="#c44e52")
                ax.text(
                    values["recall"],
                    -0.6,
                    name,
                    rotation=90,
                    fontsize=7,
                    color="#c44e52",
                    va="bottom",
                )
        ax.set_xlabel(f"Recall@{k} (95% CI)")
        ax.set_title(f"{protocol}, {context} context")
    fig.tight_layout()
    return fig
