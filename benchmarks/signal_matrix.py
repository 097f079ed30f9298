"""Issue 24's signal matrix: command x moment x signal -> exit code, seconds from the
signal to the exit, state afterwards and how the next run went, as a Markdown table.

It runs the signal tests, each case appending its row to a JSON lines file
(``$SESSION_RECS_SIGNAL_MATRIX``, written by ``tests/signal_runs.record``):

- ``run``: tests/apps/test_signal_matrix.py, the default run (``kedro run`` for one moment);
- ``serving``: tests/apps/test_serving_signals.py, ``python -m session_recs serve-mlflow``;
- ``viz``: tests/apps/ui/test_viz_signals.py, ``kedro viz run``;
- ``tune``: tests/tuning/test_signals.py, the Word2Vec smoke search and a one-shot search;
- ``neural``: tests/apps/test_neural_signals.py, GRU4Rec training, with ``--neural-python``
  (a Python that has PyTorch).

A case's next run is the case after it, which runs the command (or the resume command
the case printed) at least as far as the case's moment, or the run after the last case,
which goes to the end (a failed one fails its test, and its row says so).

Usage: python benchmarks/signal_matrix.py [--only run,serving,viz,tune,neural]
       [--neural-python /path/to/python] [--rows rows.jsonl]   (--rows: print a file
       already collected)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The signal test modules, in the order they run, and their extra pytest options: every
#: moment of the run (plain pytest deselects the ``soak`` ones), and the tune commands'
#: whole matrices (``soak``) without the one-case tests plain pytest keeps.
MODULES = {
    "run": ("tests/apps/test_signal_matrix.py", ("-m", "soak or not soak")),
    "serving": ("tests/apps/test_serving_signals.py", ()),
    "viz": ("tests/apps/ui/test_viz_signals.py", ()),
    "tune": ("tests/tuning/test_signals.py", ("-m", "soak")),
    "neural": ("tests/apps/test_neural_signals.py", ("-m", "neural")),
}


def collect(python: str, module: str, extra: tuple[str, ...], rows: Path) -> int:
    """Run one signal test module with ``python``; its exit code (the rows go to ``rows``)."""
    env = {
        **os.environ,
        "SESSION_RECS_SIGNAL_MATRIX": str(rows),
        "KEDRO_DISABLE_TELEMETRY": "true",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    command = [python, "-m", "pytest", module, *extra, "-q", "-p", "no:cacheprovider"]
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


def table(rows: list[dict]) -> str:
    """The case rows as a Markdown table; a case's next run is the case after it (same
    command) or the run after the last case (its ``next run`` row)."""
    final = {row["command"]: row["next run"] for row in rows if "next run" in row}
    cases = [row for row in rows if "next run" not in row]
    lines = [
        "| command | moment | signal | exit | s to exit | state | next run |",
        "|---|---|---|---|---|---|---|",
    ]
    for row, after in zip(cases, [*cases[1:], None], strict=True):
        if after is not None and after["command"] == row["command"]:
            next_run = "ok (the next case's run)"
        else:
            next_run = final.get(row["command"], "failed or not run (see the test output)")
        resumed = " (resumed)" if row.get("resumed") == "yes" else ""
        lines.append(
            f"| {row['command']} | {row['moment']} | {row['signal']} | {row['exit']} | "
            f"{row['seconds']:.1f} | {row.get('state', '')}{resumed} | {next_run} |"
        )
    return "\n".join(lines)


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", default=",".join(MODULES), help="Modules to run, comma-separated."
    )
    parser.add_argument("--neural-python", default=None, help="A Python with PyTorch.")
    parser.add_argument("--rows", type=Path, default=None, help="Print these rows only.")
    args = parser.parse_args()
    if args.rows:
        print(table(read_rows(args.rows)))
        return 0
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(MODULES))
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    failed = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="signal_matrix_") as folder:
        rows = Path(folder) / "rows.jsonl"
        rows.touch()
        for name, (module, extra) in MODULES.items():
            if name not in chosen:
                continue
            python = args.neural_python if name == "neural" else sys.executable
            if python is None:
                print(f"{name}: skipped (no --neural-python given)", file=sys.stderr)
                continue
            failed |= collect(python, module, extra, rows)
        collected = read_rows(rows)
    print(table(collected))
    cases = sum("next run" not in row for row in collected)
    print(f"\n{cases} cases in {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
