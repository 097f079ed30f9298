"""The data layer's tables: versioned Parquet that the columnar engine reads and writes
out of core, and that every other node reads as a DataFrame.

``TableDataset`` is kedro-datasets' ``pandas.ParquetDataset`` (same files, versions and
previews) that also saves a table of the columnar engine (an Ibis expression, run and
written by DuckDB in bounded memory) and, with ``load_as: table``, loads one: the data
pipelines pass tables from node to node without holding them in memory. A DataFrame is
saved as before. A catalog entry::

    sessions:
      type: session_recs.framework.tables.TableDataset
      filepath: data/03_primary/${_dataset}/sessions.parquet
      versioned: true
      load_as: table          # the data pipelines' nodes get a lazy table (default: pandas)
      row_order: true         # the table carries each row's place in the file as `_row`
      engine: {memory_limit: 4GB, spill: data/.spill}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from kedro.io.core import get_filepath_str
from kedro_datasets.pandas import ParquetDataset

from session_recs.core.errors import ConfigError
from session_recs.core.tables import ROW, is_table

logger = logging.getLogger(__name__)

#: The columnar engine's settings a catalog entry may give (``engine: {...}``).
ENGINE_SETTINGS = ("backend", "memory_limit", "threads", "spill", "min_rows", "master", "conf")
#: The engines (``engine.backend``) and the settings only one of them takes.
BACKENDS = ("duckdb", "spark")
ONLY = {
    "duckdb": ("memory_limit", "threads", "spill"),
    "spark": ("master", "conf"),
}
#: Tables of fewer rows load as DataFrames: pandas is faster on them, in little memory.
MIN_ROWS = 2_000_000


def checked_engine(engine: Any, name: str) -> dict[str, Any]:
    """An entry's ``engine`` mapping, its values as the engine takes them; one line for a
    setting it does not know or that the chosen backend does not take."""
    if not isinstance(engine, Mapping):
        raise ConfigError(
            f"{name}: engine must be a mapping of {', '.join(ENGINE_SETTINGS)}, got {engine!r}."
        )
    unknown = sorted(set(map(str, engine)) - set(ENGINE_SETTINGS))
    if unknown:
        raise ConfigError(
            f"{name}: engine: unknown setting(s) {unknown}; expected {', '.join(ENGINE_SETTINGS)}."
        )
    backend = engine.get("backend", "duckdb")
    if backend not in BACKENDS:
        raise ConfigError(
            f"{name}: engine.backend = {backend!r}: expected one of {', '.join(BACKENDS)}."
        )
    other = next(b for b in BACKENDS if b != backend)
    misplaced = [key for key in ONLY[other] if engine.get(key) is not None]
    if misplaced:
        raise ConfigError(
            f"{name}: engine.{misplaced[0]} is a setting of backend {other}, and this entry's "
            f"backend is {backend}"
            + (
                " (give Spark's own settings in engine.conf, e.g. spark.executor.memory)."
                if backend == "spark"
                else "."
            )
        )
    for key, least in (("threads", 1), ("min_rows", 0)):
        value = engine.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < least
        ):
            raise ConfigError(
                f"{name}: engine.{key} = {value!r}: expected a whole number >= {least}."
            )
    conf = engine.get("conf")
    if conf is not None and (
        not isinstance(conf, Mapping)
        or any(not str(k).startswith("spark.") or isinstance(v, Mapping) for k, v in conf.items())
    ):
        raise ConfigError(
            f"{name}: engine.conf must map Spark settings (spark.*) to values, got {conf!r}."
        )
    master = engine.get("master")
    if master is not None and (not isinstance(master, str) or not master.strip()):
        raise ConfigError(
            f"{name}: engine.master = {master!r}: expected a Spark master URL such as "
            "spark://127.0.0.1:7077 or local[*]."
        )
    return {
        key: (
            value
            if key in ("threads", "min_rows")
            else dict(value)
            if key == "conf"
            else str(value)
        )
        for key, value in engine.items()
        if value is not None
    }


def parquet_rows(path: str | Path) -> int | None:
    """The rows of a Parquet file, from its footer (None if it cannot be read)."""
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(str(path)).metadata.num_rows)
    except Exception:
        return None


def engine_takes(path: str | Path, engine: Mapping[str, Any]) -> bool:
    """Whether the engine reads ``path``: at least ``min_rows`` rows (default
    :data:`MIN_ROWS`); a smaller table is a DataFrame, run by the pandas functions."""
    rows = parquet_rows(path)
    return rows is None or rows >= engine.get("min_rows", MIN_ROWS)


class TableDataset(ParquetDataset):
    """Versioned Parquet, saved from a DataFrame or a columnar table; loaded as a
    DataFrame (``load_as: pandas``, the default) or a lazy table (``load_as: table``)."""

    LOADS: ClassVar[tuple[str, ...]] = ("pandas", "table")

    def __init__(
        self,
        *,
        load_as: str = "pandas",
        row_order: bool = True,
        engine: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """``load_as``: ``pandas`` or ``table`` (a file of fewer than ``engine.min_rows``
        rows still loads as a DataFrame); ``row_order``: a loaded table carries each row's
        place in the file as ``_row`` (for a node whose result depends on the file's
        order); ``engine``: DuckDB's ``memory_limit`` (e.g. ``4GB``), ``threads``,
        ``spill`` folder and ``min_rows``; the rest as ParquetDataset."""
        name = f"TableDataset({kwargs.get('filepath', '?')})"
        if load_as not in self.LOADS:
            raise ConfigError(
                f"{name}: load_as: {load_as!r}; expected one of {', '.join(self.LOADS)}."
            )
        self._engine = checked_engine(engine or {}, name)
        super().__init__(**kwargs)
        self._load_as = load_as
        self._row_order = bool(row_order)
        if load_as == "table" and self._protocol != "file":
            logger.warning(
                "%s: load_as: table reads local files only (the columnar engine reads local "
                "Parquet); this %s file loads as a DataFrame, in memory",
                name,
                self._protocol,
            )

    def connection(self) -> Any:
        """The process's engine for this entry's settings."""
        from session_recs.data import engine as columnar_engine  # ibis: only when used

        return columnar_engine.connection(self._engine)

    def load(self) -> Any:
        if self._load_as == "pandas" or self._protocol != "file":
            return super().load()
        path = get_filepath_str(self._get_load_path(), self._protocol)
        if parquet_rows(path) is None or not engine_takes(path, self._engine):
            # A saved table whose footer cannot be read fails in pandas, which the run
            # reports as for any saved dataset (naming an older version to load).
            return super().load()
        from session_recs.data.engine import errors, read_interactions, read_table

        con = self.connection()
        with errors(f"reading {path}", con):
            if self._row_order:
                return read_interactions(con, path)
            return read_table(con, path)

    def save(self, data: Any) -> None:
        if not is_table(data):
            super().save(data)
            return
        if ROW in data.columns:  # the row order is the file's own
            data = data.drop(ROW)
        path = get_filepath_str(self._get_save_path(), self._protocol)
        if self._protocol != "file":
            raise ConfigError(
                f"TableDataset({path}): a table of the columnar engine is saved to local "
                "files only; give a local filepath."
            )
        from session_recs.data.engine import errors, release, write_parquet

        with errors(f"writing {path}", data._find_backend()):
            write_parquet(data, path)
        release(data)
        self._invalidate_cache()

    def _describe(self) -> dict[str, Any]:
        return {
            **super()._describe(),
            "load_as": self._load_as,
            "row_order": self._row_order,
            "engine": self._engine,
        }
