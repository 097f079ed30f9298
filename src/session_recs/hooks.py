"""Hooks that check run-wide choices before any data is touched."""

from __future__ import annotations

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl

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
