"""Nodes of the sessionize pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd

from session_recs.data.sessionize import SessionizeConfig, item_catalog, sessionize_with_log


def sessionize_interactions(
    interactions: pd.DataFrame, params: SessionizeConfig
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Group interactions into ordered sessions as ``params:sessionize`` says; also what
    every filter dropped (``sessionize_log``, listed in the dataset profile)."""
    return sessionize_with_log(interactions, SessionizeConfig.model_validate(params))


def build_item_catalog(interactions: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """Describe every item that appears in the sessions."""
    return item_catalog(interactions, sessions)
