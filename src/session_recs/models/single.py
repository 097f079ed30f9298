"""One session answered without the batch machinery: what a service does per click.

:func:`recommend_one` returns exactly what :meth:`Recommender.recommend` returns for a
batch of that one session (the same items in the same order, the same scores), at a
fraction of its fixed cost: no sparse matrices are built for a single row, no blocks
or threads are planned. A model gets there in two steps:

1. :meth:`Recommender.session_candidates`: the items it has evidence for and their
   scores (in any order). By default, the one row of :meth:`Recommender.candidates`; the rule models
   reading one item (:class:`~session_recs.models.transitions.RowLookup` with
   ``context_window=1``) take their matrix row, and the session kNN family
   (:func:`session_knn_candidates`) finds its neighbours and counts their votes in
   compiled loops (:mod:`session_recs.models.kernels`), summing in the order the sparse
   products sum (so the floats are equal too).
2. :func:`rank_one`: the top ``k`` of them as :func:`~session_recs.models.ranking.
   sparse_top_k` ranks a row (score, then the model's tie rank, then item index), then
   the most popular items the row lacks, as :func:`~session_recs.models.ranking.backfill`.

Models that score every item (Word2Vec, the neural models) and those with their own
``recommend`` (most_popular, FF19's association rules) answer through the batched path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from session_recs.models.base import QueryBatch, Recommender, SessionData


def one_query(items: np.ndarray) -> QueryBatch:
    """The query of one session of known item indices (oldest first)."""
    items = np.asarray(items, dtype=np.int64)
    context = SessionData(items, np.zeros(1, np.int64), np.full(1, len(items), np.int64))
    return QueryBatch(items[-1:], context)


def recommend_one(
    model: Recommender, items: np.ndarray, k: int, *, exclude_query: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` item indices and scores after one session of known ``items`` (indices,
    oldest first; the last is the query item), as ``model.recommend`` answers it."""
    query = one_query(items)
    if type(model).recommend is not Recommender.recommend or model.dense_scores:
        recs = model.recommend(query, k, exclude_query=exclude_query, threads=1)
        return recs.items[0], recs.scores[0]
    k = min(int(k), len(model.fitted_index()) - (1 if exclude_query else 0))
    found, scores = model.session_candidates(query)
    exclude = int(query.last_item[0]) if exclude_query else None
    return rank_one(model, query, found, scores, k=k, exclude=exclude)


def rank_one(
    model: Recommender,
    query: QueryBatch,
    items: np.ndarray,
    scores: np.ndarray,
    *,
    k: int,
    exclude: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best of one query's candidates (``items``, in any order, and their
    ``scores``), completed from the popularity order."""
    from session_recs.models import kernels  # numba: imported by the serving path only

    items, scores, keys = kernels.best_keys(items, scores, k, -1 if exclude is None else exclude)
    # By key (high first), then item index; the model's tie rank, asked about tied
    # candidates only, goes between the two.
    order = np.lexsort((items, -keys))
    ordered = keys[order]
    tied = np.zeros(len(order), dtype=bool)
    same = ordered[1:] == ordered[:-1]
    tied[1:] |= same
    tied[:-1] |= same
    if tied.any():
        tie = np.zeros(len(order), dtype=np.float64)
        tie[tied] = model.tie_rank(query, np.zeros(int(tied.sum()), np.int64), items[order][tied])
        order = order[np.lexsort((items[order], tie, -ordered))]
    order = order[:k]
    top = np.full(k, -1, dtype=np.int64)
    top_scores = np.zeros(k, dtype=np.float64)
    top[: len(order)], top_scores[: len(order)] = items[order], scores[order]
    need = k - len(order)
    if need:
        pool = model._popular[: k + 1]
        free = ~np.isin(pool, top[: len(order)])
        if exclude is not None:
            free &= pool != exclude
        top[len(order) :] = pool[free][:need]
    return top, top_scores


def _query_items(model: Any, context: np.ndarray) -> tuple[np.ndarray, ...]:
    """:meth:`SessionKNN._query_items` of one session: (item, weight, step) of its
    distinct known recent items, items ascending (the latest click of a repeated item
    sets its weight and step)."""
    from session_recs.models import kernels  # numba: imported by the serving path only

    m = model.neighbourhood().m
    if m is not None:
        context = context[-m:]
    length = float(len(context))
    forward = np.arange(1.0, length + 1.0)
    weight = model._position_weights(forward, np.full(len(context), length))
    return kernels.latest_distinct(context, weight)


def session_knn_candidates(model: Any, query: QueryBatch) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`~session_recs.models.knn.SessionKNN.candidates` for one query, in compiled
    loops: (items, scores). ``model`` is one of the session kNN family."""
    from session_recs.models import kernels  # numba: imported by the serving path only

    knn = model.neighbourhood()
    context = query.context.items[query.context.starts[0] : query.context.stops[0]]
    items, weight, step = _query_items(model, context)
    empty = np.zeros(0, np.int64), np.zeros(0)
    if not len(items):
        return empty
    postings, neighbours = model._sessions_of_item, model._neighbours
    # Similarity: the query's weight on each session that holds its items (query @
    # sessions_of_item: items ascending, each item's sessions in order, summed in turn),
    # for the sample_size most recent of them (sessions are numbered newest first).
    sessions, similar = kernels.lowest_columns(
        postings.indptr, postings.indices, items, weight, knn.sample_size
    )
    kept = similar != 0
    sessions, similar = sessions[kept], similar[kept]
    if model._recency is not None:
        similar = similar * model._recency[sessions]
    if knn.similarity == "cosine":
        norm = np.sqrt(np.bincount(np.zeros(len(weight), np.int64), weight * weight))
        similar = similar / (norm * np.sqrt(model._distinct[sessions]))
    sessions, similar = kernels.largest(sessions, similar, knn.k)
    if not len(sessions):
        return empty
    # The neighbours' (item -> last position) rows, in neighbour order: where the query
    # and each neighbour last met, then the votes.
    rows = (neighbours.indptr, neighbours.indices, neighbours.data, sessions)
    anchor, nearest = kernels.shared_positions(*rows, items, step)
    pair_weight = similar
    if model._weighs_steps():
        pair_weight = pair_weight * model._step_weights(nearest)
    if knn.position_lambda is None:
        offset, decay = np.zeros(len(sessions), np.intp), np.zeros(0)
    else:
        pair_weight = np.where(anchor > 0, pair_weight, 0.0)
        offset, decay = model._position_reach - anchor, model._position_decay
    return kernels.votes(*rows, pair_weight, offset, decay, model._item_weight)
