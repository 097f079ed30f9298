"""Nearest-neighbour recommenders: similar items (:class:`ItemKNN`) and similar sessions
(:class:`SessionKNN`), both scored for a block of queries at a time with sparse products.

- :class:`ItemKNN`: cosine-like similarity between items over the binary session x item
  incidence matrix, ``co(i, j) / ((n_i + shrinkage) ** alpha * (n_j + shrinkage) ** (1 -
  alpha))`` (session-rec's IKNN), pruned to the ``neighbours`` most similar items per item.
  A query is scored by the rows of its recent items (see ``context_window``).
- :class:`SessionKNN`: V-SKNN (Ludewig & Jannach, session-rec's ``VMContextKNN``), with
  STAN's optional neighbour-position weighting: the query's recent items, weighted by
  position, find the most recent training sessions sharing an item, keep the ``k`` most
  similar and let them vote for their items.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from session_recs.config import Settings
from session_recs.models.base import QueryBatch, Recommender, SessionData
from session_recs.models.sparse import prune_rows, ranges, session_item_counts
from session_recs.models.transitions import STEP_WEIGHTS, ContextOptions, RowLookup


class _ItemKNNOptions(Settings):
    neighbours: int = Field(100, ge=0)
    alpha: float = Field(0.5, ge=0, le=1)
    shrinkage: float = Field(20.0, ge=0)


class ItemKNN(RowLookup):
    """Items that share sessions with the query's recent items, by normalised co-occurrence.

    ``sim(i, j) = |sessions with i and j| / ((n_i + shrinkage) ** alpha * (n_j + shrinkage)
    ** (1 - alpha))`` with ``n_i`` the number of training sessions holding ``i``: ``alpha =
    0.5`` and ``shrinkage = 0`` is plain cosine, ``alpha = 1`` a confidence; ``shrinkage``
    discounts rare items' accidental co-occurrences. An item is never its own neighbour;
    ``neighbours`` keeps the most similar items per item (0 keeps all).

    With session context, a query sums the rows of its last ``context_window`` items,
    weighted ``decay ** steps_back``; with only the last item (or ``context_window=1``) it is
    that item's row. ``history_weight`` adds a repeat prior; see :class:`RowLookup`.
    """

    name: ClassVar[str] = "item_knn"
    search_settings: ClassVar[tuple[type, ...]] = (_ItemKNNOptions, ContextOptions)

    def __init__(
        self,
        neighbours: int = 100,
        alpha: float = 0.5,
        shrinkage: float = 20.0,
        context_window: int = 3,
        decay: float = 0.5,
        **context: Any,
    ) -> None:
        super().__init__(context_window=context_window, decay=decay, **context)
        options = _ItemKNNOptions.check(
            self.name, neighbours=neighbours, alpha=alpha, shrinkage=shrinkage
        )
        vars(self).update(options.model_dump())

    def _fit(self, sessions: SessionData) -> None:
        incidence = session_item_counts(sessions, len(self.index))
        incidence.data[:] = 1.0
        support = np.asarray(incidence.sum(axis=0)).ravel()
        together = (incidence.T @ incidence).tocoo()
        off_diagonal = together.row != together.col
        rows, cols = together.row[off_diagonal], together.col[off_diagonal]
        norm = np.power(support[rows] + self.shrinkage, self.alpha) * np.power(
            support[cols] + self.shrinkage, 1.0 - self.alpha
        )
        similarity = sp.csr_matrix(
            (together.data[off_diagonal] / np.maximum(norm, 1e-12), (rows, cols)),
            shape=together.shape,
        )
        self.matrix = prune_rows(similarity, self.neighbours)

    def params(self) -> dict[str, Any]:
        return {
            "neighbours": self.neighbours,
            "alpha": self.alpha,
            "shrinkage": self.shrinkage,
            **super().params(),
        }


# Weight of a query item at 1-based position i of the L items considered (L = last).
POSITION_WEIGHTS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "same": lambda i, n: np.ones_like(i, dtype=np.float64),
    "div": lambda i, n: i / n,
    "linear": lambda i, n: np.maximum(1.0 - 0.1 * (n - i), 0.0),
    "quadratic": lambda i, n: (i / n) ** 2,
    "log": lambda i, n: 1.0 / np.log10(n - i + 1.7),
}
SIMILARITIES = ("dot", "cosine")


class _SessionKNNOptions(Settings):
    k: int = Field(100, ge=1)
    sample_size: int = Field(1000, ge=1)
    m: int | None = Field(None, ge=1)
    weighting: Literal[tuple(POSITION_WEIGHTS)] = "div"
    weighting_score: Literal[tuple(STEP_WEIGHTS)] = "quadratic"
    similarity: Literal[SIMILARITIES] = "dot"
    position_lambda: float | None = Field(3.0, gt=0)
    idf_weighting: float = Field(1.0, ge=0)


def _last_per_key(keys: np.ndarray) -> np.ndarray:
    """Indices of the last occurrence of every distinct key, in ascending key order."""
    _, first_of_reversed = np.unique(keys[::-1], return_index=True)
    return len(keys) - 1 - first_of_reversed


def _last_seen(train: pd.DataFrame) -> np.ndarray | None:
    """Last timestamp (int64 ns) of every session of a long table, or None without times."""
    if "timestamp" not in train.columns or not len(train):
        return None
    ids = train["session_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    times = pd.to_datetime(train["timestamp"]).to_numpy("datetime64[ns]").view(np.int64)
    return np.maximum.reduceat(times, starts)


#: Above this many (query, item) cells, step lookups search sorted keys instead of a table.
_DENSE_LOOKUP_CELLS = 8_000_000


def _lookup_steps(
    rows: np.ndarray, items: np.ndarray, step: np.ndarray, keys: np.ndarray, *, n_items: int
) -> np.ndarray:
    """``step`` (float32) of each ``query x n_items + item`` key among (rows, items), else inf.

    ``rows * n_items + items`` must be sorted (as :meth:`SessionKNN._query_items` returns).
    A dense (queries x items) table is one gather; for very wide blocks, a binary search.
    """
    n_queries = int(keys.max(initial=-1)) // n_items + 1
    if n_queries * n_items <= _DENSE_LOOKUP_CELLS:
        table = np.full(n_queries * n_items, np.inf, dtype=np.float32)
        keep = rows < n_queries
        table[rows[keep] * n_items + items[keep]] = step[keep]
        return table.take(keys)
    query_keys = rows * n_items + items
    at = np.minimum(np.searchsorted(query_keys, keys), len(query_keys) - 1)
    return np.where(query_keys[at] == keys, step[at], np.inf).astype(np.float32)


class SessionKNN(Recommender):
    """V-SKNN: the votes of the ``k`` training sessions most similar to the session so far.

    For each query, in whole-array steps over a block of queries:

    1. **Query items**: the last ``m`` clicks of the session (all of them when ``m`` is
       None), each distinct item weighted by its latest position ``i`` of ``L``:
       ``weighting`` = ``div`` (i/L), ``quadratic`` ((i/L)^2), ``linear`` (1 - 0.1 x clicks
       back, items 10 or more clicks back drop out), ``log`` (1/log10(clicks back + 1.7))
       or ``same`` (1). Items unknown to the model are skipped.
    2. **Candidates**: training sessions sharing one of those items, only the
       ``sample_size`` most recent (by last timestamp when the training table has a
       ``timestamp`` column, else later sessions in the table are taken as more recent).
    3. **Similarity**: ``dot`` = sum of the weights of the shared items (V-SKNN's ``vec``,
       up to a per-query constant) or ``cosine`` (divided by the query's weight norm and
       the square root of the neighbour's number of distinct items). The ``k`` most similar
       are the neighbours (ties: the more recent).
    4. **Scores**: every item of a neighbour gets ``similarity x step weight x position
       weight x idf weight``, summed over neighbours. ``weighting_score`` weighs by how many
       clicks back the query's most recent item shared with that neighbour is (V-SKNN's
       ``weighting_score``: ``div`` 1/t, ``quadratic`` 1/t^2, ``linear`` max(1 - 0.1 t, 0),
       ``log`` 1/log10(t + 1.7), ``same`` 1); ``position_lambda`` (STAN's lambda_inh, off
       when None) multiplies by ``exp(-|p - p*| / position_lambda)``, p the item's last
       position in the neighbour and p* the neighbour's last position holding a query item;
       ``idf_weighting`` multiplies by ``1 + idf_weighting x max(log(n_sessions / item
       clicks), 0)`` (V-SKNN's idf_weighting; 0 turns it off).

    Items of the session itself may be recommended (session-rec's ``remind``); use
    ``recommend(exclude_query=True)`` to drop the query item. With only the last item as
    context (``context='last_item'``) the query is that one item (m = 1).

    The defaults were chosen on the last day of rsc15_100k's training data (trained on the
    days before): V-SKNN's ``k=100, sample_size=1000`` and div/quadratic weights, plus
    ``position_lambda=3`` and ``idf_weighting=1``, which add about 0.005 MRR@20 each.
    """

    name: ClassVar[str] = "session_knn"
    uses_context: ClassVar[bool] = True
    search_settings: ClassVar[tuple[type, ...]] = (_SessionKNNOptions,)

    def __init__(
        self,
        k: int = 100,
        sample_size: int = 1000,
        *,
        m: int | None = None,
        weighting: str = "div",
        weighting_score: str = "quadratic",
        similarity: str = "dot",
        position_lambda: float | None = 3.0,
        idf_weighting: float = 1.0,
    ) -> None:
        super().__init__()
        options = _SessionKNNOptions.check(
            self.name,
            k=k,
            sample_size=sample_size,
            m=m,
            weighting=weighting,
            weighting_score=weighting_score,
            similarity=similarity,
            position_lambda=position_lambda,
            idf_weighting=idf_weighting,
        )
        vars(self).update(options.model_dump())
        self._last_seen: np.ndarray | None = None

    def fit(self, train: pd.DataFrame, validation_pairs: pd.DataFrame | None = None) -> SessionKNN:
        """As :meth:`Recommender.fit`; a ``timestamp`` column orders sessions by recency."""
        self._last_seen = _last_seen(train) if train is not None else None
        return super().fit(train, validation_pairs)

    def _fit(self, sessions: SessionData) -> None:
        n_sessions, n_items = len(sessions), len(self.index)
        last_seen = self._last_seen
        if last_seen is None or len(last_seen) != n_sessions:
            last_seen = np.arange(n_sessions)
        # Column c of the session matrices is the c-th most recent session (ties: later).
        newest_first = np.lexsort((np.arange(n_sessions), last_seen))[::-1]
        rank = np.empty(n_sessions, dtype=np.int64)
        rank[newest_first] = np.arange(n_sessions)
        owner = sessions.session_of_event()
        events = np.flatnonzero((owner >= 0) & (sessions.items >= 0))
        row, item = rank[owner[events]], sessions.items[events]
        position = events - sessions.starts[owner[events]] + 1
        last = _last_per_key(row * n_items + item)
        shape = (n_sessions, n_items)
        # Each session's distinct items with the 1-based position of their last click.
        self._positions = sp.csr_matrix(
            (position[last].astype(np.float64), (row[last], item[last])), shape=shape
        )
        self._positions.sort_indices()
        self._sessions_of_item = sp.csr_matrix(
            (np.ones(len(last)), (item[last], row[last])), shape=shape[::-1]
        )
        self._distinct = np.diff(self._positions.indptr).astype(np.float64)
        idf = np.log(n_sessions / np.maximum(self.popularity, 1.0))
        self._item_weight = 1.0 + self.idf_weighting * np.maximum(idf, 0.0)

    def _query_items(self, queries: QueryBatch) -> tuple[np.ndarray, ...]:
        """(row, item, weight, step) of each query's distinct known recent items, by key."""
        context = queries.context
        lengths = context.lengths if self.m is None else np.minimum(context.lengths, self.m)
        rows = np.repeat(np.arange(len(queries)), lengths)
        forward = ranges(lengths)
        span = np.repeat(lengths, lengths)
        back = span - 1 - forward
        items = context.items[np.repeat(context.stops - lengths, lengths) + forward]
        weight = POSITION_WEIGHTS[self.weighting](forward + 1.0, span.astype(np.float64))
        keep = (items >= 0) & (weight > 0)
        rows, items, back, weight = rows[keep], items[keep], back[keep], weight[keep]
        # The latest click of a repeated item sets its weight and step (as in V-SKNN).
        latest = _last_per_key(rows * len(self.index) + items)
        return rows[latest], items[latest], weight[latest], back[latest] + 1.0

    def score(self, queries: QueryBatch) -> np.ndarray:
        index = self.fitted_index()
        n_queries, n_items = len(queries), len(index)
        rows, items, weight, step = self._query_items(queries)
        if not len(rows):
            return np.zeros((n_queries, n_items))
        query = sp.csr_matrix((weight, (rows, items)), shape=(n_queries, n_items))
        similar = (query @ self._sessions_of_item).tocsr()
        similar.sort_indices()
        # The most recent candidates are the first stored entries of each row.
        lengths = np.diff(similar.indptr)
        order_in_row = np.arange(similar.nnz) - np.repeat(similar.indptr[:-1], lengths)
        similar.data[order_in_row >= self.sample_size] = 0.0
        similar.eliminate_zeros()
        if self.similarity == "cosine":
            norm = np.sqrt(np.bincount(rows, weight * weight, minlength=n_queries))
            row_of = np.repeat(np.arange(n_queries), np.diff(similar.indptr))
            similar.data /= norm[row_of] * np.sqrt(self._distinct[similar.indices])
        neighbours = prune_rows(similar, self.k).tocoo()
        pair_query, pair_session, pair_sim = neighbours.row, neighbours.col, neighbours.data
        if not len(pair_sim):
            return np.zeros((n_queries, n_items))

        # Expand every (query, neighbour) pair into the neighbour's distinct items: the
        # triples (pair, item, position), stored as runs of one pair each. On Online Retail
        # (long neighbours) that is ~30 M triples per 1,000 queries, so each pass counts.
        indptr = self._positions.indptr
        counts = indptr[pair_session + 1] - indptr[pair_session]
        segment = np.cumsum(counts) - counts
        slot = np.arange(int(counts.sum()), dtype=np.int64)
        slot += np.repeat(indptr[pair_session] - segment, counts)
        t_item = self._positions.indices[slot]
        key = np.repeat(pair_query.astype(np.int64) * n_items, counts)
        key += t_item
        # Is the neighbour's item one of the query's items, and how many clicks back?
        t_step = _lookup_steps(rows, items, step, key, n_items=n_items)
        pair_weight = pair_sim
        if self.weighting_score != "same":
            nearest = np.minimum.reduceat(t_step, segment).astype(np.float64)
            pair_weight = pair_weight * STEP_WEIGHTS[self.weighting_score](nearest)
        if self.position_lambda is None:
            t_weight = np.repeat(pair_weight, counts)
        else:
            positions = self._positions.data.astype(np.intp)  # whole numbers, from 1
            t_position = positions[slot]
            anchor = np.maximum.reduceat(np.where(t_step < np.inf, t_position, -1), segment)
            # A neighbour always shares a query item; one that did not would weigh nothing.
            pair_weight = np.where(anchor > 0, pair_weight, 0.0)
            distance = np.abs(t_position - np.repeat(np.maximum(anchor, 0), counts))
            # Positions are whole numbers: exp(-distance / lambda) is a table lookup.
            decay = np.exp(-np.arange(positions.max(initial=0) + 1) / self.position_lambda)
            t_weight = decay.take(distance)
            t_weight *= np.repeat(pair_weight, counts)
        scores = np.bincount(key, t_weight, minlength=n_queries * n_items)
        # The idf weight depends on the item alone: applied once per (query, item).
        return scores.reshape(n_queries, n_items) * self._item_weight

    def params(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "sample_size": self.sample_size,
            "m": self.m,
            "weighting": self.weighting,
            "weighting_score": self.weighting_score,
            "similarity": self.similarity,
            "position_lambda": self.position_lambda,
            "idf_weighting": self.idf_weighting,
        }
