"""The counting behind the transition models, run by the columnar engine (DuckDB out of
core, or a Spark cluster) on a table of training sessions, so that a fit holds only what
it keeps: the item index, the popularity and the (pruned) count matrix. The engine's own
failures surface as they are; the fit node puts them in one line
(:func:`session_recs.data.engine.errors`).

A table of training sessions (``session_id``, ``position``, ``item_id`` and ``_row``, its
file's order) holds each session's rows together, in order, as the split writes them.
Every result equals what the in-memory fit computes from the same rows, to the bit:

- :func:`item_index`: the distinct items in order of first appearance, with their counts
  (``pd.factorize`` of the column, and its ``bincount``);
- :func:`successor_scores`: for each ordered item pair, the number of times ``b`` came
  ``d`` positions after ``a`` for each ``d``, combined as ``sum_d n_d * w_d`` in ascending
  ``d`` (``+ n'_d * backward_d`` for the pairs counted backwards), the order in which
  :class:`~session_recs.models.transitions.SequentialRules` adds its per-distance count
  matrices; pruned to each row's strongest ``keep`` entries
  (:func:`~session_recs.models.sparse.prune_rows`);
- :func:`session_support` and :func:`cooccurrence_similarity`: how many sessions hold
  each item, and each pair of distinct items, normalised and pruned as
  :class:`~session_recs.models.knn.ItemKNN` does (on Spark; on DuckDB, item_knn counts
  in memory from :func:`session_incidence`, each event's session and item numbers);
- :func:`session_item_matrix`: each session's item counts (association_rules).

The engine does the counting, which is what outgrows memory: integer counts per item
pair, held as the engine's cached table (spilled to disk by DuckDB). The floating-point
weights, norms and pruning are numpy's, on one block of rows (items) at a time, with the
same operations as the in-memory fit, so the results are equal by construction and the
fit holds one block of counts and the pruned matrix.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from session_recs.core.errors import DataValidationError
from session_recs.core.tables import ROW
from session_recs.models.sparse import prune_rows, work_cuts

#: Counted item pairs fetched from the engine and combined at once (about 40 bytes each).
PAIRS_PER_BLOCK = 20_000_000
#: The columns a table of training sessions must hold for the engine's counts.
NEEDED = ("session_id", "item_id", ROW)


def _checked(table: Any) -> None:
    missing = [name for name in NEEDED if name not in table.columns]
    if missing:
        raise DataValidationError(
            f"The training sessions' table has no column(s) {missing} (it has "
            f"{list(table.columns)}); the engine's counts need {list(NEEDED)}: load it with "
            "row_order: true (the default of TableDataset)."
        )


def _codes(table: Any) -> Any:
    """(item_id, first, n, code): each item's first row, its count, and its item number
    (0-based, in order of first appearance)."""
    import ibis

    items = table.group_by("item_id").aggregate(first=table[ROW].min(), n=table.count())
    return items.mutate(code=ibis.row_number().over(order_by=items["first"]))


def item_index(table: Any) -> tuple[np.ndarray, np.ndarray]:
    """The distinct item ids in order of first appearance (object array of str) and each
    one's count (float64)."""
    _checked(table)
    arrow = _codes(table).order_by("code").select("item_id", "n").to_pyarrow()
    ids = np.asarray(arrow["item_id"].to_numpy(zero_copy_only=False), dtype=object)
    return ids, arrow["n"].to_numpy().astype(np.float64)


def successor_scores(
    table: Any,
    weights: Sequence[float],
    backward: Sequence[float] = (),
    keep: int = 0,
    n_items: int | None = None,
) -> sp.csr_matrix:
    """The (items x items) matrix of ``sum_d n_d(a, b) * weights[d-1]`` (+ ``backward[d-1]``
    times the count of ``a`` coming ``d`` positions after ``b``), ``d`` from 1 to
    ``len(weights)``; each row pruned to its ``keep`` largest entries (0: all)."""
    import ibis

    _checked(table)
    steps = len(weights)
    n_items = len(item_index(table)[0]) if n_items is None else n_items
    events = table.select("session_id", "item_id", ROW)
    codes = _codes(events).select("item_id", "code")
    coded = events.join(codes, "item_id").select("session_id", ROW, "code")
    window = ibis.window(group_by="session_id", order_by=ROW)
    ahead = coded.select(
        a=coded["code"],
        **{f"b{d}": coded["code"].lead(d).over(window) for d in range(1, steps + 1)},
    )
    parts = []
    for d in range(1, steps + 1):
        later = ahead.filter(ahead[f"b{d}"].notnull())
        parts.append(later.select(a=later["a"], b=later[f"b{d}"], d=ibis.literal(d, "int8")))
        if backward:
            parts.append(later.select(a=later[f"b{d}"], b=later["a"], d=ibis.literal(-d, "int8")))
    pairs = ibis.union(*parts, distinct=False)
    counts = pairs.group_by(["a", "b", "d"]).aggregate(n=pairs.count())

    def combine(block: Any, lo: int, hi: int) -> sp.csr_matrix:
        row, col = block["a"].to_numpy() - lo, block["b"].to_numpy()
        distance, n = block["d"].to_numpy(), block["n"].to_numpy().astype(np.float64)
        total = sp.csr_matrix((hi - lo, n_items))
        for d in range(1, steps + 1):
            for side, weight in ((d, weights[d - 1]), (-d, backward[d - 1] if backward else 0)):
                if side < 0 and not backward:
                    continue
                chosen = distance == side
                counted = sp.csr_matrix(
                    (n[chosen], (row[chosen], col[chosen])), shape=(hi - lo, n_items)
                )
                total = total + counted * weight
        return prune_rows(total, keep)

    return _by_blocks(counts, n_items, combine)


def _distinct_items_per_session(table: Any) -> Any:
    """(session_id, code): each item a session holds, once."""
    events = table.select("session_id", "item_id")
    codes = _codes(table).select("item_id", "code")
    return events.join(codes, "item_id").select("session_id", "code").distinct()


def session_support(table: Any, n_items: int) -> np.ndarray:
    """How many training sessions hold each item (float64, by item number)."""
    _checked(table)
    held = _distinct_items_per_session(table)
    arrow = held.group_by("code").aggregate(n=held.count()).to_pyarrow()
    support = np.zeros(n_items, dtype=np.float64)
    support[arrow["code"].to_numpy().astype(np.int64)] = arrow["n"].to_numpy()
    return support


def cooccurrence_similarity(
    table: Any, left: np.ndarray, right: np.ndarray, keep: int = 0, floor: float = 1e-12
) -> sp.csr_matrix:
    """The (items x items) matrix of ``c(a, b) / max(left[a] * right[b], floor)`` for
    ``a != b``, ``c`` the number of sessions holding both; each row pruned to its ``keep``
    largest entries (0: all), ties to the lower item number."""
    _checked(table)
    n_items = len(left)
    held = _distinct_items_per_session(table)
    other = held.view()
    pairs = held.join(other, held["session_id"] == other["session_id"]).select(
        a=held["code"], b=other["code"]
    )
    pairs = pairs.filter(pairs["a"] != pairs["b"])
    counts = pairs.group_by(["a", "b"]).aggregate(n=pairs.count())

    def combine(block: Any, lo: int, hi: int) -> sp.csr_matrix:
        row, col = block["a"].to_numpy(), block["b"].to_numpy()
        norm = left[row] * right[col]
        similarity = block["n"].to_numpy().astype(np.float64) / np.maximum(norm, floor)
        matrix = sp.csr_matrix((similarity, (row - lo, col)), shape=(hi - lo, n_items))
        return prune_rows(matrix, keep)

    return _by_blocks(counts, n_items, combine)


def _by_blocks(
    counts: Any, n_items: int, combine: Callable[[Any, int, int], sp.csr_matrix]
) -> sp.csr_matrix:
    """Run ``counts`` (rows keyed by item ``a``) once into the engine's cache, then
    ``combine`` the rows of each range of items [lo, hi) holding about
    :data:`PAIRS_PER_BLOCK` of them, stacked in item order."""
    with counts.cache() as cached:
        per_item = cached.group_by("a").aggregate(m=cached.count()).to_pyarrow()
        work = np.zeros(n_items, dtype=np.float64)
        work[per_item["a"].to_numpy().astype(np.int64)] = per_item["m"].to_numpy()
        blocks = []
        for lo, hi in itertools.pairwise(work_cuts(work, PAIRS_PER_BLOCK)):
            block = cached.filter((cached["a"] >= int(lo)) & (cached["a"] < int(hi)))
            blocks.append(combine(block.to_pyarrow(), int(lo), int(hi)))
    if not blocks:
        return sp.csr_matrix((n_items, n_items))
    return sp.vstack(blocks, format="csr") if len(blocks) > 1 else blocks[0]


def _numbered_events(table: Any) -> tuple[Any, Any]:
    """(events with their session's number ``row`` and item number ``code``, the sessions'
    first rows): sessions numbered in the order of their first row, as
    :meth:`~session_recs.models.sparse.SessionData.from_long` numbers them in a table that
    holds each session's rows together."""
    import ibis

    _checked(table)
    events = table.select("session_id", "item_id", ROW)
    codes = _codes(events).select("item_id", "code")
    firsts = events.group_by("session_id").aggregate(first=events[ROW].min())
    numbered = firsts.mutate(row=ibis.row_number().over(order_by=firsts["first"]))
    coded = events.join(codes, "item_id").join(numbered.select("session_id", "row"), "session_id")
    return coded, firsts


def session_item_matrix(table: Any, n_items: int) -> sp.csr_matrix:
    """The (sessions x items) matrix of how often each item occurs in each session
    (float64), sessions numbered as :func:`_numbered_events` numbers them: the in-memory
    fit's matrix, entry for entry."""
    coded, firsts = _numbered_events(table)
    cells = coded.group_by(["row", "code"]).aggregate(n=coded.count()).to_pyarrow()
    n_sessions = int(firsts.count().execute())
    return sp.csr_matrix(
        (
            cells["n"].to_numpy().astype(np.float64),
            (cells["row"].to_numpy().astype(np.int64), cells["code"].to_numpy().astype(np.int64)),
        ),
        shape=(n_sessions, n_items),
    )


def session_incidence(table: Any, n_items: int) -> sp.csr_matrix:
    """Which items each training session holds: a boolean (sessions x items) matrix,
    sessions numbered as :func:`_numbered_events` numbers them. The engine hands over
    every event's (session number, item number) as two int32 columns, 8 bytes an event
    where the table's rows in memory take about 40, and the matrix merges repeats."""
    coded, firsts = _numbered_events(table)
    cells = coded.select(row=coded["row"].cast("int32"), code=coded["code"].cast("int32"))
    arrow = cells.to_pyarrow()
    rows = arrow["row"].to_numpy().astype(np.int32, copy=False)
    codes = arrow["code"].to_numpy().astype(np.int32, copy=False)
    del arrow
    n_sessions = int(firsts.count().execute())
    held = np.ones(len(rows), dtype=bool)  # repeats merge into one True
    return sp.csr_matrix((held, (rows, codes)), shape=(n_sessions, n_items))
