"""`cml-cluster up|down` against a stand-in for CML's workers API (`cml.workers_v1`) that
runs each launched worker's code as a local process, so real `ray start` workers join a
real head on this machine; then a search through the `cml` env runs on those workers.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import output, run_cli
from .conftest import RAY_CLIENT_KEYS, alive, free_port, kill_tree, tune_tables, wait_until

pytestmark = pytest.mark.slow

STAND_IN = '''
"""Stand-in for CML's workers API: each launched worker runs its code as a local process.

CML's workers are containers of their own; here they share this machine's /tmp/ray, where
Ray names a starting node's sockets racily, so each worker starts once the previous one's
Ray node runs (or its process ended).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

STATE = Path(os.environ["CML_STANDIN_DIR"])


def _load():
    path = STATE / "workers.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _save(workers):
    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / "workers.json").write_text(json.dumps(workers))


def launch_workers(n, cpu, memory, nvidia_gpu=0, kernel="python3", script="", code="", env=None):
    workers = _load()
    launched = []
    STATE.mkdir(parents=True, exist_ok=True)
    for _ in range(n):
        worker_id = f"worker-{len(workers)}"
        with open(STATE / f"{worker_id}.log", "w") as log:
            process = subprocess.Popen(
                [sys.executable, "-c", code],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **(env or {})},
            )
        workers[worker_id] = {"id": worker_id, "pid": process.pid, "cpu": cpu, "memory": memory}
        launched.append(workers[worker_id])
        _save(workers)
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            if "Ray runtime started" in (STATE / f"{worker_id}.log").read_text():
                break
            time.sleep(0.2)
    return launched


def _status(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "failed"
    return "failed" if state == "Z" else "running"


def list_workers():
    return [{**w, "status": _status(w["pid"])} for w in _load().values()]


def stop_workers(*worker_id):
    workers = _load()
    for key in worker_id or list(workers):
        worker = workers.pop(key, None)
        if worker is not None:
            try:
                os.killpg(worker["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
    _save(workers)
'''


@pytest.fixture
def cml_session(tmp_path, ray_env, monkeypatch) -> Iterator[Path]:
    """A CML-like session: the stand-in `cml.workers_v1` importable, CDSW_* variables set.

    Yields the stand-in's state folder; kills whatever is left of the workers after.
    """
    package = tmp_path / "standin" / "cml"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "workers_v1.py").write_text(textwrap.dedent(STAND_IN))
    state = tmp_path / "standin-state"
    for key in RAY_CLIENT_KEYS:
        monkeypatch.setenv(key, ray_env[key])
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    paths = [str(package.parent), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, paths)))
    monkeypatch.setenv("CML_STANDIN_DIR", str(state))
    monkeypatch.setenv("CDSW_IP_ADDRESS", "127.0.0.1")
    monkeypatch.setenv("CDSW_ENGINE_ID", "abc123")
    monkeypatch.setenv("CDSW_DOMAIN", "ml.example.com")
    monkeypatch.setenv("CDSW_READONLY_PORT", str(free_port()))
    yield state
    workers = state / "workers.json"
    for worker in (json.loads(workers.read_text()) if workers.exists() else {}).values():
        kill_tree(worker["pid"])


def test_cml_cluster_up_search_down(demo_project, cml_session, monkeypatch):
    port = free_port()
    state_file = demo_project / "data/06_models/ray_cml_cluster.json"
    try:
        up = run_cli(
            demo_project,
            "cml-cluster",
            "up",
            *("--workers", "2", "--cpu", "1", "--memory", "1", "--port", str(port)),
            "--dashboard-host=127.0.0.1",
        )
        assert up.returncode == 0, output(up)[-4000:]
        assert f"Ray cluster up: head 127.0.0.1:{port}, 2 CML workers x 1 CPU." in up.stdout
        assert "Ray dashboard: https://read-only-abc123.ml.example.com" in up.stdout
        workers = json.loads((cml_session / "workers.json").read_text())
        assert len(workers) == 2
        state = json.loads(state_file.read_text())
        assert state["worker_ids"] == ["worker-0", "worker-1"]

        monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
        search = "tune.preset=ff19_negative,tune.smoke=true,tune.reuse_actors=false"
        result = run_cli(
            demo_project,
            "run",
            "--pipelines=tune",
            "--env=cml",
            f"--params={search},tune.num_samples=2,tune.name=cml",
            "--to-nodes=run_word2vec_search",
        )
        log = output(result)
        assert result.returncode == 0, log[-4000:]
        assert "(3 nodes, 2 CPUs)" in log  # the head offers no CPU: trials run on workers
        table, _ = tune_tables(demo_project)
        assert len(table) == 2 and (table["status"] == "TERMINATED").all()
        assert table["node_id"].nunique() == 2

        down = run_cli(demo_project, "cml-cluster", "down")
        assert down.returncode == 0, output(down)[-3000:]
        assert f"Stopped 2 CML workers and the Ray head at 127.0.0.1:{port}." in down.stdout
        assert json.loads((cml_session / "workers.json").read_text()) == {}
        assert not state_file.exists()
        wait_until(lambda: not alive(state["head_pid"]), 30, "the head to stop")
        for worker in workers.values():
            wait_until(lambda pid=worker["pid"]: not alive(pid), 30, "the workers to stop")
    finally:
        if state_file.exists():
            kill_tree(json.loads(state_file.read_text())["head_pid"])
            state_file.unlink()


def test_cml_cluster_outside_cml_says_so(demo_project, tmp_path):
    state_file = tmp_path / "cluster.json"
    result = run_cli(
        demo_project, "cml-cluster", "up", "--workers", "1", "--state-file", str(state_file)
    )
    assert result.returncode == 1
    assert "Error: ConfigError: cml-cluster runs inside a CML session" in output(result)
    assert "Traceback" not in output(result)
    assert not state_file.exists()
