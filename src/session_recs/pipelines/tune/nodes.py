"""Nodes of the tune pipeline: adapt :mod:`session_recs.tuning` to the catalog.

Every searchable model namespace gets the same nodes (bound to its name): check its
search, run it, pick the best trial, refuse to go on from an interrupted search, plot.
"""

from __future__ import annotations

import logging
import shlex
import sys
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from session_recs.core.errors import ConfigError, DataValidationError
from session_recs.core.interrupts import Stopped, signal_of
from session_recs.core.tables import to_frame
from session_recs.evaluation.next_event import EvaluationConfig
from session_recs.evaluation.provenance import decide_exclude_query
from session_recs.models import ModelSpec, Recommender
from session_recs.pipelines.modeling import fit_recommender
from session_recs.tuning import results
from session_recs.tuning.address import check_where
from session_recs.tuning.search_settings import LEGACY_MODEL, SearchSettings
from session_recs.tuning.space import parse_settings, selected_models

logger = logging.getLogger(__name__)


class SearchInterrupted(ConfigError):
    """A search stopped by a signal: its finished trials are saved as incomplete."""


#: The searches of this process that a signal stopped (a run starts no search after one).
_STOPPED: list[str] = []


def validate_search(
    tune: dict[str, Any],
    ray: dict[str, Any],
    model_spec: ModelSpec,
    evaluation: EvaluationConfig,
    *,
    model: str,
) -> SearchSettings:
    """Check every search and Ray setting of ``model``'s search, and that a cluster's
    address answers, before Ray starts. A run searching several models gives each an
    equal share of ``tune.time_budget_s``; one-shot trials score the validation pairs as
    the test is scored (``evaluation.exclude_query``)."""
    share = len(selected_models(tune))
    settings = parse_settings(tune, ray, model, model_spec, share=share)
    evaluation = EvaluationConfig.model_validate(evaluation)
    settings = settings.model_copy(update={"exclude_query": evaluation.exclude_query})
    check_where(settings)
    logger.info("Search: %s", settings.describe())
    return settings


def validate_tune_config(
    tune: dict[str, Any],
    ray: dict[str, Any],
    model_spec: ModelSpec,
    evaluation: EvaluationConfig,
) -> SearchSettings:
    """:func:`validate_search` of ``word2vec_search``, FF19's Word2Vec search."""
    return validate_search(tune, ray, model_spec, evaluation, model=LEGACY_MODEL)


def run_model_search(
    settings: SearchSettings,
    train_sessions: pd.DataFrame,
    validation_pairs: pd.DataFrame,
    dataset: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run (or resume) the search; per-epoch history and one row per trial. With MLflow
    tracking on, every trial is also a nested run of this Kedro run's MLflow run.

    A split without validation pairs (``split.validation_fraction: 0``) stops the run
    before Ray starts. A search stopped by SIGINT or SIGTERM returns what finished, marked
    incomplete (``search_complete`` false; unfinished trials ``INTERRUPTED``); the nodes
    after it refuse to refit from it.
    """
    from session_recs.tuning.runner import plan, run_search
    from session_recs.tuning.trial_runs import tune_callbacks

    train_sessions = to_frame(train_sessions)  # every trial fits in memory

    if not len(validation_pairs):
        raise ConfigError(
            f"The search of {settings.model} scores its trials on the validation pairs, and "
            "the split it reads has none (made with split.validation_fraction = 0): split "
            "with validation first, e.g. `kedro run --pipelines=split "
            f"--params=dataset={dataset},split.validation_fraction=0.1`, then search."
        )
    if _STOPPED:  # a signal stopped an earlier search of this run: start no other
        message = (
            f"The run was stopped during the search of {_STOPPED[0]}; {settings.model} was "
            f"not searched. Resume with: {resume_command()}"
        )
        _drop_restart_advice(message)
        raise SearchInterrupted(message)
    exclude, _ = decide_exclude_query(settings.exclude_query, train_sessions)
    budget = settings.time_budget_s
    settings = settings.for_data(len(train_sessions)).model_copy(update={"exclude_query": exclude})
    logger.info(plan(settings, dataset, len(train_sessions), resume_command(), budget))
    callbacks = tune_callbacks(settings.experiment_name(dataset))
    try:
        outcome = run_search(settings, train_sessions, validation_pairs, dataset, callbacks)
    except KeyboardInterrupt as stop:  # while Ray started, or a stop at once: nothing saved
        _STOPPED.append(settings.model)
        raise Stopped(
            signal_of(stop),
            f" during the search of {settings.model}, before its results were saved. "
            f"Resume it with: {resume_command()}",
        ) from None
    if outcome.interrupted:
        _STOPPED.append(settings.model)
    history = results.trial_history(outcome.results, settings)
    table = results.trial_table(outcome.results, settings, history, outcome.statuses)
    table["search_complete"] = outcome.interrupted is None
    table.attrs["interrupted"] = outcome.interrupted
    return history, table


def select_best_params(tune_results: pd.DataFrame, settings: SearchSettings) -> dict:
    """The best trial's options, ready to refit (``search.complete`` false when the
    search was interrupted)."""
    complete = bool(tune_results["search_complete"].all()) if len(tune_results) else True
    try:
        best = results.best_configuration(tune_results, settings, complete=complete)
    except DataValidationError:
        if complete:
            raise
        # Interrupted before any trial finished: nothing to save, say how to resume.
        require_complete({"search": {"complete": False, "trials": 0}}, settings.model)
        raise
    logger.info(
        "Best trial of %s%s: %s %.4f with %s",
        settings.model,
        "" if complete else " (interrupted search, incomplete)",
        best["search"]["trial_id"],
        best["search"]["value"],
        best["model"]["options"],
    )
    return best


def check_search_complete(best_params: dict, settings: SearchSettings) -> None:
    """Stop the run, in one line with the resume command, after an interrupted search."""
    require_complete(best_params, settings.model)


class _NoRestartAdvice(logging.Filter):
    """Drops Kedro's "nodes that have not run ... --from-nodes" advice (after an
    interrupted search it would start a new search, not resume this one), and Kedro's
    "Node ... failed" record of a SearchInterrupted, which the command prints once."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "nodes that have not run" in message:
            return False
        return not any(text in message for text in self.messages)


def _drop_restart_advice(message: str = "") -> None:
    for handler in logging.getLogger().handlers:
        found = [f for f in handler.filters if isinstance(f, _NoRestartAdvice)]
        if not found:
            found = [_NoRestartAdvice()]
            handler.addFilter(found[0])
        if message:
            found[0].messages.add(message)


def require_complete(best_params: dict | None, model: str) -> None:
    """A SearchInterrupted error when ``best_params`` come from an interrupted search."""
    search = (best_params or {}).get("search") or {}
    if search.get("complete", True):
        return
    outputs = (
        "tune_results and best_w2v_params"
        if model == LEGACY_MODEL
        else f"{model}.tune_results and {model}.best_params"
    )
    message = (
        f"The search of {model} was interrupted after {search.get('trials', 0)} trials: "
        f"saved as incomplete in {outputs}, nothing refitted. Resume it with: "
        f"{resume_command()}"
    )
    _drop_restart_advice(message)
    raise SearchInterrupted(message)


def _with_resume(params: str) -> str:
    kept = [item for item in params.split(",") if item and not item.startswith("tune.resume=")]
    return ",".join([*kept, "tune.resume=true"])


def resume_command(argv: list[str] | None = None) -> str:
    """The command that was run, with ``tune.resume=true`` in its ``--params``."""
    words = list(sys.argv[1:] if argv is None else argv)
    for i, word in enumerate(words):
        if word.startswith("--params="):
            words[i] = "--params=" + _with_resume(word.removeprefix("--params="))
            break
        if word == "--params" and i + 1 < len(words):
            words[i + 1] = _with_resume(words[i + 1])
            break
    else:
        words.append("--params=tune.resume=true")
    return "kedro " + " ".join(shlex.quote(word) for word in words)


def fit_best(
    train_sessions: pd.DataFrame,
    validation_pairs: pd.DataFrame,
    best_params: dict | None,
    *,
    model: str,
) -> Recommender:
    """Refit the best configuration of ``model``'s search on the training sessions."""
    if best_params is None:
        raise ConfigError(
            f"There is no search of {model} for this dataset yet, so no {model}_tuned to fit: "
            f"run `kedro run --pipeline=tune --params=tune.model={model}` first."
        )
    require_complete(best_params, model)
    return fit_recommender(train_sessions, validation_pairs, best_params["model"])


def plot_tune_curves(tune_history: pd.DataFrame, settings: SearchSettings) -> Figure:
    """Validation metric per epoch for every trial."""
    return results.curves_figure(tune_history, settings)


def chart_tune_curves(
    tune_history: pd.DataFrame, tune_results: pd.DataFrame | None, settings: SearchSettings
) -> Any:
    """The interactive validation curves (plotly), each trial's configuration on hover."""
    return results.curves_chart(tune_history, tune_results, settings)


def plot_tune_parameters(tune_results: pd.DataFrame, settings: SearchSettings) -> Figure:
    """Validation metric against each searched hyperparameter."""
    return results.parameters_figure(tune_results, settings)
