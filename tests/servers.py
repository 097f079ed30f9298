"""Servers the tests start (kedro-viz, mlflow models serve): on a free loopback port,
waited for until they answer, and stopped with their whole process group."""

from __future__ import annotations

import contextlib
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
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
