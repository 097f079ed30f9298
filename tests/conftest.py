"""Shared fixtures: a throw-away copy of the project and the real data in ../shared."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

import session_recs.framework.project

ROOT = Path(__file__).resolve().parents[1]
DEMO_TABLE = ROOT / "data" / "01_raw" / "demo_online_retail.parquet"
SHARED_DATA = Path(os.environ.get("SESSION_RECS_SHARED_DATA", ROOT.parent / "shared" / "data"))

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


#: Tests of the PyTorch models run where the neural extra is installed (.ci/run installs
#: it for a second pass: ``pytest -m neural``) and say why they are skipped elsewhere.
needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason='needs PyTorch: pip install -e ".[neural]" (README, "Run")',
)
NEURAL_KINDS = ("gru4rec", "sasrec")


def model_kinds(kinds) -> list:
    """``kinds`` as pytest parameters, the neural ones marked ``neural`` and skipped
    without PyTorch."""
    return [
        pytest.param(kind, marks=[pytest.mark.neural, needs_torch])
        if kind in NEURAL_KINDS
        else kind
        for kind in kinds
    ]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The fast layer first, then the tests marked slow (subprocess runs, Ray, the browser,
    notebooks, real data). (Handing the Ray searches out first was tried: both workers then
    ran Ray at once and the suite took 14 min 30 s instead of 12 min 20 s.)"""
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)


RUN_ID = "SESSION_RECS_TEST_RUN"


def _fast_layer_failed() -> Path:
    """A file that says a fast-layer test failed in this run of pytest, which every worker
    sees (pytest-xdist's workers inherit the main process's :data:`RUN_ID`)."""
    return Path(tempfile.gettempdir()) / f"session_recs-fast-layer-failed-{os.environ[RUN_ID]}"


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the main process, before any worker starts
        os.environ[RUN_ID] = f"{os.getpid()}-{random.getrandbits(32):08x}"


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        with contextlib.suppress(FileNotFoundError):
            _fast_layer_failed().unlink()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Note a failed fast-layer test for the slow layer's setup, in any worker."""
    if report.failed and "slow" not in report.keywords:
        _fast_layer_failed().touch()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A failure in the fast layer ends the run before the slow layer: a plain ``pytest``
    reports a unit regression within a minute or two, not after ten."""
    if item.get_closest_marker("slow") is None:
        return
    if _fast_layer_failed().exists():
        pytest.skip("the fast layer failed: fix it first (the slow layer did not run)")


def shared_file(relative: str) -> Path:
    """A file of ../shared/data, or skip the test (with the path) when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set SESSION_RECS_SHARED_DATA)")
    return path


def copy_project(target: Path) -> Path:
    """A fresh copy of the project's configuration and demo data at ``target``, as after a
    clean clone (the code itself is the installed package)."""
    return session_recs.framework.project.copy_project(ROOT, target, [DEMO_TABLE])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh copy of the project's configuration and demo data, as after a clean clone."""
    return copy_project(tmp_path / "project")


def run_cli(
    project: Path, *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``python -m session_recs ARGS`` inside ``project`` (``env``: variables to add);
    output is captured as text."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "session_recs", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def load_model_file(path: Path):
    """The recommender saved in ``path`` (a model file of :mod:`session_recs.models.state`)."""
    from session_recs.models.state import read_model

    with open(path, "rb") as file:
        return read_model(file, str(path))


def save_model_file(model, path: Path) -> Path:
    """Write ``model`` to ``path`` as the catalog does (its folders made); ``path``."""
    from session_recs.models.state import write_model

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as file:
        write_model(model, file)
    return path


def long_sessions(sessions: list[list[str]]) -> pd.DataFrame:
    """A long session table (session_id, position, item_id) from lists of item ids."""
    rows = [(s, p, item) for s, items in enumerate(sessions) for p, item in enumerate(items)]
    return pd.DataFrame(rows, columns=["session_id", "position", "item_id"])


def saved_hashes(project: Path) -> dict[str, str]:
    """sha256 of every artifact saved in ``project`` (raw data excluded): what a refused
    command must leave unchanged."""
    return {
        str(path.relative_to(project)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted((project / "data").rglob("*"))
        if path.is_file() and "01_raw" not in path.parts
    }


def latest_version(folder: Path) -> Path:
    """The newest file inside a Kedro versioned dataset folder ``<name>.<ext>/<version>/``."""
    versions = sorted(p for p in folder.iterdir() if p.is_dir())
    assert versions, f"no saved version under {folder}"
    return versions[-1] / folder.name


def fresh_project(target: Path) -> Path:
    """A copy of the project's configuration and demo data with the data pipelines run."""
    copy_project(target)
    result = run_cli(target, "run", "--pipelines=ingest,sessionize,split")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return target


@pytest.fixture(scope="session")
def split_project(tmp_path_factory) -> Callable[[Path], Path]:
    """Makes ``target`` a project as :func:`fresh_project` leaves it, by copying one that
    the data pipelines ran in once for the session (nothing runs in that one)."""
    template = fresh_project(tmp_path_factory.mktemp("split_project") / "project")

    def make(target: Path) -> Path:
        shutil.copytree(template, target)
        return target

    return make


@pytest.fixture(scope="session")
def demo_project(tmp_path_factory, split_project) -> Path:
    """One demo project for every tune test (tests/tuning, tests/pipelines/tune; each
    search writes new versions)."""
    return split_project(tmp_path_factory.mktemp("tune") / "project")


@dataclass(frozen=True)
class DemoRun:
    """A project after one plain `kedro run` on the demo data."""

    path: Path
    log: str
    stdout: str = ""  # the log goes to stderr: a plain run prints nothing here

    def output(self, layer: str, name: str) -> Path:
        """The newest saved version of ``data/<layer>/demo/<name>``."""
        return latest_version(self.path / "data" / layer / "demo" / name)

    def copy_to(self, target: Path) -> Path:
        """A private copy, for a test that runs more pipelines in it."""
        shutil.copytree(self.path, target)
        return target


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> DemoRun:
    """The default pipeline run once on the demo data, shared by every test that reads its
    artifacts. Tests must not change it: use ``demo_run.copy_to(tmp_path / "p")`` to run more."""
    project = copy_project(tmp_path_factory.mktemp("demo_run") / "project")
    result = run_cli(project, "run")
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    return DemoRun(project, log, result.stdout)


@dataclass(frozen=True)
class CliResult:
    """What a command run in this process printed, its exit code and any uncaught error."""

    exit_code: int
    output: str
    exception: BaseException | None
    log: str = ""  # every log message, one per line (the console wraps them)

    @property
    def error_lines(self) -> list[str]:
        """The lines the command printed as its error (``Error: ...``)."""
        return [line for line in self.output.splitlines() if line.startswith("Error:")]


def run_in_process(project: Path, *args: str) -> CliResult:
    """``python -m session_recs ARGS`` in ``project``, run in this process (no start-up cost).

    An exception the command did not turn into a one-line error is kept in ``exception``
    (a subprocess would print its traceback).
    """
    import kedro.framework.project
    from click.testing import CliRunner

    from session_recs.apps.cli import cli

    if kedro.framework.project.PACKAGE_NAME != "session_recs":
        # Once per process, as the CLI does: configuring again would drop Kedro's loaded
        # pipelines, which it otherwise keeps for the same --pipelines filter.
        kedro.framework.project.configure_project("session_recs")
    records: list[logging.LogRecord] = []
    handler = logging.Handler(level=logging.INFO)
    handler.emit = records.append
    root = logging.getLogger()
    root.addHandler(handler)
    previous = Path.cwd()
    os.chdir(project)
    try:
        result = CliRunner().invoke(cli, list(args), catch_exceptions=True)
    finally:
        os.chdir(previous)
        root.removeHandler(handler)
    exception = None if isinstance(result.exception, SystemExit) else result.exception
    log = "\n".join(record.getMessage() for record in records)
    return CliResult(result.exit_code, result.output, exception, log)


def check_metrics_table(metrics: pd.DataFrame, n_queries: int, *, found: bool = False) -> None:
    """A model's ``<model>.metrics`` table on the demo's evaluation settings: both contexts,
    K in 5/10/20, ``n_queries`` per value, values in [0, 1] inside their intervals, and
    Recall@K growing with K (above 0 at every K when ``found``: the data plants what to find)."""
    assert set(metrics["context"]) == {"last_item", "session"}
    assert set(metrics["protocol"]) == {"last_pair"}
    assert set(metrics["k"]) == {5, 10, 20}
    assert (metrics.loc[metrics.metric == "recall", "n_queries"] == n_queries).all()
    values = metrics[metrics.metric.isin(["recall", "mrr", "ndcg"])]
    assert values["value"].between(0, 1).all()
    assert (values["ci_low"] <= values["value"]).all()
    assert (values["value"] <= values["ci_high"]).all()
    recall = metrics[metrics.metric == "recall"].set_index(["context", "k"])["value"]
    for context in ("last_item", "session"):
        assert recall[context, 5] <= recall[context, 10] <= recall[context, 20]
        assert not found or recall[context, 5] > 0


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def output(result: subprocess.CompletedProcess) -> str:
    """What a finished subprocess printed: its stdout, then its stderr."""
    return result.stdout + result.stderr


def free_port() -> int:
    """A loopback port nobody listens on, below 49152 (kedro-viz refuses higher ones)."""
    for port in random.sample(range(20000, 40000), 200):
        with socket.socket() as probe, contextlib.suppress(OSError):
            probe.bind(("127.0.0.1", port))
            return port
    raise AssertionError("no free TCP port between 20000 and 40000")


@contextlib.contextmanager
def mlflow_tracking(uri: str) -> Iterator[None]:
    """MLflow's process-wide tracking URI set to ``uri`` for the block, then unset.

    ``mlflow.set_tracking_uri`` also exports ``MLFLOW_TRACKING_URI`` to the environment,
    which every later subprocess would inherit: a test must not leave it behind.
    """
    import mlflow

    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(None)


@dataclass(frozen=True)
class Interrupted:
    """How a command ended after a signal: exit code, output, seconds from the signal."""

    code: int
    text: str
    seconds: float


def signal_when(
    process: subprocess.Popen,
    log_file: Path,
    reached: Callable[[], bool],
    *,
    settle: float = 0,
    signum: int = signal.SIGINT,
    group: bool = True,
    within: float = 120,
    then: Callable[[], None] | None = None,
) -> tuple[int, float]:
    """Once ``reached()`` (``process`` still running, at most 300 s), call ``then`` (load
    to put on it), wait ``settle`` seconds and send ``signum`` to the process group of
    ``process`` (``group``: as a terminal's Ctrl-C does) or to it alone (as ``kill``
    does). Its exit code and the seconds it took to exit; fails if it has not exited
    ``within`` seconds of the signal (a hang check, not a timing)."""
    deadline = time.monotonic() + 300
    while not reached():
        assert process.poll() is None, log_file.read_text()[-4000:]
        assert time.monotonic() < deadline, f"never reached its moment:\n{log_file.read_text()}"
        time.sleep(0.05)
    if then is not None:
        then()
    time.sleep(settle)
    (os.killpg if group else os.kill)(process.pid, signum)
    sent = time.monotonic()
    try:
        code = process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"still running {within:g}s after {signal.Signals(signum).name}:\n"
            f"{log_file.read_text()[-3000:]}"
        ) from None
    seconds = time.monotonic() - sent
    # For the record (pytest -s): how long the command took to stop.
    print(f"{signal.Signals(signum).name}: exit {code} after {seconds:.1f}s")
    return code, seconds


def interrupt_when_logged(
    project: Path,
    args: list[str],
    marker: str,
    log_file: Path,
    *,
    settle: float = 0,
    signum: int = signal.SIGINT,
    group: bool = True,
    within: float = 120,
    program: tuple[str, ...] = ("session_recs",),
    env: dict[str, str] | None = None,
) -> Interrupted:
    """Run ``python -m session_recs ARGS`` (``program``: another module, e.g. ``kedro``;
    ``env``: variables to add) in ``project``; once ``marker`` is in its output and
    ``settle`` seconds have passed, send ``signum`` (default SIGINT: Ctrl-C) to its
    process group or to it alone (:func:`signal_when`). Its exit code, output and the
    seconds it took to exit."""
    with log_file.open("w") as sink:
        driver = subprocess.Popen(
            [sys.executable, "-m", *program, *args],
            cwd=project,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "200", **(env or {})},
            start_new_session=True,
        )
        try:
            code, seconds = signal_when(
                driver,
                log_file,
                lambda: marker in log_file.read_text(),
                settle=settle,
                signum=signum,
                group=group,
                within=within,
            )
        finally:
            if driver.poll() is None:
                os.killpg(driver.pid, signal.SIGKILL)
    return Interrupted(code, log_file.read_text(), seconds)
