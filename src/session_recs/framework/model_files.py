"""The Kedro dataset of fitted recommenders: files of arrays and plain values, never pickles.

The ``{model}.recommender`` catalog factory uses it::

    "{model}.recommender":
      type: session_recs.framework.model_files.RecommenderDataset
      filepath: data/06_models/${_dataset}/{model}.npz
      versioned: true

A file is written and read by :mod:`session_recs.models.state` (a zip of ``state.json``
and ``.npy`` arrays); loading one runs no code from it. Writes go through the dataset's
fsspec filesystem, so :class:`~session_recs.framework.hooks.AtomicSavesHooks` makes them atomic. A
file that is not a model of this session-recs (an older pickle, another version, a
truncated file) is refused in one line naming it, with the command that retrains it.
"""

from __future__ import annotations

from copy import deepcopy
from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import (
    AbstractVersionedDataset,
    DatasetError,
    Version,
    get_filepath_str,
    get_protocol_and_path,
)

from session_recs.models.base import Recommender
from session_recs.models.state import read_model, write_model


class RecommenderDataset(AbstractVersionedDataset[Recommender, Recommender]):
    """A fitted :class:`~session_recs.models.base.Recommender` in one ``.npz`` file.

    ``retrain`` is the command a refusal suggests (default: ``kedro run
    --namespaces=<the file's stem>``).
    """

    def __init__(
        self,
        *,
        filepath: str,
        version: Version | None = None,
        retrain: str | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._arguments: dict[str, Any] = {
            "filepath": filepath,
            "retrain": retrain,
            "credentials": credentials,
            "fs_args": fs_args,
            "metadata": metadata,
        }
        protocol, path = get_protocol_and_path(filepath, version)
        fs_args = deepcopy(fs_args) or {}
        if protocol == "file":
            fs_args.setdefault("auto_mkdir", True)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **(deepcopy(credentials) or {}), **fs_args)
        self.metadata = metadata
        self._retrain = retrain or f"kedro run --namespaces={PurePosixPath(path).stem}"
        super().__init__(
            filepath=PurePosixPath(path),
            version=version,
            exists_function=self._fs.exists,
            glob_function=self._fs.glob,
        )

    def at_version(self, version: str | None = None) -> RecommenderDataset:
        """This dataset anew, loading ``version`` (None: the newest saved by now). Kedro
        resolves a dataset's latest version once and keeps it, which a long-lived reader
        (the service's model swap) must not."""
        return RecommenderDataset(**deepcopy(self._arguments), version=Version(version, None))

    @property
    def folder(self) -> str:
        """Where the versions are saved (``<model>.npz/<version>/<model>.npz``)."""
        return get_filepath_str(self._filepath, self._protocol)

    def load(self) -> Recommender:
        path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(path, "rb") as file:
            return read_model(file, path, f"retrain it: `{self._retrain}`")

    def save(self, data: Recommender) -> None:
        if not isinstance(data, Recommender):
            raise DatasetError(f"{self._filepath}: expected a fitted Recommender, got {data!r:.80}")
        path = get_filepath_str(self._get_save_path(), self._protocol)
        with self._fs.open(path, "wb") as file:
            write_model(data, file)
        self._fs.invalidate_cache(get_filepath_str(self._filepath, self._protocol))

    def _exists(self) -> bool:
        try:
            path = get_filepath_str(self._get_load_path(), self._protocol)
        except DatasetError:
            return False
        return self._fs.exists(path)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol, "version": self._version}

    def _release(self) -> None:
        super()._release()
        self._fs.invalidate_cache(get_filepath_str(self._filepath, self._protocol))
