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
  matrices, so the floating-point sums are the same; pruned to each row's strongest
  ``keep`` entries, ties to the lower item number, as
  :func:`~session_recs.models.sparse.prune_rows` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from session_recs.core.errors import DataValidationError
from session_recs.core.tables import ROW

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
        parts.append(later.select(a=later["a"], b=later[f"b{d}"], d=ibis.literal(d)))
        if backward:
            parts.append(later.select(a=later[f"b{d}"], b=later["a"], d=ibis.literal(-d)))
    pairs = ibis.union(*parts, distinct=False)
    counts = {
        f"n{d}": (pairs["d"] == d).cast("int64").sum()
        for d in [*range(1, steps + 1), *(range(-1, -steps - 1, -1) if backward else ())]
    }
    grouped = pairs.group_by(["a", "b"]).aggregate(**counts)
    # The weights travel as a one-row table of doubles: as SQL literals, DuckDB would read
    # them as decimals and round them again.
    given = {f"w{d}": [float(w)] for d, w in enumerate(weights, start=1)}
    given.update({f"w{-d}": [float(w)] for d, w in enumerate(backward, start=1)})
    grouped = grouped.cross_join(ibis.memtable(pd.DataFrame(given)))
    value: Any = None
    for d in range(1, steps + 1):
        for side in (d, -d) if backward else (d,):
            term = grouped[f"n{side}"].cast("float64") * grouped[f"w{side}"]
            value = term if value is None else value + term
    scored = grouped.select("a", "b", value=value)
    if keep > 0:
        rank = ibis.row_number().over(
            group_by="a", order_by=[scored["value"].desc(), scored["b"].asc()]
        )
        scored = scored.filter(rank < keep)
    arrow = scored.to_pyarrow()
    if n_items is None:
        n_items = len(item_index(table)[0])
    rows = arrow["a"].to_numpy().astype(np.int64)
    cols = arrow["b"].to_numpy().astype(np.int64)
    matrix = sp.csr_matrix(
        (arrow["value"].to_numpy().astype(np.float64), (rows, cols)), shape=(n_items, n_items)
    )
    matrix.sum_duplicates()
    return matrix
