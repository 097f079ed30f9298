"""Ctrl-C (SIGINT to the process group) and SIGTERM (to the process) stop ``kedro viz
run`` (issue 24) while it builds the graph, idle, and during requests: within 10 s, exit
code 1, one line, no traceback, its server gone, and nothing saved changed."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from ..servers import interrupt_server, post_until_refused

pytestmark = [pytest.mark.viz, pytest.mark.slow]

#: The issue's bound: a stopped command ends within 10 s (a hang check, not a timing).
BOUND_S = 10


def api_flood(url: str) -> None:
    post_until_refused(f"{url}/api/main", None)


#: (moment, output line that shows it, ready path, load, settle, signal)
MOMENTS = {
    "building": ("Starting Kedro Viz", None, None, 1.0, signal.SIGINT),
    "idle": (None, "/api/main", None, 0.5, signal.SIGTERM),
    "requests": (None, "/api/main", api_flood, 1.0, signal.SIGINT),
}


def saved_files(project: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in (project / "data").rglob("*")
        if path.is_file()
    }


@pytest.mark.parametrize("moment", MOMENTS)
def test_a_signal_stops_kedro_viz_in_one_line_and_changes_nothing_saved(ui_run, tmp_path, moment):
    marker, ready, load, settle, signum = MOMENTS[moment]
    before = saved_files(ui_run)
    stopped = interrupt_server(
        lambda port: [
            *(sys.executable, "-m", "kedro", "viz", "run", "--no-browser"),
            *("--host", "127.0.0.1", "--port", str(port)),
        ],
        tmp_path / "viz.log",
        moment=marker,
        ready=ready,
        load=load,
        settle=settle,
        signum=signum,
        group=signum == signal.SIGINT,
        within=BOUND_S,
        cwd=ui_run,
    )
    print(f"{moment} {signum.name}: exit {stopped.code} after {stopped.seconds:.1f}s")
    assert stopped.code == 1, stopped.output[-4000:]
    assert "Traceback" not in stopped.output, stopped.output[-4000:]
    assert stopped.error_lines == [
        f"Error: Stopped by {signum.name}: kedro viz is stopped; it saves nothing, every "
        "saved version is as it was."
    ]
    assert not stopped.still_answers
    assert saved_files(ui_run) == before
