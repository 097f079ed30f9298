"""Sparse and ragged-array helpers shared by the models (and the evaluator).

Pure numpy/scipy functions over whole arrays: no Python loop over events or queries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:  # base.py imports `ranges` from here at run time
    from session_recs.models.base import SessionData


def ranges(lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(n)`` for every n in ``lengths``, without a Python loop."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total, dtype=np.int64) - offsets


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


def count_matrix(
    rows: np.ndarray, cols: np.ndarray, weights: np.ndarray | float, n: int
) -> sp.csr_matrix:
    """Sum ``weights`` into an n x n CSR matrix at (rows, cols)."""
    data = np.broadcast_to(np.asarray(weights, dtype=np.float64), rows.shape)
    return sp.csr_matrix((data, (rows, cols)), shape=(n, n))


def prune_rows(matrix: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """Keep the ``keep`` largest entries of every row (all of them when keep <= 0)."""
    matrix = matrix.tocsr()
    matrix.sum_duplicates()
    if keep <= 0:
        return matrix
    lengths = np.diff(matrix.indptr)
    if lengths.max(initial=0) <= keep:
        return matrix
    row = np.repeat(np.arange(matrix.shape[0]), lengths)
    # Sort each row's entries by value (descending) and keep the first `keep`.
    order = np.lexsort((-matrix.data, row))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order)) - np.repeat(matrix.indptr[:-1], lengths)
    mask = rank < keep
    return sp.csr_matrix((matrix.data[mask], (row[mask], matrix.indices[mask])), shape=matrix.shape)


def session_item_counts(sessions: SessionData, n_items: int) -> sp.csr_matrix:
    """Sparse (sessions x items) matrix of how often each item occurs in each session."""
    owner = sessions.session_of_event()
    keep = (owner >= 0) & (sessions.items >= 0)
    return sp.csr_matrix(
        (np.ones(int(keep.sum())), (owner[keep], sessions.items[keep])),
        shape=(len(sessions), n_items),
    )
