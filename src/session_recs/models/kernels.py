"""Compiled loops for one session's kNN answer (:mod:`session_recs.models.single`).

A click served online touches 10^3-10^4 stored entries (the query items' recent
sessions, then the neighbours' items). On 1-D numpy arrays each step is a pass of its
own plus a scratch table that numbers the keys; here each step is one compiled pass
(numba): a merge of sorted rows, or a sum into each key's cell of a small hash table as
it goes. The sums are those of the batched path bit for bit:
every key's terms are added one by one, in the order the sparse product adds them (rows
in the order given, each row's entries in stored order), from 0.0, and each term is the
same product of the same two factors.

numba compiles each kernel on its first call (a few seconds in all, once per checkout;
then loaded from the cache in ``__pycache__`` beside this file, about 1.4 s with numba's
import), so only the single-session path imports it; the service answers one session as
it loads a model, before its first click.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _push(heap: np.ndarray, size: int, key: Any) -> None:
    """Put ``key`` into the min-heap ``heap[:size]`` (which has room for it)."""
    at = size
    while at > 0:
        parent = (at - 1) // 2
        if heap[parent] <= key:
            break
        heap[at] = heap[parent]
        at = parent
    heap[at] = key


@njit(cache=True, nogil=True)
def _pop(heap: np.ndarray, size: int) -> Any:
    """Take the smallest key out of the min-heap ``heap[:size]``."""
    top, last = heap[0], heap[size - 1]
    size -= 1
    at = 0
    while True:
        child = 2 * at + 1
        if child >= size:
            break
        if child + 1 < size and heap[child + 1] < heap[child]:
            child += 1
        if heap[child] >= last:
            break
        heap[at] = heap[child]
        at = child
    if size > 0:
        heap[at] = last
    return top


@njit(cache=True, nogil=True)
def lowest_columns(
    indptr: np.ndarray,
    indices: np.ndarray,
    rows: np.ndarray,
    weights: np.ndarray,
    limit: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``limit`` lowest columns stored in any of ``rows`` of a CSR matrix (each row's
    columns ascending, its values 1.0), ascending, and for each the sum of the weights of
    the rows holding it, added in row order: ``weights @ matrix[rows]`` cut to its first
    ``limit`` stored columns, by a merge of the rows (VMIS-kNN's walk over the postings)."""
    n_rows = len(rows)
    cursor = np.empty(n_rows, dtype=np.int64)
    stop = np.empty(n_rows, dtype=np.int64)
    heap = np.empty(n_rows, dtype=np.int64)  # column * n_rows + row: ties in row order
    size = 0
    for r in range(n_rows):
        cursor[r], stop[r] = indptr[rows[r]], indptr[rows[r] + 1]
        if cursor[r] < stop[r]:
            _push(heap, size, np.int64(indices[cursor[r]]) * n_rows + r)
            size += 1
    room = min(limit, np.sum(stop - cursor))
    columns = np.empty(room, dtype=np.int64)
    sums = np.zeros(room, dtype=np.float64)
    n = 0
    while size > 0:
        key = _pop(heap, size)
        size -= 1
        column, r = key // n_rows, key % n_rows
        if n == 0 or columns[n - 1] != column:
            if n == room:
                break
            columns[n] = column
            n += 1
        sums[n - 1] += weights[r] * 1.0
        cursor[r] += 1
        if cursor[r] < stop[r]:
            _push(heap, size, np.int64(indices[cursor[r]]) * n_rows + r)
            size += 1
    return columns[:n], sums[:n]


@njit(cache=True, nogil=True)
def shared_positions(  # noqa: PLR0917 (a compiled kernel takes its arrays by position)
    indptr: np.ndarray,
    indices: np.ndarray,
    positions: np.ndarray,
    rows: np.ndarray,
    items: np.ndarray,
    steps: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``rows`` (sessions: item -> last position, items ascending), the latest
    position of an item it shares with the query ``items`` (ascending; 0 if none) and the
    fewest ``steps`` back the query clicked one of them (inf if none): a merge of each
    row with the query."""
    anchor = np.zeros(len(rows), dtype=np.int64)
    nearest = np.full(len(rows), np.inf)
    for r in range(len(rows)):
        e, stop, i = indptr[rows[r]], indptr[rows[r] + 1], 0
        while e < stop and i < len(items):
            if indices[e] < items[i]:
                e += 1
            elif indices[e] > items[i]:
                i += 1
            else:
                anchor[r] = max(anchor[r], positions[e])
                nearest[r] = min(nearest[r], steps[i])
                e += 1
                i += 1
    return anchor, nearest


#: Fibonacci hashing's multiplier (2^32 / golden ratio): spreads consecutive item codes.
_SPREAD = np.uint32(2654435761)


@njit(cache=True, nogil=True)
def votes(  # noqa: PLR0917 (a compiled kernel takes its arrays by position)
    indptr: np.ndarray,
    indices: np.ndarray,
    positions: np.ndarray,
    rows: np.ndarray,
    weights: np.ndarray,
    offsets: np.ndarray,
    decay: np.ndarray,
    item_weight: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The neighbours' votes: each item of each of ``rows`` gets the row's weight, times
    ``decay[position + offset]`` when ``decay`` is not empty (else 1.0), summed per item in
    row order, then times the item's weight; as (items in first-seen order, scores).

    Each item finds its sum through a hash table sized to the entries read (at most half
    full, open addressing), not a table over every item: a click's 10^4 votes then stay
    in the core's cache instead of reaching across megabytes."""
    total = 0
    for r in range(len(rows)):
        total += indptr[rows[r] + 1] - indptr[rows[r]]
    size = 64
    while size < 2 * total:
        size *= 2
    mask = np.uint32(size - 1)
    table = np.full(size, -1, dtype=np.int32)  # item's place in keys, or -1
    keys = np.empty(total, dtype=np.int64)
    sums = np.zeros(total, dtype=np.float64)
    decayed = len(decay) > 0
    n = 0
    for r in range(len(rows)):
        weight = weights[r]
        for e in range(indptr[rows[r]], indptr[rows[r] + 1]):
            key = indices[e]
            cell = (np.uint32(key) * _SPREAD) & mask
            while True:
                at = table[cell]
                if at < 0:
                    at = n
                    table[cell] = n
                    keys[n] = key
                    n += 1
                    break
                if keys[at] == key:
                    break
                cell = (cell + np.uint32(1)) & mask
            if decayed:
                sums[at] += weight * decay[positions[e] + offsets[r]]
            else:
                sums[at] += weight * 1.0
    for i in range(n):
        sums[i] = sums[i] * item_weight[keys[i]]
    return keys[:n], sums[:n]


@njit(cache=True, nogil=True)
def best_keys(
    items: np.ndarray, scores: np.ndarray, k: int, exclude: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidates (``items``, ``scores``) with a positive score, ``exclude`` left
    out, whose key (score + 1.0, as the sparse ranking keys a row) is among the ``k``
    largest, all of those tied at the cut included: (items, scores, keys)."""
    kept = np.empty(len(items), dtype=np.int64)
    kept_scores = np.empty(len(items), dtype=np.float64)
    keys = np.empty(len(items), dtype=np.float64)
    if k < 1:
        return kept[:0], kept_scores[:0], keys[:0]
    largest = np.empty(k, dtype=np.float64)  # a min-heap of the k largest keys so far
    n = 0
    for i in range(len(items)):
        if scores[i] > 0 and items[i] != exclude:
            kept[n], kept_scores[n] = items[i], scores[i]
            keys[n] = kept_scores[n] + 1.0
            if n < k:
                _push(largest, n, keys[n])
            elif keys[n] > largest[0]:
                _pop(largest, k)
                _push(largest, k - 1, keys[n])
            n += 1
    if n > k:
        threshold = largest[0]
        chosen = 0
        for i in range(n):
            if keys[i] >= threshold:
                kept[chosen], kept_scores[chosen], keys[chosen] = kept[i], kept_scores[i], keys[i]
                chosen += 1
        n = chosen
    return kept[:n], kept_scores[:n], keys[:n]


@njit(cache=True, nogil=True)
def largest(columns: np.ndarray, values: np.ndarray, keep: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``keep`` largest ``values`` of one row and their ``columns`` (ascending), in
    column order; among values equal to the cut, the leftmost columns (as
    :func:`~session_recs.models.sparse.prune_rows` keeps a row)."""
    if len(values) <= keep or keep < 1:  # keep < 1: all of them, as prune_rows
        return columns, values
    heap = np.empty(keep, dtype=np.float64)  # a min-heap of the keep largest so far
    for i in range(len(values)):
        if i < keep:
            _push(heap, i, values[i])
        elif values[i] > heap[0]:
            _pop(heap, keep)
            _push(heap, keep - 1, values[i])
    cut = heap[0]
    room = keep
    for i in range(len(values)):
        room -= values[i] > cut
    kept_columns = np.empty(keep, dtype=columns.dtype)
    kept_values = np.empty(keep, dtype=np.float64)
    n = 0
    for i in range(len(values)):
        if values[i] > cut or (values[i] == cut and room > 0):
            if values[i] == cut:
                room -= 1
            kept_columns[n], kept_values[n] = columns[i], values[i]
            n += 1
    return kept_columns[:n], kept_values[:n]


@njit(cache=True, nogil=True)
def latest_distinct(
    context: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A session's distinct known items (``context`` >= 0) of positive ``weight``, items
    ascending, each with the weight of its latest click and how many clicks back that
    was (1 for the last click)."""
    length = len(context)
    found = np.empty(length, dtype=np.int64)  # positions, latest first
    n = 0
    for at in range(length - 1, -1, -1):
        if context[at] >= 0 and weight[at] > 0:
            found[n] = at
            n += 1
    order = np.argsort(context[found[:n]], kind="mergesort")  # ties: the latest first
    items = np.empty(n, dtype=np.int64)
    weights = np.empty(n, dtype=np.float64)
    steps = np.empty(n, dtype=np.float64)
    m = 0
    for i in range(n):
        at = found[order[i]]
        if m == 0 or items[m - 1] != context[at]:
            items[m], weights[m], steps[m] = context[at], weight[at], length - at
            m += 1
    return items[:m], weights[:m], steps[:m]
