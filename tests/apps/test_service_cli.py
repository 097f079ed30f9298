"""``python -m session_recs serve`` as a user runs it: in a project after ``kedro run``, the
newest saved model of the dataset served, a newer version swapped in on SIGHUP, Ctrl-C
and SIGTERM stopping it in one line at any moment, and each bad start refused in one
line before anything listens."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from ..conftest import run_in_process
from ..servers import ServerCase, loopback_server, stop_in_one_line
from .test_service import call, click

pytestmark = pytest.mark.slow

MODELS = Path("data/06_models/demo")


def serve_command(*options: str):
    return lambda port: [
        *(sys.executable, "-m", "session_recs", "serve", "--port", str(port), *options)
    ]


def newest(project: Path, model: str) -> str:
    return max(path.name for path in (project / MODELS / f"{model}.npz").iterdir())


def test_serve_answers_sessions_with_the_newest_model_and_swaps_on_sighup(demo_run, tmp_path):
    project = demo_run.copy_to(tmp_path / "p")
    version = newest(project, "session_knn")
    log = tmp_path / "serve.log"
    with loopback_server(serve_command(), "/healthz", log, cwd=project) as url:
        status, health = call(url, "/healthz")
        assert (status, health["model"], health["version"]) == (200, "session_knn", version)
        assert health["dataset"] == "demo"
        known = call(url, "/v1/recommend", {"items": ["x"], "k": 3})[1]["items"]
        for item in known:
            status, body = click(url, "user-1", item, k=3)
            assert status == 200 and len(body["items"]) == 3, body
        assert body["ignored"] == [] and body["version"] == version
        # `kedro run` saves a newer version (here: markov's file, so the answers differ).
        later = project / MODELS / "session_knn.npz" / "2999-01-01T00.00.00.000Z"
        later.mkdir()
        markov = project / MODELS / "markov.npz" / newest(project, "markov") / "markov.npz"
        shutil.copy(markov, later / "session_knn.npz")
        server_pid = _pid_listening(url)
        os.kill(server_pid, signal.SIGHUP)
        deadline = time.monotonic() + 30
        while call(url, "/healthz")[1]["version"] != later.name:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        status, body = click(url, "user-1", known[0], k=3)
        assert (status, body["version"]) == (200, later.name)
    output = log.read_text()
    assert f"Swapped session_knn {version} for version {later.name}" in output
    assert "Traceback" not in output


def _pid_listening(url: str) -> int:
    """The pid of the process listening on ``url``'s port (the service itself)."""
    import psutil

    port = int(url.rsplit(":", 1)[1])
    for connection in psutil.net_connections("tcp"):
        if connection.laddr and connection.laddr.port == port and connection.status == "LISTEN":
            return connection.pid
    raise AssertionError(f"nothing listens on {port}")


def _flood(url: str) -> None:
    for number in range(100_000):
        try:
            with urllib.request.urlopen(
                f"{url}/v1/recommend?session_id=f{number % 50}&item=x{number}", timeout=5
            ):
                pass
        except OSError:
            return


COMMAND = "serve"
CASES = [
    ServerCase(COMMAND, "loading", "session_knn", None, None, 0.0, signal.SIGINT),
    ServerCase(COMMAND, "idle", None, "/healthz", None, 0.5, signal.SIGTERM),
    ServerCase(COMMAND, "flood", None, "/healthz", _flood, 1.0, signal.SIGINT),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.moment)
def test_a_signal_stops_the_service_in_one_line(demo_run, tmp_path, case):
    project = demo_run.copy_to(tmp_path / "p")
    signal_name = "SIGINT" if case.signum == signal.SIGINT else "SIGTERM"
    stop_in_one_line(
        serve_command(),
        case,
        tmp_path / "serve.log",
        lambda port: (
            f"Error: Stopped by {signal_name}: the service on 127.0.0.1:{port} is stopped; "
            "the sessions it held are dropped."
        ),
        cwd=project,
    )


def _taken_port() -> tuple[socket.socket, str]:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    return taken, str(taken.getsockname()[1])


BAD_STARTS = [
    ("unknown-model", ("--model", "nope"), "Unknown model 'nope'; known models:"),
    (
        "untrained-dataset",
        ("--params=dataset=online_retail",),
        "No trained session_knn model for dataset 'online_retail' yet",
    ),
    ("missing-file", ("--model-file", "no/such.npz"), "--model-file no/such.npz: no such file."),
    ("not-a-model", ("--model-file", "conf/base/catalog.yml"), "not a session-recs model file"),
    ("empty-folder", ("--model-file", "data/08_reporting"), "no saved version in the folder"),
    ("port-taken", ("--port", "TAKEN"), "cannot listen there"),
    ("port-out-of-range", ("--port", "70000"), "is not in the range 1<=x<=65535"),
    ("ttl-zero", ("--ttl", "0"), "--ttl"),
    ("no-sessions", ("--max-sessions", "0"), "--max-sessions"),
    ("unknown-version", ("--load-version", "1999"), "Cannot load version '1999'"),
    # Options the chosen source or store would not use: refused, never ignored.
    (
        "version-of-a-file",
        ("--model-file", "x.npz", "--load-version", "1"),
        "--load-version picks the catalog's model; --model-file names the model itself",
    ),
    (
        "params-of-an-mlflow-model",
        ("--model-uri", "models:/x/1", "--params=dataset=online_retail"),
        "--params picks the catalog's model; --model-uri names the model itself",
    ),
    ("env-of-a-file", ("--model-file", "x.npz", "--env", "local"), "--env picks the catalog's"),
    ("poll-an-mlflow-model", ("--model-uri", "models:/x/1", "--poll", "5"), "--poll looks for"),
    ("poll-a-pinned-version", ("--load-version", "1999", "--poll", "5"), "--load-version pins one"),
    (
        "max-sessions-with-redis",
        ("--redis", "redis://127.0.0.1:1/0", "--max-sessions", "10"),
        "--max-sessions bounds the in-process store",
    ),
    ("file-and-uri", ("--model-uri", "m", "--model-file", "x"), "give --model-file or --model-uri"),
]


@pytest.mark.parametrize(
    ("options", "fragment"), [case[1:] for case in BAD_STARTS], ids=[c[0] for c in BAD_STARTS]
)
def test_a_bad_start_is_refused_in_one_line_before_anything_listens(
    demo_run, tmp_path, options, fragment
):
    project = demo_run.copy_to(tmp_path / "p")
    taken, port = _taken_port()
    with taken:
        options = tuple(port if option == "TAKEN" else option for option in options)
        if "--port" not in options:
            options = (*options, "--port", str(_free()))
        result = run_in_process(project, "serve", *options)
    assert result.exception is None, (result.exception, result.output[-3000:])
    assert result.exit_code == 1, result.output[-3000:]
    [line] = result.error_lines
    assert fragment in line, line


def _free() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_service_answers_json_from_two_clients_at_once(demo_run, tmp_path):
    """Two clients' sessions do not mix: each sees only its own clicks."""
    project = demo_run.copy_to(tmp_path / "p")
    with loopback_server(serve_command(), "/healthz", tmp_path / "serve.log", cwd=project) as url:
        known = call(url, "/v1/recommend", {"items": ["x"], "k": 6})[1]["items"]
        answers: dict[str, list] = {}

        def client(name: str, items: list[str]) -> None:
            for item in items:
                answers[name] = click(url, name, item, k=4)[1]

        threads = [
            threading.Thread(target=client, args=("left", known[:3])),
            threading.Thread(target=client, args=("right", known[3:])),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        for name, items in (("left", known[:3]), ("right", known[3:])):
            expected = call(url, "/v1/recommend", {"items": items, "k": 4})[1]
            assert answers[name]["items"] == expected["items"], json.dumps(answers)
