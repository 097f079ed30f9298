"""Nodes of the sessionize pipeline: on the columnar engine when the catalog hands them
tables (the default: out of core), on pandas when it hands them DataFrames."""

from __future__ import annotations

from typing import Any

import pandas as pd

from session_recs.data.sessionize import SessionizeConfig, item_catalog, sessionize_with_log


def sessionize_interactions(
    interactions: Any, params: SessionizeConfig
) -> tuple[Any, dict[str, Any]]:
    """Group interactions into ordered sessions as ``params:sessionize`` says; also what
    every filter dropped (``sessionize_log``, listed in the dataset profile)."""
    config = SessionizeConfig.model_validate(params)
    if isinstance(interactions, pd.DataFrame):
        return sessionize_with_log(interactions, config)
    from session_recs.data import columnar  # the engine is imported where it runs

    return columnar.sessionize_table(interactions, config)


def build_item_catalog(interactions: Any, sessions: Any) -> Any:
    """Describe every item that appears in the sessions."""
    if isinstance(interactions, pd.DataFrame) and isinstance(sessions, pd.DataFrame):
        return item_catalog(interactions, sessions)
    from session_recs.data import columnar

    return columnar.item_catalog_table(interactions, sessions)
