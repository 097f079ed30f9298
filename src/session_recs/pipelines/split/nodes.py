"""Nodes of the split pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd

from session_recs.split import SplitConfig, split_sessions


def split_next_event(
    sessions: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split sessions into train sessions, validation pairs, test pairs and test sessions."""
    return tuple(split_sessions(sessions, SplitConfig.from_params(params)))
