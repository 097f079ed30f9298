"""Shared by the tune tests: the outputs of the session's demo project (tests/conftest.py), and real
Ray nodes (`ray start --block` process groups) that every test stops by process group.

Ray resolves a loopback node address to this machine's own address and its servers listen
on every interface, so each node runs with token authentication on a token made for the
tests (never ~/.ray's).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import psutil
import pytest

from session_recs.tuning.cml_cluster import free_port, ray_node_command

from ..conftest import latest_version

#: Ray settings of every node the tests start: a node that dies is declared dead within
#: about two seconds (Ray's default is half a minute), and no usage statistics.
FAST_RAY = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "500",
    "RAY_health_check_failure_threshold": "3",
}
#: The variables a driver needs to reach the test nodes.
RAY_CLIENT_KEYS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH", "RAY_USAGE_STATS_ENABLED")


# --- the demo project (demo_project, split_project: tests/conftest.py) ----------------


def artifact(project: Path, layer: str, name: str) -> Path:
    return latest_version(project / "data" / layer / "demo" / name)


def tune_tables(project: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The newest tune_results and tune_history."""
    return (
        pd.read_parquet(artifact(project, "06_models", "tune_results.parquet")),
        pd.read_parquet(artifact(project, "07_model_output", "tune_history.parquet")),
    )


def experiments(project: Path, stem: str) -> list[Path]:
    return sorted((project / "data/06_models/demo/ray_tune").glob(f"{stem}_*"))


# --- processes ---------------------------------------------------------------------------


def wait_until(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s:g}s waiting for {what}"
        time.sleep(0.1)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def children(pids: set[int]) -> set[int]:
    """Live processes whose parent is one of ``pids``."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) in pids and fields[0] != "Z":
                found.add(int(stat.parent.name))
    return found


def group(pgid: int) -> set[int]:
    """Live processes of the process group ``pgid``."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.add(int(stat.parent.name))
    return found


def kill_tree(leader: int) -> None:
    """SIGKILL the process group ``leader`` leads (a process a test started) and every
    process its members started in sessions of their own (Ray's workers), then wait for
    them to go."""
    members = group(leader)
    spawned = children(members) - members
    for pid in spawned:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader, signal.SIGKILL)
    wait_until(lambda: not any(alive(pid) for pid in members | spawned), 30, "processes to end")


def kill(process: subprocess.Popen) -> None:
    """Kill ``process`` (started with ``start_new_session``), its group and their workers."""
    kill_tree(process.pid)
    process.wait(timeout=30)


@dataclass
class RayNode:
    """A ``ray start --block`` process group and its log."""

    process: subprocess.Popen
    log: Path

    def started(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"ray start exited: {self.log.read_text()[-3000:]}")
        return "Ray runtime started" in self.log.read_text(errors="replace")

    def node_id(self) -> str:
        """The node's Ray id, from its raylet's command line."""
        for pid in group(self.process.pid):
            with contextlib.suppress(OSError):
                arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                for argument in arguments:
                    if argument.startswith(b"--node_id="):
                        return argument.split(b"=", 1)[1].decode()
        raise AssertionError(f"no raylet with a --node_id in process group {self.process.pid}")


@dataclass
class Cluster:
    """Ray nodes on this machine, and the environment to reach them."""

    env: dict[str, str]
    folder: Path
    port: int = field(default_factory=free_port)
    nodes: list[RayNode] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start_node(self, *args: str) -> RayNode:
        log = self.folder / f"node-{len(self.nodes)}.log"
        with log.open("w") as output_file:
            process = subprocess.Popen(
                ray_node_command("--num-cpus=1", *args),
                stdout=output_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self.env,
            )
        node = RayNode(process, log)
        self.nodes.append(node)
        return node

    def start(self, workers: int) -> None:
        """A head and ``workers`` worker nodes, all of 1 CPU, started together."""
        self.start_node("--head", f"--port={self.port}", "--include-dashboard=false")
        for _ in range(workers):
            self.add_worker()

    def add_worker(self) -> RayNode:
        """A worker node, started once the previous node runs: nodes that start together on
        one machine may pick the same socket names under /tmp/ray."""
        wait_until(lambda: all(node.started() for node in self.nodes), 90, "the Ray nodes")
        node = self.start_node(f"--address={self.address}")
        wait_until(node.started, 90, "a worker node")
        return node

    def stop(self) -> None:
        for node in self.nodes:
            kill(node.process)

    def use(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point drivers this test starts (run_cli, start_driver) at the cluster, with a
        worker started again for each that an earlier test killed."""
        dead = [node for node in self.nodes[1:] if node.process.poll() is not None]
        for node in dead:
            self.nodes.remove(node)
            self.add_worker()
        for key in RAY_CLIENT_KEYS:
            monkeypatch.setenv(key, self.env[key])
        monkeypatch.setenv("RAY_ADDRESS", self.address)


@pytest.fixture(scope="session")
def ray_env(tmp_path_factory) -> dict[str, str]:
    """Environment of every Ray node and driver here: a token of its own, fast failure
    detection, no RAY_ADDRESS from outside."""
    token = tmp_path_factory.mktemp("ray-auth") / "auth_token"
    token.write_text(secrets.token_hex(32))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return {**env, **FAST_RAY, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}


#: The variable that marks the Ray processes a test starts: Ray's processes inherit the
#: driver's environment, so tests running in parallel (pytest-xdist) see only their own.
OWNER = "SESSION_RECS_TEST_OWNER"


@pytest.fixture(autouse=True)
def _owner(monkeypatch):
    """A mark of this test in the environment its drivers (and their Ray) inherit."""
    monkeypatch.setenv(OWNER, f"{os.getpid()}-{os.urandom(4).hex()}")


def ray_processes() -> set[int]:
    """Ray's own processes (GCS, raylet, workers, agents) that this test started: those
    whose environment carries the test's :data:`OWNER` mark."""
    mark = os.environ[OWNER]
    found = set()
    for process in psutil.process_iter(["pid", "name", "cmdline"]):
        line = " ".join(process.info["cmdline"] or [])
        name = process.info["name"] or ""
        if name in ("gcs_server", "raylet") or "ray::" in name or "ray/dashboard" in line:
            with contextlib.suppress(psutil.Error):
                if process.environ().get(OWNER) == mark:
                    found.add(process.info["pid"])
    return found


def start_driver(project: Path, log: Path, *args: str) -> subprocess.Popen:
    """`python -m session_recs ARGS` in the background, its output in ``log``."""
    with log.open("w") as output_file:
        return subprocess.Popen(
            [sys.executable, "-m", "session_recs", *args],
            cwd=project,
            stdout=output_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "200"},
        )


def trial_states(project: Path, stem: str) -> dict[str, dict]:
    """Trial id → ``{status, last_result}`` in the newest experiment state Tune saved for
    ``stem`` (every ``TUNE_GLOBAL_CHECKPOINT_S`` seconds while it runs)."""
    folders = experiments(project, stem)
    states = sorted(folders[-1].glob("experiment_state-*.json")) if folders else []
    if not states:
        return {}
    try:
        trials = json.loads(states[-1].read_text())["trial_data"]
    except (OSError, ValueError, KeyError):  # being replaced
        return {}
    found = {}
    for trial_json, metadata_json in trials:
        trial, metadata = json.loads(trial_json), json.loads(metadata_json)
        found[trial["trial_id"]] = {
            "status": trial["status"],
            "last_result": metadata.get("last_result") or {},
        }
    return found


def finished_trials(project: Path, stem: str) -> set[str]:
    return {
        trial
        for trial, state in trial_states(project, stem).items()
        if state["status"] == "TERMINATED"
    }


def running_on(project: Path, stem: str, node_id: str) -> set[str]:
    """Trials that run on ``node_id`` and have reported an epoch, per the saved state."""
    return {
        trial
        for trial, state in trial_states(project, stem).items()
        if state["status"] == "RUNNING" and state["last_result"].get("node_id") == node_id
    }
