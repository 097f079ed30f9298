"""Nodes of the sessionize pipeline."""

from __future__ import annotations

import pandas as pd

from session_recs.sessionize import SessionizeConfig, item_catalog, sessionize


def sessionize_interactions(interactions: pd.DataFrame, params: SessionizeConfig) -> pd.DataFrame:
    """Group interactions into ordered sessions as ``params:sessionize`` says."""
    return sessionize(interactions, SessionizeConfig.model_validate(params))


def build_item_catalog(interactions: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """Describe every item that appears in the sessions."""
    return item_catalog(interactions, sessions)
