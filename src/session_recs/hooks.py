"""Run-wide hooks: check the dataset choice before any data is touched; save atomically."""

from __future__ import annotations

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.io.core import VersionNotFoundError
from kedro.pipeline import Node

from session_recs.data.atomic import make_atomic
from session_recs.errors import ConfigError


class DatasetChoiceHooks:
    """Reject an unknown ``dataset`` runtime parameter with the list of known ones."""

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Check ``params:dataset`` against the sources declared in ``params:ingest``."""
        params = context.params
        dataset = params.get("dataset")
        sources = params.get("ingest", {}).get("sources", {})
        if dataset not in sources:
            raise ConfigError(
                f"Unknown dataset {dataset!r} (set with --params=dataset=...). Known datasets: "
                f"{', '.join(sorted(sources))}. To add one, add an entry under '_sources' in "
                "conf/base/catalog.yml and under 'ingest.sources' in "
                "conf/base/parameters_ingest.yml."
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


class LoadVersionsHooks:
    """Check ``--load-versions`` against the versions on disk before anything runs."""

    @hook_impl
    def after_catalog_created(self, catalog: DataCatalog, load_versions: dict[str, str]) -> None:
        """A named dataset must be versioned and hold the named version."""
        for name, version in (load_versions or {}).items():
            # (Kedro itself rejects a name the catalog lacks, before this hook.)
            where = f"--load-versions={name}:{version}"
            dataset = catalog[name]
            versioned = getattr(dataset, "_dataset", dataset)  # OptionalDataset wraps one
            if not hasattr(versioned, "list_versions") or not getattr(versioned, "_version", None):
                raise ConfigError(f"{where}: dataset '{name}' is not versioned.")
            try:
                saved = versioned.list_versions(full_path=False)
            except VersionNotFoundError:
                saved = []
            if version not in saved:
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
