"""A search's stop and resume: the experiment folders a search is resumed from, a signal
that stops the search the way Tune's own stop does (so it can be resumed), and the limits
a resumed search runs under."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from session_recs.core import interrupts
from session_recs.core.errors import ConfigError
from session_recs.tuning.search_settings import SearchSettings

logger = logging.getLogger(__name__)


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


def experiment_path(root: str, name: str) -> str:
    """The folder of experiment ``name`` under ``root`` (a local folder or a URI)."""
    return f"{root.rstrip('/')}/{name}"


#: The timestamp :func:`~session_recs.tuning.runner.run_search` appends to an experiment's name.
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
    return [experiment_path(root, name) for name in names]


# --- a signal stops the search --------------------------------------------------------


#: After a signal asks the search to stop, how long Tune may take to checkpoint and end
#: its trials before the signal is sent again (which stops at once).
GRACEFUL_STOP_S = 10.0


@dataclass
class Stop:
    """The signal that stopped a search (None while none has)."""

    signal: str | None = None


@contextlib.contextmanager
def stop_search(state: Stop) -> Iterator[None]:
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
def missing_results_expected(expected: Callable[[], bool]) -> Iterator[None]:
    """Tune's warnings about trials without results are dropped while ``expected()``."""
    analysis = logging.getLogger("ray.tune.analysis.experiment_analysis")
    quiet = _NoMissingResults(expected)
    analysis.addFilter(quiet)
    try:
        yield
    finally:
        analysis.removeFilter(quiet)


@contextlib.contextmanager
def resumed_limits(settings: SearchSettings) -> Iterator[None]:
    """A restored search bounded by the budget given now, not the one it was started with.

    Tune restores a search's stopper (its ``time_budget_s``, with what was left of it)
    and its sample count from the experiment's state, over any new setting. For the
    duration of the block, a restored run instead gets ``settings.budget_seconds`` for
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
        budget = settings.budget_seconds
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

    # Ray has no hook for this: its method is replaced for the block (taking whatever it
    # takes), then restored.
    TuneController.resume = resume  # type: ignore[method-assign, assignment]
    try:
        with warnings.catch_warnings():
            # A trial the stop cut short runs again and reports its first steps to the
            # searcher a second time; Optuna keeps the first and warns of each.
            warnings.filterwarnings("ignore", message="The reported value is ignored because")
            yield
    finally:
        TuneController.resume = original  # type: ignore[method-assign]
