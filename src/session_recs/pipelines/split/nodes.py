"""Nodes of the split pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd

from session_recs.profile import dataset_profile
from session_recs.split import SplitConfig, split_sessions


def split_next_event(
    sessions: pd.DataFrame, params: SplitConfig
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split sessions into train sessions, validation pairs, test pairs and test sessions."""
    return tuple(split_sessions(sessions, SplitConfig.model_validate(params)))


def profile_split_dataset(
    sessions: pd.DataFrame,
    train_sessions: pd.DataFrame,
    test_pairs: pd.DataFrame,
    test_sessions: pd.DataFrame,
    sessionize_log: dict[str, Any],
) -> dict[str, Any]:
    """Events, sessions, items, session lengths, repeats, time span, unseen test targets,
    and what sessionize dropped on the way."""
    return dataset_profile(sessions, train_sessions, test_pairs, test_sessions, sessionize_log)
