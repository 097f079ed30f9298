"""Nodes of the ingest pipeline: a raw source becomes the project's interaction table."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from session_recs.errors import ConfigError
from session_recs.interactions import to_interactions, validate_interactions

logger = logging.getLogger(__name__)


def ingest_interactions(raw: pd.DataFrame, ingest: dict[str, Any], dataset: str) -> pd.DataFrame:
    """Map the raw table of ``dataset`` onto the interaction schema and validate it."""
    sources = ingest.get("sources", {})
    if dataset not in sources:
        raise ConfigError(
            f"No ingest settings for dataset {dataset!r} under 'ingest.sources' in "
            f"parameters_ingest.yml; known: {sorted(sources)}."
        )
    source = sources[dataset]
    if "columns" not in source:
        raise ConfigError(f"ingest.sources.{dataset} needs a 'columns' mapping.")
    interactions = to_interactions(
        raw, source["columns"], timestamp_unit=source.get("timestamp_unit")
    )
    interactions = validate_interactions(interactions)
    logger.info("Ingested %s interactions of dataset %s", f"{len(interactions):,}", dataset)
    return interactions
