"""The model the service answers with, where it comes from, and its swap for a newer one.

:class:`ServedModel` answers one session: its known items (the last one for models that
read no context) are one query of the recommender; its unknown items are listed as
ignored; a session with no known item gets the most popular items, with score 0 (the
score of an item backfilled by popularity, as everywhere in session-recs).

:class:`CatalogSource` reads ``<model>.recommender`` through the project's catalog (the
newest version, or one pinned by ``--load-version``); :class:`ModelHolder` keeps the model
being served and swaps in a newer version (:meth:`ModelHolder.reload`): the file is read
in a thread while requests go on being answered by the old model, and the new one takes
over by one reference assignment, so no request sees half of each. A file that cannot be
read keeps the old model serving and is reported in one log line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from session_recs.models.base import Recommender
from session_recs.models.single import recommend_one

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """Top items and their scores for a session, and the session's unknown items."""

    items: list[str]
    scores: list[float]
    ignored: list[str]


@dataclass(frozen=True)
class ServedModel:
    """A fitted recommender with what identifies it (namespace, version, dataset) and a
    dict from item id to its code, the fastest lookup for one short session."""

    recommender: Recommender
    model: str
    version: str
    dataset: str
    codes: dict[str, int] = field(repr=False)
    ids: list[str] = field(repr=False)
    popular: np.ndarray = field(repr=False)

    @classmethod
    def of(cls, recommender: Recommender, model: str, version: str, dataset: str) -> ServedModel:
        ids = [
            str(item)
            for item in recommender.fitted_index().decode(
                np.arange(len(recommender.fitted_index()))
            )
        ]
        popular = np.argsort(-recommender.fitted_popularity(), kind="stable")
        served = cls(
            recommender,
            model,
            version,
            dataset,
            codes={item: code for code, item in enumerate(ids)},
            ids=ids,
            popular=popular,
        )
        if ids:  # one answer now compiles or loads its kernels, not the first click
            served.answer([ids[int(popular[0])]], 1)
        return served

    @property
    def most_k(self) -> int:
        """The largest ``k`` it can answer (the last query item is never recommended)."""
        return max(len(self.ids) - 1, 1)

    def answer(self, items: Sequence[str], k: int) -> Answer:
        """The top ``k`` items after the session ``items`` (oldest first)."""
        codes = list(map(self.codes.get, items))
        known: list[int] = codes  # type: ignore[assignment]
        ignored: list[str] = []
        if None in codes:
            known = [code for code in codes if code is not None]
            ignored = [item for item, code in zip(items, codes, strict=True) if code is None]
        k = min(k, self.most_k)
        if not known:
            top = self.popular[:k]
            return Answer([self.ids[code] for code in top], [0.0] * len(top), ignored)
        if not self.recommender.uses_context:
            known = known[-1:]
        top, scores = recommend_one(self.recommender, np.asarray(known, dtype=np.int64), k)
        return Answer(list(map(self.ids.__getitem__, top.tolist())), scores.tolist(), ignored)

    def identity(self) -> dict[str, str]:
        return {"model": self.model, "version": self.version, "dataset": self.dataset}


class CatalogSource:
    """``<model>.recommender`` of one dataset, read through its catalog entry: the newest
    saved version (looked up anew each time) or the one ``pinned``."""

    def __init__(self, dataset: Any, model: str, dataset_name: str, pinned: str | None) -> None:
        self._dataset = dataset
        self.model = model
        self.dataset_name = dataset_name
        self.pinned = pinned

    def describe(self) -> str:
        return f"{self._dataset.folder} ({'version ' + self.pinned if self.pinned else 'newest'})"

    def newest_version(self) -> str | None:
        """The version a load would read now (the pinned one, if any)."""
        if self.pinned:
            return self.pinned
        try:
            return str(self._dataset.at_version().resolve_load_version())
        except Exception:
            return None

    def load(self, version: str) -> ServedModel:
        """Version ``version`` (refused by the model file's own one-line errors)."""
        recommender = self._dataset.at_version(version).load()
        if not isinstance(recommender, Recommender):  # pragma: no cover - read_model checks
            raise TypeError(f"{self.describe()} holds no fitted model")
        return ServedModel.of(recommender, self.model, version, self.dataset_name)


class FileSource:
    """A saved model outside any catalog (``serve --model-file``): either one file, whose
    version is the versioned folder it sits in (``<model>.npz/<version>/<model>.npz``, as
    the catalog saves) or else its modification time, so that replacing the file is a
    newer version; or a versioned folder (``<model>.npz/``), followed to its newest
    version as the catalog's entry is."""

    def __init__(self, path: Path, model: str | None = None) -> None:
        self.path = Path(path)
        self.follows = self.path.is_dir()
        versioned = self.follows or self.path.parent.parent.name == self.path.name
        folder = self.path if self.follows else self.path.parent.parent
        self.model = model or Path(self.path.name).stem
        self.dataset_name = folder.parent.name if versioned else "unknown"
        self._versioned = versioned

    def _file(self, version: str) -> Path:
        if self.follows:
            return self.path / version / self.path.name
        return self.path

    def newest_version(self) -> str | None:
        if self.follows:
            try:
                saved = [
                    folder.name
                    for folder in self.path.iterdir()
                    if (folder / self.path.name).is_file()
                ]
            except OSError:
                return None
            return max(saved, default=None)
        if self._versioned:
            return self.path.parent.name
        try:
            modified = self.path.stat().st_mtime_ns
        except OSError:
            return None
        stamp = datetime.fromtimestamp(modified / 1e9, tz=UTC).isoformat(timespec="microseconds")
        return f"modified {stamp}"

    def load(self, version: str) -> ServedModel:
        from session_recs.models.state import read_model

        path = self._file(version)
        with open(path, "rb") as file:
            recommender = read_model(file, str(path), "save the model again")
        return ServedModel.of(recommender, self.model, version, self.dataset_name)


def open_model_file(path: Path, model: str | None = None) -> ModelHolder:
    """The model saved at ``path`` (refused in one line if it is not a model file)."""
    from session_recs.core.errors import ConfigError

    source = FileSource(path, model)
    version = source.newest_version()
    if version is None:
        what = "no saved version in the folder" if source.follows else "no such file"
        raise ConfigError(f"--model-file {path}: {what}.")
    try:
        served = source.load(version)
    except OSError as exc:
        raise ConfigError(f"--model-file {path}: cannot be read ({exc.strerror or exc}).") from None
    return ModelHolder(served, source)


def open_mlflow_model(uri: str, model: str | None = None) -> ModelHolder:
    """A session-recs model logged to MLflow (``runs:/<run id>/model``,
    ``models:/<name>/<version>`` or an MLflow model folder): its recommender artifact is
    read as a model file (no code in it runs) and answers as the logged model's
    ``model`` and ``version``. The URI names one version: no newer one is looked for."""
    import os

    import yaml

    from session_recs.core.errors import ConfigError

    try:
        from mlflow.artifacts import download_artifacts
        from mlflow.exceptions import MlflowException
    except ImportError:
        raise ConfigError('--model-uri needs MLflow: pip install -e ".[mlflow]".') from None
    # As the tracking hook: the project's store is the mlruns/ folder, which MLflow 3
    # refuses unless asked.
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    expected = (
        "expected runs:/<run id>/model, models:/<name>/<version> or a folder with an MLmodel "
        "file (with MLFLOW_TRACKING_URI set to the store the run was logged to)"
    )
    try:
        local = Path(download_artifacts(artifact_uri=uri))
        spec = yaml.safe_load((local / "MLmodel").read_text()) or {}
    except (MlflowException, OSError, yaml.YAMLError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"--model-uri {uri}: {reason}; {expected}.") from None
    flavor = (spec.get("flavors") or {}).get("python_function") or {}
    artifact = ((flavor.get("artifacts") or {}).get("recommender") or {}).get("path")
    if not artifact:
        raise ConfigError(
            f"--model-uri {uri}: not a session-recs model (its MLmodel names no recommender "
            "artifact); log one with a tracked `kedro run --env=mlflow`."
        )
    config = flavor.get("config") or {}
    source = FileSource(local / artifact, model or str(config.get("model") or "model"))
    served = source.load(str(config.get("version") or "unversioned"))
    return ModelHolder(served, None)


class SwapFailed(Exception):
    """A newer version could not be loaded; the old model still serves."""


@dataclass
class ModelHolder:
    """The model being served, swapped atomically for a newer saved version."""

    current: ServedModel
    source: CatalogSource | FileSource | None = None
    swaps: dict[str, int] = field(default_factory=lambda: {"swapped": 0, "failed": 0})
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _failed_version: str | None = None

    async def reload(self, *, quiet_repeats: bool = False) -> bool:
        """Load the newest saved version if it is not the one served and swap it in;
        True if swapped. SwapFailed (old model kept, one log line) if it cannot be read;
        with ``quiet_repeats`` (polling) a version that already failed is not tried again."""
        if self.source is None:
            return False
        async with self._lock:
            version = await asyncio.to_thread(self.source.newest_version)
            if version is None or version == self.current.version:
                return False
            if quiet_repeats and version == self._failed_version:
                return False
            try:
                served = await asyncio.to_thread(self.source.load, version)
            except Exception as exc:  # any unreadable file: the old model keeps serving
                self.swaps["failed"] += 1
                self._failed_version = version
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                message = (
                    f"Kept {self.current.model} {self.current.version}: version {version} "
                    f"cannot be loaded ({reason})"
                )
                logger.error(message)
                raise SwapFailed(message) from None
            previous, self.current = self.current.version, served
            self.swaps["swapped"] += 1
            logger.warning("Swapped %s %s for version %s", served.model, previous, served.version)
            return True


def open_catalog_model(
    model: str,
    *,
    load_version: str | None = None,
    env: str | None = None,
    params: dict[str, Any] | None = None,
    project_path: Any = None,
) -> ModelHolder:
    """The saved ``<model>.recommender`` of the project's dataset (``params`` as ``kedro
    run --params``, e.g. ``{"dataset": "rsc15_100k"}``), ready to serve and to swap."""
    import kedro.framework.project as kedro_project
    from kedro.framework.session import KedroSession

    from session_recs.apps.recommend import latest_version, load_model, provenance
    from session_recs.core.errors import ConfigError
    from session_recs.framework.hooks import check_recommender
    from session_recs.framework.model_files import RecommenderDataset
    from session_recs.pipelines.namespaces import MODEL_NAMESPACES

    if model not in MODEL_NAMESPACES:
        raise ConfigError(f"Unknown model {model!r}; known models: {', '.join(MODEL_NAMESPACES)}.")
    path = Path(project_path or Path.cwd()).resolve()
    if kedro_project.PACKAGE_NAME is None:
        kedro_project.configure_project(__name__.split(".")[0])
    session = KedroSession.create(project_path=path, env=env, runtime_params=dict(params or {}))
    with session:
        context = session.load_context()
        dataset = str(context.params["dataset"])
        catalog = context.catalog
        recommender = load_model(catalog, model, dataset, load_version)
        check_recommender(f"{model}.recommender", recommender, catalog)
        version = load_version or latest_version(catalog, model) or "unversioned"
        logger.info(provenance(recommender, model, dataset, version, context.params))
        entry = catalog.get(f"{model}.recommender")
    source = None
    if isinstance(entry, RecommenderDataset):
        source = CatalogSource(entry, model, dataset, load_version)
    return ModelHolder(ServedModel.of(recommender, model, version, dataset), source)
