"""Servers the tests start (kedro-viz, mlflow models serve): on a free loopback port,
waited for until they answer, and stopped with their whole process group; or stopped by
a signal at a given moment (:func:`interrupt_server`), and checked to stop in one line
(:func:`stop_in_one_line`, a case of issue 24's signal matrix)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .conftest import free_port, signal_when
from .signal_runs import BOUND_S, one_line, record, signal_name
from .tuning.conftest import kill


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
            time.sleep(0.1)
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

    def start_load() -> None:
        for _ in range(LOAD_THREADS if load else 0):
            threading.Thread(target=load, args=(url,), daemon=True).start()

    try:
        code, seconds = signal_when(
            server,
            log,
            lambda: (
                bool(moment and moment in log.read_text()) or bool(ready and _answers(url + ready))
            ),
            settle=settle,
            signum=signum,
            group=group,
            within=within,
            then=start_load,
        )
        still_answers = _answers(url + ready_path)
    finally:
        kill(server)
    return Stopped(code, seconds, log.read_text(), port, still_answers)


@dataclass(frozen=True)
class ServerCase:
    """A moment of a server's life to stop it at with ``signum`` (SIGINT to the group, as
    Ctrl-C; SIGTERM to the process, as ``kill``): ``marker``, a line of its output, or
    ``ready``, a path that answers; ``load(url)`` runs in threads of its own from then."""

    command: str
    moment: str
    marker: str | None
    ready: str | None
    load: Callable[[str], None] | None
    settle: float
    signum: signal.Signals

    @property
    def group(self) -> bool:
        return self.signum == signal.SIGINT


def stop_in_one_line(
    command: Callable[[int], list[str]],
    case: ServerCase,
    log: Path,
    line: Callable[[int], str],
    *,
    cwd: Path | None = None,
    state: Callable[[], str] = lambda: "",
) -> Stopped:
    """Stop ``command(port)`` at ``case``'s moment: it must exit with code 1 within the
    issue's bound, print ``line(port)`` as its one ``Error:`` line and no noise, and leave
    nothing answering on its port; ``state()`` (which asserts what else must hold) adds to
    the case's row of the signal matrix."""
    stopped = interrupt_server(
        command,
        log,
        moment=case.marker,
        ready=case.ready,
        load=case.load,
        settle=case.settle,
        signum=case.signum,
        group=case.group,
        within=BOUND_S,
        cwd=cwd,
    )
    assert stopped.code == 1, stopped.output[-4000:]
    assert one_line(stopped.output) == line(stopped.port)
    assert not stopped.still_answers
    notes = ["server gone", state()]
    name = signal_name(case.signum, case.group)
    record(
        case.command,
        case.moment,
        name,
        stopped.code,
        stopped.seconds,
        state="; ".join(filter(None, notes)),
    )
    return stopped


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
