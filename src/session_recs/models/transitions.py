"""Models built from counts of item pairs within training sessions, as sparse matrices.

All four count ``(a, b)`` item pairs over whole arrays of training events and score a
query by the row of its last item (``score(q, b) = C[last(q), b]``); they differ in which
pairs they count and how:

- :class:`MarkovChain`: immediate successors (first-order transitions).
- :class:`SequentialRules`: successors up to ``steps`` positions ahead, weighted by
  ``1 / distance`` (session-rec's SR with ``weighting='div'``), pruned to the ``pruning``
  strongest rules per item.
- :class:`AssociationRules`: co-occurrence anywhere in the same session, both directions.
  ``mode='ff19'`` reproduces FF19's baseline exactly (see the class docstring).
- :class:`MostPopular`: no pairs at all; every query gets the most popular items.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from session_recs.core.config import Settings
from session_recs.models.base import (
    QueryBatch,
    Recommendations,
    Recommender,
    SessionData,
    context_weights,
)
from session_recs.models.sparse import (
    count_matrix,
    prune_rows,
    session_item_counts,
    successor_pairs,
    work_cuts,
)


class ContextOptions(Settings):
    """How :class:`RowLookup` models use the session so far (see the class)."""

    context_window: int = Field(1, ge=1)
    decay: float = Field(0.5, gt=0, le=1)
    history_weight: float = Field(0.0, ge=0)
    history_decay: float = Field(0.99, gt=0, le=1)


class RowLookup(Recommender):
    """Score a query by the matrix rows of its recent items.

    With ``context_window=1`` (the default) only the last item counts; a larger window adds
    the rows of earlier items of the session, weighted ``decay ** steps_back``.
    ``history_weight`` > 0 adds the session's own items (a repeat-purchase prior): rows are
    scaled to a maximum of 1 and each item of the session adds ``history_weight *
    history_decay ** steps_back``. Both only matter when queries carry a session context.
    """

    uses_context: ClassVar[bool] = True
    Options: ClassVar[type[Settings]] = ContextOptions
    search_settings: ClassVar[tuple[type, ...]] = (ContextOptions,)
    options: ContextOptions
    matrix: sp.csr_matrix

    def _rows(self, weights: sp.csr_matrix) -> sp.csr_matrix:
        """Weighted sum of matrix rows (sparse: only items some row reaches)."""
        return (weights @ self.matrix).tocsr()

    def candidates(self, queries: QueryBatch) -> sp.csr_matrix:
        n_items = len(self.fitted_index())
        options = self.options
        scores = self._rows(
            context_weights(queries, n_items, options.context_window, options.decay)
        )
        if options.history_weight > 0:
            scores = scores.tocsr()
            top = scores.max(axis=1).toarray().ravel()
            row_of = np.repeat(np.arange(scores.shape[0]), np.diff(scores.indptr))
            scores.data = scores.data / np.where(top > 0, top, 1.0)[row_of]
            history = context_weights(queries, n_items, _WHOLE_SESSION, options.history_decay)
            scores = scores + options.history_weight * history
        return sp.csr_matrix(scores)

    def session_candidates(self, query: QueryBatch) -> tuple[np.ndarray, np.ndarray]:
        """With only the last item read: its matrix row (1.0 x the row, as the product)."""
        options = self.options
        if (
            options.context_window > 1
            or options.history_weight > 0
            or type(self)._rows is not (RowLookup._rows)
        ):
            return super().session_candidates(query)
        item = int(query.last_item[0])
        matrix = self.matrix
        start, stop = matrix.indptr[item], matrix.indptr[item + 1]
        items = matrix.indices[start:stop].astype(np.int64)
        scores = np.asarray(matrix.data[start:stop], dtype=np.float64)
        if len(items) > 1 and not (items[1:] > items[:-1]).all():
            return super().session_candidates(query)
        return items, scores

    def params(self) -> dict[str, Any]:
        return dict(self.options.model_dump())


_WHOLE_SESSION = 1 << 40


class MostPopular(Recommender):
    """The most frequent training items, whatever the query."""

    name: ClassVar[str] = "most_popular"

    def _fit(self, sessions: SessionData) -> None:
        pass

    def candidates(self, queries: QueryBatch) -> sp.csr_matrix:
        """No evidence about any query: every list is the popularity backfill."""
        return sp.csr_matrix((len(queries), len(self.fitted_index())))

    def recommend(self, queries: QueryBatch, k: int, **options: Any) -> Recommendations:
        """The most popular items, scored by their training counts."""
        recs = super().recommend(queries, k, **options)
        return Recommendations(recs.items, self.fitted_popularity()[recs.items])


class MarkovChain(RowLookup):
    """First-order Markov chain: how often each item directly followed the query item."""

    name: ClassVar[str] = "markov"

    counts_on_engines: ClassVar[tuple[str, ...]] = ("duckdb", "pyspark")

    def _fit(self, sessions: SessionData) -> None:
        a, b = successor_pairs(sessions, 1)
        self.matrix = count_matrix(a, b, 1.0, len(self.fitted_index()))

    def _fit_table(self, table: Any) -> None:
        from session_recs.models.pair_counts import successor_scores

        self.matrix = successor_scores(table, [1.0], n_items=len(self.fitted_index()))


#: Weight of something ``t`` steps away (1 = adjacent): of a sequential rule over ``t``
#: positions, of a neighbour session whose latest shared item is ``t`` clicks back.
STEP_WEIGHTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "same": lambda t: np.ones_like(t, dtype=np.float64),
    "div": lambda t: 1.0 / t,
    "linear": lambda t: np.maximum(1.0 - 0.1 * t, 0.0),
    "quadratic": lambda t: 1.0 / (t * t),
    "log": lambda t: 1.0 / np.log10(t + 1.7),
}


class _RuleOptions(Settings):
    """The rules of :class:`SequentialRules` (searched before the context options)."""

    steps: int = Field(10, ge=1)
    pruning: int = Field(20, ge=0)
    backward_weight: float = Field(0.0, ge=0)
    # The choices are STEP_WEIGHTS's keys, listed once (mypy cannot read them).
    weighting: Literal[tuple(STEP_WEIGHTS)] = "div"  # type: ignore[valid-type]


class SequentialRulesOptions(ContextOptions, _RuleOptions):
    """Every option of :class:`SequentialRules`."""


class SequentialRules(RowLookup):
    """Rules from each item to the items after it, weighted by distance (session-rec's SR).

    ``weighting`` is the weight of a rule over ``d`` positions (:data:`STEP_WEIGHTS`:
    ``div`` = 1/d, the default; ``same``, ``linear``, ``log``, ``quadratic``); ``steps`` is
    how far ahead a rule reaches; ``backward_weight`` > 0 also counts rules
    towards earlier items at that fraction of the weight; ``pruning`` keeps the strongest
    rules per item (0 keeps all). Other options: see :class:`RowLookup`.
    """

    name: ClassVar[str] = "sequential_rules"
    Options: ClassVar[type[Settings]] = SequentialRulesOptions
    search_settings: ClassVar[tuple[type, ...]] = (_RuleOptions, ContextOptions)
    options: SequentialRulesOptions

    counts_on_engines: ClassVar[tuple[str, ...]] = ("duckdb", "pyspark")

    def _weights(self) -> tuple[list[float], list[float]]:
        """The weight of a rule over each distance from 1 (up to ``steps``, stopping at the
        first that weighs nothing: ``linear`` from 10 positions on), and of the same rule
        counted backwards (none without ``backward_weight``)."""
        options = self.options
        weights: list[float] = []
        for distance in range(1, options.steps + 1):
            weight = float(STEP_WEIGHTS[options.weighting](np.asarray([float(distance)]))[0])
            if weight <= 0:
                break
            weights.append(weight)
        backward = [options.backward_weight * w for w in weights] if options.backward_weight else []
        return weights, backward

    def _fit(self, sessions: SessionData) -> None:
        """Sum each distance's count matrix times its weight, distance by distance (the
        order :mod:`session_recs.models.pair_counts` sums in, so both fits agree to the bit);
        one distance's pairs are held at a time."""
        n = len(self.fitted_index())
        weights, backward = self._weights()
        total = sp.csr_matrix((n, n))
        for distance, weight in enumerate(weights, start=1):
            a, b = successor_pairs(sessions, distance)
            if not len(a):
                break
            counts = count_matrix(a, b, 1.0, n)
            total = total + counts * weight
            if backward:
                total = total + counts.T.tocsr() * backward[distance - 1]
        self.matrix = prune_rows(total, self.options.pruning)

    def _fit_table(self, table: Any) -> None:
        from session_recs.models.pair_counts import successor_scores

        weights, backward = self._weights()
        self.matrix = successor_scores(
            table, weights, backward, self.options.pruning, len(self.fitted_index())
        )


class _AssociationOptions(Settings):
    """The counting of :class:`AssociationRules` (searched before the context options)."""

    mode: Literal["clean", "ff19"] = "clean"
    pruning: int = Field(0, ge=0)


class AssociationRulesOptions(ContextOptions, _AssociationOptions):
    """Every option of :class:`AssociationRules`."""


class AssociationRules(RowLookup):
    """Co-occurrence counts of every ordered pair of positions within a training session.

    ``C[a, b]`` counts the pairs of distinct positions (i, j) of a session with item a at i
    and b at j, summed over sessions: ``n_a * n_b`` per session, and ``n_a * (n_a - 1)``
    on the diagonal, so a repeated item co-occurs with itself. With X the session x item
    count matrix, ``C = X.T @ X - diag(item counts)``; rows are computed for a block of
    queries at a time as ``(W @ X.T) @ X`` rather than materialising C (unless pruned).

    ``mode='ff19'`` reproduces FF19's baseline exactly: it may recommend the query item
    itself (FF19 counted, and never excluded, self-pairs) and breaks ties the way
    ``collections.Counter.most_common`` did on its pair lists, by first appearance: the
    earliest training session holding both items, then the partner's first position in
    it (for the query item itself, its second position). ``mode='clean'`` (the default)
    drops self-pairs and breaks ties by popularity.
    """

    name: ClassVar[str] = "association_rules"
    Options: ClassVar[type[Settings]] = AssociationRulesOptions
    search_settings: ClassVar[tuple[type, ...]] = (_AssociationOptions, ContextOptions)
    options: AssociationRulesOptions

    counts_on_engines: ClassVar[tuple[str, ...]] = ("duckdb", "pyspark")

    def _fit(self, sessions: SessionData) -> None:
        self._fit_counts(session_item_counts(sessions, len(self.fitted_index())))
        if self.options.mode == "ff19":
            self._first_position = self._first_positions(sessions)
            self._width = float(sessions.lengths.max(initial=0) + 2)

    def counts_on(self, engine: str) -> bool:
        """The clean mode counts on the engine; FF19's, whose ties need every item's first
        positions in every session, reads the training sessions into memory."""
        return self.options.mode == "clean" and super().counts_on(engine)

    def _fit_table(self, table: Any) -> None:
        """The engine's count of each item in each session: the in-memory fit's matrix."""
        from session_recs.models.pair_counts import session_item_matrix

        self._fit_counts(session_item_matrix(table, len(self.fitted_index())))

    def _fit_counts(self, counts: sp.csr_matrix) -> None:
        """Learn from the (sessions x items) count matrix."""
        self._counts = counts
        self._counts_t = counts.T.tocsr()
        # What X.T @ X puts on the diagonal beyond the wanted count.
        squares = np.asarray(counts.multiply(counts).sum(axis=0)).ravel()
        self._diagonal_excess = (
            squares if self.options.mode == "clean" else self.fitted_popularity()
        )
        self.matrix = None
        if self.options.pruning:
            self.matrix = self._pruned_counts(counts, np.asarray(counts.sum(axis=1)).ravel())

    #: Co-occurrence work (events summed over the sessions of each row's item) per block of
    #: rows while counting the pruned matrix; its memory follows that, not the whole matrix.
    PAIRS_PER_BLOCK: ClassVar[int] = 20_000_000

    def _pruned_counts(self, counts: sp.csr_matrix, lengths: np.ndarray) -> sp.csr_matrix:
        """``C`` with each row pruned to its ``pruning`` largest counts, computed for blocks
        of item rows so that only one block of the full co-occurrence matrix is held."""
        cuts = work_cuts(self._counts_t @ lengths.astype(np.float64), self.PAIRS_PER_BLOCK)
        pruned = []
        for lo, hi in itertools.pairwise(cuts):
            rows = (self._counts_t[lo:hi] @ counts).tocsr()
            diagonal = sp.csr_matrix(
                (self._diagonal_excess[lo:hi], (np.arange(hi - lo), np.arange(lo, hi))),
                shape=rows.shape,
            )
            rows = (rows - diagonal).tocsr()
            rows.eliminate_zeros()
            pruned.append(prune_rows(rows, self.options.pruning))
        return sp.vstack(pruned, format="csr") if len(pruned) > 1 else pruned[0]

    def _rows(self, weights: sp.csr_matrix) -> sp.csr_matrix:
        if self.matrix is not None:
            return super()._rows(weights)
        scores = ((weights @ self._counts_t) @ self._counts).tocsr()
        return (scores - weights.multiply(self._diagonal_excess[None, :])).tocsr()

    def _first_positions(self, sessions: SessionData) -> tuple[sp.csc_matrix, sp.csc_matrix]:
        """(sessions x items) 1 + first and 1 + second position of each item in each session."""
        owner = sessions.session_of_event()
        events = np.flatnonzero((owner >= 0) & (sessions.items >= 0))
        session, item = owner[events], sessions.items[events]
        position = events - sessions.starts[session]
        # Events come in session order, positions ascending: a stable sort by (session,
        # item) puts each pair's occurrences together, earliest first.
        key = session.astype(np.int64) * len(self.fitted_index()) + item
        order = np.argsort(key, kind="stable")
        key, session, item, position = key[order], session[order], item[order], position[order]
        first = np.r_[True, key[1:] != key[:-1]]
        second = np.r_[False, first[:-1] & ~first[1:]]
        shape = (len(sessions), len(self.fitted_index()))
        return (
            sp.csc_matrix((position[first] + 1.0, (session[first], item[first])), shape=shape),
            sp.csc_matrix((position[second] + 1.0, (session[second], item[second])), shape=shape),
        )

    def tie_rank(self, queries: QueryBatch, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """FF19 mode: candidates ordered by first appearance in FF19's pair lists."""
        if self.options.mode != "ff19":
            return super().tie_rank(queries, rows, cols)
        first, second = self._first_position
        query = queries.last_item[rows]
        query = np.where(query >= 0, query, cols)
        # Partner positions in the sessions that hold the query item (the partner's second
        # position when it is the query item itself); the first such session wins.
        holds_query = first[:, query] > 0
        partner = first[:, cols]
        is_self = sp.diags((cols == query).astype(np.float64))
        partner = partner + (second[:, cols] - partner) @ is_self
        both = partner.multiply(holds_query).tocsc()
        both.eliminate_zeros()
        both.sort_indices()
        has = np.diff(both.indptr) > 0
        head = np.minimum(both.indptr[:-1], max(len(both.indices) - 1, 0))
        earliest = np.where(has, both.indices[head] if len(both.indices) else 0, 0)
        position = np.where(has, both.data[head] if len(both.data) else 0, 0)
        return np.where(has, earliest * self._width + position, np.inf)

    def recommend(
        self, queries: QueryBatch, k: int, *, exclude_query: bool = True, **options: Any
    ) -> Recommendations:
        """As :meth:`Recommender.recommend`; FF19 mode never excludes the query item."""
        if self.options.mode == "ff19":
            exclude_query = False
        return super().recommend(queries, k, exclude_query=exclude_query, **options)
