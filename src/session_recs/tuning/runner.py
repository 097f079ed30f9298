"""Run a search: connect to (or start) Ray, build the Tuner from settings, fit or resume it.

Where Ray runs is ``params:ray`` (``ray.address``, see :mod:`session_recs.tuning.address`).
A local Ray is started sized to this machine and shut down afterwards. Connected to a
cluster, the driver ships the project's code to the workers (``runtime_env``
``py_modules``) when ``ray.ship_code`` is on, and only disconnects at the end: the
cluster keeps running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import ray
from ray import tune
from ray.tune import Callback, ProgressReporter
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

import session_recs
from session_recs.errors import ConfigError
from session_recs.tuning.address import check_reachable, resolve_address
from session_recs.tuning.ray_objects import param_space, search_algorithm, trial_scheduler
from session_recs.tuning.settings import RaySettings, SearchSettings

logger = logging.getLogger(__name__)


# --- where Ray is ------------------------------------------------------------------------


def runtime_env(settings: RaySettings) -> dict[str, Any]:
    """The Ray runtime environment for a cluster: the project's code plus any extras."""
    env = dict(settings.runtime_env)
    if settings.ship_code:
        package = str(Path(session_recs.__file__).resolve().parent)
        env["py_modules"] = [*env.get("py_modules", []), package]
    return env


@contextlib.contextmanager
def ray_session(settings: RaySettings) -> Iterator[str]:
    """Connect to or start Ray for the duration of the block; yields a description.

    A Ray already initialised in this process (a notebook, a test) is used as is and left
    running; a Ray this function started is shut down at the end.
    """
    if ray.is_initialized():
        yield "the Ray already running in this process"
        return
    address = resolve_address(settings)
    common = {
        "log_to_driver": settings.log_to_driver,
        "logging_level": logging.WARNING,
        "include_dashboard": settings.include_dashboard,
    }
    if address == "local":
        num_cpus = settings.num_cpus or os.cpu_count() or 1
        ray.init(address="local", num_cpus=num_cpus, **common)
        where = f"a local Ray with {num_cpus} CPUs"
    else:
        check_reachable(address, settings.connect_timeout_s)
        # The dashboard belongs to the cluster; a connecting driver does not start one.
        common.pop("include_dashboard")
        try:
            ray.init(address=address, runtime_env=runtime_env(settings) or None, **common)
        except (ConnectionError, RuntimeError, TimeoutError, ImportError) as exc:
            hint = ""
            if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
                hint = (
                    " If the cluster uses token authentication (Ray's default where a token "
                    "exists), export RAY_AUTH_MODE=token and provide its token (RAY_AUTH_TOKEN "
                    "or ~/.ray/auth_token)."
                )
            raise ConfigError(
                f"Cannot connect to the Ray cluster at {address}: {exc}.{hint}"
            ) from None
        cpus = int(ray.cluster_resources().get("CPU", 0))
        nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
        gcs = ray.get_runtime_context().gcs_address
        where = f"the Ray cluster at {gcs} ({nodes} nodes, {cpus} CPUs)"
    try:
        yield where
    finally:
        ray.shutdown()


# --- experiments on storage --------------------------------------------------------------


def storage_root(storage_path: str) -> str:
    """``storage_path`` as Tune wants it: a URI as is, a local folder made absolute."""
    if "://" in storage_path:
        return storage_path
    return str(Path(storage_path).expanduser().resolve())


def _join(root: str, name: str) -> str:
    return f"{root.rstrip('/')}/{name}"


#: The timestamp :func:`run_search` appends to an experiment's name.
TIMESTAMP_FORMAT = "%Y-%m-%d_%H-%M-%S"
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}")


def previous_experiments(root: str, stem: str) -> list[str]:
    """Experiment folders ``<stem>_<timestamp>`` under ``root``, oldest first.

    Only this exact stem: ``w2v_demo_efficient`` never picks up ``w2v_demo_efficient_smoke``.
    """
    import pyarrow.fs

    filesystem, path = pyarrow.fs.FileSystem.from_uri(root)
    selector = pyarrow.fs.FileSelector(path, allow_not_found=True)
    names = sorted(
        info.base_name
        for info in filesystem.get_file_info(selector)
        if info.type == pyarrow.fs.FileType.Directory
        and info.base_name.startswith(f"{stem}_")
        and _TIMESTAMP.fullmatch(info.base_name[len(stem) + 1 :])
    )
    return [_join(root, name) for name in names]


# --- progress in Kedro's log -------------------------------------------------------------


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
TUNE_ENVIRONMENT = {"RAY_AIR_NEW_OUTPUT": "0", "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1"}


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


# --- the search --------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchOutcome:
    """What a finished search leaves: Tune's results and where they are stored."""

    results: Any  # ray.tune.ResultGrid
    experiment_path: str
    resumed: bool
    seconds: float


def make_trainable(
    settings: SearchSettings, train_sessions: pd.DataFrame, validation_pairs: pd.DataFrame
) -> Any:
    """The trial function with its data in the object store and its CPUs reserved."""
    from session_recs.tuning.trainable import train_word2vec_trial

    setup = {
        "options": dict(settings.fixed),
        "max_epochs": settings.max_epochs,
        "k": settings.k,
        "workers": settings.cpus_per_trial,
        "seed": settings.seed,
    }
    with_data = tune.with_parameters(
        train_word2vec_trial,
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
            time_budget_s=settings.time_budget_s,
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
    a resumed search keeps those it was started with.
    """
    root = storage_root(settings.ray.storage_path)
    stem = settings.experiment_name(dataset)
    with ray_session(settings.ray) as where:
        trainable = make_trainable(settings, train_sessions, validation_pairs)
        restorable = (
            [p for p in previous_experiments(root, stem) if tune.Tuner.can_restore(p)]
            if settings.resume
            else []
        )
        started = time.perf_counter()
        if restorable:
            path = restorable[-1]
            logger.info("Resuming the search in %s on %s", path, where)
            tuner = tune.Tuner.restore(
                path, trainable=trainable, resume_unfinished=True, resume_errored=True
            )
            resumed = True
        else:
            if settings.resume:
                logger.info("tune.resume is on but no earlier %r search exists: starting one", stem)
            name = f"{stem}_{datetime.now():{TIMESTAMP_FORMAT}}"
            path = _join(root, name)
            logger.info("Searching on %s: %s; results in %s", where, settings.describe(), path)
            tuner = _tuner(settings, trainable, root, name, callbacks)
            resumed = False
        with _tune_environment():
            results = tuner.fit()
        outcome = SearchOutcome(results, path, resumed, time.perf_counter() - started)
        logger.info(
            "Search finished in %.0fs: %d trials, %d errors",
            outcome.seconds,
            len(results),
            results.num_errors,
        )
        return outcome
