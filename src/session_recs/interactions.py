"""The project's interaction schema and the mapping of a raw source onto it.

Every source (Online Retail, RecSys15 clicks, AOTM playlists, any table of
interactions) becomes one table with these columns, in the source's row order:

============  ==========================  =========================================
column        dtype                       meaning
============  ==========================  =========================================
session_key   Int64 or str                customer, session or playlist the event
                                          belongs to (may be missing)
item_id       str                         the item (product, song, clicked item)
timestamp     datetime64[ns] (optional)   when it happened
invoice       str (optional)              basket / invoice number
quantity      Int64 (optional)            units; negative marks a cancellation
description   str (optional)              human-readable item name
split         str (optional)              "train"/"test" for predefined splits
============  ==========================  =========================================
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from session_recs.errors import ConfigError, DataValidationError

REQUIRED_COLUMNS = ("session_key", "item_id")
OPTIONAL_COLUMNS = ("timestamp", "invoice", "quantity", "description")
PASSTHROUGH_COLUMNS = ("split",)
TIMESTAMP_UNITS = ("s", "ms", "us", "ns")


def _as_session_key(values: pd.Series, source_column: str) -> pd.Series:
    """Integer-like keys become nullable Int64 (so 17850.0 sorts as 17850), others str."""
    if pd.api.types.is_bool_dtype(values):
        raise DataValidationError(
            f"Column '{source_column}' (session_key) holds booleans; expected ids."
        )
    if pd.api.types.is_numeric_dtype(values):
        present = values.dropna()
        if (np.mod(present.to_numpy(dtype="float64"), 1) == 0).all():
            return values.astype("Int64")
    return values.astype("str").where(values.notna())


def _as_item_id(values: pd.Series) -> pd.Series:
    """Item ids are strings; integral floats lose their '.0' so ids match across files."""
    if pd.api.types.is_float_dtype(values):
        present = values.dropna()
        if (np.mod(present.to_numpy(), 1) == 0).all():
            values = values.astype("Int64")
    return values.astype("str").where(values.notna())


def _as_timestamp(values: pd.Series, source_column: str, unit: str | None) -> pd.Series:
    """Datetimes pass through; numbers are epoch times in ``unit``; strings are parsed."""
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values
    elif pd.api.types.is_numeric_dtype(values):
        if unit is None:
            raise ConfigError(
                f"Column '{source_column}' (timestamp) is numeric: set "
                f"'timestamp_unit' to one of {TIMESTAMP_UNITS} in the ingest parameters."
            )
        # Float epochs carry binary noise below the microsecond; round it away.
        out = pd.to_datetime(values, unit=unit)
        if unit != "ns":
            out = out.dt.round("us")
    else:
        try:
            out = pd.to_datetime(values, format="mixed")
        except (ValueError, TypeError) as err:
            raise DataValidationError(
                f"Column '{source_column}' (timestamp) could not be read as dates: {err}"
            ) from None
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out.astype("datetime64[ns]")


def to_interactions(
    raw: pd.DataFrame, columns: Mapping[str, str], timestamp_unit: str | None = None
) -> pd.DataFrame:
    """Rename a raw source's columns onto the interaction schema and coerce their types.

    ``columns`` maps schema names (``session_key``, ``item_id``, ``timestamp``, ...) to
    the raw table's column names. A ``split`` column in ``raw`` is carried over.
    """
    unknown = sorted(set(columns) - set(REQUIRED_COLUMNS) - set(OPTIONAL_COLUMNS))
    if unknown:
        raise ConfigError(
            f"Unknown interaction field(s) {unknown} in ingest 'columns'; expected "
            f"{list(REQUIRED_COLUMNS)} and optionally {list(OPTIONAL_COLUMNS)}."
        )
    missing_fields = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing_fields:
        raise ConfigError(
            f"Ingest 'columns' must name the raw columns for {missing_fields} "
            f"(e.g. columns: {{session_key: CustomerID, item_id: StockCode}})."
        )
    if timestamp_unit is not None and timestamp_unit not in TIMESTAMP_UNITS:
        raise ConfigError(
            f"ingest 'timestamp_unit' must be one of {TIMESTAMP_UNITS}, got {timestamp_unit!r}."
        )
    absent = [raw_name for raw_name in columns.values() if raw_name not in raw.columns]
    if absent:
        raise DataValidationError(
            f"The raw table has no column(s) {absent}; it has {list(map(str, raw.columns))}. "
            "Fix the ingest 'columns' mapping or the catalog entry of the raw source."
        )
    if raw.empty:
        raise DataValidationError("The raw table is empty: there are no interactions to ingest.")

    raw = raw.reset_index(drop=True)
    out = pd.DataFrame(index=raw.index)
    out["session_key"] = _as_session_key(raw[columns["session_key"]], columns["session_key"])
    out["item_id"] = _as_item_id(raw[columns["item_id"]])
    if "timestamp" in columns:
        out["timestamp"] = _as_timestamp(
            raw[columns["timestamp"]], columns["timestamp"], timestamp_unit
        )
    if "invoice" in columns:
        out["invoice"] = _as_item_id(raw[columns["invoice"]])
    if "quantity" in columns:
        quantity = pd.to_numeric(raw[columns["quantity"]], errors="coerce")
        out["quantity"] = quantity.round().astype("Int64")
    if "description" in columns:
        description = raw[columns["description"]]
        out["description"] = description.astype("str").where(description.notna())
    for name in PASSTHROUGH_COLUMNS:
        if name in raw.columns:
            out[name] = raw[name].astype("str")
    return out


def validate_interactions(interactions: pd.DataFrame) -> pd.DataFrame:
    """Check an interaction table at the boundary; return it unchanged when it is sound."""
    missing = [name for name in REQUIRED_COLUMNS if name not in interactions.columns]
    if missing:
        raise DataValidationError(
            f"Interactions lack required column(s) {missing}; found {list(interactions.columns)}."
        )
    if interactions.empty:
        raise DataValidationError("The interaction table is empty.")
    if interactions["item_id"].isna().all():
        raise DataValidationError("Column 'item_id' has no values: every item id is missing.")
    if "split" in interactions.columns:
        bad = sorted(set(interactions["split"].dropna().unique()) - {"train", "test"})
        if bad:
            raise DataValidationError(f"Column 'split' must hold 'train' or 'test', found {bad}.")
    return interactions
