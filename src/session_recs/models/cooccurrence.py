"""Item kNN's pruned co-occurrence matrix, counted row by row in compiled loops.

For each item ``i`` the sessions holding it are walked and every item of those sessions
counted into a dense per-thread table (the touched cells are remembered and cleared
after the row), then each count becomes ``count / max(left[i] * right[j], 1e-12)`` and
the row keeps its ``keep`` largest values, ties at the cut going to the lowest item
indices, stored in item order: the matrix :func:`session_recs.models.sparse.prune_rows`
makes of the sparse product ``items x sessions @ sessions x items``, entry for entry and
bit for bit (the same counts, the same two factors, the same division). The product
holds every co-occurring pair of a block of rows before it prunes; here a row holds its
own pairs only, and rows are shared out to threads (the loops release the GIL). In
``benchmarks/bench_otto_e2e.py`` at 10^7 events, item_knn's fit went from 114 s to 23 s
on 2 cores. ``neighbours: 0`` (every pair kept) still takes the product, a block of rows
at a time (:func:`item_similarity`).
"""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from numba import njit

from session_recs.models.kernels import _pop, _push
from session_recs.models.sparse import prune_rows, work_cuts


@njit(cache=True, nogil=True)
def _rows(  # noqa: PLR0917 (a compiled kernel takes its arrays by position)
    item_ptr: np.ndarray,
    item_sessions: np.ndarray,
    session_ptr: np.ndarray,
    session_items: np.ndarray,
    lo: int,
    hi: int,
    left: np.ndarray,
    right: np.ndarray,
    keep: int,
    counts: np.ndarray,
    touched: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``lo:hi`` of the pruned similarity: (entries per row, columns, values).
    ``counts`` (zeros, one cell per item) and ``touched`` (as long) are scratch space,
    left as zeros."""
    n = hi - lo
    lengths = np.zeros(n, np.int64)
    columns = np.empty(n * keep, np.int32)
    values = np.empty(n * keep, np.float64)
    heap = np.empty(keep, np.float64)
    out = 0
    for row in range(n):
        item = lo + row
        seen = 0
        for at in range(item_ptr[item], item_ptr[item + 1]):
            session = item_sessions[at]
            for other_at in range(session_ptr[session], session_ptr[session + 1]):
                other = session_items[other_at]
                if counts[other] == 0:
                    touched[seen] = other
                    seen += 1
                counts[other] += 1
        similar = np.empty(seen, np.float64)
        others = np.empty(seen, np.int32)
        found = 0
        for at in range(seen):
            other = touched[at]
            count = counts[other]
            counts[other] = 0
            if other == item:
                continue
            similar[found] = count / max(left[item] * right[other], 1e-12)
            others[found] = other
            found += 1
        similar, others = similar[:found], others[:found]
        if found > keep:
            # The cut: the keep-th largest value, the top of a min-heap of the keep largest.
            size = 0
            for at in range(found):
                if size < keep:
                    _push(heap, size, similar[at])
                    size += 1
                elif similar[at] > heap[0]:
                    _pop(heap, size)
                    _push(heap, size - 1, similar[at])
            cut = heap[0]
            above = 0
            for at in range(found):
                if similar[at] > cut:
                    above += 1
            # Ties at the cut: the lowest item indices, as many as there is room for.
            tied = others[similar == cut]
            last_tied = tied[np.argsort(tied)[keep - above - 1]]
            chosen = (similar > cut) | ((similar == cut) & (others <= last_tied))
            similar, others = similar[chosen], others[chosen]
        order = np.argsort(others)
        count_kept = len(order)
        for at in range(count_kept):
            columns[out + at] = others[order[at]]
            values[out + at] = similar[order[at]]
        out += count_kept
        lengths[row] = count_kept
    return lengths, columns[:out].copy(), values[:out].copy()


#: Counting work (items summed over the sessions of each row's item) per task handed to
#: a thread: small enough to share rows out evenly, large enough to amortise a task.
WORK_PER_TASK = 2_000_000


def pruned_similarity(
    incidence: sp.csr_matrix,
    left: np.ndarray,
    right: np.ndarray,
    keep: int,
    threads: int,
) -> sp.csr_matrix:
    """Each item's ``keep`` (> 0) most similar items from the binary sessions x items
    ``incidence``: ``co(i, j) / max(left[i] * right[j], 1e-12)``, ``i != j``."""
    if keep <= 0:
        raise ValueError("pruned_similarity keeps at least one entry per row")
    n_items = incidence.shape[1]
    by_item = incidence.T.tocsr()
    # No copies of the entries (int32 indices are scipy's own when they fit).
    sessions = incidence.indptr.astype(np.int64), np.asarray(incidence.indices, np.int32)
    items = by_item.indptr.astype(np.int64), np.asarray(by_item.indices, np.int32)
    work = by_item @ np.diff(incidence.indptr).astype(np.float64)
    cuts = work_cuts(work, WORK_PER_TASK)
    scratch = threading.local()
    left = np.ascontiguousarray(left, dtype=np.float64)
    right = np.ascontiguousarray(right, dtype=np.float64)

    def task(bounds: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not hasattr(scratch, "counts"):
            scratch.counts = np.zeros(n_items, np.int32)
            scratch.touched = np.zeros(n_items, np.int32)
        lo, hi = bounds
        return _rows(*items, *sessions, lo, hi, left, right, keep, scratch.counts, scratch.touched)

    tasks = list(itertools.pairwise(cuts.tolist()))
    if threads <= 1 or len(tasks) < 2:
        parts = [task(bounds) for bounds in tasks]
    else:
        with ThreadPoolExecutor(min(threads, len(tasks))) as pool:
            parts = list(pool.map(task, tasks))
    lengths = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    indptr = np.r_[0, np.cumsum(lengths)]
    columns = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int32)
    values = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0)
    return sp.csr_matrix((values, columns, indptr), shape=(n_items, n_items))


#: Co-occurrence work per block of rows of the unpruned matrix (``keep <= 0``), counted
#: by the sparse product: only one block of the full product is held at a time.
PAIRS_PER_BLOCK = 20_000_000


def item_similarity(
    incidence: sp.csr_matrix, left: np.ndarray, right: np.ndarray, keep: int, threads: int
) -> sp.csr_matrix:
    """Item kNN's matrix: :func:`pruned_similarity` for ``keep > 0``; every co-occurring
    pair (``keep <= 0``) by the sparse product, a block of rows at a time."""
    if keep > 0:
        return pruned_similarity(incidence, left, right, keep, threads)
    incidence = incidence.astype(np.float64, copy=False)  # counts summed as floats
    by_item = incidence.T.tocsr()
    work = by_item @ np.diff(incidence.indptr).astype(np.float64)
    blocks = []
    for lo, hi in itertools.pairwise(work_cuts(work, PAIRS_PER_BLOCK)):
        together = (by_item[lo:hi] @ incidence).tocsr()
        rows = np.repeat(np.arange(lo, hi), np.diff(together.indptr))
        off_diagonal = rows != together.indices
        rows, columns = rows[off_diagonal], together.indices[off_diagonal]
        norm = np.maximum(left[rows] * right[columns], 1e-12)
        kept = np.bincount(rows - lo, minlength=hi - lo)
        similarity = sp.csr_matrix(
            (together.data[off_diagonal] / norm, columns, np.r_[0, np.cumsum(kept)]),
            shape=together.shape,
        )
        blocks.append(prune_rows(similarity, keep))
    return sp.vstack(blocks, format="csr") if len(blocks) > 1 else blocks[0]
