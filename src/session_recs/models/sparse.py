"""Sparse and ragged-array helpers shared by the models (and the evaluator), and the
ragged sessions they work on (:class:`SessionData`).

Pure numpy/scipy functions over whole arrays: no Python loop over events or queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    import pandas as pd


class ItemCodes(Protocol):
    """Maps item ids to item numbers (:class:`~session_recs.models.base.ItemIndex`)."""

    def encode(self, items: Any) -> np.ndarray: ...


def ranges(lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(n)`` for every n in ``lengths``, without a Python loop."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total, dtype=np.int64) - offsets


@dataclass(frozen=True)
class SessionData:
    """Ragged item sequences: session ``s`` is ``items[starts[s]:stops[s]]``."""

    items: np.ndarray
    starts: np.ndarray
    stops: np.ndarray

    @classmethod
    def from_long(
        cls, table: pd.DataFrame, index: ItemCodes, codes: np.ndarray | None = None
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


def successor_pairs(sessions: SessionData, distance: int) -> tuple[np.ndarray, np.ndarray]:
    """All (earlier, later) item pairs exactly ``distance`` positions apart in a session."""
    owner = sessions.session_of_event()
    items = sessions.items
    if distance >= len(items):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    same = (owner[:-distance] == owner[distance:]) & (owner[:-distance] >= 0)
    a, b = items[:-distance][same], items[distance:][same]
    known = (a >= 0) & (b >= 0)
    return a[known], b[known]


def work_cuts(work: np.ndarray, budget: int) -> np.ndarray:
    """Boundaries ``[0, ..., len(work)]`` of consecutive row ranges holding about ``budget``
    of ``work`` (per row) each; a row heavier than the budget gets a range of its own."""
    total = np.cumsum(np.asarray(work, dtype=np.float64))
    block = (np.maximum(total - 1, 0) // budget).astype(np.int64)
    return np.r_[np.flatnonzero(np.r_[True, block[1:] != block[:-1]]), len(work)]


def count_matrix(
    rows: np.ndarray, cols: np.ndarray, weights: np.ndarray | float, n: int
) -> sp.csr_matrix:
    """Sum ``weights`` into an n x n CSR matrix at (rows, cols)."""
    data = np.broadcast_to(np.asarray(weights, dtype=np.float64), rows.shape)
    return sp.csr_matrix((data, (rows, cols)), shape=(n, n))


def row_thresholds(rows: np.ndarray, values: np.ndarray, n_rows: int, k: int) -> np.ndarray:
    """Each row's k-th largest value (-inf for rows with at most k entries).

    ``rows`` is sorted. Rows with more than k entries are grouped by width (within a
    factor of 2), each group laid out as one padded block and partitioned: linear in the
    entries, however skewed the row lengths.
    """
    counts = np.bincount(rows, minlength=n_rows)
    thresholds = np.full(n_rows, -np.inf)
    big = np.flatnonzero(counts > k)
    if not len(big):
        return thresholds
    starts = np.cumsum(counts) - counts
    group = np.ceil(np.log2(counts[big])).astype(np.int64)
    for width_class in np.unique(group):
        chosen = big[group == width_class]
        widths = counts[chosen]
        block = np.full((len(chosen), int(widths.max())), np.inf)
        offsets = ranges(widths)
        block[np.repeat(np.arange(len(chosen)), widths), offsets] = -values[
            np.repeat(starts[chosen], widths) + offsets
        ]
        thresholds[chosen] = -np.partition(block, k - 1, axis=1)[:, k - 1]
    return thresholds


def prune_rows(matrix: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """Keep the ``keep`` largest entries of every row (all of them when keep <= 0); among
    equal values at the cut, the leftmost columns."""
    matrix = matrix.tocsr()
    matrix.sum_duplicates()
    if keep <= 0:
        return matrix
    lengths = np.diff(matrix.indptr)
    if lengths.max(initial=0) <= keep:
        return matrix
    row = np.repeat(np.arange(matrix.shape[0]), lengths)
    cut = row_thresholds(row, matrix.data, matrix.shape[0], keep)[row]
    above, at = matrix.data > cut, matrix.data == cut
    room = keep - np.bincount(row[above], minlength=matrix.shape[0])
    # Rank of each entry at the cut among its row's entries at the cut, left to right.
    seen = np.cumsum(at)
    before = np.r_[0, seen][matrix.indptr[:-1]][row]
    mask = above | (at & (seen - before <= room[row]))
    indptr = np.r_[0, np.cumsum(np.bincount(row[mask], minlength=matrix.shape[0]))]
    return sp.csr_matrix((matrix.data[mask], matrix.indices[mask], indptr), shape=matrix.shape)


def session_item_counts(sessions: SessionData, n_items: int) -> sp.csr_matrix:
    """Sparse (sessions x items) matrix of how often each item occurs in each session."""
    owner = sessions.session_of_event()
    keep = (owner >= 0) & (sessions.items >= 0)
    return sp.csr_matrix(
        (np.ones(int(keep.sum())), (owner[keep], sessions.items[keep])),
        shape=(len(sessions), n_items),
    )
