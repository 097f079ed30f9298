"""Ctrl-C (SIGINT to the process group) and SIGTERM (to the process) stop a served model
at any moment (issue 24): while it loads, idle, during a request, during a flood of
requests, during a flood of malformed ones. ``python -m session_recs serve-mlflow``
ends within 10 s with exit code 1 and one line, no traceback, and nothing it started is
left listening; the model serves again afterwards.

MLflow's own ``mlflow models serve`` is the reason for the command: on SIGTERM it dies
without a word and leaves its uvicorn server running (recorded below).
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from ..servers import (
    ServerCase,
    interrupt_server,
    loopback_server,
    post_until_refused,
    stop_in_one_line,
)
from ..signal_runs import BOUND_S, record_next_run
from . import test_serving

pytest.importorskip("mlflow", reason="the mlflow extra is not installed")

pytestmark = pytest.mark.slow

#: The fitted model and its file, in the project's model-file format.
fitted = test_serving.fitted

GOOD = json.dumps({"dataframe_records": [{"items": [f"a{i % 15}"]} for i in range(200)]})
#: One request that takes the model a while: 20,000 sessions.
LARGE = json.dumps({"dataframe_records": [{"items": [f"a{i % 15}", "b3"]} for i in range(20_000)]})
MALFORMED = b"[" * 100_000


@pytest.fixture(scope="module")
def model_folder(fitted, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fitted model as an MLflow model folder."""
    from session_recs.models import pyfunc as serving

    folder = tmp_path_factory.mktemp("served") / "model"
    serving.save_model(fitted[1], folder)
    return folder


def flood(body: str | bytes):
    data = body.encode() if isinstance(body, str) else body
    return lambda url: post_until_refused(f"{url}/invocations", data)


COMMAND = "serve-mlflow"
#: The moments: what shows each (an output line or the ping answering), load, settle, signal.
CASES = [
    ServerCase(COMMAND, "loading", "Selected backend for flavor", None, None, 0.5, signal.SIGINT),
    ServerCase(COMMAND, "idle", None, "/ping", None, 0.5, signal.SIGTERM),
    ServerCase(COMMAND, "request", None, "/ping", flood(LARGE), 0.5, signal.SIGINT),
    ServerCase(COMMAND, "flood", None, "/ping", flood(GOOD), 1.0, signal.SIGTERM),
    ServerCase(COMMAND, "malformed flood", None, "/ping", flood(MALFORMED), 1.0, signal.SIGINT),
]


def serve_command(folder: Path):
    return lambda port: [
        *(sys.executable, "-m", "session_recs", "serve-mlflow", str(folder)),
        *("--host", "127.0.0.1", "--port", str(port)),
    ]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.moment.replace(" ", "-"))
def test_a_signal_stops_the_served_model_in_one_line(model_folder, tmp_path, case):
    stop_in_one_line(
        serve_command(model_folder),
        case,
        tmp_path / "serve.log",
        lambda port: (
            f"Error: Stopped by {case.signum.name}: the server on 127.0.0.1:{port} "
            "is stopped; serving saves nothing."
        ),
    )


def test_the_model_serves_again_after_the_signals(model_folder, tmp_path):
    with loopback_server(serve_command(model_folder), "/ping", tmp_path / "again.log") as url:
        status, body = test_serving.invoke(url, {"dataframe_records": [{"items": ["a2"]}]})
    assert status == 200, body
    assert body["predictions"][0]["items"][0] == "b2"
    record_next_run(COMMAND, "ok: serves again")


def test_mlflow_models_serve_dies_on_sigterm_without_a_line(model_folder, tmp_path):
    """What the command fixes, recorded: MLflow's own command dies on SIGTERM (-15) without
    a line saying what stopped. Whether its uvicorn server outlives it depends on how MLflow
    starts uvicorn (exec'd or a child, which varies with the environment), so only the exit
    is recorded; the group is killed afterwards either way."""
    stopped = interrupt_server(
        lambda port: [
            *(sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model_folder)),
            *("--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)),
        ],
        tmp_path / "mlflow.log",
        ready="/ping",
        signum=signal.SIGTERM,
        group=False,
        within=BOUND_S,
    )
    assert stopped.code == -signal.SIGTERM
    assert stopped.error_lines == []
