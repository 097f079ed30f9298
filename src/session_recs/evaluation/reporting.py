"""The model comparison: one table, Markdown and HTML renderings, and a bar chart."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from session_recs.core.metrics import paired_permutation_p, per_query_metrics
from session_recs.evaluation.profile import profile_lines
from session_recs.evaluation.provenance import differences, provenance_of
from session_recs.models.registry import SEARCHED_MODEL, refit_of

SHOWN_METRICS = ("recall", "mrr", "ndcg")


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


def compile_comparison(
    metrics: Mapping[str, pd.DataFrame | None], conditions: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Stack every model's metrics table into one long table with a ``model`` column.

    A model whose table is ``None`` (not trained yet for this dataset, such as
    ``word2vec_search`` before a search) gets one row with protocol ``not_run``; the
    refit of a search that has not run (``<model>_tuned``) gets none: only a search
    makes it. With ``conditions`` (the split the report reads and the evaluation settings
    in force, :func:`report_conditions`), column ``differs`` says, in words, what a
    model's metrics were measured on that is not that ("" when alike): such a model is
    shown apart, never in the same table or paired test.
    """
    tables = [
        table.assign(model=name, differs=_differs(table, conditions))
        for name, table in metrics.items()
        if table is not None
    ]
    missing = [name for name, table in metrics.items() if table is None and not refit_of(name)]
    if missing:
        tables.append(pd.DataFrame({"model": missing, "protocol": NOT_RUN}))
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=_FIRST)
    for column in _FIRST:
        if column not in table.columns:
            table[column] = pd.NA
    table["differs"] = table.get("differs", pd.Series("", index=table.index)).fillna("")
    return table[_FIRST + [c for c in table.columns if c not in _FIRST]]


def _differs(table: pd.DataFrame, conditions: Mapping[str, Any] | None) -> str:
    if conditions is None:
        return ""
    return "; ".join(differences(provenance_of(table), conditions))


def report_conditions(
    dataset: str,
    fingerprints: Mapping[str, str],
    exclude_query: bool,
    unknown_targets: str,
) -> dict[str, Any]:
    """What every model in the report's tables must have been measured on."""
    return {
        "dataset": dataset,
        "train_fingerprint": fingerprints["train"],
        "test_fingerprint": fingerprints["test"],
        "exclude_query": bool(exclude_query),
        "unknown_targets": unknown_targets,
    }


def not_run(comparison: pd.DataFrame) -> list[str]:
    """The models of the comparison that have no metrics yet."""
    return comparison.loc[comparison["protocol"] == NOT_RUN, "model"].tolist()


def _alike(comparison: pd.DataFrame) -> pd.Series:
    if "differs" not in comparison.columns:
        return pd.Series(True, index=comparison.index)
    return comparison["differs"].fillna("").astype(str) == ""


def measured(comparison: pd.DataFrame) -> pd.DataFrame:
    """The comparison's models measured on the report's split and settings (without the
    not-run rows and the rows measured on anything else)."""
    return comparison[(comparison["protocol"] != NOT_RUN) & _alike(comparison)]


def measured_elsewhere(comparison: pd.DataFrame) -> dict[str, str]:
    """Each model measured on other data or settings than the report's, and what differs."""
    rows = comparison[(comparison["protocol"] != NOT_RUN) & ~_alike(comparison)]
    return dict(zip(rows["model"], rows["differs"], strict=True))


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


#: What every table's intervals and tests are.
INTERVALS = (
    "Values with 95% bootstrap confidence intervals (resampled test queries); the best "
    "value of each column is marked. The last column tests each model against the best by "
    "recall on the same queries: the difference and a two-sided paired permutation test's "
    "p-value (2,000 sign flips)."
)
#: Columns where the highest value is the best one (marked in the report).
BEST_IS_HIGHEST = (*SHOWN_METRICS, "coverage")


def paired_tests(
    ranks: Mapping[str, pd.DataFrame | None],
    k: int,
    n_permutations: int = 2000,
    seed: int = 0,
    conditions: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Every model against the best one by Recall@``k`` on the same test queries, per
    protocol and context: the difference of Recall@k and MRR@k and a paired sign-flip
    permutation test's two-sided p-value. ``ranks``: each model's per-query target ranks
    (:func:`session_recs.evaluation.next_event.evaluate_with_ranks`); None for a model not run. With
    ``conditions``, only the ranks measured under them take part: the same queries are
    checked from the data, never assumed."""
    columns = ["protocol", "context", "model", "best", "metric", "k", "difference", "p_value"]
    groups: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for model, table in ranks.items():
        if table is None or table.empty:
            continue
        if conditions is not None and differences(provenance_of(table), conditions):
            continue
        for (protocol, context), part in table.groupby(["protocol", "context"], sort=False):
            ordered = part.sort_values("query", kind="stable")["rank"].to_numpy()
            groups.setdefault((protocol, context), {})[model] = ordered
    rows = []
    for (protocol, context), by_model in groups.items():
        values = {model: per_query_metrics(r, [k]) for model, r in by_model.items()}
        best = max(
            values, key=lambda m: (values[m]["recall", k].mean(), values[m]["mrr", k].mean())
        )
        for model, metrics in values.items():
            for metric in ("recall", "mrr"):
                ours, theirs = metrics[metric, k], values[best][metric, k]
                same_queries = len(ours) == len(theirs)
                rows.append(
                    {
                        "protocol": protocol,
                        "context": context,
                        "model": model,
                        "best": best,
                        "metric": metric,
                        "k": k,
                        "difference": ours.mean() - theirs.mean() if same_queries else np.nan,
                        "p_value": paired_permutation_p(ours - theirs, n_permutations, seed)
                        if same_queries and model != best
                        else np.nan,
                    }
                )
    return pd.DataFrame(rows, columns=columns)


def _test_cell(row: pd.Series) -> str:
    if row["model"] == row["best"]:
        return "best"
    if pd.isna(row["p_value"]):
        return "n/a"
    p = row["p_value"]
    return f"{row['difference']:+.3f} ({'p < 0.001' if p < 0.001 else f'p = {p:.3f}'})"


def with_tests(
    table: pd.DataFrame, tests: pd.DataFrame | None, protocol: str, context: str
) -> pd.DataFrame:
    """``table`` with a column of each model's Recall@k difference from the best and its
    paired test's p-value (when tests were run for these queries)."""
    if tests is None or tests.empty:
        return table
    mine = tests[
        (tests["protocol"] == protocol)
        & (tests["context"] == context)
        & (tests["metric"] == "recall")
    ]
    if mine.empty:
        return table
    k = int(mine["k"].iloc[0])
    cells = mine.assign(cell=mine.apply(_test_cell, axis=1)).set_index("model")["cell"]
    return table.assign(
        **{f"recall@{k} vs best (paired test)": cells.reindex(table.index).fillna("n/a")}
    )


def best_models(comparison: pd.DataFrame, k: int) -> dict[tuple[str, str], dict[str, str]]:
    """Per (protocol, context): for each column where higher is better (metrics at ``k``,
    ``predictions/s``), the model with the highest value (marked in the report)."""
    at_k = measured(comparison)
    at_k = at_k[at_k["k"] == k]
    out: dict[tuple[str, str], dict[str, str]] = {}
    for (protocol, context), group in at_k.groupby(["protocol", "context"], sort=False):
        marks = {}
        for metric in BEST_IS_HIGHEST:
            part = group[group["metric"] == metric]
            if len(part):
                marks[f"{metric}@{k}"] = part.loc[part["value"].idxmax(), "model"]
        speed = group.groupby("model")["predictions_per_s"].first().dropna()
        if len(speed):
            marks["predictions/s"] = speed.idxmax()
        out[protocol, context] = marks
    return out


def _marked(table: pd.DataFrame, marks: Mapping[str, str], mark: str) -> pd.DataFrame:
    """``table`` with the best cell of each marked column wrapped as ``mark`` (a format)."""
    table = table.copy()
    for column, model in marks.items():
        if column in table.columns and model in table.index:
            table.loc[model, column] = mark.format(table.loc[model, column])
    return table


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
        f"The best configuration is trained and tested as `{SEARCHED_MODEL}` above; FF19 ran "
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
LEGACY = SEARCHED_MODEL


def _as_searches(tune_results: Any) -> dict[str, Search]:
    if tune_results is None or isinstance(tune_results, pd.DataFrame):
        return {LEGACY: Search(tune_results, LEGACY, LEGACY)}
    return dict(tune_results)


#: The section of the models measured on anything else than the report's split/settings.
ELSEWHERE = "Measured on other data or settings (not compared)"
ELSEWHERE_TEXT = (
    "These models' metrics were measured on other test queries, training sessions or "
    "evaluation settings than the split and settings above (an earlier split, a one-off "
    "--params run, an interrupted run), so they are left out of the tables and the paired "
    "tests. Each command re-evaluates one of them on the current split."
)


def elsewhere_table(
    comparison: pd.DataFrame, commands: Mapping[str, str] | None = None, k: int | None = None
) -> pd.DataFrame | None:
    """One row per model measured elsewhere, or (with ``k``) on the same data but not at
    K = ``k``: what differs, and the command that re-evaluates it (``commands``: model ->
    command); None when every model is alike and shown."""
    apart = measured_elsewhere(comparison)
    if k is not None:
        alike = measured(comparison)
        shown = set(alike.loc[alike["k"] == k, "model"])
        for model in dict.fromkeys(alike["model"]):
            if model not in shown:
                ks = sorted(set(alike.loc[alike["model"] == model, "k"].dropna().astype(int)))
                apart[model] = f"not measured at K={k} (evaluation.ks was {ks})"
    if not apart:
        return None
    table = pd.DataFrame({"what differs": pd.Series(apart)})
    table["re-evaluate with"] = [(commands or {}).get(m, "") for m in table.index]
    return table.rename_axis("model")


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
    panel per protocol and context, the model's other figures on hover; for kedro-viz."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    groups = _recall_groups(comparison, k)
    if not groups:
        figure = go.Figure()
        figure.add_annotation(text="No model has metrics yet", showarrow=False)
        return figure
    colours = model_colours(measured(comparison)["model"])
    titles = [f"{protocol}, {context} context" for protocol, context in (key for key, _ in groups)]
    figure = make_subplots(rows=1, cols=len(groups), subplot_titles=titles, shared_xaxes=True)
    for column, ((protocol, context), part) in enumerate(groups, start=1):
        queries = part["n_queries"] if "n_queries" in part else pd.Series(0, index=part.index)
        figure.add_trace(
            go.Bar(
                x=part["value"],
                y=part["model"],
                orientation="h",
                marker_color=[colours[str(model)] for model in part["model"]],
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
                    x=values["recall"], line_dash="dash", line_color="#c44e52", row=1, col=column,
                    annotation_text=name, annotation_textangle=-90, annotation_font_size=9,
                )  # fmt: skip
        figure.update_xaxes(title_text=f"Recall@{k} (95% CI)", row=1, col=column)
    height = 200 + 28 * max(len(part) for _, part in groups)
    figure.update_layout(height=height, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return figure


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
