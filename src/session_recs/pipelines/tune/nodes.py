"""Nodes of the tune pipeline: adapt :mod:`session_recs.tuning` to the catalog."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from session_recs.tuning import results
from session_recs.tuning.address import check_reachable, resolve_address
from session_recs.tuning.settings import SearchSettings
from session_recs.tuning.space import parse_settings

logger = logging.getLogger(__name__)


def validate_tune_config(tune: dict[str, Any], ray: dict[str, Any]) -> SearchSettings:
    """Check every search and Ray setting, and that a cluster's address answers, before
    Ray starts."""
    settings = parse_settings(tune, ray)
    check_reachable(resolve_address(settings.ray), settings.ray.connect_timeout_s)
    logger.info("Search: %s", settings.describe())
    return settings


def run_word2vec_search(
    settings: SearchSettings,
    train_sessions: pd.DataFrame,
    validation_pairs: pd.DataFrame,
    dataset: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run (or resume) the search; per-epoch history and one row per trial. With MLflow
    tracking on, every trial is also a nested run of this Kedro run's MLflow run."""
    from session_recs.tracking import tune_callbacks
    from session_recs.tuning.runner import run_search

    callbacks = tune_callbacks(settings.experiment_name(dataset))
    outcome = run_search(settings, train_sessions, validation_pairs, dataset, callbacks)
    history = results.trial_history(outcome.results, settings)
    return history, results.trial_table(outcome.results, settings, history)


def select_best_w2v_params(tune_results: pd.DataFrame, settings: SearchSettings) -> dict:
    """The best trial's Word2Vec options, ready for the train_w2v pipeline."""
    best = results.best_configuration(tune_results, settings)
    logger.info(
        "Best trial %s: %s %.4f with %s",
        best["search"]["trial_id"],
        best["search"]["metric"],
        best["search"]["value"],
        best["model"]["options"],
    )
    return best


def plot_tune_curves(tune_history: pd.DataFrame, settings: SearchSettings) -> Figure:
    """Validation metric per epoch for every trial."""
    return results.curves_figure(tune_history, settings)


def plot_tune_parameters(tune_results: pd.DataFrame, settings: SearchSettings) -> Figure:
    """Validation metric against each searched hyperparameter."""
    return results.parameters_figure(tune_results, settings)
