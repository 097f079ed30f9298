"""The model comparison: one table, Markdown and HTML renderings, and a bar chart."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from session_recs.profile import profile_lines

SHOWN_METRICS = ("recall", "mrr", "ndcg")


#: The suffix of a search's refit (``<model>_tuned``).
TUNED = "_tuned"
#: ``protocol`` of the comparison rows that name a model without metrics (not run yet).
NOT_RUN = "not_run"
_FIRST = [
    "model",
    "protocol",
    "context",
    "metric",
    "k",
    "value",
    "ci_low",
    "ci_high",
    "n_queries",
    "predictions_per_s",
]


def compile_comparison(metrics: Mapping[str, pd.DataFrame | None]) -> pd.DataFrame:
    """Stack every model's metrics table into one long table with a ``model`` column.

    A model whose table is ``None`` (not trained yet for this dataset, such as
    ``word2vec_search`` before a search) gets one row with protocol ``not_run``; the
    refit of a search that has not run (``<model>_tuned``) gets none: only a search
    makes it.
    """
    tables = [table.assign(model=name) for name, table in metrics.items() if table is not None]
    missing = [
        name for name, table in metrics.items() if table is None and not name.endswith(TUNED)
    ]
    if missing:
        tables.append(pd.DataFrame({"model": missing, "protocol": NOT_RUN}))
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=_FIRST)
    for column in _FIRST:
        if column not in table.columns:
            table[column] = pd.NA
    return table[_FIRST + [c for c in table.columns if c not in _FIRST]]


def not_run(comparison: pd.DataFrame) -> list[str]:
    """The models of the comparison that have no metrics yet."""
    return comparison.loc[comparison["protocol"] == NOT_RUN, "model"].tolist()


def measured(comparison: pd.DataFrame) -> pd.DataFrame:
    """The comparison without its not-run rows."""
    return comparison[comparison["protocol"] != NOT_RUN]


def leaders(comparison: pd.DataFrame, k: int, n: int = 3) -> list[str]:
    """Lines naming the ``n`` best models by Recall@``k`` with their intervals, under the
    comparison's first protocol and its ``session`` context when measured (else the first
    context); no lines when nothing has metrics."""
    recall = measured(comparison)
    recall = recall[(recall["metric"] == "recall") & (recall["k"] == k)]
    if recall.empty:
        return []
    protocol = recall["protocol"].iloc[0]
    contexts = list(recall.loc[recall["protocol"] == protocol, "context"].unique())
    context = "session" if "session" in contexts else contexts[0]
    rows = recall[(recall["protocol"] == protocol) & (recall["context"] == context)]
    rows = rows.sort_values("value", ascending=False, kind="stable")
    queries = int(rows["n_queries"].iloc[0]) if "n_queries" in rows else 0
    head = (
        f"Best by recall@{k} ({protocol}, {context} context, {queries:,} test queries, "
        "95% bootstrap interval):"
    )
    best = [
        f"  {rank}. {row.model} {_cell(row._asdict())}"
        for rank, row in enumerate(rows.head(n).itertuples(index=False), start=1)
    ]
    return [head, *best]


def _cell(row: pd.Series) -> str:
    if pd.isna(row.get("ci_low")):
        return f"{row['value']:.3f}"
    return f"{row['value']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def comparison_tables(comparison: pd.DataFrame, k: int) -> dict[tuple[str, str], pd.DataFrame]:
    """One wide table per (protocol, context): models as rows, metrics@k as columns."""
    out = {}
    comparison = measured(comparison)
    at_k = comparison[comparison["k"] == k]
    for (protocol, context), group in at_k.groupby(["protocol", "context"], sort=False):
        part = group.assign(cell=group.apply(_cell, axis=1))
        wide = part.pivot_table(index="model", columns="metric", values="cell", aggfunc="first")
        columns = [m for m in (*SHOWN_METRICS, "coverage", "popularity") if m in wide.columns]
        wide = wide[columns].rename(columns=lambda m: f"{m}@{k}")
        order = (
            part[part.metric == "recall"]
            .set_index("model")["value"]
            .sort_values(ascending=False)
            .index
        )
        wide = wide.loc[order]
        speed = part.groupby("model")["predictions_per_s"].first().reindex(wide.index)
        wide["predictions/s"] = speed.map(lambda v: f"{v:,.0f}")
        out[protocol, context] = wide
    return out


def _ours(
    comparison: pd.DataFrame, model: str, metric: str, k: int, *, protocol: str, context: str
) -> pd.Series | None:
    """Our value of ``metric@k`` for ``model`` under ``protocol`` and ``context``, or None."""
    rows = comparison[
        (comparison["model"] == model)
        & (comparison["metric"] == metric)
        & (comparison["k"] == k)
        & (comparison["protocol"] == protocol)
        & (comparison["context"] == context)
    ]
    return None if rows.empty else rows.iloc[0]


def reference_table(
    comparison: pd.DataFrame, references: Mapping[str, Any], k: int
) -> pd.DataFrame:
    """Published numbers (``references.models``), each next to ours for the model named by
    its ``ours`` key, measured under ``references.protocol`` / ``references.context``."""
    protocol = references.get("protocol", "last_pair")
    context = references.get("context", "last_item")
    rows = {}
    for name, values in references["models"].items():
        ours = values.get("ours")
        row: dict[str, str] = {"our model": ours or ""}
        for metric in SHOWN_METRICS:
            if metric not in values:
                continue
            row[f"published {metric}@{k}"] = f"{values[metric]:.3f}"
            mine = (
                _ours(comparison, ours, metric, k, protocol=protocol, context=context)
                if ours
                else None
            )
            row[f"ours {metric}@{k}"] = "" if mine is None else _cell(mine)
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index").fillna("")
    if not table["our model"].astype(bool).any():
        table = table.drop(columns="our model")
    return table


def search_summary(tune_results: pd.DataFrame | None, top: int = 5) -> pd.DataFrame | None:
    """The best ``top`` trials of a tune search (validation metrics, configuration)."""
    if tune_results is None or tune_results.empty:
        return None
    last = [c for c in tune_results.columns if c.startswith("last_val_")]
    if not last:
        return None
    metric = next((c for c in last if "recall" in c), last[0])
    config = [c for c in tune_results.columns if c.startswith("config/")]
    done = tune_results[tune_results["status"] == "TERMINATED"]
    best = done.sort_values(metric, ascending=False).head(top)
    columns = ["trial_id", metric, *config, "epochs_run", "wall_s"]
    table = best[[c for c in columns if c in best.columns]].copy()
    table.columns = [c.removeprefix("config/") for c in table.columns]
    return table.reset_index(drop=True)


def _search_lines(tune_results: pd.DataFrame | None) -> tuple[str, pd.DataFrame] | None:
    table = search_summary(tune_results)
    if table is None:
        return None
    n = len(tune_results)
    early = int(tune_results.get("stopped_early", pd.Series(dtype=bool)).fillna(False).sum())
    hours = tune_results.get("wall_s", pd.Series(dtype=float)).sum() / 3600
    text = (
        f"{n} trials ({early} stopped early by the scheduler), {hours:.2f} trial-hours. "
        "The best configuration is trained and tested as `word2vec_search` above; FF19 ran "
        "a 539-trial grid of 100-epoch trials for its tuned Word2Vec."
    )
    if not _complete(tune_results):
        text += " The search was interrupted: these are the trials that finished."
    return text, table


def _complete(tune_results: pd.DataFrame) -> bool:
    return bool(tune_results.get("search_complete", pd.Series([True])).all())


@dataclass(frozen=True)
class Search:
    """A model's search for the report: its trials, and the rows it compares."""

    results: pd.DataFrame | None
    default: str
    tuned: str


def search_table(
    comparison: pd.DataFrame, searches: Mapping[str, Search], k: int
) -> pd.DataFrame | None:
    """One row per searched model: the search's cost, its best validation value, and the
    model's test recall@k before and after (95% intervals), per evaluation context. FF19's
    Word2Vec search (``word2vec_search``) has its own section: its best trials."""
    rows = {}
    done = measured(comparison)
    protocol = done["protocol"].iloc[0] if len(done) else None
    contexts = list(dict.fromkeys(done.loc[done["protocol"] == protocol, "context"]))
    for model, search in searches.items():
        results = search.results
        if model == LEGACY or results is None or results.empty:
            continue
        metric = next((c for c in results.columns if c.startswith("last_val_")), None)
        row: dict[str, str] = {
            "trials": f"{len(results):,}",
            "trial-hours": f"{results['wall_s'].fillna(0).sum() / 3600:.3g}",
            "complete": "yes" if _complete(results) else "no (interrupted)",
            "best validation": f"{results[metric].max():.3f}" if metric else "",
        }
        for context in contexts:
            for label, name in (("default", search.default), ("tuned", search.tuned)):
                mine = _ours(done, name, "recall", k, protocol=protocol, context=context)
                row[f"{label} recall@{k} ({context})"] = "" if mine is None else _cell(mine)
        rows[model] = row
    if not rows:
        return None
    return pd.DataFrame.from_dict(rows, orient="index")


#: The search whose trials the report lists (FF19's Word2Vec search).
LEGACY = "word2vec_search"


def _as_searches(tune_results: Any) -> dict[str, Search]:
    if tune_results is None or isinstance(tune_results, pd.DataFrame):
        return {LEGACY: Search(tune_results, LEGACY, LEGACY)}
    return dict(tune_results)


def comparison_markdown(
    comparison: pd.DataFrame,
    k: int,
    references: Mapping[str, Any],
    title: str,
    tune_results: pd.DataFrame | None = None,
    *,
    profile: Mapping[str, Any] | None = None,
) -> str:
    """The report as Markdown: the dataset's profile, a table per protocol/context, the
    models not run yet, then the published numbers."""
    lines = [f"# {title}", ""]
    if profile:
        lines += ["## The dataset", "", "| | |", "| --- | --- |"]
        lines += [f"| {label} | {value} |" for label, value in profile_lines(dict(profile))]
        lines.append("")
    n = measured(comparison).groupby(["protocol", "context"])["n_queries"].first()
    tables = comparison_tables(comparison, k)
    if not tables:
        lines += ["No model has metrics for this dataset yet: run `kedro run`.", ""]
    for (protocol, context), table in tables.items():
        lines += [
            f"## {protocol} protocol, `{context}` context "
            f"({int(n[protocol, context]):,} test queries)",
            "",
            "Values with 95% bootstrap confidence intervals.",
            "",
            table.to_markdown(disable_numparse=True),
            "",
        ]
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
    searches = _as_searches(tune_results)
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
    search = _search_lines(searches.get(LEGACY, Search(None, "", "")).results)
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
) -> str:
    """The report as a self-contained HTML page."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{title}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse;margin-bottom:2em}td,th{border:1px solid #ccc;"
        "padding:4px 8px;text-align:right}th{background:#f4f4f4}</style></head><body>",
        f"<h1>{title}</h1>",
    ]
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
    for (protocol, context), table in tables.items():
        parts.append(f"<h2>{protocol} protocol, <code>{context}</code> context</h2>")
        parts.append(table.to_html())
    missing = not_run(comparison)
    if missing:
        parts.append(f"<p>Not run yet: {html.escape(', '.join(missing))}.</p>")
    if references.get("models"):
        parts.append(f"<h2>Published reference numbers ({references.get('source', '')})</h2>")
        parts.append(reference_table(comparison, references, k).to_html())
    searches = _as_searches(tune_results)
    tuned = search_table(comparison, searches, k)
    if tuned is not None:
        parts.append(f"<h2>Tuned models (test recall@{k} before and after each search)</h2>")
        parts.append(tuned.to_html())
    search = _search_lines(searches.get(LEGACY, Search(None, "", "")).results)
    if search is not None:
        text, table = search
        parts += ["<h2>Hyperparameter search (validation pairs)</h2>", f"<p>{text}</p>"]
        parts.append(table.to_html(index=False))
    parts.append("</body></html>")
    return "\n".join(parts)


def comparison_figure(comparison: pd.DataFrame, k: int, references: Mapping[str, Any]) -> Figure:
    """Recall@k per model with 95% CI error bars, one panel per protocol/context."""
    comparison = measured(comparison)
    at_k = comparison[(comparison["k"] == k) & (comparison["metric"] == "recall")]
    groups = list(at_k.groupby(["protocol", "context"], sort=False))
    # A bare Figure (no pyplot): no global figure state, any backend, notebooks included.
    if not groups:
        fig = Figure(figsize=(6, 2))
        fig.text(0.5, 0.5, "No model has metrics yet", ha="center", va="center")
        return fig
    fig = Figure(figsize=(6 * len(groups), 4.5))
    axes = fig.subplots(1, len(groups), squeeze=False)
    for ax, ((protocol, context), group) in zip(axes[0], groups, strict=True):
        part = group.sort_values("value")
        errors = np.vstack([part["value"] - part["ci_low"], part["ci_high"] - part["value"]])
        ax.barh(part["model"], part["value"], xerr=errors, color="#4c72b0", capsize=3)
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
