"""The columnar engine: an embedded DuckDB that spills to disk, run through Ibis (or a
Spark cluster, :mod:`session_recs.data.spark`, chosen by the settings' ``backend``).

:func:`connect` opens one (a memory limit, threads, a spill folder) and :func:`shared`
keeps one per setting for the process, so a table one dataset loads can be saved by
another. :func:`read_interactions` reads an interaction table with its row order as a
column (``_row``), :func:`interactions_from_parquet` maps a typed Parquet log onto the
interaction schema, and :func:`write_parquet` writes a table whole or not at all.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from session_recs.core import interrupts
from session_recs.core.errors import ConfigError, DataValidationError
from session_recs.core.tables import ROW  # the interactions' row order (the source's)
from session_recs.data.interactions import _LATEST_SECONDS, _UNIT_BOUNDS, _UNIT_SECONDS

#: The interaction schema's columns, in order (:mod:`session_recs.data.interactions`).
INTERACTION_ORDER = ("session_key", "item_id", "timestamp", "order", "invoice", "quantity")


def connect(
    memory_limit: str | None = None, threads: int | None = None, spill: str | Path | None = None
) -> Any:
    """An embedded DuckDB: at most ``memory_limit`` (e.g. ``"4GB"``; DuckDB's default is
    80% of RAM), spilling to ``spill`` (a folder; default: the system's temporary one)."""
    options: dict[str, Any] = {"preserve_insertion_order": True}
    if memory_limit:
        options["memory_limit"] = memory_limit
    if threads:
        options["threads"] = threads
    folder = Path(spill) if spill else default_spill()
    folder.mkdir(parents=True, exist_ok=True)
    options["temp_directory"] = str(folder)
    return ibis.duckdb.connect(**options)


def default_spill() -> Path:
    """Where the engine spills when no folder is set: the system's temporary folder."""
    return Path(tempfile.gettempdir()) / "session_recs_spill"


@functools.cache
def shared(
    memory_limit: str | None = None, threads: int | None = None, spill: str | None = None
) -> Any:
    """One :func:`connect` per setting for the process: a table loaded by one dataset and
    saved by another run in the same engine."""
    return connect(memory_limit, threads, spill)


def connection(settings: Mapping[str, Any]) -> Any:
    """The process's engine for a catalog entry's checked ``engine`` settings
    (:func:`session_recs.framework.tables.checked_engine`): DuckDB, or Spark with
    ``backend: spark`` (:mod:`session_recs.data.spark`)."""
    if settings.get("backend", "duckdb") == "spark":
        from session_recs.data import spark

        conf = tuple(sorted((str(k), str(v)) for k, v in (settings.get("conf") or {}).items()))
        return spark.shared(settings.get("master"), conf)
    return shared(settings.get("memory_limit"), settings.get("threads"), settings.get("spill"))


def is_spark(con: Any) -> bool:
    """Whether an Ibis connection is Spark's (else DuckDB's)."""
    return getattr(con, "name", "") == "pyspark"


def write_parquet(table: Any, path: str | Path) -> None:
    """Run ``table`` and write it as Parquet at ``path``, whole or not at all, through the
    project's atomic saves (:mod:`session_recs.data.atomic`): the engine writes the hidden
    file the atomic opener made, which is published when the write is complete."""
    from session_recs.data.atomic import AtomicLocalFileSystem

    with AtomicLocalFileSystem(auto_mkdir=True).open(str(path), "wb") as handle:
        if is_spark(table._find_backend()):
            from session_recs.data import spark

            spark.write_parquet(table, handle.temp)
            return
        # Into the hidden file itself: DuckDB's own temporary file (tmp_<name>, renamed
        # when its write completes) would outlive a write a signal stops.
        table.to_parquet(handle.temp, use_tmp_file=False)


def read_table(con: Any, path: str | Path) -> Any:
    """A Parquet file as a table of the engine (without its row order)."""
    if is_spark(con):
        from session_recs.data import spark

        return spark.read_parquet(con, path, row_order=False)
    return con.read_parquet(str(path))


def read_interactions(con: Any, path: str | Path) -> Any:
    """An interaction table written as Parquet, with its row order as ``_row``."""
    if is_spark(con):
        from session_recs.data import spark

        return spark.read_parquet(con, path, row_order=True)
    table = con.read_parquet(str(path), file_row_number=True)
    return table.rename({ROW: "file_row_number"})


def interactions_from_parquet(
    con: Any,
    path: str | Path,
    columns: Mapping[str, str],
    timestamp_unit: str | None = None,
) -> Any:
    """A typed Parquet log (integer or text ids; datetimes or epoch numbers) as the
    interaction schema, as :func:`session_recs.data.interactions.to_interactions` makes
    it: integer ids as their text, a numeric ``session_key`` kept as a number, epochs in
    ``timestamp_unit`` (inferred from their median magnitude when not given), ``_row``.

    Text dates, whole floats and the other fields a text file needs stay with the pandas
    reader; a column of another type is refused, naming it.
    """
    raw = read_interactions(con, path)
    missing = [name for name in ("session_key", "item_id") if name not in columns]
    if missing:
        raise ConfigError(f"'columns' must name the raw columns for {missing}.")
    absent = [name for name in columns.values() if name not in raw.columns]
    if absent:
        raise DataValidationError(
            f"{path} has no column(s) {absent}; it has {[c for c in raw.columns if c != ROW]}."
        )
    fields: dict[str, Any] = {ROW: raw[ROW]}
    for field, name in columns.items():
        column = raw[name]
        kind = column.type()
        if field == "session_key" and (kind.is_integer() or kind.is_string()):
            fields[field] = column.cast("int64") if kind.is_integer() else column
        elif field in ("item_id", "invoice") and (kind.is_integer() or kind.is_string()):
            fields[field] = column.cast("string")
        elif field == "timestamp" and kind.is_timestamp():
            fields[field] = column.cast(dt.Timestamp(scale=9))
        elif field == "timestamp" and kind.is_integer():
            unit = timestamp_unit or _epoch_unit(column)
            fields[field] = _from_epoch(column, unit, name)
        else:
            raise DataValidationError(
                f"Column '{name}' ({field}) of {path} is {kind}: the columnar reader takes "
                "integer or text ids and datetime or integer epoch timestamps; read this "
                "source with its pandas dataset."
            )
    if "split" in raw.columns:  # carried over, as to_interactions does
        fields["split"] = raw["split"].cast("string")
    order = [f for f in INTERACTION_ORDER if f in fields]
    return raw.select(**fields).select(*order, *(["split"] if "split" in fields else []), ROW)


def _epoch_unit(column: Any) -> str:
    """:func:`session_recs.data.interactions.infer_timestamp_unit` on a column."""
    typical = column.abs().cast("float64").median().execute()
    typical = 0.0 if typical is None or pd.isna(typical) else float(typical)
    return next(unit for unit, bound in _UNIT_BOUNDS if typical < bound)


def _from_epoch(column: Any, unit: str, name: str) -> Any:
    """Integer epochs in ``unit`` as nanosecond timestamps, inside 1970-2100."""
    per_unit = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[unit]
    low, high = column.min().execute(), column.max().execute()
    if low is not None and (low < 0 or high * _UNIT_SECONDS[unit] > _LATEST_SECONDS):
        raise DataValidationError(
            f"Column '{name}' (timestamp) read as epoch {unit} gives dates outside 1970-2100 "
            f"(values {low:.6g} .. {high:.6g}); set timestamp_unit in the catalog entry."
        )
    nanoseconds = column.cast("int64") * per_unit
    if is_spark(column._find_backend()):  # Spark's timestamps are to the microsecond
        return timestamp_micros(nanoseconds // 1000)
    return make_timestamp_ns(nanoseconds)


def epoch_ns(column: Any) -> Any:
    """Nanoseconds since the epoch of a timestamp column, on its engine."""
    if is_spark(column._find_backend()):
        return unix_micros(column) * 1000
    return duckdb_epoch_ns(column)


@ibis.udf.scalar.builtin
def make_timestamp_ns(value: dt.int64) -> dt.Timestamp(scale=9):  # type: ignore[valid-type]
    """A nanosecond timestamp from nanoseconds since the epoch (DuckDB's)."""


@ibis.udf.scalar.builtin(name="epoch_ns")
def duckdb_epoch_ns(value: dt.timestamp) -> dt.int64:
    """Nanoseconds since the epoch (DuckDB's ``epoch_ns``)."""


@ibis.udf.scalar.builtin
def timestamp_micros(value: dt.int64) -> dt.timestamp:
    """A timestamp from microseconds since the epoch (Spark's)."""


@ibis.udf.scalar.builtin
def unix_micros(value: dt.timestamp) -> dt.int64:
    """Microseconds since the epoch (Spark's)."""


def _settings(con: Any) -> tuple[str, str]:
    """The engine's memory limit and spill folder, as it reports them."""
    try:
        row = con.raw_sql(
            "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
        ).fetchone()
        return str(row[0]), str(row[1])
    except Exception:
        return "?", "?"


@contextlib.contextmanager
def errors(what: str, con: Any = None) -> Iterator[None]:
    """The engine's failures in one line saying ``what`` it was doing: memory (its
    limit and spill folder), a full disk (which folder), anything else (its first line).
    A query cut short by SIGINT or SIGTERM stops as the signal does
    (:mod:`session_recs.core.interrupts`), not as a failure."""
    import duckdb
    from ibis.common.exceptions import IbisError

    try:
        yield
    except (duckdb.InterruptException, RuntimeError) as exc:
        # A signal stopped the query: DuckDB ran the handler, which raised the command's
        # Stopped, and raised an error of its own in its place ("Query interrupted", the
        # Stopped as its context). The signal's stop goes on, never as a failure of the
        # data; interrupted another way (the connection's interrupt()), a KeyboardInterrupt.
        interrupted = isinstance(exc, duckdb.InterruptException)
        stop = _stop_behind(exc) or (interrupts.swallowed() if interrupted else None)
        if stop is None and not interrupted:
            raise
        # DuckDB stops waiting, but its threads would run the query on to its end: stop them.
        with contextlib.suppress(Exception):
            con.con.interrupt()
        if stop is not None:
            raise stop from None
        raise KeyboardInterrupt(f"the columnar engine was interrupted while {what}") from None
    except duckdb.OutOfMemoryException as exc:
        limit, spill = _settings(con)
        raise DataValidationError(
            f"The columnar engine ran out of memory while {what} (memory_limit {limit}, "
            f"spilling to {spill}): {_first_line(exc)}. Raise engine.memory_limit in "
            "conf/base/globals.yml, or give engine.spill a folder on a disk with room."
        ) from None
    except (duckdb.IOException, OSError) as exc:
        if "space left" not in str(exc).lower() and getattr(exc, "errno", None) != errno.ENOSPC:
            raise DataValidationError(
                f"The columnar engine could not read or write while {what}: {_first_line(exc)}."
            ) from None
        _, spill = _settings(con)
        raise DataValidationError(
            f"The disk filled up while the columnar engine was {what} (spilling to {spill}): "
            "free space there, or set engine.spill in conf/base/globals.yml to a folder on a "
            "larger disk."
        ) from None
    except (duckdb.Error, IbisError) as exc:
        raise DataValidationError(
            f"The columnar engine failed while {what}: {_first_line(exc)}."
        ) from None
    except KeyboardInterrupt:
        if con is not None and is_spark(con):  # the cluster's jobs stop with the run
            with contextlib.suppress(Exception):
                con._session.sparkContext.cancelAllJobs()
        raise
    except Exception as exc:
        if not type(exc).__module__.startswith(("pyspark", "py4j")):
            raise
        from session_recs.data import spark

        raise DataValidationError(spark.failure(what, exc)) from None


def _stop_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt (a signal's Stopped) an error was raised in place of."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            interrupts.swallowed()  # taken: not raised again by a later query
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def validate_table(interactions: Any) -> tuple[Any, int]:
    """:func:`session_recs.data.interactions.validate_interactions` on a table: the same
    refusals, in the same words; returns the table and its rows."""
    from ibis import _

    from session_recs.data.interactions import validate_interactions

    with errors("checking the interactions", interactions._find_backend()):
        summary = interactions.aggregate(rows=_.count(), items=_.item_id.count()).execute()
        rows, items = int(summary["rows"].iloc[0]), int(summary["items"].iloc[0])
        sample = interactions.limit(1).execute()
        if "split" in interactions.columns:
            labels = interactions.select("split").distinct().execute()
            sample = pd.concat([sample, labels], ignore_index=True)
    if rows and not items:
        sample["item_id"] = None
    validate_interactions(sample if rows else sample.iloc[:0])
    return interactions, rows


#: The prefix of the engine's temporary tables (:func:`temporary`).
TEMPORARY = "session_recs_"


def temporary(con: Any, kind: str, table: Any) -> Any:
    """``table`` run once and held by the engine (spilled to disk past its memory limit)
    as a temporary table, until :func:`release` (on Spark, a cached table)."""
    if is_spark(con):
        from session_recs.data import spark

        return spark.cache(table)
    return con.create_table(ibis.util.gen_name(f"{TEMPORARY}{kind}"), table, temp=True)


def release(table: Any) -> None:
    """Drop a table :func:`temporary` made (anything else is left alone): a process that
    runs many pipelines (a notebook, kedro-viz, the tests) does not keep them."""
    from session_recs.data import spark

    if spark.is_cache(table):
        spark.release(table)
        return
    op = table.op()
    name = str(getattr(op, "name", ""))
    if type(op).__name__ == "DatabaseTable" and TEMPORARY in name:
        with contextlib.suppress(Exception):
            table._find_backend().drop_table(name, force=True)
