"""The signal matrix of issue 24 for the tune commands and neural training: command x
moment x signal -> exit code, seconds from the signal to the exit, state afterwards.

It runs the signal tests (tests/tune/test_signals.py; tests/test_neural_signals.py with
``--neural-python``, a Python that has PyTorch), each case appending its row to a JSON
lines file, and prints the rows as a Markdown table. Every case's next run is the case
after it, which runs the command the case printed (or the same one) at least as far as
the case's moment, or the final run, which goes to the end; a failed one fails the test,
so every printed row's next run worked.

Usage: python benchmarks/signal_matrix_tune.py [--neural-python /path/to/python]
       [--only tune|neural] [--rows rows.jsonl]   (--rows: print a file already collected)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = {
    "tune": ("tests/tune/test_signals.py", ()),
    "neural": ("tests/test_neural_signals.py", ("-m", "neural")),
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
    """The rows as a Markdown table (a case's next run is the row after it)."""
    lines = [
        "| command | moment | signal | exit | seconds | state | next run |",
        "|---|---|---|---|---|---|---|",
    ]
    for row, after in zip(rows, [*rows[1:], None], strict=True):
        same = after is not None and after["command"] == row["command"]
        next_run = "ok (the next case's run reached it)" if same else "ok (ran to the end)"
        resumed = " (resumed)" if row.get("resumed") == "yes" else ""
        lines.append(
            f"| {row['command']} | {row['moment']} | {row['signal']} | {row['exit']} | "
            f"{row['seconds']:.1f} | {row.get('state', '')}{resumed} | {next_run} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--neural-python", default=None, help="A Python with PyTorch.")
    parser.add_argument("--only", choices=sorted(MODULES), default=None)
    parser.add_argument("--rows", type=Path, default=None, help="Print these rows only.")
    args = parser.parse_args()
    if args.rows:
        print(table([json.loads(line) for line in args.rows.read_text().splitlines()]))
        return 0
    failed = 0
    with tempfile.TemporaryDirectory() as folder:
        rows = Path(folder) / "rows.jsonl"
        rows.touch()
        for name, (module, extra) in MODULES.items():
            if args.only not in (None, name):
                continue
            python = args.neural_python if name == "neural" else sys.executable
            if python is None:
                print(f"{name}: skipped (no --neural-python given)", file=sys.stderr)
                continue
            failed |= collect(python, module, extra, rows)
        print(table([json.loads(line) for line in rows.read_text().splitlines()]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
