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
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import ray
from ray import tune
from ray.tune import Callback, ProgressReporter
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

import session_recs
from session_recs.core import interrupts
from session_recs.core.errors import ConfigError
from session_recs.tuning.address import check_reachable, local_cpus, refuse_ray_client, resolve
from session_recs.tuning.ray_objects import param_space, search_algorithm, trial_scheduler
from session_recs.tuning.search_settings import RaySettings, SearchSettings

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
def _loopback_only() -> Iterator[None]:
    """Make the Ray started in the block bind 127.0.0.1 only (GCS, raylet, workers, agents).

    Ray picks the node's external IP and binds every interface unless it runs as a
    single-machine Ray (what it does on macOS and Windows); this switch, read by the driver
    and inherited by the processes it starts, makes it so.
    """
    from ray._private import ray_constants

    variable = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR
    previous = os.environ.get(variable), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[variable] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if previous[0] is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = previous[0]
        ray_constants.ENABLE_RAY_CLUSTER = previous[1]


#: How long ``ray.shutdown`` may take before the processes this run started are killed.
SHUTDOWN_TIMEOUT_S = 20.0


def _own_process_group(popen: type) -> type:
    """``popen`` (Ray's ``ConsolePopen``) starting each process in a process group of its
    own (POSIX; elsewhere ``popen`` itself)."""
    if os.name != "posix":
        return popen

    class OwnGroup(popen):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("process_group", 0)
            super().__init__(*args, **kwargs)

    return OwnGroup


@contextlib.contextmanager
def _signals_stay_ours() -> Iterator[None]:
    """``ray.init`` with SIGINT and SIGTERM deferred (see :func:`interrupts.deferred`).

    Ray's driver replaces the SIGTERM handler (``sys.exit`` halfway through starting
    Ray) and its core worker installs a native one (a stack dump, exit 134); a SIGINT
    that lands in Ray's start-up code can be lost. Here neither is installed, a signal is
    only recorded, and it is raised once ``ray.init`` has returned, so the caller's
    ``finally`` stops the Ray that did start.

    The local Ray's processes (GCS, raylet, and the workers the raylet starts) run in a
    process group of their own: a signal to the command's process group (``kill -TERM
    -<pgid>``, a terminal's Ctrl-C) reaches the driver alone, which stops the search and
    then Ray in order, instead of Ray dying under a running search (its workers' errors,
    then a minute of retries). They still end with the driver: Ray binds them to it
    (``fate_share``), and :func:`_shutdown` kills them past its bound.
    """
    from ray._private import ray_constants, services
    from ray._private import utils as ray_utils

    setter = ray_utils.set_sigterm_handler
    native = ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER
    popen = services.ConsolePopen
    ray_utils.set_sigterm_handler = lambda handler: None
    ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = True
    services.ConsolePopen = _own_process_group(popen)
    try:
        with interrupts.deferred():
            yield
    finally:
        ray_utils.set_sigterm_handler = setter
        ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = native
        services.ConsolePopen = popen


def _started_processes() -> list[Any]:
    """The processes (Popen objects) of the local Ray this driver started (GCS, raylet...)."""
    node = getattr(ray._private.worker, "_global_node", None)
    processes = getattr(node, "all_processes", None) or {}
    return [info.process for infos in processes.values() for info in infos]


def _shutdown() -> None:
    """``ray.shutdown``, bounded: a signal waits for it (then is raised), and past
    :data:`SHUTDOWN_TIMEOUT_S` the Ray processes this run started are killed."""
    with interrupts.deferred():
        started = _started_processes()

        def kill() -> None:
            logger.warning(
                "Ray did not stop within %.0fs: killing its processes", SHUTDOWN_TIMEOUT_S
            )
            for process in started:
                with contextlib.suppress(OSError):
                    process.kill()

        watchdog = threading.Timer(SHUTDOWN_TIMEOUT_S, kill)
        watchdog.daemon = True
        watchdog.start()
        try:
            ray.shutdown()
        finally:
            watchdog.cancel()


@contextlib.contextmanager
def ray_session(settings: RaySettings, cpus_per_trial: int = 1) -> Iterator[str]:
    """Connect to or start Ray for the duration of the block; yields a description.

    A Ray already initialised in this process (a notebook, a test) is used as is and left
    running; a Ray this function started is shut down at the end. Trials that need more
    CPUs than the largest node has are refused before anything runs.
    """
    if ray.is_initialized():
        yield "the Ray already running in this process"
        return
    address = resolve(settings)
    common = {
        "log_to_driver": settings.log_to_driver,
        "logging_level": logging.WARNING,
        "include_dashboard": settings.include_dashboard,
    }
    if address.is_local:
        num_cpus = local_cpus(settings)
        where = f"a local Ray with {num_cpus} CPUs"
        if cpus_per_trial > num_cpus:
            raise ConfigError(
                f"tune.cpus_per_trial = {cpus_per_trial}: {where} (ray.num_cpus) can never "
                f"start such a trial; set at most {num_cpus}."
            )
        logger.info("Starting %s", where)
        with _loopback_only():
            try:
                with _signals_stay_ours():
                    ray.init(address="local", num_cpus=num_cpus, **common)
                yield where
            finally:
                _shutdown()
        return
    refuse_ray_client(address.value)
    check_reachable(address, settings.connect_timeout_s)
    # The dashboard belongs to the cluster; a connecting driver does not start one.
    common.pop("include_dashboard")
    try:
        with _signals_stay_ours():
            ray.init(address=address.value, runtime_env=runtime_env(settings) or None, **common)
    except interrupts.Stopped:
        _shutdown()  # connected, then stopped: disconnect
        raise
    except (ConnectionError, RuntimeError, TimeoutError, ImportError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = ""
        if "auth" in str(exc).lower() or "token" in str(exc).lower():
            hint = (
                " The cluster uses token authentication: export RAY_AUTH_MODE=token and "
                "its token (RAY_AUTH_TOKEN or ~/.ray/auth_token)."
            )
        raise ConfigError(
            f"Cannot connect to the Ray cluster at {address.value} (from {address.origin}): "
            f"{first}.{hint}"
        ) from None
    try:
        nodes = [node for node in ray.nodes() if node.get("Alive")]
        cpus = int(ray.cluster_resources().get("CPU", 0))
        gcs = ray.get_runtime_context().gcs_address
        where = f"the Ray cluster at {gcs} ({len(nodes)} nodes, {cpus} CPUs)"
        largest = max((int(n.get("Resources", {}).get("CPU", 0)) for n in nodes), default=0)
        if cpus_per_trial > largest:
            raise ConfigError(
                f"tune.cpus_per_trial = {cpus_per_trial}: the largest node of {where} has "
                f"{largest} CPUs, so no trial could ever start; set at most {largest}."
            )
        yield where
    finally:
        _shutdown()


# --- experiments on storage --------------------------------------------------------------


def storage_root(storage_path: str) -> str:
    """``storage_path`` as Tune wants it: a URI as is, a local folder made absolute."""
    if "://" in storage_path:
        return storage_path
    return str(Path(storage_path).expanduser().resolve())


#: The only folder a search is resumed from: Tune's saved experiment state is pickled, so
#: ``tune.resume`` reads it from the project's own data, never from elsewhere.
RESUMABLE_UNDER = "data"


def check_resumable(storage_path: str, root: str) -> None:
    """A ConfigError unless ``root`` (``ray.storage_path`` resolved) is inside ``data/``."""
    inside = Path(RESUMABLE_UNDER).resolve()
    if "://" not in root and Path(root).resolve().is_relative_to(inside):
        return
    raise ConfigError(
        f"tune.resume=true loads Ray Tune's pickled experiment state, which is read only "
        f"from this project's {inside}/ folder; ray.storage_path is {storage_path!r}: set "
        f"it under {RESUMABLE_UNDER}/ (the default) or start a new search."
    )


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
#: Tune's own SIGINT handler stays off: :func:`_stop_search` handles SIGINT and SIGTERM.
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


#: After a signal asks the search to stop, how long Tune may take to checkpoint and end
#: its trials before the signal is sent again (which stops at once).
GRACEFUL_STOP_S = 10.0


@dataclass
class _Stop:
    signal: str | None = None


@contextlib.contextmanager
def _stop_search(state: _Stop) -> Iterator[None]:
    """SIGINT or SIGTERM during ``tuner.fit`` stops the search the way Tune's own stop does
    (it ends the trials and checkpoints the experiment, so ``tune.resume`` continues it),
    and is recorded in ``state``. If Tune has not returned after :data:`GRACEFUL_STOP_S`,
    or on a second signal, :class:`~session_recs.core.interrupts.Stopped` is raised."""

    def stop(name: str) -> None:
        # Called in the signal handler, which may have interrupted a log record being
        # written: logging from here would re-enter that file's writer ("reentrant call",
        # a logging traceback). So Tune's stop runs here (it sets handlers: main thread
        # only) with logging off, and another thread logs once the record is written.
        state.signal = name
        tune_stop = signal.getsignal(signal.SIGUSR1)  # Tune's "stop and checkpoint"
        if callable(tune_stop):
            previous = logging.root.manager.disable
            logging.disable(logging.CRITICAL)
            try:
                tune_stop(signal.SIGUSR1, None)
            finally:
                logging.disable(previous)
        threading.Thread(
            target=logger.warning,
            args=(
                "%s received: stopping the search (trials that finished are kept; send it "
                "again to stop at once)",
                name,
            ),
            daemon=True,
        ).start()
        again = threading.Timer(GRACEFUL_STOP_S, os.kill, (os.getpid(), signal.SIGINT))
        again.daemon = True
        again.start()
        timers.append(again)

    timers: list[threading.Timer] = []
    try:
        with interrupts.graceful(stop):
            yield
    finally:
        for timer in timers:
            timer.cancel()


class _NoMissingResults(logging.Filter):
    """Drops Tune's "Failed to fetch metrics ... FileNotFoundError" warning about trials
    that a stop ended before their first result (in a stopped or a resumed search): they
    have no result file by design, which is not a fault."""

    def __init__(self, expected: Callable[[], bool]) -> None:
        super().__init__()
        self.expected = expected

    def filter(self, record: logging.LogRecord) -> bool:
        return not (self.expected() and "Failed to fetch metrics" in record.getMessage())


@contextlib.contextmanager
def _missing_results_expected(expected: Callable[[], bool]) -> Iterator[None]:
    analysis = logging.getLogger("ray.tune.analysis.experiment_analysis")
    quiet = _NoMissingResults(expected)
    analysis.addFilter(quiet)
    try:
        yield
    finally:
        analysis.removeFilter(quiet)


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


@contextlib.contextmanager
def _resumed_limits(settings: SearchSettings) -> Iterator[None]:
    """A restored search bounded by the budget given now, not the one it was started with.

    Tune restores a search's stopper (its ``time_budget_s``, with what was left of it)
    and its sample count from the experiment's state, over any new setting. For the
    duration of the block, a restored run instead gets ``settings.time_budget_s`` for
    this session, and ``settings.num_samples`` as the total of trials (those run before
    count; ``-1``: no cap).
    """
    import sys

    from ray.tune.execution.tune_controller import TuneController
    from ray.tune.search import SearchGenerator
    from ray.tune.stopper import NoopStopper, TimeoutStopper

    original = TuneController.resume

    def resume(controller: Any, *args: Any, **kwargs: Any) -> None:
        original(controller, *args, **kwargs)
        budget = settings.time_budget_s
        controller._stopper = TimeoutStopper(budget) if budget else NoopStopper()
        total = settings.n_trials
        search = controller._search_alg
        if isinstance(search, SearchGenerator):
            search._total_samples = sys.maxsize if total is None else total
            search._finished = False
            # The search algorithm's state is saved apart from the trials', and can lag
            # it by the trial a stop interrupted as it started: count the trials themselves,
            # or that trial would be created twice and the total overshoot by one.
            search._counter = max(search._counter, len(controller.get_trials()))
        elif total is not None and len(controller.get_trials()) >= total:
            search.set_finished()
        logger.info(
            "Resumed search: %d trials so far; now up to %s trials in all%s",
            len(controller.get_trials()),
            "unbounded" if total is None else f"{total:,}",
            f", within {budget:g}s" if budget else "",
        )

    TuneController.resume = resume
    try:
        with warnings.catch_warnings():
            # A trial the stop cut short runs again and reports its first steps to the
            # searcher a second time; Optuna keeps the first and warns of each.
            warnings.filterwarnings("ignore", message="The reported value is ignored because")
            yield
    finally:
        TuneController.resume = original


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
    stop = _Stop()
    restoring = settings.resume
    with (
        interrupts.stop_signals(),
        ray_session(settings.ray, settings.cpus_per_trial) as where,
        _missing_results_expected(lambda: restoring or stop.signal is not None),
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
            limits = _resumed_limits(settings)
            resumed = True
        else:
            restoring = False
            if settings.resume:
                logger.info("tune.resume is on but no earlier %r search exists: starting one", stem)
            name = f"{stem}_{datetime.now():{TIMESTAMP_FORMAT}}"
            path = _join(root, name)
            logger.info("Searching on %s: %s; results in %s", where, settings.describe(), path)
            tuner = _tuner(settings, trainable, root, name, callbacks)
            resumed = False
        with _tune_environment(), limits, _stop_search(stop):
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
