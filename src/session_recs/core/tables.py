"""Tables of the columnar engine (:mod:`session_recs.data.engine`) as every layer meets
them: a node or a model given a lazy table where it needs rows in memory makes it a
DataFrame here, the same frame the table's Parquet file loads as."""

from __future__ import annotations

from typing import Any

import pandas as pd

#: A loaded table's row-order column: each row's place in its file.
ROW = "_row"

#: Ibis's timestamp scale → Arrow's unit.
_UNITS = {0: "s", 3: "ms", 6: "us", 9: "ns"}


def is_table(data: Any) -> bool:
    """Whether ``data`` is a columnar engine's table (not a DataFrame)."""
    return (
        not isinstance(data, pd.DataFrame)
        and hasattr(data, "to_parquet")
        and hasattr(data, "_find_backend")
    )


def to_frame(data: Any) -> Any:
    """``data`` as a DataFrame: a table is run, in its file's row order (``_row``, then
    dropped), with its timestamps in their own unit (Spark hands microseconds back for
    any); anything else is returned as it is."""
    if not is_table(data):
        return data
    import pyarrow as pa

    schema = data.schema()
    if ROW in data.columns:
        data = data.order_by(ROW).drop(ROW)
    arrow = data.to_pyarrow()
    fields = []
    for field in arrow.schema:
        scale: Any = getattr(schema[field.name], "scale", None)
        unit = _UNITS.get(scale) if pa.types.is_timestamp(field.type) else None
        fields.append(field.with_type(pa.timestamp(unit, field.type.tz)) if unit else field)
    if pa.schema(fields) != arrow.schema:
        arrow = arrow.cast(pa.schema(fields))
    # Each Arrow column is released as soon as it is converted: the table and the frame
    # are never both whole in memory (a training table can be most of it).
    return arrow.to_pandas(self_destruct=True, split_blocks=True)
