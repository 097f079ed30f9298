"""Accuracy by how much of the session a model had seen: Recall@K and MRR@K per bucket of
the query's position (``seen``, saved with every query's rank), per model, protocol and
context. Under ``last_pair`` that is the test session's length minus its last item; under
``iterative_revealing`` the position of each revealed item."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from session_recs.evaluation.provenance import differences, provenance_of

#: Bucket edges of ``seen`` (items seen when the query is asked): 1, 2, 3, 4, 5-6, ...
EDGES = (1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50)
COLUMNS = ["protocol", "context", "model", "seen", "order", "n_queries", "recall", "mrr", "k"]


def bucket_labels(edges: tuple[int, ...] = EDGES) -> list[str]:
    """``1``, ``2``, ..., ``5-6``, ..., ``50+``: one label per bucket of ``edges``."""
    labels = []
    for low, high in zip(edges, (*edges[1:], None), strict=True):
        if high is None:
            labels.append(f"{low}+")
        else:
            labels.append(str(low) if high == low + 1 else f"{low}-{high - 1}")
    return labels


def by_items_seen(
    ranks: Mapping[str, pd.DataFrame | None],
    k: int,
    conditions: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """One row per (protocol, context, model, bucket of items seen): its test queries and
    their Recall@``k`` and MRR@``k``. Models without ranks, measured under other
    ``conditions``, or whose ranks predate the ``seen`` column (re-evaluating them adds
    it) are left out."""
    labels = bucket_labels()
    parts = []
    for model, table in ranks.items():
        if table is None or table.empty:
            continue
        if conditions is not None and differences(provenance_of(table), conditions):
            continue
        if "seen" not in table.columns:
            continue
        rank = table["rank"].to_numpy()
        hit = (rank > 0) & (rank <= k)
        order = np.searchsorted(EDGES, table["seen"].to_numpy(), side="right") - 1
        frame = pd.DataFrame(
            {
                "protocol": table["protocol"].to_numpy(),
                "context": table["context"].to_numpy(),
                "order": np.maximum(order, 0),
                "recall": hit.astype(float),
                "mrr": np.where(hit, 1.0 / np.maximum(rank, 1), 0.0),
            }
        )
        grouped = frame.groupby(["protocol", "context", "order"], sort=True)
        summary = grouped.agg(
            n_queries=("recall", "size"), recall=("recall", "mean"), mrr=("mrr", "mean")
        ).reset_index()
        parts.append(summary.assign(model=model))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    out["seen"] = [labels[int(i)] for i in out["order"]]
    out["k"] = k
    out = out[COLUMNS].astype({"order": int, "n_queries": int, "k": int})
    return out
