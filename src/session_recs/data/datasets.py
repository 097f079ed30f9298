"""Kedro datasets for the raw sources: read-only wrappers around :mod:`.readers`.

Use them in ``conf/base/catalog.yml`` like any dataset::

    online_retail:
      type: session_recs.data.datasets.OnlineRetailDataset
      filepath: data/01_raw/online_retail.parquet

    rsc15_100k:
      type: session_recs.data.datasets.PredefinedSplitDataset
      train: {type: session_recs.data.datasets.InteractionsTableDataset, filepath: train.tsv}
      test: {type: session_recs.data.datasets.InteractionsTableDataset, filepath: test.tsv}

Paths are local (relative ones to the working directory, as for Kedro's own datasets).
Kedro wraps an error raised while loading in a ``DatasetError``; the project's CLI
finds the :class:`~session_recs.errors.DataValidationError` behind it and prints that.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import get_protocol_and_path

from session_recs.data.readers import (
    read_aotm,
    read_interactions_table,
    read_online_retail,
    read_recsys15_clicks,
)
from session_recs.errors import ConfigError, DataValidationError

SPLITS = ("train", "test")
LOAD_ARGS = ("sep", "encoding")


def _local_path(filepath: str, dataset: str) -> Path:
    """``filepath`` as a local Path; other protocols (s3://, gcs://...) are a ConfigError."""
    protocol, _ = get_protocol_and_path(str(filepath))
    if protocol != "file":
        raise ConfigError(
            f"{dataset} reads local files only; got {filepath!r} ({protocol}://). Copy the "
            "file under data/01_raw/ or use one of Kedro's own datasets."
        )
    return Path(filepath)


class _ReadOnlyDataset(AbstractDataset[None, pd.DataFrame]):
    """Shared behaviour of the raw-source datasets: no saving, metadata for kedro-viz."""

    metadata: dict[str, Any] | None

    def save(self, data: None) -> None:
        """Refuse to write: raw sources are inputs only."""
        raise DatasetError(
            f"{type(self).__name__} is read-only: raw sources are never written by a pipeline. "
            "Save outputs to another catalog entry (e.g. a pandas.ParquetDataset)."
        )


class _RawFileDataset(_ReadOnlyDataset):
    """One raw file read by one reader function of :mod:`session_recs.data.readers`."""

    _reader: ClassVar[Callable[[Path], pd.DataFrame]]
    _format: ClassVar[str]

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        """Point the dataset at ``filepath`` (local); nothing is read until ``load``."""
        self._filepath = _local_path(filepath, type(self).__name__)
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        """Read the file with the source's reader."""
        return type(self)._reader(self._filepath)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "format": self._format}

    def _exists(self) -> bool:
        return self._filepath.exists()


class OnlineRetailDataset(_RawFileDataset):
    """UCI Online Retail (.parquet, .xlsx or Kaggle .csv) via ``read_online_retail``."""

    _reader = staticmethod(read_online_retail)
    _format = "UCI Online Retail"


class RecSys15ClicksDataset(_RawFileDataset):
    """RecSys Challenge 2015 ``yoochoose-clicks.dat`` via ``read_recsys15_clicks``."""

    _reader = staticmethod(read_recsys15_clicks)
    _format = "RecSys15 yoochoose clicks"


class AotmDataset(_RawFileDataset):
    """Art of the Mix ``aotm_list_ids.txt`` (one row per track) via ``read_aotm``."""

    _reader = staticmethod(read_aotm)
    _format = "Art of the Mix playlists"


class InteractionsTableDataset(_RawFileDataset):
    """Any CSV/TSV/TXT/Parquet table via ``read_interactions_table`` (``sep``, ``encoding``)."""

    _format = "interactions table"

    def __init__(
        self,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Point the dataset at ``filepath``; ``load_args`` may set ``sep`` and ``encoding``."""
        super().__init__(filepath, metadata)
        self._load_args = dict(load_args or {})
        unknown = sorted(set(self._load_args) - set(LOAD_ARGS))
        if unknown:
            raise ConfigError(
                f"InteractionsTableDataset({filepath!r}): unknown load_args {unknown}; "
                f"allowed: {list(LOAD_ARGS)}."
            )

    def load(self) -> pd.DataFrame:
        """Read the table with its ``load_args``."""
        return read_interactions_table(self._filepath, **self._load_args)

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "load_args": self._load_args}


def _nested(config: Any, split: str) -> AbstractDataset:
    """The dataset described by ``config`` (a catalog-style dict with a ``type``)."""
    if not isinstance(config, dict) or "type" not in config:
        raise ConfigError(
            f"PredefinedSplitDataset: '{split}' must be a dataset config with a 'type', e.g. "
            "{type: session_recs.data.datasets.InteractionsTableDataset, filepath: ...}; "
            f"got {config!r}."
        )
    try:
        return AbstractDataset.from_config(split, dict(config))
    except DatasetError as err:
        raise ConfigError(f"PredefinedSplitDataset: invalid '{split}' dataset: {err}") from err


class PredefinedSplitDataset(_ReadOnlyDataset):
    """A given train/test cut: both tables stacked, train first, with a ``split`` column."""

    def __init__(
        self,
        train: dict[str, Any],
        test: dict[str, Any],
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Build the ``train`` and ``test`` datasets from their configs."""
        self._parts = {"train": _nested(train, "train"), "test": _nested(test, "test")}
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        """Load both parts and concatenate them with ``split`` = "train" / "test"."""
        frames = {split: dataset.load() for split, dataset in self._parts.items()}
        train_columns, test_columns = (list(frames[split].columns) for split in SPLITS)
        if train_columns != test_columns:
            raise DataValidationError(
                f"PredefinedSplitDataset: train and test have different columns: "
                f"train {train_columns} ({self._parts['train']}), "
                f"test {test_columns} ({self._parts['test']})."
            )
        if "split" in train_columns:
            raise DataValidationError(
                "PredefinedSplitDataset: the tables already have a 'split' column "
                f"({self._parts['train']}); rename it, this dataset adds its own."
            )
        stacked = pd.concat(
            [frame.assign(split=split) for split, frame in frames.items()], ignore_index=True
        )
        return stacked.astype({"split": "str"})

    def _describe(self) -> dict[str, Any]:
        return {
            split: {"type": type(dataset).__name__, **dataset._describe()}
            for split, dataset in self._parts.items()
        }

    def _exists(self) -> bool:
        return all(dataset.exists() for dataset in self._parts.values())


class OptionalDataset(AbstractDataset[Any, Any]):
    """Any dataset, loaded as ``None`` while it has never been saved.

    For inputs a pipeline can do without: the report shows the tune search's results
    once ``kedro run --pipelines=tune`` has written them, and is complete without them::

        tune_results:
          type: session_recs.data.datasets.OptionalDataset
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
