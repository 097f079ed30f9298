"""Run-wide hooks: log the dataset's inferred settings; save atomically; check --load-versions."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.io.core import AbstractVersionedDataset, DatasetNotFoundError, VersionNotFoundError
from kedro.pipeline import Node

from session_recs.core.errors import ConfigError, DataValidationError
from session_recs.core.progress import set_label
from session_recs.data.atomic import make_atomic
from session_recs.data.sessionize import SESSION_COLUMNS
from session_recs.data.split import PAIR_COLUMNS
from session_recs.evaluation.compare import compile_comparison, leaders
from session_recs.framework.datasets import OptionalDataset, RunVersionsDataset

logger = logging.getLogger(__name__)


class DatasetChoiceHooks:
    """Log, one line each, the settings that followed from the source when the run starts.

    :class:`~session_recs.framework.config_loader.ProjectConfigLoader` records them while it builds
    the parameters (what ``auto`` became, and explicit values that overrode an ``auto``).
    """

    def __init__(self) -> None:
        self._loader: Any = None

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Remember the run's config loader."""
        self._loader = context.config_loader

    @hook_impl
    def before_pipeline_run(self) -> None:
        """One line per inferred or explicitly set choice."""
        loader = self._loader
        for choice in getattr(loader, "choices", None) or []:
            logger.info(
                "Dataset %s: %s = %s (%s)", loader.dataset, choice.key, choice.value, choice.reason
            )


class AtomicSavesHooks:
    """Every local file a run saves appears whole or not at all (:mod:`session_recs.data.atomic`).

    So a run killed while it writes a versioned dataset leaves the previous version as
    the latest one, instead of a truncated file that breaks the next run. Done before each
    node with the catalog the node saves through, so it holds in ParallelRunner's worker
    processes too.
    """

    @hook_impl
    def before_node_run(self, node: Node, catalog: DataCatalog) -> None:
        """Route the node's outputs through hidden files renamed into place when complete."""
        for name in node.outputs:
            if name in catalog:
                make_atomic(catalog[name])


class ProgressLabelHooks:
    """Progress bars name the model namespace whose node is running (both Word2Vec bars
    would otherwise read ``word2vec``); set per node, so in a runner's threads too."""

    @hook_impl
    def before_node_run(self, node: Node) -> None:
        set_label(node.namespace)

    @hook_impl
    def after_node_run(self) -> None:
        set_label(None)

    @hook_impl
    def on_node_error(self) -> None:
        set_label(None)


class LoadVersionsHooks:
    """Check ``--load-versions`` against the versions on disk before anything runs."""

    @hook_impl
    def after_catalog_created(self, catalog: DataCatalog, load_versions: dict[str, str]) -> None:
        """A named dataset must be versioned and hold the named version."""
        for name, version in (load_versions or {}).items():
            # (Kedro itself rejects a name the catalog lacks, before this hook.)
            where = f"--load-versions={name}:{version}"
            dataset = catalog[name]
            versioned = dataset.wrapped if isinstance(dataset, OptionalDataset) else dataset
            if not isinstance(versioned, AbstractVersionedDataset):
                raise ConfigError(f"{where}: dataset '{name}' is not versioned.")
            try:
                saved = versioned.list_versions(full_path=False)
            except VersionNotFoundError:
                saved = []
            if version not in saved:
                # kedro-datasets exposes no public accessor for a dataset's path; the message's
                # folder relies on `_filepath` (tests/framework/test_bad_inputs.py pins it).
                folder = versioned._filepath
                listed = ", ".join(saved[:5]) + (", ..." if len(saved) > 5 else "")
                raise ConfigError(
                    f"{where}: '{name}' has no version {version!r} in {folder}/. "
                    + (
                        f"Saved versions, newest first: {listed}."
                        if saved
                        else "Nothing is saved yet: run the pipeline that writes it first."
                    )
                )


class DatasetVersionsHooks:
    """Note the version of every versioned dataset the run's nodes load, and hand a node
    that reads a :class:`~session_recs.framework.datasets.RunVersionsDataset` the versions of
    what it reads and of what the nodes that made its inputs in this run read: for the
    report, its comparison and tests and every model's metrics and query ranks."""

    def __init__(self) -> None:
        self._catalog: Any = None
        self._loaded: dict[str, dict[str, str]] = {}  # node -> {dataset: version}
        self._maker: dict[str, str] = {}  # dataset -> the node that saved it in this run

    @hook_impl
    def after_catalog_created(self, catalog: DataCatalog) -> None:
        self._catalog, self._loaded, self._maker = catalog, {}, {}

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, node: Node) -> None:
        if self._catalog is None or dataset_name.startswith("params:"):
            return
        dataset = self._dataset(dataset_name)
        versioned = dataset.wrapped if isinstance(dataset, OptionalDataset) else dataset
        if not isinstance(versioned, AbstractVersionedDataset):
            return
        try:
            version = versioned.resolve_load_version()
        except VersionNotFoundError:  # nothing saved yet (an optional input)
            return
        if version:
            self._loaded.setdefault(node.name, {})[dataset_name] = version

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, node: Node) -> None:
        self._maker[dataset_name] = node.name

    @hook_impl
    def before_node_run(self, node: Node, inputs: dict[str, Any]) -> dict[str, Any] | None:
        """Replace the node's RunVersionsDataset inputs with the versions it read and its
        inputs' makers read."""
        if self._catalog is None:
            return None
        names = [n for n in inputs if isinstance(self._dataset(n), RunVersionsDataset)]
        if not names:
            return None
        nodes = [node.name, *(self._maker[i] for i in node.inputs if i in self._maker)]
        versions: dict[str, str] = {}
        for name in nodes:
            versions.update(self._loaded.get(name, {}))
        return {name: dict(sorted(versions.items())) for name in names}

    def _dataset(self, name: str) -> Any:
        try:
            return self._catalog[name]
        except DatasetNotFoundError:  # one of the runner's own (memory) datasets
            return None


def check_recommender(dataset_name: str, data: Any, catalog: Any) -> None:
    """Refuse a loaded ``<model>.recommender`` that is not a fitted model (another object
    saved under its name), naming the file, before anything calls a method it lacks."""
    from session_recs.models import Recommender

    if not dataset_name.endswith(".recommender") or isinstance(data, Recommender):
        return
    where = ""
    with contextlib.suppress(Exception):
        where = f" ({_saved_path(catalog[dataset_name])})"
    model = dataset_name.removesuffix(".recommender")
    raise DataValidationError(
        f"The saved {dataset_name}{where} holds a {type(data).__name__}, not a fitted "
        f"model: retrain it (kedro run --namespaces={model}) or load an earlier version "
        f"with --load-versions={dataset_name}:<version>."
    )


#: The columns every saved table of sessions or of (query, target) pairs holds.
SAVED_COLUMNS = {
    "sessions": SESSION_COLUMNS,
    "train_sessions": SESSION_COLUMNS,
    "test_sessions": SESSION_COLUMNS,
    "validation_pairs": PAIR_COLUMNS,
    "test_pairs": PAIR_COLUMNS,
}


def check_columns(dataset_name: str, data: Any, catalog: Any) -> None:
    """Refuse a loaded table of sessions or pairs that lacks their columns (another table
    saved under its name), naming the file, before a node looks a column up."""
    expected = SAVED_COLUMNS.get(dataset_name, ())
    missing = [name for name in expected if name not in getattr(data, "columns", expected)]
    if not missing:
        return
    where = ""
    with contextlib.suppress(Exception):
        where = f" ({_saved_path(catalog[dataset_name])})"
    raise DataValidationError(
        f"The saved {dataset_name}{where} has no column(s) {missing} (it has "
        f"{list(data.columns)[:8]}); expected {list(expected)}: re-run the step that makes it "
        f"(kedro run --to-outputs={dataset_name}) or load an earlier version with "
        f"--load-versions={dataset_name}:<version>."
    )


class LoadedModelHooks:
    """Every ``<model>.recommender`` a run loads is a fitted model (:func:`check_recommender`),
    every table of sessions or pairs has their columns (:func:`check_columns`)."""

    def __init__(self) -> None:
        self._catalog: Any = None

    @hook_impl
    def after_catalog_created(self, catalog: DataCatalog) -> None:
        self._catalog = catalog

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any) -> None:
        check_recommender(dataset_name, data, self._catalog)
        check_columns(dataset_name, data, self._catalog)


class RunSummaryHooks:
    """Every run that evaluated a model ends with its best models and the report's path.

    With the report pipeline in the run, the best of every model the report holds; else
    the best of the models this run evaluated.
    """

    @hook_impl
    def after_pipeline_run(self, pipeline: Any, catalog: DataCatalog) -> None:
        outputs = pipeline.all_outputs()
        try:
            if "model_comparison" in outputs:
                comparison = catalog.load("model_comparison")
            else:
                names = sorted(o for o in outputs if o.endswith(".metrics") and o.count(".") == 1)
                if not names:
                    return
                comparison = compile_comparison(
                    {name.removesuffix(".metrics"): catalog.load(name) for name in names}
                )
            report = catalog.load("params:report")
            k = report.get("k", 10) if isinstance(report, dict) else getattr(report, "k", 10)
            k = k if isinstance(k, int) else 10
        except Exception as err:  # a summary never fails a run that succeeded
            logger.debug("No run summary: %s", err)
            return
        for line in leaders(comparison, k):
            logger.info(line)
        if "model_comparison_html" in outputs:
            logger.info("Report: %s", _saved_path(catalog["model_comparison_html"]))


def _saved_path(dataset: Any) -> str:
    """Where a (versioned) dataset's latest version is, relative to the working folder."""
    from pathlib import Path

    path = Path(str(dataset._get_load_path()))  # the version this run saved
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
