"""Queries made from (query, target) pairs, and their Recall / MRR at K.

The models' own monitoring (the neural models' per-epoch validation) and the evaluator
(:mod:`session_recs.evaluation.next_event`) build queries the same way: a pair's query
item, with the session so far found in long session tables, and its target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from session_recs.core.errors import DataValidationError
from session_recs.core.metrics import per_query_metrics, target_ranks
from session_recs.models.base import ItemIndex, QueryBatch, Recommender, SessionData


@dataclass(frozen=True)
class EvaluationSet:
    """Queries and their targets (item indices, -1 when the target is unknown)."""

    queries: QueryBatch
    targets: np.ndarray


def context_rows(pairs: pd.DataFrame, *sources: pd.DataFrame) -> pd.DataFrame:
    """For each pair, the session's items up to and including the query item.

    ``sources`` are long session tables searched in order (e.g. test sessions without
    their last item, then training sessions); the first that holds a session wins.
    """
    wanted = pd.Index(pairs["session_id"].unique())
    found = []
    for source in sources:
        rows = source[source["session_id"].isin(wanted)]
        found.append(rows)
        wanted = wanted.difference(rows["session_id"].unique())
    table = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
    return table.sort_values(["session_id", "position"], kind="stable")


def pair_set(
    pairs: pd.DataFrame,
    index: ItemIndex,
    *context_sources: pd.DataFrame,
) -> EvaluationSet:
    """``last_pair`` queries; the session so far comes from ``context_sources`` (if given)."""
    if pairs.empty:
        raise DataValidationError("There are no evaluation pairs (the table is empty).")
    last = index.encode(pairs["query_item"].to_numpy())
    targets = index.encode(pairs["target_item"].to_numpy())
    if context_sources:
        rows = context_rows(pairs, *context_sources)
        encoded = SessionData.from_long(rows, index)
        session_ids = rows["session_id"].to_numpy()[encoded.starts]
        where = pd.Index(session_ids).get_indexer(pairs["session_id"].to_numpy())
        # (No pair's session may be in the sources: then every pair takes the branch below.)
        found = np.where(where >= 0, where, 0)
        starts = np.where(where >= 0, encoded.starts[found], 0) if len(encoded) else where * 0
        stops = np.where(where >= 0, encoded.stops[found], 0) if len(encoded) else where * 0
        # A pair whose prefix is unknown still has its query item as context.
        items = np.r_[encoded.items, last]
        own = len(encoded.items) + np.arange(len(pairs))
        starts = np.where(where >= 0, starts, own)
        stops = np.where(where >= 0, stops, own + 1)
        context = SessionData(items, starts, stops)
    else:
        context = SessionData(last, np.arange(len(last)), np.arange(len(last)) + 1)
    return EvaluationSet(QueryBatch(last, context), targets)


def only_last_item(evaluation: EvaluationSet) -> EvaluationSet:
    """The same queries with the context cut down to the last item."""
    stops = evaluation.queries.context.stops
    context = SessionData(evaluation.queries.context.items, stops - 1, stops)
    return EvaluationSet(QueryBatch(evaluation.queries.last_item, context), evaluation.targets)


def validation_set(
    index: ItemIndex,
    validation_pairs: pd.DataFrame,
    train_sessions: pd.DataFrame,
    context: str = "session",
) -> EvaluationSet:
    """The validation pairs as queries: with the session so far (its prefix is in the
    training sessions) or only the query item (``context="last_item"``)."""
    evaluation = pair_set(validation_pairs, index, train_sessions)
    return evaluation if context == "session" else only_last_item(evaluation)


def hit_metrics(
    model: Recommender, evaluation: EvaluationSet, k: int, *, exclude_query: bool = True
) -> dict[str, float]:
    """Mean recall and MRR at ``k`` of ``model`` on ``evaluation`` (no intervals)."""
    recs = model.recommend(evaluation.queries, k, exclude_query=exclude_query)
    metrics = per_query_metrics(target_ranks(recs.items, evaluation.targets), [k])
    return {name: float(metrics[name, k].mean()) for name in ("recall", "mrr")}
