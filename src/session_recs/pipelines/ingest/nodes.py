"""Nodes of the ingest pipeline: the raw source's interactions, checked at the boundary."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from session_recs.data.interactions import validate_interactions

logger = logging.getLogger(__name__)


def ingest_interactions(raw: Any) -> Any:
    """Check the interactions the source's dataset read (its entry maps the columns): a
    DataFrame, or a table of the columnar engine (a source entry with ``engine``)."""
    if isinstance(raw, pd.DataFrame):
        interactions = validate_interactions(raw)
        rows = len(interactions)
    else:
        from session_recs.data.engine import validate_table

        interactions, rows = validate_table(raw)
    logger.info(
        "Ingested %s interactions (%s)",
        f"{rows:,}",
        ", ".join(str(column) for column in interactions.columns if column != "_row"),
    )
    return interactions
