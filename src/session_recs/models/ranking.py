"""From scores to top-K lists, on whole arrays: dense blocks and sparse candidates.

Two ways in, one order out (best score first; equal scores by a model-supplied tie rank,
then by item index; rows short of K filled with the most popular items):

- :func:`top_k` ranks a dense (queries x items) block, for models that score every item
  (Word2Vec). :func:`block_rows` sizes such blocks to a memory budget.
- :func:`sparse_top_k` ranks only the candidates a sparse model has evidence for (a CSR
  matrix whose stored entries are the candidates), and :func:`backfill` completes the rows
  from a popularity order computed once at fit (:func:`popularity_order`). Their cost
  follows the number of candidates and K, not the catalogue.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from session_recs.models.sparse import row_thresholds

TieRank = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: Bytes a dense block needs per (query, item) cell while ranking: the raw and combined
#: float64 scores, the partition's copy, a boolean mask and slack for the model's own
#: temporaries.
BYTES_PER_CELL = 40


def block_rows(n_items: int, memory_mb: float) -> int:
    """Queries per dense block so that ranking it stays within ``memory_mb``."""
    return max(1, int(memory_mb * 2**20) // (BYTES_PER_CELL * max(int(n_items), 1)))


def popularity_order(popularity: np.ndarray) -> np.ndarray:
    """Item indices, most popular first; equally popular items in index order."""
    return np.lexsort((np.arange(len(popularity)), -np.asarray(popularity, dtype=np.float64)))


def top_k(scores: np.ndarray, k: int, tie_rank: TieRank | np.ndarray) -> np.ndarray:
    """Column indices of the k best scores per row of a dense block, best first.

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
    order = _ranked(rows, cols, scores[rows, cols], tie_rank)
    rows, cols = rows[order], cols[order]
    return cols[_first_k(rows, n_rows, k)].reshape(n_rows, k)


def _ranked(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, tie_rank: TieRank
) -> np.ndarray:
    """The order of entries (given in row, then column order) by row, value (high first),
    tie rank, then column. Only entries sharing their row and value get a tie rank."""
    order = np.lexsort((-values, rows))
    rows, values = rows[order], values[order]
    same = (rows[1:] == rows[:-1]) & (values[1:] == values[:-1])
    tied = np.r_[same, False] | np.r_[False, same]
    if tied.any():
        tie = np.zeros(len(rows), dtype=np.float64)
        tie[tied] = tie_rank(rows[tied], cols[order][tied])
        order = order[np.lexsort((tie, -values, rows))]
    return order


def _first_k(rows: np.ndarray, n_rows: int, k: int) -> np.ndarray:
    """Mask of the first ``k`` entries of every row of row-sorted entries."""
    starts = np.searchsorted(rows, np.arange(n_rows))
    return (np.arange(len(rows)) - starts[rows]) < k


def sparse_top_k(
    candidates: sp.csr_matrix,
    k: int,
    tie_rank: TieRank,
    exclude: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The k best candidates per row of a sparse score matrix: (items, scores), n x k.

    Stored entries scoring above 0 are the candidates (others mean 'no evidence'); an item
    equal to ``exclude[row]`` is dropped. Rows with fewer than k candidates end in -1
    items (score 0): :func:`backfill` completes them. Candidates are ranked by ``score +
    1`` (as the dense path ranks evidence above every backfilled item, so both break the
    same float ties), then ``tie_rank``, then item index.
    """
    matrix = sp.csr_matrix(candidates)
    if not matrix.has_canonical_format:  # sorted, without duplicates (summed on a copy)
        matrix = matrix.copy()
        matrix.sum_duplicates()
    n_rows = matrix.shape[0]
    rows = np.repeat(np.arange(n_rows), np.diff(matrix.indptr))
    cols, values = matrix.indices, np.asarray(matrix.data, dtype=np.float64)
    # Entries without evidence (or excluded) rank below everything, at -inf.
    keep = values > 0
    if exclude is not None:
        keep &= cols != np.asarray(exclude)[rows]
    keys = np.where(keep, values + 1.0, -np.inf)
    keep &= keys >= row_thresholds(rows, keys, n_rows, k)[rows]
    rows, cols, values, keys = rows[keep], cols[keep].astype(np.int64), values[keep], keys[keep]
    order = _ranked(rows, cols, keys, tie_rank)
    rows, cols, values = rows[order], cols[order], values[order]
    first = _first_k(rows, n_rows, k)
    rows, cols, values = rows[first], cols[first], values[first]
    slot = np.arange(len(rows)) - np.searchsorted(rows, np.arange(n_rows))[rows]
    items = np.full((n_rows, k), -1, dtype=np.int64)
    scores = np.zeros((n_rows, k), dtype=np.float64)
    items[rows, slot] = cols
    scores[rows, slot] = values
    return items, scores


def backfill(
    items: np.ndarray,
    scores: np.ndarray,
    order: np.ndarray,
    exclude: np.ndarray | None = None,
) -> None:
    """Fill the -1 slots of ``items`` (in place) with the first items of ``order`` that the
    row does not hold and that are not ``exclude[row]``; their scores stay 0."""
    missing = items < 0
    need = missing.sum(axis=1)
    rows = np.flatnonzero(need)
    if not len(rows):
        return
    n_items, k = len(order), items.shape[1]
    pool = order[: k + 1]
    offered = np.broadcast_to(pool, (len(rows), len(pool)))
    held = items[rows]
    keys = rows[:, None] * n_items + held
    taken = np.isin(rows[:, None] * n_items + offered, keys[held >= 0])
    if exclude is not None:
        taken |= offered == np.asarray(exclude)[rows][:, None]
    free = ~taken
    rank = np.cumsum(free, axis=1) - 1
    filled = k - need[rows]
    use = free & (rank < need[rows][:, None])
    which, column = np.nonzero(use)
    items[rows[which], filled[which] + rank[which, column]] = offered[which, column]
    scores[rows[which], filled[which] + rank[which, column]] = 0.0
