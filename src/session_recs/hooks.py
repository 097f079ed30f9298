"""Run-wide hooks: check the dataset choice before any data is touched; save atomically."""

from __future__ import annotations

from typing import Any

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog

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
    the latest one, instead of a truncated file that breaks the next run.
    """

    def __init__(self) -> None:
        self._catalog: DataCatalog | None = None

    @hook_impl
    def after_catalog_created(self, catalog: DataCatalog) -> None:
        """Keep the run's catalog: datasets are built lazily, on first use."""
        self._catalog = catalog

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, data: Any) -> None:
        """Route the dataset's writes through a hidden file renamed into place when done."""
        if self._catalog is not None and dataset_name in self._catalog:
            make_atomic(self._catalog[dataset_name])
