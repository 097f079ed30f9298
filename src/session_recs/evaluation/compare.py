"""The model comparison as a table: every model's metrics stacked, the rows measured on the
report's split and settings, one wide table per protocol and context, the best of each
column, the paired tests against the best model, and the published numbers beside ours.

The renderings (Markdown, HTML, charts) are :mod:`session_recs.evaluation.reporting`; a
search's rows are :mod:`session_recs.evaluation.search_results`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from session_recs.core.metrics import paired_permutation_p, per_query_metrics
from session_recs.evaluation.provenance import differences, provenance_of
from session_recs.models.registry import refit_of

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
        f"  {rank}. {row.model} {cell(row._asdict())}"
        for rank, row in enumerate(rows.head(n).itertuples(index=False), start=1)
    ]
    return [head, *best]


def cell(row: Mapping[str, Any]) -> str:
    """A metric's value with its 95% interval when it has one (``0.123 [0.110, 0.135]``)."""
    if pd.isna(row.get("ci_low")):
        return f"{row['value']:.3f}"
    return f"{row['value']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def comparison_tables(comparison: pd.DataFrame, k: int) -> dict[tuple[str, str], pd.DataFrame]:
    """One wide table per (protocol, context): models as rows, metrics@k as columns."""
    out = {}
    comparison = measured(comparison)
    at_k = comparison[comparison["k"] == k]
    for (protocol, context), group in at_k.groupby(["protocol", "context"], sort=False):
        part = group.assign(cell=group.apply(cell, axis=1))
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


BEST_IS_HIGHEST = (*SHOWN_METRICS, "coverage")


def holm(p_values: Any) -> np.ndarray:
    """Holm's step-down correction of ``p_values`` for their number of comparisons (NaN
    left out and kept): the i-th smallest of m is multiplied by m - i + 1, then each is
    raised to the largest before it and capped at 1 (``[0.01, 0.04, 0.03]`` ->
    ``[0.03, 0.06, 0.06]``)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    order = present[np.argsort(p[present], kind="stable")]
    m = len(order)
    scaled = p[order] * (m - np.arange(m))
    out[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return out


def paired_tests(
    ranks: Mapping[str, pd.DataFrame | None],
    k: int,
    n_permutations: int = 2000,
    seed: int = 0,
    conditions: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Every model against the best one by Recall@``k`` on the same test queries, per
    protocol and context: the difference of Recall@k and MRR@k and a paired sign-flip
    permutation test's two-sided p-value, and that p-value Holm-corrected (``p_holm``) for
    the models compared with the best on the same metric and queries. ``ranks``: each
    model's per-query target ranks
    (:func:`session_recs.evaluation.next_event.evaluate_with_ranks`); None for a model not
    run. With
    ``conditions``, only the ranks measured under them take part: the same queries are
    checked from the data, never assumed."""
    columns = ["protocol", "context", "model", "best", "metric", "k", "difference", "p_value"]
    columns.append("p_holm")
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
    table = pd.DataFrame(rows, columns=columns[:-1])
    families = table.groupby(["protocol", "context", "metric"], sort=False)["p_value"]
    table["p_holm"] = families.transform(holm) if len(table) else pd.Series(dtype=float)
    return table


def _test_cell(row: pd.Series) -> str:
    if row["model"] == row["best"]:
        return "best"
    p = row["p_holm"] if "p_holm" in row.index else row["p_value"]
    if pd.isna(p):
        return "n/a"
    return f"{row['difference']:+.3f} ({'p < 0.001' if p < 0.001 else f'p = {p:.3f}'})"


def with_tests(
    table: pd.DataFrame, tests: pd.DataFrame | None, protocol: str, context: str
) -> pd.DataFrame:
    """``table`` with a column of each model's Recall@k difference from the best and its
    paired test's Holm-corrected p-value (when tests were run for these queries)."""
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
        **{f"recall@{k} vs best (paired test, Holm p)": cells.reindex(table.index).fillna("n/a")}
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


def our_row(
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
                our_row(comparison, ours, metric, k, protocol=protocol, context=context)
                if ours
                else None
            )
            row[f"ours {metric}@{k}"] = "" if mine is None else cell(mine)
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index").fillna("")
    if not table["our model"].astype(bool).any():
        table = table.drop(columns="our model")
    return table


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
