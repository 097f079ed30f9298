"""Ctrl-C (SIGINT to the process group) and SIGTERM (to the process) stop ``kedro viz
run`` (issue 24) while it builds the graph, idle, and during requests: within 10 s, exit
code 1, one line, no traceback, its server gone, and nothing saved changed; then it
serves again."""

from __future__ import annotations

import signal
import sys
import urllib.request
from pathlib import Path

import pytest

from ...servers import ServerCase, loopback_server, post_until_refused, stop_in_one_line
from ...signal_runs import record_next_run

pytestmark = [pytest.mark.viz, pytest.mark.slow]


def api_flood(url: str) -> None:
    post_until_refused(f"{url}/api/main", None)


COMMAND = "kedro viz run"
#: The moments: the output line or the path answering that shows each, load, settle, signal.
CASES = [
    ServerCase(COMMAND, "building", "Starting Kedro Viz", None, None, 1.0, signal.SIGINT),
    ServerCase(COMMAND, "idle", None, "/api/main", None, 0.5, signal.SIGTERM),
    ServerCase(COMMAND, "requests", None, "/api/main", api_flood, 1.0, signal.SIGINT),
]


def viz_command(port: int) -> list[str]:
    return [
        *(sys.executable, "-m", "kedro", "viz", "run", "--no-browser"),
        *("--host", "127.0.0.1", "--port", str(port)),
    ]


def saved_files(project: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in (project / "data").rglob("*")
        if path.is_file()
    }


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.moment)
def test_a_signal_stops_kedro_viz_in_one_line_and_changes_nothing_saved(ui_run, tmp_path, case):
    before = saved_files(ui_run)

    def unchanged() -> str:
        assert saved_files(ui_run) == before
        return "saved files unchanged"

    stop_in_one_line(
        viz_command,
        case,
        tmp_path / "viz.log",
        lambda port: (
            f"Error: Stopped by {case.signum.name}: kedro viz is stopped; it saves "
            "nothing, every saved version is as it was."
        ),
        cwd=ui_run,
        state=unchanged,
    )


def test_kedro_viz_serves_again_after_the_signals(ui_run, tmp_path):
    with (
        loopback_server(viz_command, "/api/main", tmp_path / "again.log", cwd=ui_run) as url,
        urllib.request.urlopen(f"{url}/api/main", timeout=30) as response,
    ):
        assert response.status == 200
    record_next_run(COMMAND, "ok: serves again")
