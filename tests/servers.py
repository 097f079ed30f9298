"""Servers the tests start (kedro-viz, mlflow models serve): on a free loopback port,
waited for until they answer, and stopped with their whole process group; or stopped by
a signal at a given moment (:func:`interrupt_server`)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .conftest import free_port
from .tune.conftest import kill


@contextlib.contextmanager
def loopback_server(
    command: Callable[[int], list[str]],
    ready: str,
    log: Path,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Run ``command(port)`` until its ``ready`` path answers; yield its base URL; then
    stop its process group (the CLI and the workers it spawned)."""
    port = free_port()
    with log.open("w") as output:
        server = subprocess.Popen(
            command(port),
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, f"{command(port)[:5]} exited:\n{log.read_text()[-4000:]}"
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{url}{ready}", timeout=5) as response,
            ):
                if response.status == 200:
                    break
            assert time.monotonic() < deadline, f"the server never answered:\n{log.read_text()}"
            time.sleep(0.5)
        yield url
    finally:
        kill(server)


@dataclass(frozen=True)
class Stopped:
    """How a server ended after a signal: exit code, seconds after the signal, output, its
    port and whether something still answered there once it had exited."""

    code: int
    seconds: float
    output: str
    port: int
    still_answers: bool

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.startswith("Error:")]


def interrupt_server(
    command: Callable[[int], list[str]],
    log: Path,
    *,
    moment: str | None = None,
    ready: str | None = None,
    load: Callable[[str], None] | None = None,
    settle: float = 0,
    signum: int = signal.SIGINT,
    group: bool = True,
    within: float = 10,
    cwd: Path | None = None,
) -> Stopped:
    """Start ``command(port)`` on a free loopback port; once ``moment`` is in its output,
    or its ``ready`` path answers, start ``load(url)`` in threads of its own (requests
    under way), wait ``settle`` seconds and send ``signum`` to its process group
    (``group``: Ctrl-C in a terminal) or to it alone (``kill``). Fails if it is still
    running ``within`` seconds after the signal; its whole group is killed in any case."""
    ready_path = ready or "/"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as output:
        server = subprocess.Popen(
            command(port), cwd=cwd, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 180
        while not (moment and moment in log.read_text()) and not (ready and _answers(url + ready)):
            assert server.poll() is None, log.read_text()[-4000:]
            assert time.monotonic() < deadline, f"never reached its moment:\n{log.read_text()}"
            time.sleep(0.05)
        if load is not None:
            for _ in range(LOAD_THREADS):
                threading.Thread(target=load, args=(url,), daemon=True).start()
        time.sleep(settle)
        (os.killpg if group else os.kill)(server.pid, signum)
        sent = time.monotonic()
        try:
            code = server.wait(timeout=within)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"still running {within:g}s after {signal.Signals(signum).name}:\n"
                f"{log.read_text()[-3000:]}"
            ) from None
        seconds = time.monotonic() - sent
        still_answers = _answers(url + ready_path)
    finally:
        kill(server)
    return Stopped(code, seconds, log.read_text(), port, still_answers)


#: Concurrent clients of a request flood.
LOAD_THREADS = 8


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def post_until_refused(url: str, body: bytes | None) -> None:
    """POST ``body`` to ``url`` (GET it, without a body) again and again until the server
    stops answering."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    for _ in range(10_000):
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
        except urllib.error.HTTPError:
            continue
        except OSError:
            return
