"""Nodes of the ingest pipeline: the raw source's interactions, checked at the boundary."""

from __future__ import annotations

import logging

import pandas as pd

from session_recs.data.interactions import validate_interactions

logger = logging.getLogger(__name__)


def ingest_interactions(raw: pd.DataFrame) -> pd.DataFrame:
    """Check the interactions the source's dataset read (its entry maps the columns)."""
    interactions = validate_interactions(raw)
    logger.info(
        "Ingested %s interactions (%s)",
        f"{len(interactions):,}",
        ", ".join(map(str, interactions.columns)),
    )
    return interactions
