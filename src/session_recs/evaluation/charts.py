"""The report's interactive (plotly) charts, one model one style
(:mod:`session_recs.evaluation.palette`) in all of them:

- :func:`comparison_chart`: Recall@K per model with its 95% interval (kedro-viz shows it);
- :func:`metrics_by_k_chart`: Recall, MRR and NDCG across every K measured;
- :func:`tradeoff_chart`: Recall@K against coverage@K and popularity@K;
- :func:`by_items_seen_chart`: Recall@K and MRR@K by how much of the session was seen
  (:mod:`session_recs.evaluation.breakdown`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from session_recs.evaluation.compare import SHOWN_METRICS, measured
from session_recs.evaluation.palette import NEUTRAL, Style, model_styles

#: How the metrics are spelt on the charts' axes.
LABELS = {"recall": "Recall", "mrr": "MRR", "ndcg": "NDCG", "coverage": "coverage",
          "popularity": "popularity"}  # fmt: skip
_DIGITS = 4


@dataclass(frozen=True)
class Chart:
    """A chart of the report: an id for its element, a title, a caption and the figure."""

    key: str
    title: str
    caption: str
    figure: go.Figure


def _empty(text: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(text=text, showarrow=False)
    figure.update_layout(height=200, xaxis_visible=False, yaxis_visible=False)
    return figure


def _groups(table: pd.DataFrame) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    return [(key, part) for key, part in table.groupby(["protocol", "context"], sort=False)]


def _styled(style: Style, first: bool, *, lines: bool = True) -> dict[str, Any]:
    """A trace's colour, dash and symbol, and whether it enters the legend; plotly's
    defaults left out (a report draws hundreds of traces: each byte counts 300 times)."""
    line = {"color": style.colour} | ({"dash": style.dash} if style.variant else {})
    marker = {"color": style.colour} | ({"symbol": style.symbol} if style.variant else {})
    out: dict[str, Any] = {"marker": marker}
    if lines:
        out["line"] = line
    if not first:
        out["showlegend"] = False
    return out


def _finish(figure: go.Figure, height: int, top: int = 40, **layout: Any) -> go.Figure:
    """Size and margins, and the default look without its per-trace-type defaults."""
    import plotly.io as pio

    template = go.layout.Template(layout=pio.templates["plotly"].layout)
    figure.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": top, "b": 10}, template=template, **layout
    )
    return figure


def _recall_groups(comparison: pd.DataFrame, k: int) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    done = measured(comparison)
    at_k = done[(done["k"] == k) & (done["metric"] == "recall")]
    return [(key, part.sort_values("value")) for key, part in _groups(at_k)]


def comparison_chart(comparison: pd.DataFrame, k: int, references: Mapping[str, Any]) -> go.Figure:
    """Recall@``k`` per model with its 95% interval, one panel per protocol and context
    (stacked, so no panel's labels run over another's), the model's figures on hover."""
    groups = _recall_groups(comparison, k)
    if not groups:
        return _empty("No model has metrics yet")
    styles = model_styles(measured(comparison)["model"])
    sizes = [len(part) for _, part in groups]
    height = 60 + 110 * len(groups) + 24 * sum(sizes)
    figure = make_subplots(
        rows=len(groups),
        cols=1,
        subplot_titles=[f"{protocol}, {context} context" for (protocol, context), _ in groups],
        row_heights=sizes,
        vertical_spacing=110 / height if len(groups) > 1 else 0,
    )
    for row, ((protocol, context), part) in enumerate(groups, start=1):
        queries = part["n_queries"].fillna(0) if "n_queries" in part else 0 * part["value"]
        figure.add_trace(
            go.Bar(
                x=part["value"].round(_DIGITS),
                y=part["model"],
                orientation="h",
                marker={
                    "color": [styles[str(m)].colour for m in part["model"]],
                    "pattern": {"shape": [styles[str(m)].pattern for m in part["model"]]},
                },
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": (part["ci_high"] - part["value"]).round(_DIGITS),
                    "arrayminus": (part["value"] - part["ci_low"]).round(_DIGITS),
                    "color": NEUTRAL,
                    "thickness": 1.5,
                },
                customdata=np.column_stack(
                    [part["ci_low"].round(_DIGITS), part["ci_high"].round(_DIGITS), queries]
                ),
                hovertemplate=(
                    f"%{{y}}<br>Recall@{k} %{{x:.3f}} [%{{customdata[0]:.3f}}, "
                    "%{customdata[1]:.3f}]<br>%{customdata[2]:,} test queries<extra></extra>"
                ),
                name=f"{protocol}, {context}",
                showlegend=False,
            ),
            row=row,
            col=1,
        )
        for name, values in (references.get("models") or {}).items():
            if "recall" in values:
                figure.add_vline(
                    x=values["recall"], line_dash="dash", line_color=NEUTRAL, row=row, col=1,
                    annotation_text=name, annotation_font_size=9,
                )  # fmt: skip
        figure.update_xaxes(title_text=f"Recall@{k} (95% CI)", row=row, col=1)
    # Every model's name as a tick (kedro-viz's small preview would thin them to a few).
    for row, (_, part) in enumerate(groups, start=1):
        names = part["model"].astype(str).tolist()
        figure.update_yaxes(tickmode="array", tickvals=names, row=row, col=1)
    figure.update_yaxes(automargin=True)
    return _finish(figure, height)


def metrics_by_k_chart(comparison: pd.DataFrame) -> go.Figure:
    """Recall, MRR and NDCG (rows) at every K measured, per model with its 95% interval,
    one column per protocol and context; a model toggles in all panels at once."""
    done = measured(comparison)
    done = done[done["metric"].isin(SHOWN_METRICS)].dropna(subset=["k", "value"])
    groups = _groups(done)
    if not groups:
        return _empty("No model has metrics yet")
    styles = model_styles(done["model"])
    metrics = [m for m in SHOWN_METRICS if m in set(done["metric"])]
    figure = make_subplots(
        rows=len(metrics),
        cols=len(groups),
        shared_xaxes=True,
        column_titles=[f"{protocol}, {context} context" for (protocol, context), _ in groups],
        vertical_spacing=0.06,
    )
    shown: set[str] = set()
    for col, (_, part) in enumerate(groups, start=1):
        for row, metric in enumerate(metrics, start=1):
            rows = part[part["metric"] == metric]
            for model, unsorted in rows.groupby("model", sort=True):
                line = unsorted.sort_values("k")
                style = styles[str(model)]
                figure.add_trace(
                    go.Scatter(
                        x=line["k"].astype(int),
                        y=line["value"].round(_DIGITS),
                        mode="lines+markers",
                        name=str(model),
                        legendgroup=str(model),
                        error_y={
                            "array": (line["ci_high"] - line["value"]).round(_DIGITS),
                            "arrayminus": (line["value"] - line["ci_low"]).round(_DIGITS),
                            "thickness": 1,
                        },
                        hovertemplate="%{y:.3f}",
                        **_styled(style, str(model) not in shown),
                    ),
                    row=row,
                    col=col,
                )
                shown.add(str(model))
            if col == 1:
                figure.update_yaxes(title_text=f"{LABELS[metric]}@K", row=row, col=col)
    ks = sorted(int(k) for k in done["k"].unique())
    figure.update_xaxes(tickvals=ks, title_text="K", row=len(metrics))
    return _finish(figure, 120 + 230 * len(metrics), hovermode="x unified")


def tradeoff_chart(comparison: pd.DataFrame, k: int) -> go.Figure:
    """Recall@``k`` (y) against coverage@``k`` and popularity@``k`` (x), one point per
    model, one row per protocol and context: accuracy bought with the bestsellers sits
    high on popularity and low on coverage."""
    done = measured(comparison)
    at_k = done[done["k"] == k]
    groups = [(key, part) for key, part in _groups(at_k) if "recall" in set(part["metric"])]
    if not groups:
        return _empty("No model has metrics yet")
    styles = model_styles(at_k["model"])
    figure = make_subplots(
        rows=len(groups),
        cols=2,
        shared_yaxes=True,
        subplot_titles=[
            f"{protocol}, {context} context: {axis}@{k}"
            for (protocol, context), _ in groups
            for axis in ("coverage", "popularity")
        ],
        horizontal_spacing=0.04,
        vertical_spacing=0.3 / len(groups),
    )
    shown: set[str] = set()
    for row, (_, part) in enumerate(groups, start=1):
        wide = part.pivot_table(index="model", columns="metric", values="value", aggfunc="first")
        for col, axis in enumerate(("coverage", "popularity"), start=1):
            if axis not in wide.columns:
                continue
            for model, values in wide.iterrows():
                style = styles[str(model)]
                figure.add_trace(
                    go.Scatter(
                        x=[round(float(values[axis]), _DIGITS)],
                        y=[round(float(values["recall"]), _DIGITS)],
                        mode="markers",
                        name=str(model),
                        legendgroup=str(model),
                        hovertemplate="(%{x:.3f}, %{y:.3f})",
                        **_styled(style, str(model) not in shown, lines=False),
                    ),
                    row=row,
                    col=col,
                )
                shown.add(str(model))
            figure.update_xaxes(title_text=f"{axis}@{k}", row=row, col=col)
        figure.update_yaxes(title_text=f"Recall@{k}", row=row, col=1)
    figure.update_traces(marker_size=11)
    return _finish(figure, 80 + 330 * len(groups))


def _seen_axis(protocol: str) -> str:
    if protocol == "last_pair":
        return "test session length (items before the last one)"
    return "position in the session (items seen)"


def by_items_seen_chart(breakdown: pd.DataFrame | None) -> go.Figure:
    """Recall@K and MRR@K (columns) per bucket of items seen, per model, one row per
    protocol and context (:func:`session_recs.evaluation.breakdown.by_items_seen`); each
    bucket's number of test queries on hover."""
    if breakdown is None or breakdown.empty:
        return _empty("No per-query ranks with session positions yet")
    groups = _groups(breakdown)
    k = int(breakdown["k"].iloc[0])
    styles = model_styles(breakdown["model"])
    titles = [
        f"{protocol}, {context} context: {LABELS[metric]}@{k}"
        for (protocol, context), _ in groups
        for metric in ("recall", "mrr")
    ]
    figure = make_subplots(
        rows=len(groups), cols=2, subplot_titles=titles, vertical_spacing=0.3 / len(groups),
        horizontal_spacing=0.06,
    )  # fmt: skip
    shown: set[str] = set()
    for row, ((protocol, _), part) in enumerate(groups, start=1):
        order = part.drop_duplicates("order").sort_values("order")["seen"].tolist()
        for col, metric in enumerate(("recall", "mrr"), start=1):
            for model, unsorted in part.groupby("model", sort=True):
                line = unsorted.sort_values("order")
                style = styles[str(model)]
                figure.add_trace(
                    go.Scatter(
                        x=line["seen"],
                        y=line[metric].round(_DIGITS),
                        customdata=line["n_queries"],
                        mode="lines+markers",
                        name=str(model),
                        legendgroup=str(model),
                        hovertemplate="%{y:.3f} (%{customdata:,} queries)",
                        **_styled(style, str(model) not in shown),
                    ),
                    row=row,
                    col=col,
                )
                shown.add(str(model))
            figure.update_xaxes(
                categoryorder="array", categoryarray=order, title_text=_seen_axis(protocol),
                row=row, col=col,
            )  # fmt: skip
            figure.update_yaxes(title_text=f"{LABELS[metric]}@{k}", row=row, col=col)
    return _finish(figure, 80 + 340 * len(groups), top=50, hovermode="x unified")


def report_charts(
    comparison: pd.DataFrame,
    k: int,
    references: Mapping[str, Any],
    breakdown: pd.DataFrame | None = None,
) -> list[Chart]:
    """The HTML report's charts, in order, each with a caption saying how to read it."""
    done = measured(comparison)
    ks = sorted(int(value) for value in done["k"].dropna().unique())
    missing = sorted(set(done["model"]) - set(() if breakdown is None else breakdown["model"]))
    seen_caption = (
        "Recall and MRR of the test queries grouped by how many items of their session "
        "the model had seen; few queries make a point noisy (their number is on hover)."
    )
    if missing:
        seen_caption += (
            f" Not shown (evaluated before positions were saved, re-run them): "
            f"{', '.join(missing)}."
        )
    return [
        Chart("recall", f"Recall@{k} per model", "Bars: Recall@K with 95% bootstrap "
              "intervals; dashed lines: published numbers.",
              comparison_chart(comparison, k, references)),
        Chart("by-k", "Recall, MRR and NDCG across K",
              f"Every K measured ({', '.join(map(str, ks))}); click a model in the legend "
              "to hide it in every panel.", metrics_by_k_chart(comparison)),
        Chart("tradeoff", f"Accuracy against coverage and popularity (K = {k})",
              "One point per model: right on coverage recommends more of the catalogue, "
              "right on popularity recommends the bestsellers.", tradeoff_chart(comparison, k)),
        Chart("by-seen", "Accuracy by session length and position", seen_caption,
              by_items_seen_chart(breakdown)),
    ]  # fmt: skip
