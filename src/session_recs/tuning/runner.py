"""Run a search: build the Tuner from settings, fit it or resume it, and log its progress.

Where it runs is :mod:`session_recs.tuning.ray_runtime`; how a signal stops it and a later
run resumes it, :mod:`session_recs.tuning.stop_resume`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from ray import tune
from ray.tune import Callback, ProgressReporter
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

from session_recs.core import interrupts
from session_recs.tuning.address import local_cpus, resolve
from session_recs.tuning.ray_objects import param_space, search_algorithm, trial_scheduler
from session_recs.tuning.ray_runtime import ray_session
from session_recs.tuning.search_settings import SearchSettings
from session_recs.tuning.stop_resume import (
    TIMESTAMP_FORMAT,
    Stop,
    check_resumable,
    experiment_path,
    missing_results_expected,
    previous_experiments,
    resumed_limits,
    stop_search,
    storage_root,
)

logger = logging.getLogger(__name__)


class ProgressLog(Callback):
    """Compact progress in the Python log: a line per finished or failed trial, and a
    status line at most every ``every_s`` seconds (Tune's console tables stay off)."""

    def __init__(
        self,
        metric: str,
        searched: list[str],
        total: int | None,
        max_failures: int,
        every_s: float = 30.0,
    ) -> None:
        self.metric = metric
        self.searched = searched
        self.total = total
        self.max_failures = max_failures
        self.every_s = every_s
        self.done = 0
        self.errors = 0
        self.best: tuple[float, str] | None = None
        self.last_status = time.monotonic()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.done += 1
        result = trial.last_result or {}
        value = result.get(self.metric)
        if value is not None and (self.best is None or value > self.best[0]):
            self.best = (value, trial.trial_id)
        config = " ".join(f"{k}={_short(trial.config.get(k))}" for k in self.searched)
        logger.info(
            "trial %s done (%d%s): %s -> %s %s after %s epochs, %.0fs on %s; best %s",
            trial.trial_id,
            self.done,
            f"/{self.total:,}" if self.total else "",
            config,
            self.metric,
            "n/a" if value is None else f"{value:.4f}",
            result.get("epoch", 0),
            result.get("time_total_s", 0.0),
            result.get("node_ip", "?"),
            f"{self.best[0]:.4f} ({self.best[1]})" if self.best else "n/a",
        )

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.errors += 1
        logger.warning(
            "trial %s failed%s and will be retried (failure %d of %d allowed); details in %s",
            trial.trial_id,
            _where(trial),
            trial.num_failures,
            self.max_failures,
            trial.local_path,
        )

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.errors += 1
        logger.error(
            "trial %s failed%s for good (after %d retries); details in %s",
            trial.trial_id,
            _where(trial),
            self.max_failures,
            trial.local_path,
        )

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if time.monotonic() - self.last_status < self.every_s:
            return
        self.last_status = time.monotonic()
        running = sum(1 for t in trials if t.status == "RUNNING")
        pending = sum(1 for t in trials if t.status == "PENDING")
        logger.info(
            "search: %d done, %d running, %d pending, %d failures; best %s %s",
            self.done,
            running,
            pending,
            self.errors,
            self.metric,
            f"{self.best[0]:.4f}" if self.best else "n/a",
        )


class SilentReporter(ProgressReporter):
    """Tune's console progress, switched off (:class:`ProgressLog` logs instead)."""

    def should_report(self, trials: list, done: bool = False) -> bool:
        return False

    def report(self, trials: list, done: bool, *sys_info: Any) -> None:
        return None


#: Tune's switches while a search runs: its classic reporter API (so SilentReporter
#: applies), and only the loggers the result tables and resuming read (CSV and JSON; no
#: TensorBoard files, which would be written after every epoch of every trial).
#: Tune's own SIGINT handler stays off:
#: :func:`~session_recs.tuning.stop_resume.stop_search` handles SIGINT and SIGTERM.
TUNE_ENVIRONMENT = {
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "TUNE_DISABLE_SIGINT_HANDLER": "1",
}


@contextlib.contextmanager
def _tune_environment() -> Iterator[None]:
    """Set :data:`TUNE_ENVIRONMENT` for the duration of the block."""
    previous = {key: os.environ.get(key) for key in TUNE_ENVIRONMENT}
    os.environ.update(TUNE_ENVIRONMENT)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _where(trial: Any) -> str:
    """`` on <node ip>`` when the trial reported from a node, else nothing."""
    node = (trial.last_result or {}).get("node_ip")
    return f" on {node}" if node else ""


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# --- the plan ----------------------------------------------------------------------------


def _budget_text(settings: SearchSettings, events: int, raw_budget: Any) -> str:
    budget = settings.budget_seconds
    if budget is None:
        return "no time limit (tune.time_budget_s: null)"
    if raw_budget == "auto":
        share = f"; this search's 1/{settings.share} share" if settings.share > 1 else ""
        how = f"{settings.auto_budget.describe(events)}{share}"
    else:
        how = f"tune.time_budget_s{' shared among the searched models' * (settings.share > 1)}"
    return f"stopping after {budget:,.0f} s at most ({how})"


def _where_text(settings: SearchSettings) -> str:
    per_trial = f"{settings.cpus_per_trial} CPU{'s' * (settings.cpus_per_trial > 1)} each"
    cap = settings.max_concurrent_trials
    if resolve(settings.ray).is_local:
        cpus = local_cpus(settings.ray)
        at_once = max(1, cpus // settings.cpus_per_trial)
        at_once = min(at_once, cap or at_once, settings.n_trials or at_once)
        trials = f"{at_once} trial{'s' * (at_once > 1)} at a time"
        return f"{trials}, {per_trial}, on a local Ray with {cpus} CPUs"
    limit = f"up to {cap} trials at a time" if cap else "as many trials at a time as its CPUs allow"
    return f"{limit}, {per_trial}, on the Ray cluster at {settings.ray.address}"


def plan(
    settings: SearchSettings, dataset: str, events: int, resume: str, raw_budget: Any = None
) -> str:
    """One line saying what the search will do and for how long at most: the model and
    preset, the trials cap, the time budget (and how an ``auto`` one was computed), where
    it runs, where its results go, and how to stop and resume it. ``settings`` come from
    :meth:`SearchSettings.for_data`; ``raw_budget`` is ``time_budget_s`` before it."""
    trials = (
        "unbounded trials" if settings.n_trials is None else f"up to {settings.n_trials:,} trials"
    )
    length = (
        f" of up to {settings.max_epochs} {settings.resource}"
        if settings.resource
        else " (one-shot)"
    )
    folder = experiment_path(settings.ray.storage_path, settings.experiment_name(dataset))
    return (
        f"Tune plan: {settings.model} ({settings.kind}, preset {settings.preset!r}"
        f"{', smoke' if settings.smoke else ''}) on {dataset}: {trials}{length}, "
        f"{_budget_text(settings, events, raw_budget)}; {_where_text(settings)}; results in "
        f"{folder}_{'<newest> (resumed)' if settings.resume else '<start time>'}; Ctrl-C "
        f"stops it keeping the finished trials, resume with: {resume}"
    )


# --- the search --------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchOutcome:
    """What a search leaves: Tune's results, where they are stored, each trial's status,
    and the signal that stopped it (None when it ran to its end)."""

    results: Any  # ray.tune.ResultGrid
    experiment_path: str
    resumed: bool
    seconds: float
    statuses: dict[str, str] = field(default_factory=dict)
    interrupted: str | None = None


def _statuses(results: Any) -> dict[str, str]:
    """Each trial's final status (``TERMINATED``, ``ERROR``, or ``RUNNING``/``PENDING``/
    ``PAUSED`` for trials an interrupted search left unfinished)."""
    analysis = getattr(results, "_experiment_analysis", None)
    return {trial.trial_id: trial.status for trial in getattr(analysis, "trials", [])}


def make_trainable(
    settings: SearchSettings, train_sessions: pd.DataFrame, validation_pairs: pd.DataFrame
) -> Any:
    """The trial function with its data in the object store and its CPUs reserved."""
    from session_recs.tuning.trainable import train_trial

    setup = {
        "kind": settings.kind,
        "options": dict(settings.fixed),
        "resource": settings.resource,
        "max_epochs": settings.max_epochs,
        "k": settings.k,
        "context": settings.context,
        "exclude_query": settings.exclude_query,
        "workers": settings.cpus_per_trial,
        "seed": settings.seed,
    }
    with_data = tune.with_parameters(
        train_trial,
        train_sessions=train_sessions,
        validation_pairs=validation_pairs,
        setup=setup,
    )
    return tune.with_resources(with_data, {"cpu": settings.cpus_per_trial})


def _tuner(
    settings: SearchSettings, trainable: Any, root: str, name: str, callbacks: Sequence[Any]
) -> Any:
    return tune.Tuner(
        trainable,
        param_space=param_space(settings),
        tune_config=tune.TuneConfig(
            metric=settings.metric_name,
            mode="max",
            search_alg=search_algorithm(settings),
            scheduler=trial_scheduler(settings),
            num_samples=settings.num_samples,
            max_concurrent_trials=settings.max_concurrent_trials,
            time_budget_s=settings.budget_seconds,
            reuse_actors=settings.reuse_actors,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=root,
            failure_config=tune.FailureConfig(max_failures=settings.max_failures),
            verbose=0,
            progress_reporter=SilentReporter(),
            callbacks=[
                ProgressLog(
                    settings.metric_name,
                    list(settings.space),
                    settings.n_trials,
                    settings.max_failures,
                ),
                CSVLoggerCallback(),
                JsonLoggerCallback(),
                *callbacks,
            ],
        ),
    )


def run_search(
    settings: SearchSettings,
    train_sessions: pd.DataFrame,
    validation_pairs: pd.DataFrame,
    dataset: str,
    callbacks: Sequence[Any] = (),
) -> SearchOutcome:
    """Run the search (or resume the newest one of this name when ``settings.resume``).

    ``callbacks`` are more Ray Tune callbacks for a new search (e.g. experiment tracking);
    a resumed search keeps those it was started with. SIGINT or SIGTERM during the search
    ends it early: the outcome names the signal, and Ray is stopped either way.
    """
    root = storage_root(settings.ray.storage_path)
    if settings.resume:
        check_resumable(settings.ray.storage_path, root)
    stem = settings.experiment_name(dataset)
    stop = Stop()
    restoring = settings.resume
    with (
        interrupts.stop_signals(),
        ray_session(settings.ray, settings.cpus_per_trial) as where,
        # A trial the time budget (or a signal) stops before its first epoch has no
        # results: the trial table counts it (NO_RESULT); Tune's warning would only alarm.
        missing_results_expected(
            lambda: restoring or stop.signal is not None or settings.budget_seconds is not None
        ),
    ):
        trainable = make_trainable(settings, train_sessions, validation_pairs)
        restorable = (
            [p for p in previous_experiments(root, stem) if tune.Tuner.can_restore(p)]
            if settings.resume
            else []
        )
        started = time.perf_counter()
        limits: contextlib.AbstractContextManager = contextlib.nullcontext()
        if restorable:
            path = restorable[-1]
            logger.info("Resuming the search in %s on %s", path, where)
            tuner = tune.Tuner.restore(
                path, trainable=trainable, resume_unfinished=True, resume_errored=True
            )
            limits = resumed_limits(settings)
            resumed = True
        else:
            restoring = False
            if settings.resume:
                logger.info("tune.resume is on but no earlier %r search exists: starting one", stem)
            name = f"{stem}_{datetime.now():{TIMESTAMP_FORMAT}}"
            path = experiment_path(root, name)
            logger.info("Searching on %s; results in %s", where, path)
            tuner = _tuner(settings, trainable, root, name, callbacks)
            resumed = False
        with _tune_environment(), limits, stop_search(stop):
            results = tuner.fit()
        outcome = SearchOutcome(
            results,
            path,
            resumed,
            time.perf_counter() - started,
            _statuses(results),
            stop.signal,
        )
        finished = sum(status in ("TERMINATED", "ERROR") for status in outcome.statuses.values())
        if outcome.interrupted:
            logger.warning(
                "Search stopped by %s after %.0fs: %d trials finished (of %s), %d errors; "
                "saving it as incomplete",
                outcome.interrupted,
                outcome.seconds,
                finished,
                f"up to {settings.n_trials:,}" if settings.n_trials else "an open-ended search",
                results.num_errors,
            )
        else:
            logger.info(
                "Search finished in %.0fs: %d trials, %d errors",
                outcome.seconds,
                len(results),
                results.num_errors,
            )
        return outcome
