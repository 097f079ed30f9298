"""The project's interaction schema and the mapping of a raw source onto it.

Every source (Online Retail, RecSys15 clicks, AOTM playlists, any table of
interactions) becomes one table with these columns, in the source's row order:

============  ==========================  =========================================
column        dtype                       meaning
============  ==========================  =========================================
session_key   Int64 or str                customer, session or playlist the event
                                          belongs to (may be missing)
item_id       str                         the item (product, song, clicked item)
timestamp     datetime64[ns] (optional)   when it happened (naive UTC)
order         float64 or datetime64 (opt) click order within a session, when it is not
                                          the timestamp (a sequence number, time of day)
invoice       str (optional)              basket / invoice number
quantity      Int64 (optional)            units; negative marks a cancellation
description   str (optional)              human-readable item name
split         str (optional)              "train"/"test" for predefined splits
============  ==========================  =========================================

Ids (``session_key``, ``item_id``, ``invoice``) are what the source says, never merged:

- From text (CSV/TSV) they are read as text and kept exactly as written: ``0123``,
  ``123``, ``123.0`` and ``1e5`` are four ids. ``session_key`` stays ``str`` too; the
  ``customer`` strategy of :mod:`session_recs.data.sessionize` orders such keys all-digit keys
  first, by value (``"007"`` and ``"7"`` stay two sessions, ``"007"`` first), then the
  others as text.
- From typed columns (Parquet, xlsx, a DataFrame) integers become their integer text, and
  so do floats whose values are all whole (``17850.0`` is ``"17850"``); a numeric
  ``session_key`` becomes nullable ``Int64`` and sorts by value. Floats that are not whole,
  booleans, lists and dicts are refused, naming the column.

A ``timestamp`` column with no value at all is refused; one with some missing values is
logged (those rows cannot be placed in time, and sessionize drops them).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from session_recs.core.errors import ConfigError, DataValidationError

REQUIRED_COLUMNS = ("session_key", "item_id")
OPTIONAL_COLUMNS = ("timestamp", "order", "invoice", "quantity", "description")
PASSTHROUGH_COLUMNS = ("split",)
TIMESTAMP_UNITS = ("s", "ms", "us", "ns")
#: Fields holding ids or text: a text reader keeps these columns exactly as written.
TEXT_FIELDS = ("session_key", "item_id", "invoice", "description")
#: Floats above this are not exact integers, so they cannot be an id's digits.
_EXACT_FLOAT = 2.0**53

logger = logging.getLogger(__name__)


def _column(source_column: str, field: str, source: str | None) -> str:
    """How an error names a column: its name, the field it is mapped to and its file."""
    return f"Column '{source_column}' ({field})" + (f" of {source}" if source else "")


_EXPECTED_ID = "expected one id (text or a whole number) per row"


class _NotAnId(ValueError):
    """A value that is not one id: what it is, and the value."""


def _cell_id(value: object) -> str:
    """One cell of a column of mixed Python values (xlsx, Parquet lists) as id text."""
    if isinstance(value, bool | np.bool_):
        raise _NotAnId("booleans", value)
    if isinstance(value, list | tuple | dict | set | np.ndarray):
        raise _NotAnId("lists or dicts", value)
    if isinstance(value, float | np.floating):
        number = float(value)
        if not number.is_integer():
            raise _NotAnId("numbers that are not whole", number)
        if abs(number) > _EXACT_FLOAT:
            raise _NotAnId("numbers too large for a float to hold exactly", number)
        return str(int(number))
    return str(value)


def _whole_numbers(
    values: pd.Series, source_column: str, field: str, source: str | None
) -> pd.Series:
    """A numeric id column as nullable Int64; booleans and inexact floats are refused."""
    if pd.api.types.is_bool_dtype(values):
        raise DataValidationError(
            f"{_column(source_column, field, source)} holds booleans; {_EXPECTED_ID}."
        )
    if pd.api.types.is_float_dtype(values):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        present = numbers[~np.isnan(numbers)]
        fractional = np.mod(present, 1) != 0
        huge = ~fractional & (np.abs(present) > _EXACT_FLOAT)
        for bad, what in (
            (fractional, "numbers that are not whole"),
            (huge, "numbers too large for a float to hold exactly"),
        ):
            if bad.any():
                raise DataValidationError(
                    f"{_column(source_column, field, source)} holds {what} "
                    f"({int(bad.sum()):,} value(s), e.g. {float(present[bad][0])!r}); "
                    f"{_EXPECTED_ID}: store the ids as text or integers."
                )
    return values.astype("Int64")


def _as_ids(values: pd.Series, source_column: str, field: str, source: str | None) -> pd.Series:
    """Ids as text, never merged: text as it is, integers and whole floats as integer text.

    Booleans, floats that are not whole, lists and dicts are refused.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype("object")
    if pd.api.types.is_numeric_dtype(values):
        whole = _whole_numbers(values, source_column, field, source)
        return whole.astype("str").where(values.notna())
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) not in (
        "string",
        "empty",
    ):
        # Mixed Python values (an xlsx column of numbers and text, a Parquet list column):
        # only such columns are converted cell by cell.
        present = values.dropna()
        try:
            text = present.map(_cell_id)
        except _NotAnId as err:
            what, value = err.args
            raise DataValidationError(
                f"{_column(source_column, field, source)} holds {what} (e.g. "
                f"{str(value)[:40]}); {_EXPECTED_ID}."
            ) from None
        return text.reindex(values.index).astype("str").where(values.notna())
    return values.astype("str").where(values.notna())


def _as_session_key(values: pd.Series, source_column: str, source: str | None) -> pd.Series:
    """A numeric column's keys as nullable Int64 (17850.0 sorts as 17850); text as written."""
    if pd.api.types.is_numeric_dtype(values):
        return _whole_numbers(values, source_column, "session_key", source)
    return _as_ids(values, source_column, "session_key", source)


#: Seconds per unit, and the epoch magnitudes that suggest each unit (a value below the
#: bound reads as that unit: 1.7e9 s, 1.7e12 ms, 1.7e15 us, 1.7e18 ns are all late 2023).
_UNIT_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
_UNIT_BOUNDS = (("s", 1e11), ("ms", 1e14), ("us", 1e17), ("ns", float("inf")))
#: Dates a timestamp column may hold: epoch 0 up to the year 2100.
_LATEST_SECONDS = 4_102_444_800


def infer_timestamp_unit(values: np.ndarray) -> str:
    """The epoch unit whose magnitude fits ``values`` best (their median absolute value)."""
    present = np.abs(values[~np.isnan(values)])
    typical = float(np.median(present)) if len(present) else 0.0
    return next(unit for unit, bound in _UNIT_BOUNDS if typical < bound)


def _epoch_timestamps(values: pd.Series, source_column: str, unit: str | None) -> pd.Series:
    """Numeric epochs as datetimes; ``unit`` inferred from their magnitude when not given."""
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    inferred = unit is None
    if unit is None:
        unit = infer_timestamp_unit(numbers)
    seconds = numbers * _UNIT_SECONDS[unit]
    finite = seconds[~np.isnan(seconds)]
    if len(finite) and (finite.min() < 0 or finite.max() > _LATEST_SECONDS):
        likely = infer_timestamp_unit(numbers)
        hint = (
            f" Its values look like {likely} epochs: set timestamp_unit: {likely}."
            if likely != unit
            else " Map a column of dates or epoch times, or map this one as `order`."
        )
        raise DataValidationError(
            f"Column '{source_column}' (timestamp) read as epoch {unit}"
            f"{' (inferred)' if inferred else ' (timestamp_unit)'} gives dates outside "
            f"1970-2100 (values {finite.min():.6g} .. {finite.max():.6g}).{hint}"
        )
    # Float epochs carry binary noise below the microsecond; round it away.
    out = pd.to_datetime(values, unit=unit)
    return out if unit == "ns" else out.dt.round("us")


def _as_timestamp(values: pd.Series, source_column: str, unit: str | None) -> pd.Series:
    """Datetimes pass through; numbers are epoch times in ``unit``; strings are parsed.

    Zoned values (``+01:00``, ``Z``), even with offsets that differ row to row, become
    naive UTC.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values
    elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        out = _epoch_timestamps(values, source_column, unit)
    else:
        if unit is not None:
            raise ConfigError(
                f"timestamp_unit: {unit} applies to numeric epochs, but column "
                f"'{source_column}' (timestamp) holds text such as {values.dropna().iloc[0]!r}; "
                "remove timestamp_unit from the catalog entry."
            )
        out = _parse_dates(values, source_column, "timestamp")
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    _check_date_range(out, source_column)
    return out.astype("datetime64[ns]")


def _check_date_range(dates: pd.Series, source_column: str, field: str = "timestamp") -> None:
    """Dates (parsed text, or a date column) outside 1970-2100, as for epoch numbers: such
    a value is a typo or a placeholder (and past 2262 it does not fit a timestamp)."""
    seconds = dates.dropna().astype("datetime64[s]").astype("int64").to_numpy()
    outside = (seconds < 0) | (seconds > _LATEST_SECONDS)
    if outside.any():
        first = dates.dropna()[outside].iloc[0]
        hint = " or map this column as `order`" if field == "timestamp" else ""
        raise DataValidationError(
            f"Column '{source_column}' ({field}) has {int(outside.sum()):,} date(s) outside "
            f"1970-2100, e.g. {first}: expected dates of the recorded events (fix or remove "
            f"those rows{hint})."
        )


def _parse_dates(values: pd.Series, source_column: str, field: str) -> pd.Series:
    """Text dates in any ISO-like or mixed format; zoned ones converted to UTC."""
    text = values.astype("str").where(values.notna())
    zoned = text.str.contains(r"(?:[+-]\d\d:?\d\d|Z|UTC)$", regex=True).fillna(False)
    try:
        return pd.to_datetime(text, format="mixed", utc=bool(zoned.any()))
    except (ValueError, TypeError, OverflowError):
        parsed = pd.to_datetime(text, format="mixed", errors="coerce", utc=True)
        bad = text[parsed.isna() & text.notna()]
        raise DataValidationError(
            f"Column '{source_column}' ({field}) could not be read as dates: "
            f"{len(bad):,} value(s) are not dates, e.g. {bad.iloc[0]!r} (expected e.g. "
            "'2014-04-01 10:51:09', '2014-04-01T10:51:09+02:00' or epoch numbers)."
        ) from None


def _as_order(values: pd.Series, source_column: str) -> pd.Series:
    """A sortable click order: numbers as float64, anything else parsed as dates or times
    of day (which sort as today's date at that time)."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.astype("datetime64[ns]")
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().sum() == values.notna().sum():
        return numbers.astype("float64")
    out = _parse_dates(values, source_column, "order")
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    _check_date_range(out, source_column, "order")
    return out.astype("datetime64[ns]")


def check_distinct_columns(columns: Mapping[str, str]) -> None:
    """Refuse a mapping that reads one raw column as two fields (ids would mix)."""
    fields_of: dict[str, list[str]] = {}
    for field, raw_name in columns.items():
        fields_of.setdefault(raw_name, []).append(field)
    for raw_name, fields in fields_of.items():
        if len(fields) > 1:
            raise ConfigError(
                f"'columns' maps {' and '.join(fields)} to the same column '{raw_name}'; "
                "each field needs a column of its own."
            )


def _timestamp_values(values: pd.Series, source_column: str, source: str | None) -> pd.Series:
    """The timestamp column with blanks as missing: refused when nothing is left."""
    missing = values.isna()
    if not pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_datetime64_any_dtype(
        values
    ):
        missing |= values.astype("str").str.strip().eq("").fillna(False).astype(bool)
    n_missing = int(missing.sum())
    if n_missing == len(values):
        raise DataValidationError(
            f"{_column(source_column, 'timestamp', source)} has no value in any of its "
            f"{len(values):,} rows; remove timestamp from the entry's columns (the source "
            "then gets file order and a random split)."
        )
    if n_missing:
        logger.warning(
            "%s: %s of %s rows have no timestamp; sessionize drops them.",
            _column(source_column, "timestamp", source),
            f"{n_missing:,}",
            f"{len(values):,}",
        )
        return values.where(~missing)
    return values


def to_interactions(
    raw: pd.DataFrame,
    columns: Mapping[str, str],
    timestamp_unit: str | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """Rename a raw source's columns onto the interaction schema and coerce their types.

    ``columns`` maps schema names (``session_key``, ``item_id``, ``timestamp``, ...) to
    the raw table's column names; ``source`` (the file) is named in errors. A ``split``
    column in ``raw`` is carried over.
    """
    unknown = sorted(set(columns) - set(REQUIRED_COLUMNS) - set(OPTIONAL_COLUMNS))
    if unknown:
        raise ConfigError(
            f"Unknown interaction field(s) {unknown} in 'columns'; expected "
            f"{list(REQUIRED_COLUMNS)} and optionally {list(OPTIONAL_COLUMNS)}."
        )
    missing_fields = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing_fields:
        raise ConfigError(
            f"'columns' must name the raw columns for {missing_fields} "
            f"(e.g. columns: {{session_key: CustomerID, item_id: StockCode}})."
        )
    if timestamp_unit is not None and timestamp_unit not in TIMESTAMP_UNITS:
        raise ConfigError(
            f"timestamp_unit must be one of {TIMESTAMP_UNITS} (or left out to infer it from "
            f"the values), got {timestamp_unit!r}."
        )
    check_distinct_columns(columns)
    absent = [raw_name for raw_name in columns.values() if raw_name not in raw.columns]
    if absent:
        raise DataValidationError(
            f"The raw table has no column(s) {absent}; it has {list(map(str, raw.columns))}. "
            "Fix the 'columns' mapping in the source's catalog entry (and its load_args if the "
            "file's separator was not recognised, e.g. load_args: {sep: ';'})."
        )
    if raw.empty:
        raise DataValidationError("The raw table is empty: there are no interactions to ingest.")

    raw = raw.reset_index(drop=True)
    out = pd.DataFrame(index=raw.index)
    out["session_key"] = _as_session_key(
        raw[columns["session_key"]], columns["session_key"], source
    )
    out["item_id"] = _as_ids(raw[columns["item_id"]], columns["item_id"], "item_id", source)
    if "timestamp" in columns:
        name = columns["timestamp"]
        values = _timestamp_values(raw[name], name, source)
        out["timestamp"] = _as_timestamp(values, name, timestamp_unit)
    if "order" in columns:
        out["order"] = _as_order(raw[columns["order"]], columns["order"])
    if "invoice" in columns:
        out["invoice"] = _as_ids(raw[columns["invoice"]], columns["invoice"], "invoice", source)
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
            f"Interactions lack required column(s) {missing}; found {list(interactions.columns)}. "
            "Read the source with session_recs.framework.datasets.InteractionsDataset and map its "
            "columns in the catalog entry (columns: {session_key: ..., item_id: ...})."
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
