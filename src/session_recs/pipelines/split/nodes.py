"""Nodes of the split pipeline."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from session_recs.data.split import SplitConfig, split_sessions
from session_recs.evaluation.next_event import EvaluationConfig
from session_recs.evaluation.profile import dataset_profile, session_stats_table
from session_recs.evaluation.provenance import decide_exclude_query
from session_recs.pipelines.modeling import engine_errors

logger = logging.getLogger(__name__)


def split_next_event(sessions: Any, params: SplitConfig) -> tuple[Any, Any, Any, Any]:
    """Split sessions into train sessions, validation pairs, test pairs and test sessions
    (on the columnar engine when the catalog hands over a table, as by default)."""
    config = SplitConfig.model_validate(params)
    if isinstance(sessions, pd.DataFrame):
        return tuple(split_sessions(sessions, config))
    from session_recs.data import columnar  # the engine is imported where it runs

    return tuple(columnar.split_table(sessions, config))


def profile_split_dataset(  # noqa: PLR0917 (a node: Kedro passes inputs by position)
    sessions: Any,
    train_sessions: pd.DataFrame,
    test_pairs: pd.DataFrame,
    test_sessions: pd.DataFrame,
    sessionize_log: dict[str, Any],
    split: SplitConfig,
    exclude_query: Any,
) -> dict[str, Any]:
    """Events, sessions, items, session lengths, repeats, time span, unseen test targets,
    what sessionize dropped on the way, the split's settings and fingerprints; logs how
    ``evaluation.exclude_query: auto`` is decided on this split, with its evidence."""
    split = SplitConfig.model_validate(split)
    setting = EvaluationConfig(exclude_query=exclude_query).exclude_query
    stats = sessions if isinstance(sessions, pd.DataFrame) else session_stats_table(sessions)
    # A table of training sessions is counted and fingerprinted a batch at a time, never
    # read into memory whole (22.9 GB at 2x10^8 events).
    with engine_errors("profiling the training sessions", train_sessions):
        decide_exclude_query(setting, train_sessions)
        return dataset_profile(
            stats,
            train_sessions,
            test_pairs,
            test_sessions,
            sessionize_log,
            split=split.model_dump(mode="json"),
        )
