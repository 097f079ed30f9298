"""The columnar engine on a Spark cluster: the same Ibis expressions as on DuckDB
(:mod:`session_recs.data.columnar`), run by Spark SQL.

Chosen by configuration: an engine mapping with ``backend: spark`` (``kedro run
--env=spark`` sets it for every table of the data layer; ``conf/spark/globals.yml``)::

    engine: {backend: spark, master: "spark://127.0.0.1:7077", min_rows: 0,
             conf: {spark.executor.memory: 2g}}

What the workers run is SQL only: tables made on the driver travel as Arrow, and no
Python function is sent, so a worker needs Java and Spark, not Python or this package.
The paths of the catalog must be on a filesystem every worker sees (one machine, NFS).

Three differences from DuckDB, each absorbed here so the outputs are the same files:

- Spark reads no nanosecond timestamps: they are read as integers
  (``spark.sql.legacy.parquet.nanosAsLong``) and made timestamps to the microsecond.
- A row's place in its file (``_row``) is Spark's ``_metadata.row_index``.
- Spark writes a folder of part files, one per task, in the table's order; they are
  gathered, a row group at a time, into the one Parquet file the other engines write,
  with nanosecond timestamps as DuckDB and pandas write them.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ibis.expr.datatypes as dt

from session_recs.core.errors import ConfigError

logger = logging.getLogger(__name__)

#: Spark settings the engine always sets (a catalog's ``engine.conf`` adds to them).
BASE_CONF = {
    "spark.app.name": "session-recs",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    # Spark has no nanosecond timestamps: they are read as the integers they are.
    "spark.sql.legacy.parquet.nanosAsLong": "true",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # Tables made on the driver (the split's roles) travel as Arrow: no Python on workers.
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
    "spark.sql.shuffle.partitions": "8",
}


def check_master(master: str, timeout: float = 5.0) -> None:
    """Refuse, in one line, a standalone master (``spark://host:port``) nobody answers at:
    Spark itself would wait for it (minutes) before giving up."""
    if not master.startswith("spark://"):
        return  # local[*], yarn, k8s://...: Spark's own checks
    hosts = master.removeprefix("spark://").split(",")
    reasons = []
    for host_port in hosts:
        host, _, port = host_port.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(
                f"engine.master = {master!r}: expected spark://HOST:PORT (e.g. "
                "spark://127.0.0.1:7077), local[*], yarn or k8s://..."
            )
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return
        except OSError as exc:
            reasons.append(f"{host_port}: {exc.strerror or exc}")
    raise ConfigError(
        f"engine.master = {master!r}: no Spark master answers ({'; '.join(reasons)}). Start "
        "the cluster, or set engine.master in the environment's globals.yml "
        "(conf/spark/globals.yml)."
    )


#: Timestamp units as Ibis' ``scale`` (digits after the second).
SCALES = {"s": 0, "ms": 3, "us": 6, "ns": 9}

#: The driver's Spark log (a file: the console keeps the run's own lines).
LOG = Path(tempfile.gettempdir()) / "session_recs_spark" / "driver.log"


def _java_options() -> str:
    """The driver JVM's options: Spark's log to :data:`LOG`."""
    LOG.parent.mkdir(parents=True, exist_ok=True)
    properties = Path(__file__).with_name("spark_log4j2.properties")
    return f"-Dlog4j2.configurationFile=file:{properties} -Dsession_recs.spark.log={LOG}"


def connect(master: str | None = None, conf: Mapping[str, Any] | None = None) -> Any:
    """An Ibis connection to a Spark session on ``master`` (None: Spark's own default,
    spark-defaults.conf) with ``conf`` over :data:`BASE_CONF`."""
    try:
        import ibis
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(
            "engine.backend = 'spark' needs PySpark: pip install -e \".[spark]\" (and Java 17)."
        ) from None
    builder = SparkSession.builder
    if master:
        check_master(master)
        builder = builder.master(master)
    settings = {**BASE_CONF, "spark.driver.extraJavaOptions": _java_options(), **dict(conf or {})}
    for key, value in settings.items():
        builder = builder.config(key, str(value))
    # PySpark takes SIGINT for itself (cancel the jobs, raise KeyboardInterrupt): the
    # run's own handler stays (session_recs.core.interrupts), and the engine's error block
    # cancels the cluster's jobs when a stop leaves it (session_recs.data.engine.errors).
    main = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGINT) if main else None
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        if not type(exc).__module__.startswith(("pyspark", "py4j")):
            raise
        raise ConfigError(
            f"Spark could not start its driver (engine.master = {master!r}): "
            f"{first_line(exc)}. {_start_hint(exc)}"
        ) from None
    finally:
        if main and before is not None:
            signal.signal(signal.SIGINT, before)
    running = session.sparkContext.master
    if master and running != master:  # getOrCreate hands back a session already running
        raise ConfigError(
            f"engine.master = {master!r}, but this process already runs a Spark session on "
            f"{running!r}, which Spark keeps: stop it first (spark.stop()) or set "
            "engine.master to it."
        )
    return ibis.pyspark.connect(session)


@functools.cache
def shared(master: str | None = None, conf: tuple[tuple[str, str], ...] = ()) -> Any:
    """One :func:`connect` per setting for the process."""
    return connect(master, dict(conf))


def read_parquet(con: Any, path: str | Path, row_order: bool = True) -> Any:
    """A Parquet file as a table, nanosecond timestamps as Spark timestamps (to the
    microsecond), with the row's place in the file as ``_row`` when ``row_order``."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql import functions as F

    schema = pq.read_schema(str(path))
    frame = con._session.read.parquet(str(path))
    columns, scales = [], {}
    for field in schema:
        if field.name.startswith("__index_level"):
            continue
        column = F.col(f"`{field.name}`")
        if pa.types.is_timestamp(field.type):
            scales[field.name] = SCALES[field.type.unit]
            if field.type.unit == "ns":
                _warn_below_microseconds(frame, field.name, path)
                column = F.timestamp_micros(F.expr(f"`{field.name}` div 1000"))
        columns.append(column.alias(field.name))
    if row_order:
        columns.append(F.col("_metadata.row_index").alias("_row"))
    name = f"session_recs_read_{uuid.uuid4().hex}"
    frame.select(*columns).createOrReplaceTempView(name)
    table = con.table(name)
    # The file's unit stays in the table's type, and the written file has it again (gather).
    typed = {column: table[column].cast(dt.Timestamp(scale=n)) for column, n in scales.items()}
    return table.mutate(**typed)


def _warn_below_microseconds(frame: Any, name: str, path: str | Path) -> None:
    """One line when a nanosecond column holds times finer than Spark's microseconds:
    Spark keeps them to the microsecond, so its outputs may differ from DuckDB's."""
    from pyspark.sql import functions as F

    finer = frame.where(F.col(f"`{name}`") % 1000 != 0).limit(1).count()
    if finer:
        logger.warning(
            "%s: column '%s' holds times finer than a microsecond; Spark keeps them to the "
            "microsecond, so sessions and ties may differ from the default engine's",
            path,
            name,
        )


def write_parquet(table: Any, target: str | Path) -> None:
    """Run ``table`` on the cluster and write it as one Parquet file at ``target`` (a
    local path, the hidden file of an atomic save): Spark's part files, in order, gathered
    one row group at a time."""
    con = table._find_backend()
    target = Path(target)
    parts = target.parent / f".{target.name}.parts-{uuid.uuid4().hex[:8]}"
    try:
        con.to_parquet_dir(table, parts)
        gather(sorted(parts.glob("part-*.parquet")), target, table.schema())
    except BaseException:
        # Stopped or failed: no task may go on writing into the folder removed below.
        with contextlib.suppress(Exception):
            con._session.sparkContext.cancelAllJobs()
        raise
    finally:
        shutil.rmtree(parts, ignore_errors=True)


def gather(files: list[Path], target: Path, schema: Any) -> None:
    """Spark's part files as one Parquet file, in their order, with the table's types as
    the other engines write them (timestamps in the unit of the table's type, DuckDB's
    ``scale``, without a time zone)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    units = {scale: unit for unit, scale in SCALES.items()}
    wanted = pa.schema(
        [
            pa.field(
                name,
                pa.timestamp(units.get(kind.scale, "us"))
                if kind.is_timestamp()
                else kind.to_pyarrow(),
            )
            for name, kind in schema.items()
        ]
    )
    with pq.ParquetWriter(str(target), wanted) as writer:
        for path in files:
            part = pq.ParquetFile(str(path))
            for group in range(part.num_row_groups):
                batch = part.read_row_group(group)
                writer.write_table(_cast(batch, wanted))
        if not files:
            writer.write_table(wanted.empty_table())


def _cast(batch: Any, schema: Any) -> Any:
    import pyarrow as pa

    columns = []
    for field in schema:
        column = batch.column(field.name)
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:
            column = column.cast(pa.timestamp(column.type.unit))  # UTC wall time
        columns.append(column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=schema)


#: Typed views of Spark's cached tables, each to its cache (:func:`release` frees it).
_CACHES: dict[Any, Any] = {}


def cache(table: Any) -> Any:
    """``table`` computed once and kept by Spark (memory, then disk) until
    :func:`release`, with its Ibis types: Spark's own lose a timestamp's unit, which the
    written file keeps (:func:`gather`)."""
    cached = table.cache()
    found = cached.schema()
    casts = {
        name: cached[name].cast(kind)
        for name, kind in table.schema().items()
        if found[name] != kind
    }
    if not casts:
        return cached
    typed = cached.mutate(**casts)
    _CACHES[typed.op()] = cached
    return typed


def is_cache(table: Any) -> bool:
    """Whether ``table`` is one :func:`cache` made (or Ibis' own cache)."""
    return table.op() in _CACHES or type(table).__name__ == "CachedTable"


def release(table: Any) -> None:
    """Free a table :func:`cache` made (anything else is left alone)."""
    table = _CACHES.pop(table.op(), table)
    if type(table).__name__ == "CachedTable":
        with contextlib.suppress(Exception):
            table.release()


def _start_hint(exc: BaseException) -> str:
    """What to check when the driver does not start: Java when no JVM came up, else the
    settings handed to Spark."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if "JAVA_GATEWAY" in _text(exc) and not (java and Path(java).is_file()):
        return (
            f"Spark needs Java 17: JAVA_HOME or java on PATH (found: {home or 'none'}); on "
            "Debian, apt-get install openjdk-17-jre-headless."
        )
    if "JAVA_GATEWAY" in _text(exc):  # Java is there: its JVM refused the settings
        return (
            f"{java} did not start with the settings given (the lines Java printed above "
            "say why): check engine.conf (e.g. spark.driver.memory)."
        )
    return f"Check engine.conf and engine.master (Spark's log: {LOG})."


def _text(exc: BaseException) -> str:
    java = getattr(exc, "java_exception", None)
    return str(java.getMessage()) if java is not None else str(exc)


def first_line(exc: BaseException) -> str:
    """A Spark error's own first line (a Java error's message, not Py4J's call)."""
    lines = [line.strip() for line in _text(exc).strip().splitlines() if line.strip()]
    return lines[0].rstrip(".") if lines else type(exc).__name__


def failure(what: str, exc: BaseException) -> str:
    """One line for a failure of Spark while doing ``what``."""
    if "no space left" in _text(exc).lower():
        return (
            f"The disk filled up while Spark was {what}: free space in the workers' "
            "spark.local.dir, or give engine.conf a spark.local.dir on a larger disk."
        )
    return f"Spark failed while {what}: {first_line(exc)} (Spark's log: {LOG})"
