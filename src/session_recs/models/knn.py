"""Nearest-neighbour recommenders: similar items (:class:`ItemKNN`) and similar sessions
(:class:`SessionKNN`), both scored for a block of queries at a time with sparse products.

- :class:`ItemKNN`: cosine-like similarity between items over the binary session x item
  incidence matrix, ``co(i, j) / ((n_i + shrinkage) ** alpha * (n_j + shrinkage) ** (1 -
  alpha))`` (session-rec's IKNN), pruned to the ``neighbours`` most similar items per item.
  A query is scored by the rows of its recent items (see ``context_window``).
- :class:`SessionKNN`: V-SKNN (Ludewig & Jannach, session-rec's ``VMContextKNN``), with
  STAN's optional neighbour-position weighting: the query's recent items, weighted by
  position, find the most recent training sessions sharing an item, keep the ``k`` most
  similar and let them vote for their items. :mod:`session_recs.models.stan` adds STAN's
  and VSTAN's decays.

Both give only the items with evidence (:meth:`~session_recs.models.base.Recommender.candidates`):
item kNN the rows of the query's items, session kNN its neighbours' items; a query's cost
follows those, never the catalogue.

About 490 lines: most are V-SKNN's vectorised neighbour search and voting, one algorithm
whose steps share the fitted matrices; split apart they would pass those matrices around.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from session_recs.core.config import Settings
from session_recs.core.tables import to_frame
from session_recs.models.base import QueryBatch, Recommender, SessionData, ranking_threads
from session_recs.models.single import session_knn_candidates
from session_recs.models.sparse import prune_rows, ranges, session_item_counts, work_cuts
from session_recs.models.transitions import STEP_WEIGHTS, ContextOptions, RowLookup


class _ItemKNNOptions(Settings):
    """The similarity of :class:`ItemKNN` (searched before the context options)."""

    neighbours: int = Field(100, ge=0)
    alpha: float = Field(0.5, ge=0, le=1)
    shrinkage: float = Field(20.0, ge=0)


class ItemKNNOptions(ContextOptions, _ItemKNNOptions):
    """Every option of :class:`ItemKNN`: its own, then the context's (three items)."""

    context_window: int = Field(3, ge=1)


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
    Options: ClassVar[type[Settings]] = ItemKNNOptions
    search_settings: ClassVar[tuple[type, ...]] = (_ItemKNNOptions, ContextOptions)
    options: ItemKNNOptions

    #: On Spark the sessions holding both items are counted on the cluster; on DuckDB the
    #: engine hands over each event's session and item as integers (8 bytes an event,
    #: not the table's rows as text) and they are counted in memory as :meth:`_fit` does:
    #: DuckDB's own self-join and aggregate took 658 s where memory took 112 s for 9x10^6
    #: training events (docs/scale.md).
    counts_on_engines: ClassVar[tuple[str, ...]] = ("duckdb", "pyspark")

    def _norm_factors(self, support: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each item's two factors of the norm, from the sessions holding it (computed once
        per item, not once per co-occurring pair)."""
        options = self.options
        left = np.power(support + options.shrinkage, options.alpha)
        return left, np.power(support + options.shrinkage, 1.0 - options.alpha)

    def _fit_table(self, table: Any) -> None:
        from session_recs.models import pair_counts

        n_items = len(self.fitted_index())
        if table._find_backend().name == "pyspark":  # counted on the cluster
            left, right = self._norm_factors(pair_counts.session_support(table, n_items))
            self.matrix = pair_counts.cooccurrence_similarity(
                table, left, right, self.options.neighbours
            )
            return
        self._fit_incidence(pair_counts.session_incidence(table, n_items))

    def _fit(self, sessions: SessionData) -> None:
        incidence = session_item_counts(sessions, len(self.fitted_index()))
        incidence.data[:] = 1.0
        self._fit_incidence(incidence)

    def _fit_incidence(self, incidence: sp.csr_matrix) -> None:
        """The matrix from the binary sessions x items ``incidence``."""
        from session_recs.models.cooccurrence import item_similarity  # numba

        support = np.bincount(incidence.indices, minlength=incidence.shape[1])
        left, right = self._norm_factors(support.astype(np.float64))
        self.matrix = item_similarity(
            incidence, left, right, self.options.neighbours, ranking_threads()
        )


# Weight of a query item at 1-based position i of the L items considered (L = last).
POSITION_WEIGHTS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "same": lambda i, n: np.ones_like(i, dtype=np.float64),
    "div": lambda i, n: i / n,
    "linear": lambda i, n: np.maximum(1.0 - 0.1 * (n - i), 0.0),
    "quadratic": lambda i, n: (i / n) ** 2,
    "log": lambda i, n: 1.0 / np.log10(n - i + 1.7),
}
SIMILARITIES = ("dot", "cosine")


class SessionKNNOptions(Settings):
    """Every option of :class:`SessionKNN` (see the class)."""

    k: int = Field(100, ge=1)
    sample_size: int = Field(1000, ge=1)
    m: int | None = Field(None, ge=1)
    # The choices are the keys of the weight tables, listed once (mypy cannot read them).
    weighting: Literal[tuple(POSITION_WEIGHTS)] = "div"  # type: ignore[valid-type]
    weighting_score: Literal[tuple(STEP_WEIGHTS)] = "quadratic"  # type: ignore[valid-type]
    similarity: Literal[SIMILARITIES] = "dot"  # type: ignore[valid-type]
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


#: Above this many (query, query item) cells, step lookups search sorted keys instead.
_DENSE_LOOKUP_CELLS = 8_000_000


def _lookup_steps(
    rows: np.ndarray,
    items: np.ndarray,
    step: np.ndarray,
    key_rows: np.ndarray,
    key_items: np.ndarray,
    *,
    n_items: int,
) -> np.ndarray:
    """``step`` (float32) of each (key row, key item) among the (rows, items), else inf.

    ``rows * n_items + items`` must be sorted (as :meth:`SessionKNN._query_items` returns).
    The query items are renumbered among themselves, so a (queries x distinct query items)
    table is one gather whatever the catalogue; for very wide blocks, a binary search.
    """
    if not len(rows):
        return np.full(len(key_rows), np.inf, dtype=np.float32)
    distinct = np.unique(items)
    n_rows = int(max(rows.max(), key_rows.max(initial=0))) + 1
    if n_rows * len(distinct) <= _DENSE_LOOKUP_CELLS:
        slot = np.full(n_items, -1, dtype=np.int64)
        slot[distinct] = np.arange(len(distinct))
        table = np.full(n_rows * len(distinct) + 1, np.inf, dtype=np.float32)
        table[rows * len(distinct) + slot[items]] = step
        found = slot[key_items]
        # Items that are no query item read the table's last cell (inf).
        where = np.where(found >= 0, key_rows * len(distinct) + found, len(table) - 1)
        return table.take(where)
    query_keys = rows * n_items + items
    keys = key_rows.astype(np.int64) * n_items + key_items
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
    Options: ClassVar[type[Settings]] = SessionKNNOptions
    search_settings: ClassVar[tuple[type, ...]] = (SessionKNNOptions,)
    options: SessionKNNOptions
    #: The training sessions' last times only order the neighbours while fitting.
    transient: ClassVar[Mapping[str, Any]] = {**Recommender.transient, "_last_seen": None}

    def __init__(self, options: Settings | None = None, /, **values: Any) -> None:
        super().__init__(options, **values)
        self._last_seen: np.ndarray | None = None

    def neighbourhood(self) -> SessionKNNOptions:
        """How neighbours are found and vote: the options themselves here; STAN and VSTAN
        (:mod:`session_recs.models.stan`) derive them from theirs."""
        return self.options

    def fit(self, train: pd.DataFrame, validation_pairs: pd.DataFrame | None = None) -> Self:
        """As :meth:`Recommender.fit`; a ``timestamp`` column orders sessions by recency."""
        train = to_frame(train)  # an engine's table: read into memory
        self._last_seen = _last_seen(train) if train is not None else None
        return super().fit(train, validation_pairs)

    def _fit(self, sessions: SessionData) -> None:
        knn = self.neighbourhood()
        n_sessions, n_items = len(sessions), len(self.fitted_index())
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
        self._neighbours = sp.csr_matrix(
            (position[last].astype(np.int32), (row[last], item[last])), shape=shape
        )
        self._neighbours.sort_indices()
        # Each item's sessions, newest first, cut to the `sample_size` newest: the newest
        # sample_size sessions holding any query item are among them, with every query
        # item they hold (a session in that sample is in the cut list of each of its query
        # items), so similarities stay exact while a query costs at most (its items x
        # sample_size), however popular its items are.
        sessions_of_item = sp.csr_matrix(
            (np.ones(len(last)), (item[last], row[last])), shape=shape[::-1]
        )
        sessions_of_item.sort_indices()
        lengths = np.diff(sessions_of_item.indptr)
        recent = ranges(lengths) < knn.sample_size
        self._sessions_of_item = sp.csr_matrix(
            (
                sessions_of_item.data[recent],
                sessions_of_item.indices[recent],
                np.r_[0, np.cumsum(np.minimum(lengths, knn.sample_size))],
            ),
            shape=sessions_of_item.shape,
        )
        lengths = np.diff(self._neighbours.indptr)
        self._distinct = lengths.astype(np.float64)
        # (session, item) keys of the stored entries, ascending: where each item sits.
        self._keys = np.repeat(np.arange(n_sessions, dtype=np.int64), lengths) * n_items
        self._keys += self._neighbours.indices
        self._position_reach = int(self._neighbours.data.max(initial=0))
        if knn.position_lambda is not None:
            distance = np.abs(np.arange(2 * self._position_reach + 1) - self._position_reach)
            self._position_decay = np.exp(-distance / knn.position_lambda)
        idf = np.log(n_sessions / np.maximum(self.fitted_popularity(), 1.0))
        self._item_weight = self._idf_weights(idf)
        self._recency = self._recency_weights(last_seen[newest_first])

    def _idf_weights(self, idf: np.ndarray) -> np.ndarray:
        """Weight of each item's votes from its idf, ``log(n_sessions / clicks)``."""
        return 1.0 + self.neighbourhood().idf_weighting * np.maximum(idf, 0.0)

    def _recency_weights(self, last_seen: np.ndarray) -> np.ndarray | None:
        """Weight of each session's similarity (newest first) from its recency; None: 1."""
        return None

    def _position_weights(self, position: np.ndarray, length: np.ndarray) -> np.ndarray:
        """Weight of a query item at 1-based click position ``position`` of ``length``."""
        return POSITION_WEIGHTS[self.neighbourhood().weighting](position, length)

    def _weighs_steps(self) -> bool:
        """Whether neighbours are weighed by how far back their latest shared click is."""
        return self.neighbourhood().weighting_score != "same"

    def _step_weights(self, step: np.ndarray) -> np.ndarray:
        """Weight of a neighbour whose latest shared click is ``step`` clicks back (1 = the
        last click)."""
        return STEP_WEIGHTS[self.neighbourhood().weighting_score](step)

    def _query_items(self, queries: QueryBatch) -> tuple[np.ndarray, ...]:
        """(row, item, weight, step) of each query's distinct known recent items, by key."""
        context = queries.context
        m = self.neighbourhood().m
        lengths = context.lengths if m is None else np.minimum(context.lengths, m)
        rows = np.repeat(np.arange(len(queries)), lengths)
        forward = ranges(lengths)
        span = np.repeat(lengths, lengths)
        back = span - 1 - forward
        items = context.items[np.repeat(context.stops - lengths, lengths) + forward]
        weight = self._position_weights(forward + 1.0, span.astype(np.float64))
        keep = (items >= 0) & (weight > 0)
        rows, items, back, weight = rows[keep], items[keep], back[keep], weight[keep]
        # The latest click of a repeated item sets its weight and step (as in V-SKNN).
        latest = _last_per_key(rows * len(self.fitted_index()) + items)
        return rows[latest], items[latest], weight[latest], back[latest] + 1.0

    def session_candidates(self, query: QueryBatch) -> tuple[np.ndarray, np.ndarray]:
        return session_knn_candidates(self, query)  # the same sums, one session

    def candidates(self, queries: QueryBatch) -> sp.csr_matrix:
        index = self.fitted_index()
        knn = self.neighbourhood()
        n_queries, n_items = len(queries), len(index)
        query_items = self._query_items(queries)
        rows, items, weight, _ = query_items
        empty = sp.csr_matrix((n_queries, n_items))
        if not len(rows):
            return empty
        query = sp.csr_matrix((weight, (rows, items)), shape=(n_queries, n_items))
        similar = (query @ self._sessions_of_item).tocsr()
        similar.sort_indices()
        # The most recent candidates are the first stored entries of each row.
        lengths = np.diff(similar.indptr)
        order_in_row = np.arange(similar.nnz) - np.repeat(similar.indptr[:-1], lengths)
        similar.data[order_in_row >= knn.sample_size] = 0.0
        similar.eliminate_zeros()
        if self._recency is not None:
            similar.data *= self._recency[similar.indices]
        if knn.similarity == "cosine":
            norm = np.sqrt(np.bincount(rows, weight * weight, minlength=n_queries))
            row_of = np.repeat(np.arange(n_queries), np.diff(similar.indptr))
            similar.data /= norm[row_of] * np.sqrt(self._distinct[similar.indices])
        neighbours = prune_rows(similar, knn.k).tocoo()
        pair_query, pair_session, pair_sim = neighbours.row, neighbours.col, neighbours.data
        if not len(pair_sim):
            return empty

        # Votes are counted for groups of whole queries whose neighbours hold about
        # VOTES_PER_CHUNK items in all, so memory stays bounded for any k.
        counts = np.diff(self._neighbours.indptr)[pair_session]
        per_query = np.bincount(pair_query, counts, minlength=n_queries)
        query_cuts = work_cuts(per_query, self.VOTES_PER_CHUNK)
        pair_cuts = np.searchsorted(pair_query, query_cuts)
        parts = [
            self._votes(
                query_items,
                pair_query[pair_cuts[c] : pair_cuts[c + 1]] - query_cuts[c],
                pair_session[pair_cuts[c] : pair_cuts[c + 1]],
                pair_sim[pair_cuts[c] : pair_cuts[c + 1]],
                first_query=query_cuts[c],
                n_rows=query_cuts[c + 1] - query_cuts[c],
            )
            for c in range(len(query_cuts) - 1)
        ]
        return parts[0] if len(parts) == 1 else sp.vstack(parts, format="csr")

    #: (neighbour, item) votes expanded at once (about 20 bytes each).
    VOTES_PER_CHUNK: ClassVar[int] = 2_000_000
    #: Queries per block: with thousands of candidate sessions each (sample_size), a block's
    #: candidates take tens of MB, and blocks are ranked in threads.
    query_block: ClassVar[int] = 512

    def _shared(
        self,
        query_items: tuple[np.ndarray, ...],
        pair_query: np.ndarray,
        pair_session: np.ndarray,
        votes: sp.csr_matrix,
    ) -> tuple[np.ndarray, np.ndarray]:
        """For each (query, neighbour) pair: the neighbour's last position holding one of the
        query's items (0: none), and how many clicks back the query's latest click on an item
        of the neighbour is (inf: none).

        Short queries look their items up in the neighbour (a binary search per pair and
        query item); long ones look each neighbour item up in a (query x item) table.
        """
        rows, items, _, step = query_items
        n_items = len(self.fitted_index())
        first = np.searchsorted(rows, np.arange(int(pair_query[-1]) + 2))
        per_pair = first[pair_query + 1] - first[pair_query]
        if 4 * int(per_pair.sum()) > votes.nnz:
            local = slice(first[pair_query[0]], first[-1])
            owner = np.repeat(pair_query.astype(np.int64) - pair_query[0], np.diff(votes.indptr))
            t_step = _lookup_steps(
                rows[local] - pair_query[0],
                items[local],
                step[local],
                owner,
                votes.indices,
                n_items=n_items,
            )
            segment = votes.indptr[:-1]
            shared = np.where(t_step < np.inf, votes.data, 0)
            return np.maximum.reduceat(shared, segment), np.minimum.reduceat(t_step, segment)
        which = np.repeat(first[pair_query], per_pair) + ranges(per_pair)
        wanted = np.repeat(pair_session.astype(np.int64) * n_items, per_pair)
        wanted += items[which]
        at = np.minimum(np.searchsorted(self._keys, wanted), len(self._keys) - 1)
        found = self._keys[at] == wanted
        segment = np.cumsum(per_pair) - per_pair
        anchor = np.maximum.reduceat(np.where(found, self._neighbours.data[at], 0), segment)
        nearest = np.minimum.reduceat(np.where(found, step[which], np.inf), segment)
        return anchor, nearest

    def _votes(
        self,
        query_items: tuple[np.ndarray, ...],
        pair_query: np.ndarray,
        pair_session: np.ndarray,
        pair_sim: np.ndarray,
        *,
        first_query: int,
        n_rows: int,
    ) -> sp.csr_matrix:
        """Scores (``n_rows`` queries from ``first_query`` x items) from the votes of (query,
        neighbour, similarity) pairs (``pair_query`` counted from ``first_query``): every
        distinct item of a neighbour gets the pair's weight times its position decay,
        summed per query by one sparse product."""
        n_items = len(self.fitted_index())
        if not len(pair_query):
            return sp.csr_matrix((n_rows, n_items))
        # The neighbours' rows of (item, last position): (pairs x items).
        votes = self._neighbours[pair_session]
        anchor, nearest = self._shared(query_items, pair_query + first_query, pair_session, votes)
        pair_weight = pair_sim
        if self._weighs_steps():
            pair_weight = pair_weight * self._step_weights(nearest.astype(np.float64))
        if self.neighbourhood().position_lambda is None:
            values = np.ones(votes.nnz)
        else:
            # A neighbour always shares a query item; one that did not would weigh nothing.
            pair_weight = np.where(anchor > 0, pair_weight, 0.0)
            # Positions are whole numbers: exp(-|p - anchor| / lambda) is a lookup in a
            # table centred on the longest session's length (no pass for the absolute value).
            offset = self._position_reach - anchor.astype(np.intp)
            values = self._position_decay.take(
                votes.data + np.repeat(offset, np.diff(votes.indptr))
            )
        votes = sp.csr_matrix((values, votes.indices, votes.indptr), shape=votes.shape)
        # (queries x pairs): row q holds its pairs' weights, pairs in order.
        indptr = np.searchsorted(pair_query, np.arange(n_rows + 1))
        pairs = sp.csr_matrix(
            (pair_weight, np.arange(len(pair_query)), indptr), shape=(n_rows, len(pair_query))
        )
        scores = (pairs @ votes).tocsr()
        # The idf weight depends on the item alone: applied once per (query, item).
        scores.data *= self._item_weight[scores.indices]
        return scores

    def params(self) -> dict[str, Any]:
        return dict(self.options.model_dump())
