"""The README walked as a new user walks it: its ``bash`` blocks' commands, in order, on
one fresh copy of the project, each on the state the commands before it left.

Install lines (``pip install ...``) are the environment's, already done, and ``pytest``
is this suite; a command that needs what this environment lacks (the neural extra, the
mlflow extra) must refuse in one line saying how to install it, or is skipped when the
README installs it on the same line. ``kedro viz run`` is a server: it must answer, then
stop in one line on SIGTERM. Marked ``soak`` (a few minutes: the default run, the demo
search): CI runs it in its ``pytest -m soak`` stage.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT, copy_project

pytestmark = [pytest.mark.slow, pytest.mark.soak]

README = (ROOT / "README.md").read_text()


def walked_lines() -> list[list[str]]:
    """Each ``bash`` line of the README, in order, as its ``&&``-joined commands."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        for raw in block.splitlines():
            line = re.sub(r"\s+#.*$", "", raw).strip()
            if line and not line.startswith("#"):
                lines.append([part.strip() for part in line.split("&&")])
    return lines


def _env() -> dict[str, str]:
    # BROWSER=true: kedro-viz's "open a browser" runs a command that does nothing.
    return {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "200", "BROWSER": "true"}


def _run(project: Path, tokens: list[str]) -> subprocess.CompletedProcess:
    program = {"kedro": [sys.executable, "-m", "kedro"], "python": [sys.executable]}
    return subprocess.run(
        [*program[tokens[0]], *tokens[1:]],
        cwd=project,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _serve_then_stop(project: Path, tokens: list[str]) -> str:
    """``kedro viz run`` answers on its port, then SIGTERM stops it in one line."""
    server = subprocess.Popen(
        [sys.executable, "-m", *tokens],
        cwd=project,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:4141/api/main", timeout=5) as page:
                    assert page.status == 200
                    break
            except OSError:
                assert server.poll() is None, server.communicate()[0][-3000:]
                assert time.monotonic() < deadline, "kedro viz run never answered"
                time.sleep(1)
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=60)[0]
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert server.returncode == 1, output[-3000:]
    assert "Traceback" not in output
    return output


def _start_service(project: Path, tokens: list[str]) -> subprocess.Popen:
    """``python -m session_recs serve ...``: started, and waited for until it answers."""
    port = tokens[tokens.index("--port") + 1]
    server = subprocess.Popen(
        [sys.executable, *tokens[1:]],
        cwd=project,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
                return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                _stop_service(server)
                raise AssertionError("the service never answered") from None
            time.sleep(0.2)


def _stop_service(server: subprocess.Popen) -> None:
    """SIGTERM stops the service in one line, exit code 1."""
    server.send_signal(signal.SIGTERM)
    try:
        output = server.communicate(timeout=60)[0]
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert server.returncode == 1, output[-3000:]
    assert "Traceback" not in output and "Error: Stopped by SIGTERM" in output, output[-3000:]


def _ask_service(tokens: list[str]) -> dict:
    """A ``curl`` line: the service answers its URL with a session's top items."""
    url = next(token for token in tokens if token.startswith("127.0.0.1:"))
    with urllib.request.urlopen(f"http://{url}", timeout=30) as answer:
        body = json.load(answer)
    assert body["items"] and body["ignored"] == [], body  # the README's item is known
    return body


def test_the_readme_runs_in_order_on_a_fresh_copy(tmp_path):
    project = copy_project(tmp_path / "project")
    (project / "src").mkdir()  # a clone's source folder (Kedro's CLI wants it; code: installed)
    walked = []
    services: list[subprocess.Popen] = []
    for commands in walked_lines():
        needs = [
            extra
            for command in commands
            if command.startswith("pip install")
            for extra in re.findall(r"\.\[([^\]]+)\]", command)
        ]
        missing = {
            "mlflow": importlib.util.find_spec("kedro_mlflow") is None,
            "neural": importlib.util.find_spec("torch") is None,
        }
        if any(missing.get(extra) for extra in needs):
            continue  # the line installs an extra this environment lacks
        for command in commands:
            tokens = shlex.split(command)
            if tokens[0] in ("pip", "pytest"):
                continue
            if tokens[:4] == ["python", "-m", "session_recs", "serve"]:
                services.append(_start_service(project, tokens))
                walked.append(command)
                continue
            if tokens[0] == "curl":  # asks the service the line before started
                _ask_service(tokens)
                _stop_service(services.pop())
                walked.append(command)
                continue
            if tokens[:3] == ["kedro", "viz", "run"]:
                _serve_then_stop(project, tokens)
                walked.append(command)
                continue
            result = _run(project, tokens)
            text = result.stdout + result.stderr
            assert "Traceback" not in text, (command, text[-3000:])
            if "--pipelines=train_neural" in tokens and missing["neural"]:
                # Asked for alone without the extra: one line saying how to install it.
                assert result.returncode == 1, (command, text[-3000:])
                assert 'pip install -e ".[neural]"' in text, text[-3000:]
            else:
                assert result.returncode == 0, (command, text[-3000:])
            walked.append(command)
    # What the walk made is what the README says it makes.
    assert walked[0] == "kedro run" and "kedro run --pipelines=tune" in walked
    reports = project / "data" / "08_reporting" / "demo" / "model_comparison.html"
    assert len(list(reports.iterdir())) >= 3  # the default run, the report, the search
    recommend = next(c for c in walked if "recommend" in c)
    assert recommend.startswith("python -m session_recs recommend")
    assert not services, "a service the README starts is never asked"
    assert any(c.startswith("python -m session_recs serve ") for c in walked)
