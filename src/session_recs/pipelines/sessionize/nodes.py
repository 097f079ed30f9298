"""Nodes of the sessionize pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd

from session_recs.sessionize import SessionizeConfig, item_catalog, sessionize


def sessionize_interactions(interactions: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Group interactions into ordered sessions as ``params:sessionize`` says."""
    return sessionize(interactions, SessionizeConfig.from_params(params))


def build_item_catalog(interactions: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """Describe every item that appears in the sessions."""
    return item_catalog(interactions, sessions)
