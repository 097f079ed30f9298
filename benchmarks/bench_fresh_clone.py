"""Wall time of the users' first commands, each on a fresh copy of the project.

Every command runs in its own copy of conf/ and the demo data (as after `git clone`, with
the installed package), so each one starts with nothing saved and brings the data steps
it needs:

- ``kedro run``: the default pipeline on the demo data (the quickstart);
- ``kedro run --pipeline=tune --params=tune.smoke=true``: the tune pipeline's smoke search;
- ``kedro run --pipelines=report``: the report of a project where nothing has run.

Usage: python benchmarks/bench_fresh_clone.py [--repeat 3] [--commands run tune report]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from session_recs.framework.project import copy_project

ROOT = Path(__file__).resolve().parents[1]

COMMANDS = {
    "run": ["run"],
    "tune": ["run", "--pipeline=tune", "--params=tune.smoke=true"],
    "report": ["run", "--pipelines=report"],
}


def time_once(args: list[str]) -> float:
    """Seconds of ``python -m session_recs ARGS`` in a fresh copy of the project."""
    with tempfile.TemporaryDirectory() as folder:
        project = copy_project(
            ROOT, Path(folder) / "project", [ROOT / "data/01_raw/demo_online_retail.parquet"]
        )
        return timed_command(project, args)


def timed_command(project: Path, args: list[str]) -> float:
    """Seconds of ``python -m session_recs ARGS`` in ``project`` (the project's CLI: the
    copy's code is the installed package); exits with the command's error if it fails."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "RAY_USAGE_STATS_ENABLED": "0"}
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "session_recs", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--commands", nargs="+", choices=sorted(COMMANDS), default=list(COMMANDS))
    options = parser.parse_args()
    print(f"{'command':<58} {'min':>7} {'median':>7} {'max':>7}  (s, {options.repeat} runs)")
    for name in options.commands:
        seconds = [time_once(COMMANDS[name]) for _ in range(options.repeat)]
        label = "kedro " + " ".join(COMMANDS[name])
        print(
            f"{label:<58} {min(seconds):7.1f} {statistics.median(seconds):7.1f} {max(seconds):7.1f}"
        )


if __name__ == "__main__":
    main()
