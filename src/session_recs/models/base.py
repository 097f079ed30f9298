"""The one recommender interface every model implements, and the data it works on.

Models work on integer item indices (an :class:`ItemIndex` maps ids to 0..n-1). A model
fits on :class:`SessionData` (ragged item sequences) and scores a :class:`QueryBatch`:
for each query, the last item seen and, optionally, the session so far. The shared
:meth:`Recommender.recommend` turns score blocks into top-K lists: it excludes the query
item when asked, breaks ties by a model-supplied order (popularity by default) and
backfills rows without enough positive scores with the most popular items, so every
model answers every query (including ones about unseen items).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from session_recs.errors import ConfigError, DataValidationError
from session_recs.models.sparse import ranges

UNKNOWN = -1


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

    def encode(self, items: Any) -> np.ndarray:
        """Item indices of ``items``; unknown items get :data:`UNKNOWN` (-1)."""
        codes = pd.Index(self.ids).get_indexer(pd.Index(np.asarray(items, dtype=object)))
        return codes.astype(np.int64)

    def decode(self, indices: np.ndarray) -> np.ndarray:
        """Item ids of ``indices`` (which must be valid)."""
        return self.ids[indices]


@dataclass(frozen=True)
class SessionData:
    """Ragged item sequences: session ``s`` is ``items[starts[s]:stops[s]]``."""

    items: np.ndarray
    starts: np.ndarray
    stops: np.ndarray

    @classmethod
    def from_long(
        cls, table: pd.DataFrame, index: ItemIndex, codes: np.ndarray | None = None
    ) -> SessionData:
        """From a long session table (``session_id``, ``position``, ``item_id``) in row order.

        ``codes`` are the rows' item indices when the caller already has them.
        """
        ids = table["session_id"].to_numpy()
        boundaries = (
            np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.zeros(0, int)
        )
        starts = boundaries.astype(np.int64)
        stops = np.r_[boundaries[1:], len(ids)].astype(np.int64)
        items = index.encode(table["item_id"].to_numpy()) if codes is None else codes
        return cls(np.asarray(items, dtype=np.int64), starts, stops)

    @property
    def lengths(self) -> np.ndarray:
        return self.stops - self.starts

    def __len__(self) -> int:
        return len(self.starts)

    def session_of_event(self) -> np.ndarray:
        """For every event in ``items`` covered by a session, the session number (else -1)."""
        owner = np.full(len(self.items), -1, dtype=np.int64)
        owner[np.repeat(self.starts, self.lengths) + ranges(self.lengths)] = np.repeat(
            np.arange(len(self)), self.lengths
        )
        return owner

    def as_lists(self) -> list[list[int]]:
        """The sessions as Python lists (for gensim)."""
        return [self.items[a:b].tolist() for a, b in zip(self.starts, self.stops, strict=True)]


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


def top_k(
    scores: np.ndarray,
    k: int,
    tie_rank: Callable[[np.ndarray, np.ndarray], np.ndarray] | np.ndarray,
) -> np.ndarray:
    """Column indices of the k best scores per row, best first.

    Equal scores are ordered by ``tie_rank(rows, cols)`` (lower first), which is asked only
    about tied candidates: items scoring at least each row's k-th best score that share
    their score with another such item. A partition finds that threshold; lexsorts over
    the candidates do the rest.
    """
    if not callable(tie_rank):
        ranks = np.asarray(tie_rank)
        tie_rank = (lambda r, c: ranks[c]) if ranks.ndim == 1 else (lambda r, c: ranks[r, c])
    n_rows, n_items = scores.shape
    k = min(k, n_items)
    kth = np.partition(scores, n_items - k, axis=1)[:, n_items - k]
    rows, cols = np.nonzero(scores >= kth[:, None])
    values = scores[rows, cols]
    order = np.lexsort((-values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    # Only candidates that share their row and score with another one need a tie rank.
    same = (rows[1:] == rows[:-1]) & (values[1:] == values[:-1])
    tied = np.r_[same, False] | np.r_[False, same]
    tie = np.zeros(len(rows), dtype=np.float64)
    if tied.any():
        tie[tied] = tie_rank(rows[tied], cols[tied])
        order = np.lexsort((tie, -values, rows))
        rows, cols = rows[order], cols[order]
    # Keep the first k candidates of every row.
    starts = np.searchsorted(rows, np.arange(n_rows))
    keep = (np.arange(len(rows)) - starts[rows]) < k
    return cols[keep].reshape(n_rows, k)


class Recommender(ABC):
    """Fit on training sessions; answer a batch of queries with top-K items and scores."""

    name: ClassVar[str] = "recommender"
    #: Whether the model uses the session so far (``context``) or only ``last_item``.
    uses_context: ClassVar[bool] = False
    #: The option settings whose fields a tune search may vary (see
    #: :mod:`session_recs.models.searchable`); empty: nothing to search.
    search_settings: ClassVar[tuple[type, ...]] = ()
    #: The option a scheduler may cut short while training (``epochs``), if any; models
    #: without one are searched in one-shot trials.
    training_resource: ClassVar[str | None] = None

    def __init__(self) -> None:
        self.index: ItemIndex | None = None
        self.popularity: np.ndarray | None = None
        self.validation_pairs: pd.DataFrame | None = None

    def fit(self, train: pd.DataFrame, validation_pairs: pd.DataFrame | None = None) -> Recommender:
        """Learn from a long session table (``session_id``, ``position``, ``item_id``).

        ``validation_pairs`` is only used by models that monitor training (Word2Vec).
        """
        if train is None or len(train) == 0:
            raise DataValidationError(
                f"{self.name}: the training sessions are empty; nothing to learn from. "
                "Check the split outputs (train_sessions)."
            )
        codes, uniques = pd.factorize(train["item_id"].to_numpy())
        self.index = ItemIndex(np.asarray(uniques, dtype=object))
        sessions = SessionData.from_long(train, self.index, codes=codes)
        self.popularity = np.bincount(sessions.items, minlength=len(self.index)).astype(np.float64)
        self.validation_pairs = validation_pairs
        self._fit(sessions)
        return self

    @abstractmethod
    def _fit(self, sessions: SessionData) -> None:
        """Learn from encoded training sessions (``self.validation_pairs`` may be set)."""

    @abstractmethod
    def score(self, queries: QueryBatch) -> np.ndarray:
        """Dense scores (n_queries x n_items); higher is better, <= 0 means 'no evidence'."""

    def tie_rank(self, queries: QueryBatch, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Order among equal scores of (query row, item) candidates: more popular first."""
        return -self.popularity[cols]

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

    def recommend(
        self,
        queries: QueryBatch,
        k: int,
        *,
        exclude_query: bool = True,
        block_size: int = 1024,
    ) -> Recommendations:
        """Top-``k`` items per query, best first, backfilled by popularity."""
        index = self.fitted_index()
        if not isinstance(k, int | np.integer) or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k!r}.")
        k = min(int(k), len(index) - (1 if exclude_query else 0))
        # Backfill: items with no evidence rank below every scored item, by popularity.
        fallback = (self.popularity / (self.popularity.max() + 1.0)).astype(np.float64)
        items = np.empty((len(queries), k), dtype=np.int64)
        scores = np.empty((len(queries), k), dtype=np.float64)
        for start in range(0, len(queries), block_size):
            rows = slice(start, min(start + block_size, len(queries)))
            block = queries.take(rows)
            raw = np.asarray(self.score(block), dtype=np.float64)
            combined = np.where(raw > 0, raw + 1.0, fallback[None, :])
            if exclude_query:
                known = block.last_item >= 0
                combined[np.flatnonzero(known), block.last_item[known]] = -np.inf
            chosen = top_k(combined, k, self._evidence_tie_rank(block, raw))
            items[rows] = chosen
            picked = np.take_along_axis(raw, chosen, axis=1)
            scores[rows] = np.where(picked > 0, picked, 0.0)
        return Recommendations(items, scores)

    def params(self) -> Mapping[str, Any]:
        """The model's hyperparameters, for reports."""
        return {}


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
