"""Kedro datasets for the raw sources: a source is one catalog entry.

Each source dataset reads its file(s) and maps their columns onto the project's
interaction schema (:mod:`session_recs.data.interactions`), so the entry says everything about
reading it::

    my_clicks:
      type: session_recs.framework.datasets.InteractionsDataset
      filepath: data/01_raw/my_clicks.csv            # CSV/TSV, Parquet or xlsx, sniffed
      columns: {session_key: user, item_id: product, timestamp: ts}

    rsc15_100k:                                       # a given train/test cut
      type: session_recs.framework.datasets.InteractionsDataset
      train: data/01_raw/rsc15_100k/train_full.tsv
      test: data/01_raw/rsc15_100k/test.tsv
      columns: {session_key: SessionId, item_id: ItemId, timestamp: Time}

    online_retail:                                    # known formats know their columns
      type: session_recs.framework.datasets.OnlineRetailDataset
      filepath: data/01_raw/online_retail.parquet

What the entry holds (train/test files, timestamps, an order column) also decides the
defaults of the sessionize, split and evaluation settings: :meth:`SourceDataset.shape` and
:mod:`session_recs.data.defaults`.

Paths are local (relative ones to the working directory, as for Kedro's own datasets).
Kedro wraps an error raised while loading in a ``DatasetError``; the project's CLI
finds the :class:`~session_recs.core.errors.DataValidationError` behind it and prints that.

(Over 400 lines: every dataset type the catalog names for the raw sources, each checking
its entry and naming the entry and field in its errors, plus the optional and run-versions
datasets that share those checks.)
"""

from __future__ import annotations

import codecs
import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import get_protocol_and_path

from session_recs.core.errors import ConfigError
from session_recs.data.defaults import SourceShape
from session_recs.data.interactions import (
    TEXT_FIELDS,
    TIMESTAMP_UNITS,
    check_distinct_columns,
    to_interactions,
)
from session_recs.data.readers import (
    TABLE_FORMATS,
    read_aotm,
    read_online_retail,
    read_recsys15_clicks,
    read_table,
)
from session_recs.framework import tables

SPLITS = ("train", "test")
LOAD_ARGS = ("sep", "encoding", "sheet_name")


def _local_path(filepath: Any, dataset: str, field: str = "filepath") -> Path:
    """``filepath`` as a local Path; other protocols (s3://, gcs://...) are a ConfigError."""
    if not isinstance(filepath, str | Path) or not str(filepath):
        raise ConfigError(f"{dataset}: '{field}' must be a file path, got {filepath!r}.")
    protocol, _ = get_protocol_and_path(str(filepath))
    if protocol != "file":
        raise ConfigError(
            f"{dataset} reads local files only; got {filepath!r} ({protocol}://). Copy the "
            "file under data/01_raw/ or use one of Kedro's own datasets."
        )
    return Path(filepath)


def _checked_columns(columns: Any, dataset: str) -> dict[str, str]:
    """The ``columns`` mapping of an entry, as ``{field: raw column name}``."""
    if not isinstance(columns, Mapping) or not all(
        isinstance(value, str) for value in columns.values()
    ):
        raise ConfigError(
            f"{dataset}: 'columns' must map interaction fields to the file's column names, "
            f"e.g. columns: {{session_key: user, item_id: product}}; got {columns!r}."
        )
    return {str(key): value for key, value in columns.items()}


def _file_of(part: Any) -> Any:
    """A ``train``/``test`` file, given as a path or as ``{filepath: path}``."""
    if isinstance(part, Mapping) and set(part) == {"filepath"}:
        return part["filepath"]
    return part


def _is_parquet(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(4) == b"PAR1"
    except OSError:
        return False


class SourceDataset(AbstractDataset[None, pd.DataFrame]):
    """A raw source: read-only, loaded as the interaction table, metadata for kedro-viz."""

    #: The raw columns of the format, by interaction field (overridable by ``columns``).
    COLUMNS: ClassVar[dict[str, str]] = {}
    metadata: dict[str, Any] | None
    _columns: dict[str, str]
    _timestamp_unit: str | None

    def _set_mapping(self, columns: Any, timestamp_unit: Any) -> None:
        name = type(self).__name__
        if columns is None and not self.COLUMNS:
            raise ConfigError(
                f"{name}: the entry needs 'columns', e.g. columns: {{session_key: user, "
                "item_id: product, timestamp: ts}."
            )
        self._columns = _checked_columns(self.COLUMNS if columns is None else columns, name)
        check_distinct_columns(self._columns)
        if timestamp_unit is not None and timestamp_unit not in TIMESTAMP_UNITS:
            raise ConfigError(
                f"{name}: timestamp_unit must be one of {TIMESTAMP_UNITS} (or left out to "
                f"infer it from the values), got {timestamp_unit!r}."
            )
        self._timestamp_unit = timestamp_unit

    @classmethod
    def shape(cls, config: Mapping[str, Any]) -> SourceShape:
        """What an entry of this type provides, read from the entry alone (no file is opened)."""
        columns = config.get("columns")
        fields = set(columns if isinstance(columns, Mapping) else cls.COLUMNS)
        return SourceShape(
            predefined_split="train" in config and "test" in config,
            timestamps="timestamp" in fields,
            order_column="order" in fields,
        )

    def _map(self, raw: pd.DataFrame, path: Path) -> pd.DataFrame:
        return to_interactions(
            raw, self._columns, timestamp_unit=self._timestamp_unit, source=str(path)
        )

    def save(self, data: None) -> None:
        """Refuse to write: raw sources are inputs only."""
        raise DatasetError(
            f"{type(self).__name__} is read-only: raw sources are never written by a pipeline. "
            "Save outputs to another catalog entry (e.g. a pandas.ParquetDataset)."
        )


class _RawFileDataset(SourceDataset):
    """One raw file read by one reader function of :mod:`session_recs.data.readers`."""

    _reader: ClassVar[staticmethod[[Path], pd.DataFrame]]
    _format: ClassVar[str]

    def __init__(
        self,
        filepath: str,
        columns: dict[str, str] | None = None,
        timestamp_unit: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Point the dataset at ``filepath`` (local); nothing is read until ``load``."""
        self._filepath = _local_path(filepath, type(self).__name__)
        self._set_mapping(columns, timestamp_unit)
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        """Read the file with the source's reader and map it onto the interaction schema."""
        return self._map(type(self)._reader(self._filepath), self._filepath)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "format": self._format}

    def _exists(self) -> bool:
        return self._filepath.exists()


class OnlineRetailDataset(_RawFileDataset):
    """UCI Online Retail (.parquet, .xlsx or Kaggle .csv) via ``read_online_retail``."""

    COLUMNS: ClassVar[dict[str, str]] = {
        "session_key": "CustomerID",
        "item_id": "StockCode",
        "timestamp": "InvoiceDate",
        "invoice": "InvoiceNo",
        "quantity": "Quantity",
        "description": "Description",
    }
    _reader = staticmethod(read_online_retail)
    _format = "UCI Online Retail"


class RecSys15ClicksDataset(_RawFileDataset):
    """RecSys Challenge 2015 ``yoochoose-clicks.dat`` via ``read_recsys15_clicks``.

    With ``engine`` (the columnar engine's settings), a file of at least ``min_rows``
    lines is streamed into Parquet (:mod:`session_recs.data.streamed`, in bounded memory,
    kept in the engine's spill folder for the next run) and loads as a lazy table.
    """

    COLUMNS: ClassVar[dict[str, str]] = {
        "session_key": "SessionId",
        "item_id": "ItemId",
        "timestamp": "Timestamp",
    }
    _reader = staticmethod(read_recsys15_clicks)
    _format = "RecSys15 yoochoose clicks"

    def __init__(
        self,
        filepath: str,
        columns: dict[str, str] | None = None,
        timestamp_unit: str | None = None,
        metadata: dict[str, Any] | None = None,
        engine: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(filepath, columns, timestamp_unit, metadata)
        name = type(self).__name__
        self._engine = None if engine is None else tables.checked_engine(engine, name)

    def load(self) -> Any:
        """The clicks as interactions: a DataFrame, or a lazy table of the engine."""
        from session_recs.data import streamed

        settings = self._engine
        if settings is None or not self._filepath.is_file():
            return super().load()
        if streamed.estimated_rows(self._filepath) < settings.get("min_rows", tables.MIN_ROWS):
            return super().load()
        from session_recs.data import engine as columnar_engine

        folder = Path(settings.get("spill") or columnar_engine.default_spill())
        parquet = streamed.recsys15_parquet(self._filepath, folder)
        connection = columnar_engine.connection(settings)
        with columnar_engine.errors(f"reading {self._filepath}", connection):
            return columnar_engine.interactions_from_parquet(
                connection, parquet, self._columns, self._timestamp_unit
            )


class AotmDataset(_RawFileDataset):
    """Art of the Mix ``aotm_list_ids.txt`` (one row per track) via ``read_aotm``."""

    COLUMNS: ClassVar[dict[str, str]] = {"session_key": "PlaylistId", "item_id": "SongId"}
    _reader = staticmethod(read_aotm)
    _format = "Art of the Mix playlists"


class InteractionsDataset(SourceDataset):
    """Any table of interactions, in one file or in given ``train`` and ``test`` files.

    ``format`` (csv, parquet or xlsx), the text encoding and the delimiter are sniffed
    from each file's content; ``load_args`` (``sep``, ``encoding``, ``sheet_name``) and
    ``format`` override them. With ``train`` and ``test``, both files are stacked (train
    first) with a ``split`` column, and the split follows that cut.
    """

    def __init__(  # noqa: PLR0917 (Kedro passes the entry's keys by name)
        self,
        filepath: str | None = None,
        columns: dict[str, str] | None = None,
        train: str | dict[str, str] | None = None,
        test: str | dict[str, str] | None = None,
        format: str | None = None,
        load_args: dict[str, Any] | None = None,
        timestamp_unit: str | None = None,
        metadata: dict[str, Any] | None = None,
        engine: dict[str, Any] | None = None,
    ) -> None:
        """Check the entry; nothing is read until ``load``. With ``engine`` (the columnar
        engine's settings, as :class:`~session_recs.framework.tables.TableDataset`'s), a
        Parquet file loads as a lazy table instead of a DataFrame."""
        name = type(self).__name__
        given = {"filepath": filepath, "train": _file_of(train), "test": _file_of(test)}
        if filepath is not None and (train is not None or test is not None):
            raise ConfigError(f"{name}: give either 'filepath' or 'train' and 'test', not both.")
        if filepath is None and (train is None or test is None):
            missing = [key for key in SPLITS if given[key] is None]
            raise ConfigError(
                f"{name}: the entry needs 'filepath' (one file) or both 'train' and 'test'"
                + (
                    f"; '{missing[0]}' is missing."
                    if filepath is None and len(missing) == 1
                    else "."
                )
            )
        self._paths = {
            key: _local_path(value, name, key) for key, value in given.items() if value is not None
        }
        if (
            "train" in self._paths
            and self._paths["train"].resolve() == self._paths["test"].resolve()
        ):
            raise ConfigError(
                f"{name}: 'train' and 'test' are the same file ({self._paths['train']}); give "
                "the training and the test file, or the one file as 'filepath'."
            )
        if format is not None and format not in TABLE_FORMATS:
            raise ConfigError(
                f"{name}: format must be one of {list(TABLE_FORMATS)}, got {format!r}."
            )
        self._file_format = format
        self._load_args = dict(load_args or {})
        unknown = sorted(set(self._load_args) - set(LOAD_ARGS))
        if unknown:
            raise ConfigError(
                f"{name}({', '.join(map(str, self._paths.values()))}): unknown load_args "
                f"{unknown}; allowed: {list(LOAD_ARGS)}."
            )
        encoding = self._load_args.get("encoding")
        if encoding is not None:
            try:
                codecs.lookup(str(encoding))
            except LookupError:
                raise ConfigError(
                    f"{name}({', '.join(map(str, self._paths.values()))}): load_args "
                    f"encoding={encoding!r} is not an encoding Python knows; expected e.g. "
                    "utf-8, ISO-8859-1 or cp1252."
                ) from None
        self._set_mapping(columns, timestamp_unit)
        self.metadata = metadata
        self._engine = None if engine is None else tables.checked_engine(engine, name)
        if self._engine is not None and "filepath" not in self._paths:
            raise ConfigError(
                f"{name}: engine reads one Parquet file ('filepath'); train and test files "
                "are read by pandas: remove engine from the entry."
            )

    def _read(self, path: Path) -> pd.DataFrame:
        """The file mapped onto the schema; its id columns are read as text, as written."""
        text = [raw for field, raw in self._columns.items() if field in TEXT_FIELDS]
        table = read_table(
            path, file_format=self._file_format, text_columns=text, **self._load_args
        )
        return self._map(table, path)

    def load(self) -> Any:
        """The interactions of the file, or of train then test with a ``split`` column;
        with ``engine``, a lazy table of the Parquet file."""
        if self._engine is not None and tables.engine_takes(self._paths["filepath"], self._engine):
            return self._table(self._paths["filepath"])
        if "filepath" in self._paths:
            return self._read(self._paths["filepath"])
        parts = [self._read(self._paths[split]).assign(split=split) for split in SPLITS]
        if len({str(part["session_key"].dtype) for part in parts}) > 1:
            # Numeric keys in one file, text in the other: compare them all as text.
            parts = [
                part.assign(
                    session_key=part["session_key"].astype("str").where(part["session_key"].notna())
                )
                for part in parts
            ]
        return pd.concat(parts, ignore_index=True).astype({"split": "str"})

    def _table(self, path: Path) -> Any:
        from session_recs.data import engine as columnar_engine

        if self._file_format not in (None, "parquet") or not _is_parquet(path):
            raise ConfigError(
                f"{type(self).__name__}({path}): engine reads Parquet files, and this one is "
                "not Parquet: remove engine from the entry (pandas reads it)."
            )
        connection = columnar_engine.connection(self._engine or {})
        return columnar_engine.interactions_from_parquet(
            connection, path, self._columns, self._timestamp_unit
        )

    def _describe(self) -> dict[str, Any]:
        return {
            **{key: str(path) for key, path in self._paths.items()},
            "format": self._file_format or "sniffed",
            "load_args": self._load_args,
            "columns": self._columns,
        }

    def _exists(self) -> bool:
        return all(path.exists() for path in self._paths.values())


class OptionalDataset(AbstractDataset[Any, Any]):
    """Any dataset, loaded as ``None`` while it has never been saved.

    For inputs a pipeline can do without: the report shows the models that have metrics
    and the tune search's results once ``kedro run --pipeline=tune`` has written them::

        tune_results:
          type: session_recs.framework.datasets.OptionalDataset
          dataset: {type: pandas.ParquetDataset, filepath: ..., versioned: true}

    Saving and versions (``--load-versions``) go to the wrapped dataset.
    """

    # Asks Kedro's catalog for this run's load/save versions; they reach the wrapped
    # dataset only if its own config says ``versioned: true``.
    versioned = True

    def __init__(
        self,
        dataset: dict[str, Any],
        version: Any = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Build the wrapped dataset from its catalog-style config."""
        if not isinstance(dataset, dict) or "type" not in dataset:
            raise ConfigError(
                "OptionalDataset: 'dataset' must be a dataset config with a 'type', e.g. "
                f"{{type: pandas.ParquetDataset, filepath: ...}}; got {dataset!r}."
            )
        load_version = getattr(version, "load", None)
        save_version = getattr(version, "save", None)
        try:
            self._dataset = AbstractDataset.from_config(
                "dataset", dict(dataset), load_version, save_version
            )
        except DatasetError as err:
            raise ConfigError(f"OptionalDataset: invalid wrapped dataset: {err}") from err
        self.metadata = metadata if metadata is not None else dataset.get("metadata")

    @property
    def wrapped(self) -> AbstractDataset:
        """The dataset this one loads, saves and versions through."""
        return self._dataset

    def load(self) -> Any:
        """The wrapped dataset's data, or ``None`` if it does not exist yet."""
        if not self._dataset.exists():
            return None
        return self._dataset.load()

    def save(self, data: Any) -> None:
        """Save through the wrapped dataset."""
        self._dataset.save(data)

    @property
    def preview(self) -> Callable[..., Any]:
        """kedro-viz's preview of the wrapped dataset, ``None`` while it was never saved.

        kedro-viz picks the renderer from ``preview``'s return annotation
        (``TablePreview``, ``JSONPreview``...), so this hands out the wrapped dataset's own
        signature; a wrapped dataset without ``preview`` leaves this one without it too.
        """
        wrapped = getattr(self._dataset, "preview", None)
        if wrapped is None:
            raise AttributeError(f"{type(self._dataset).__name__} has no preview")

        @functools.wraps(wrapped)
        def preview(*args: Any, **kwargs: Any) -> Any:
            return wrapped(*args, **kwargs) if self._dataset.exists() else None

        return preview

    def _describe(self) -> dict[str, Any]:
        return {"type": type(self._dataset).__name__, **self._dataset._describe()}

    def _exists(self) -> bool:
        return self._dataset.exists()


class RunVersionsDataset(AbstractDataset[None, dict[str, str]]):
    """The versions of the versioned datasets a node and the makers of its inputs have
    read in this ``kedro run``, ``{dataset: version}``: the report's "input versions".

    Nothing is stored: on its own it loads ``{}``; during a run,
    :class:`session_recs.framework.hooks.DatasetVersionsHooks` hands the node that reads it what
    the run has loaded and saved up to then.
    """

    def __init__(self, metadata: dict[str, Any] | None = None) -> None:
        self.metadata = metadata

    def load(self) -> dict[str, str]:
        return {}

    def save(self, data: None) -> None:
        raise DatasetError("RunVersionsDataset is read-only: the run's hooks fill it.")

    def _describe(self) -> dict[str, Any]:
        return {}

    def _exists(self) -> bool:
        return True  # there is always an answer, if only {}
