"""The one recommender interface every model implements, and the data it works on.

Models work on integer item indices (an :class:`ItemIndex` maps ids to 0..n-1). A model
fits on :class:`SessionData` (ragged item sequences) and scores a :class:`QueryBatch`:
for each query, the last item seen and, optionally, the session so far. Most models
have evidence for a few items per query and give only those (:meth:`Recommender.candidates`,
a sparse matrix); models that score every item (Word2Vec) give dense blocks
(:meth:`Recommender.score`, ``dense_scores = True``), sized to a memory budget. The shared
:meth:`Recommender.recommend` turns either into top-K lists with the same rules: it
excludes the query item when asked, breaks ties by a model-supplied order (popularity by
default) and backfills rows without enough positive scores with the most popular items, so
every model answers every query (including ones about unseen items).

About 430 lines: the interface, its data types and the shared ranking and option handling
that every model inherits belong together; the ranking kernels live in ``ranking.py``.
"""

from __future__ import annotations

import functools
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from session_recs.core.config import Settings
from session_recs.core.errors import ConfigError, DataValidationError
from session_recs.core.tables import is_table, to_frame
from session_recs.models.ranking import (
    backfill,
    block_rows,
    popularity_order,
    sparse_top_k,
    top_k,
)
from session_recs.models.sparse import SessionData, ranges

logger = logging.getLogger(__name__)

UNKNOWN = -1
#: Memory a dense model's score block may take while ranked (megabytes); at 10^6 items
#: that is six queries per block, at Online Retail's 3,684 items 1,800.
DENSE_MEMORY_MB = 256.0
#: A sparse model's block is ranked densely when it has candidates for more than this share
#: of its (query, item) cells.
DENSE_SHARE = 0.2


@dataclass(frozen=True)
class ItemIndex:
    """Item ids in first-seen order of the training sessions; position = item index."""

    ids: np.ndarray

    @classmethod
    def from_items(cls, items: np.ndarray | pd.Series) -> ItemIndex:
        """Index the distinct items in order of first appearance."""
        uniques = pd.unique(
            np.asarray(
                list(items) if not isinstance(items, np.ndarray | pd.Series) else items,
                dtype=object,
            )
        )
        return cls(np.asarray(uniques, dtype=object))

    def __len__(self) -> int:
        return len(self.ids)

    @functools.cached_property
    def _lookup(self) -> pd.Index:
        """The ids' hash table, built on the first :meth:`encode` (not saved)."""
        return pd.Index(self.ids)

    def encode(self, items: Any) -> np.ndarray:
        """Item indices of ``items``; unknown items get :data:`UNKNOWN` (-1)."""
        codes = self._lookup.get_indexer(pd.Index(np.asarray(items, dtype=object)))
        return codes.astype(np.int64)

    def decode(self, indices: np.ndarray) -> np.ndarray:
        """Item ids of ``indices`` (which must be valid)."""
        return self.ids[indices]


@dataclass(frozen=True)
class QueryBatch:
    """Queries: the last item seen (``last_item``) and the session so far (``context``).

    ``context`` rows end with the query item; items unknown to the model are -1.
    """

    last_item: np.ndarray
    context: SessionData

    def __len__(self) -> int:
        return len(self.last_item)

    def take(self, rows: slice | np.ndarray) -> QueryBatch:
        """A block of queries (a slice), or those a boolean mask or index array selects."""
        return QueryBatch(
            self.last_item[rows],
            SessionData(self.context.items, self.context.starts[rows], self.context.stops[rows]),
        )


@dataclass(frozen=True)
class Recommendations:
    """Top-K item indices (``items``, shape n x K) with their scores, best first."""

    items: np.ndarray
    scores: np.ndarray


def ranking_threads() -> int:
    """Threads that rank a sparse model's blocks: ``OMP_NUM_THREADS`` when set (Ray sets it
    to a trial's CPUs), else the CPUs this process may use (at most 8)."""
    configured = os.environ.get("OMP_NUM_THREADS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return max(1, min(8, len(os.sched_getaffinity(0))))


class NoOptions(Settings):
    """The options of a model that takes none."""


class Recommender(ABC):
    """Fit on training sessions; answer a batch of queries with top-K items and scores.

    A model's options are declared once, in its ``Options`` class (a :class:`Settings`:
    each option's type, range and default): the constructor takes them as keywords (or an
    ``Options`` instance), checks them there and keeps them as :attr:`options`; the search
    space, the tracked parameters and the saved file read the same class.
    """

    name: ClassVar[str] = "recommender"
    #: The model's options: every one with its type, range and default.
    Options: ClassVar[type[Settings]] = NoOptions
    #: Constructor arguments that belong to a fit, not options (``callbacks``, ``progress``).
    run_arguments: ClassVar[tuple[str, ...]] = ()
    #: The checked options in force (``self.options.k``); subclasses narrow its type.
    options: Settings
    #: Whether the model uses the session so far (``context``) or only ``last_item``.
    uses_context: ClassVar[bool] = False
    #: The option settings whose fields a tune search may vary (see
    #: :mod:`session_recs.models.searchable`); empty: nothing to search.
    search_settings: ClassVar[tuple[type, ...]] = ()
    #: The option a scheduler may cut short while training (``epochs``), if any; models
    #: without one are searched in one-shot trials.
    training_resource: ClassVar[str | None] = None
    #: Whether the model scores the validation pairs while it trains (per-epoch metrics);
    #: it trains the same without them, recording no validation metric.
    monitors_validation: ClassVar[bool] = False
    #: Whether the model scores every item (:meth:`score`) rather than only the items it
    #: has evidence for (:meth:`candidates`).
    dense_scores: ClassVar[bool] = False
    #: Queries per block for sparse models (their memory follows the evidence per query).
    query_block: ClassVar[int] = 1024
    #: The version of the model file format (:mod:`session_recs.models.state`); a file of
    #: another one (an older session-recs) is refused with a retrain hint.
    STATE_FORMAT: ClassVar[int] = 3
    #: Attributes that belong to a fit, not to the fitted model (never saved), with the
    #: value a loaded model gets.
    transient: ClassVar[Mapping[str, Any]] = {"validation_pairs": None}

    def __init__(self, options: Settings | None = None, /, **values: Any) -> None:
        self.options = self.check_options(options, values)
        self.index: ItemIndex | None = None
        self.popularity: np.ndarray | None = None
        self.validation_pairs: pd.DataFrame | None = None
        #: ``{"kind": ..., "options": ...}``: the kind and every option (defaults filled) it
        #: was built with by :func:`session_recs.models.build_model`; None otherwise.
        self.built_from: dict[str, Any] | None = None

    def __getattr__(self, name: str) -> Any:
        """An option read as the model's attribute (``model.k`` is ``model.options.k``), as
        before the options were a class; only called when no attribute has the name."""
        options = self.__dict__.get("options")
        if options is not None and name in type(options).model_fields:
            return getattr(options, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @classmethod
    def check_options(cls, options: Settings | None, values: Mapping[str, Any]) -> Any:
        """``options`` (an ``Options`` instance, or None: the defaults) with ``values`` set,
        checked by :attr:`Options`; a ConfigError in one line naming a bad option."""
        unknown = sorted(set(values) - set(cls.Options.model_fields))
        if unknown:
            valid = sorted({*cls.Options.model_fields, *cls.run_arguments})
            raise ConfigError(
                f"{cls.name}: unknown parameter(s) {unknown}; valid parameters: {valid}."
            )
        if isinstance(options, cls.Options) and not values:
            return options
        given = options.model_dump() if options is not None else {}
        return cls.Options.check(cls.name, **{**given, **values})

    @classmethod
    def given_options(cls, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every option, as ``given`` sets it or else its default (None: a preset's value,
        :meth:`params` tells it): what :func:`session_recs.models.build_model` records."""
        return {
            name: given[name] if name in given else field.get_default(call_default_factory=True)
            for name, field in cls.Options.model_fields.items()
        }

    def fit(self, train: pd.DataFrame, validation_pairs: pd.DataFrame | None = None) -> Self:
        """Learn from a long session table (``session_id``, ``position``, ``item_id``).

        ``train`` may be a table of the columnar engine (``train_sessions`` of at least
        ``engine.min_rows`` rows, or any on Spark): a model that counts on that engine
        (``counts_on_engines``) fits from it there, holding only what it keeps; any
        other reads it into memory first. ``validation_pairs`` is only used by models
        that monitor training (``monitors_validation``); an empty table (a split without
        validation) trains them all the same, with no validation metric, and says so in
        one line.
        """
        on_engine = is_table(train) and self.counts_on(train._find_backend().name)
        if on_engine:
            logger.info("%s: counting on the columnar engine", self.name)
        else:
            train = to_frame(train)
        ids, popularity, sessions = self._items(train, on_engine)
        if not len(ids):
            raise DataValidationError(
                f"{self.name}: the training sessions are empty; nothing to learn from. "
                "Check the split outputs (train_sessions)."
            )
        self.index, self.popularity = ItemIndex(ids), popularity
        self.validation_pairs = validation_pairs
        if self.monitors_validation and validation_pairs is not None and not len(validation_pairs):
            logger.info(
                "%s: no validation pairs (split.validation_fraction = 0): trains without "
                "per-epoch validation; its history records no validation metric",
                self.name,
            )
        self._popular = popularity_order(self.popularity)
        if sessions is None:
            self._fit_table(train)
        else:
            self._fit(sessions)
        return self

    @staticmethod
    def _items(train: Any, on_engine: bool) -> tuple[np.ndarray, np.ndarray, SessionData | None]:
        """The item ids in order of first appearance, their training counts, and (in
        memory) the encoded sessions."""
        if on_engine:
            from session_recs.models.pair_counts import item_index

            return (*item_index(train), None)
        if train is None or not len(train):
            return np.zeros(0, dtype=object), np.zeros(0), None
        # On the column itself: an Arrow-backed text column is hashed as it is, where its
        # to_numpy() would make a Python string per event (about 60 bytes each).
        codes, uniques = pd.factorize(train["item_id"])
        ids = np.asarray(uniques, dtype=object)
        sessions = SessionData.from_long(train, ItemIndex(ids), codes=codes)
        return ids, np.bincount(sessions.items, minlength=len(ids)).astype(np.float64), sessions

    @abstractmethod
    def _fit(self, sessions: SessionData) -> None:
        """Learn from encoded training sessions (``self.validation_pairs`` may be set)."""

    #: The engines (Ibis backends: ``duckdb``, ``pyspark``) on whose tables
    #: :meth:`_fit_table` learns, counting there (:mod:`session_recs.models.pair_counts`)
    #: with the same result as :meth:`_fit`; from any other, the table is read into memory.
    counts_on_engines: ClassVar[tuple[str, ...]] = ()

    def counts_on(self, engine: str) -> bool:
        """Whether this model, with its options, counts on the engine ``engine`` (an Ibis
        backend's name)."""
        return engine in self.counts_on_engines

    def _fit_table(self, table: Any) -> None:
        """Learn from a table of training sessions on the engine (``counts_on_engines``)."""
        raise NotImplementedError(f"{type(self).__name__} fits in memory only.")

    def candidates(self, queries: QueryBatch) -> sp.csr_matrix:
        """Sparse (n_queries x n_items) scores of the items with evidence; entries <= 0 and
        items not stored mean 'no evidence'. Sparse models implement this."""
        raise NotImplementedError(f"{type(self).__name__} scores densely: use score().")

    def session_candidates(self, query: QueryBatch) -> tuple[np.ndarray, np.ndarray]:
        """The items one query has evidence for (ascending) and their scores: the one row
        of :meth:`candidates` (:mod:`session_recs.models.single` answers one session)."""
        row = sp.csr_matrix(self.candidates(query))
        if not row.has_canonical_format:
            row = row.copy()
            row.sum_duplicates()
        return row.indices.astype(np.int64), np.asarray(row.data, dtype=np.float64)

    def score(self, queries: QueryBatch) -> np.ndarray:
        """Dense scores (n_queries x n_items); higher is better, <= 0 means 'no evidence'.

        Dense models (``dense_scores = True``) implement this; for sparse models it is their
        :meth:`candidates` as a dense block (for small data and the dense-path checks).
        """
        return self.candidates(queries).toarray()

    def tie_rank(self, queries: QueryBatch, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Order among equal scores of (query row, item) candidates: more popular first."""
        return -self.fitted_popularity()[cols]

    def _evidence_tie_rank(
        self, block: QueryBatch, raw: np.ndarray
    ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """:meth:`tie_rank` for candidates with evidence (``raw`` > 0). The backfilled rest
        already score by popularity; equally popular ones keep first-seen item order."""

        def ranks(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
            out = np.zeros(len(rows), dtype=np.float64)
            evidence = raw[rows, cols] > 0
            if evidence.any():
                out[evidence] = self.tie_rank(block, rows[evidence], cols[evidence])
            return out

        return ranks

    def fitted_index(self) -> ItemIndex:
        """The item index of a fitted model; a ConfigError before ``fit``."""
        if self.index is None:
            raise ConfigError(f"{self.name} is not fitted yet: call fit(train_sessions) first.")
        return self.index

    def fitted_popularity(self) -> np.ndarray:
        """Each item's training count, of a fitted model; a ConfigError before ``fit``."""
        if self.popularity is None:
            raise ConfigError(f"{self.name} is not fitted yet: call fit(train_sessions) first.")
        return self.popularity

    def _export_state(self) -> dict[str, Any]:
        """What a saved model holds (:mod:`session_recs.models.state`): every attribute but
        the :attr:`transient` ones. A model holding a library's object replaces it here by
        arrays and plain values, and builds it again in :meth:`_restore_state`. The options
        are saved one attribute each, by name (as format 3 always did)."""
        state = {
            name: value
            for name, value in vars(self).items()
            if name not in self.transient and name != "options"
        }
        return {**self.options.model_dump(), **state}

    def _restore_state(self, state: dict[str, Any]) -> None:
        """Set a loaded model's attributes from :meth:`_export_state`'s (decoded) values."""
        fields = type(self).Options.model_fields
        # Format 3 files of the neural models also kept their options as one mapping.
        saved = state.pop("options", None)
        values = dict(saved) if isinstance(saved, dict) else {}
        values.update({name: state.pop(name) for name in list(state) if name in fields})
        self.options = self.Options.model_construct(
            **{name: value for name, value in values.items() if name in fields}
        )
        for name, value in {**self.transient, **state}.items():
            setattr(self, name, value)

    def recommend(
        self,
        queries: QueryBatch,
        k: int,
        *,
        exclude_query: bool = True,
        memory_mb: float = DENSE_MEMORY_MB,
        dense: bool | None = None,
        threads: int | None = None,
    ) -> Recommendations:
        """Top-``k`` items per query, best first, backfilled by popularity.

        Sparse models rank their candidates only, ``threads`` blocks of queries at a time
        (None: :func:`ranking_threads`; the blocks are independent, so the lists do not
        depend on it); dense ones rank blocks of queries sized so each block needs about
        ``memory_mb`` (their matrix products use the BLAS's own threads). ``dense=True``
        ranks a sparse model's scores the dense way (the two give the same lists; tests
        check it).
        """
        index = self.fitted_index()
        if not isinstance(k, int | np.integer) or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k!r}.")
        if not memory_mb > 0:
            raise ConfigError(
                f"memory_mb must be a positive number of megabytes, got {memory_mb!r}."
            )
        k = min(int(k), len(index) - (1 if exclude_query else 0))
        items = np.empty((len(queries), k), dtype=np.int64)
        scores = np.empty((len(queries), k), dtype=np.float64)
        dense = self.dense_scores if dense is None else dense
        rank = self._rank_dense if dense else self._rank_sparse
        step = block_rows(len(index), memory_mb) if dense else self.query_block
        blocks = [slice(at, min(at + step, len(queries))) for at in range(0, len(queries), step)]

        def fill(rows: slice) -> None:
            items[rows], scores[rows] = rank(queries.take(rows), k, exclude_query)

        threads = ranking_threads() if threads is None else max(1, int(threads))
        if dense or threads == 1 or len(blocks) < 2:
            for rows in blocks:
                fill(rows)
        else:  # numpy and scipy's sparse kernels release the GIL
            with ThreadPoolExecutor(min(threads, len(blocks))) as pool:
                list(pool.map(fill, blocks))
        return Recommendations(items, scores)

    def _rank_sparse(
        self, block: QueryBatch, k: int, exclude_query: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k of a block from its candidates, completed from the popularity order."""
        exclude = block.last_item if exclude_query else None
        candidates = self.candidates(block)
        if candidates.nnz > DENSE_SHARE * candidates.shape[0] * candidates.shape[1]:
            # Evidence for most items (long sessions, small catalogues): a dense block is
            # cheaper than sorting candidates, and its size is bounded by theirs.
            return self._rank_dense(block, k, exclude_query, candidates.toarray())

        def ranks(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
            return self.tie_rank(block, rows, cols)

        items, scores = sparse_top_k(candidates, k, ranks, exclude)
        backfill(items, scores, self._popular, exclude)
        return items, scores

    def _rank_dense(
        self, block: QueryBatch, k: int, exclude_query: bool, raw: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k of a dense block; items without evidence rank below, by popularity."""
        popularity = self.fitted_popularity()
        fallback = (popularity / (popularity.max() + 1.0)).astype(np.float64)
        if raw is None:
            raw = self.score(block)
        raw = np.asarray(raw, dtype=np.float64)
        combined = np.where(raw > 0, raw + 1.0, fallback[None, :])
        if exclude_query:
            known = block.last_item >= 0
            combined[np.flatnonzero(known), block.last_item[known]] = -np.inf
        chosen = top_k(combined, k, self._evidence_tie_rank(block, raw))
        picked = np.take_along_axis(raw, chosen, axis=1)
        return chosen, np.where(picked > 0, picked, 0.0)

    def params(self) -> Mapping[str, Any]:
        """The model's hyperparameters, for reports."""
        return {}


#: A constructor's first argument when none is given (None is a preset: "no preset").
NOT_GIVEN: Any = object()


def preset_or_options(
    first: Any, values: Mapping[str, Any]
) -> tuple[Settings | None, dict[str, Any]]:
    """The options instance and keyword values of a constructor whose first argument may be
    the options or, as before they were a class, the preset's name (``Word2VecRecommender(
    "ff19_tuned", window=7)``)."""
    if first is NOT_GIVEN or isinstance(first, Settings):
        return (None if first is NOT_GIVEN else first), dict(values)
    return None, {"preset": first, **values}


def context_weights(queries: QueryBatch, n_items: int, window: int, decay: float) -> sp.csr_matrix:
    """Sparse (queries x items) weights of each query's last ``window`` known items.

    The last item weighs 1, the one before it ``decay``, then ``decay**2``...; an item
    seen twice adds up. Built on whole arrays, with no loop over queries.
    """
    context = queries.context
    lengths = np.minimum(context.lengths, window)
    rows = np.repeat(np.arange(len(queries)), lengths)
    back = ranges(lengths)  # 0 = last item
    positions = np.repeat(context.stops, lengths) - 1 - back
    items = context.items[positions]
    known = items >= 0
    weights = np.power(float(decay), back[known])
    return sp.csr_matrix(
        (weights, (rows[known], items[known])), shape=(len(queries), n_items), dtype=np.float64
    )
