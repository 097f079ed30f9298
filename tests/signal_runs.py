"""What the signal tests of the long commands share (issue 24): a case (command, moment,
signal, to the group or to the process), running it until a line appears and then
sending the signal, the one line it must end with, and every saved version read whole.

A save is made slow on purpose so a signal reliably lands inside it: with
``SESSION_RECS_SLOW_SAVE`` set, a ``sitecustomize`` put on the command's ``PYTHONPATH``
makes every write of :mod:`session_recs.data.atomic` to a path containing that text
print ``slow save: <path>`` and wait before publishing. The product's save path (the
catalog's versioned datasets through the atomic filesystem) is the one every dataset uses.

With ``SESSION_RECS_SIGNAL_MATRIX`` set to a file, each case appends its row there (JSON
lines) for ``benchmarks/signal_matrix_tune.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .conftest import load_model_file

#: What a stopped command must not print: a traceback, Ray's noise, a second error.
NOISE = ("Traceback", "FileNotFoundError", "Failed to fetch metrics", "***", "failed with")

SLOW_SAVE_SITE = '''\
"""Slow saves for the signal tests (tests/signal_runs.py)."""

import importlib.abc
import importlib.util
import os
import sys
import time

PATTERN = os.environ.get("SESSION_RECS_SLOW_SAVE", "")
SECONDS = float(os.environ.get("SESSION_RECS_SLOW_SAVE_S", "5"))


def _patch(module):
    opener = module._AtomicFileOpener
    commit = opener.commit

    def slow_commit(self):
        if not self._finished and not self.abandoned and PATTERN in self.path:
            print(f"slow save: {self.path}", file=sys.stderr, flush=True)
            try:
                time.sleep(SECONDS)
            except BaseException:
                self.discard()
                raise
        commit(self)

    opener.commit = opener.close = slow_commit


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "session_recs.data.atomic":
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            _patch(module)

        spec.loader.exec_module = exec_and_patch
        return spec


if PATTERN:
    sys.meta_path.insert(0, _Finder())
'''


@dataclass(frozen=True)
class Case:
    """Send ``signum`` (to the process group when ``group``, as a terminal's Ctrl-C or
    ``kill -TERM -<pgid>``; else to the process alone, as ``kill``) ``settle`` seconds
    after ``marker`` appears in the output of ``args``; it must end within ``bound`` s.
    ``slow_save``: the text of the saved path to make slow (see the module docstring)."""

    command: str
    moment: str
    args: tuple[str, ...]
    marker: str
    signum: signal.Signals
    group: bool
    bound: float
    settle: float = 0.0
    slow_save: str = ""

    @property
    def id(self) -> str:
        target = "group" if self.group else "process"
        return f"{self.moment.replace(' ', '-')}-{self.signum.name.lower()}-{target}"

    @property
    def signal_name(self) -> str:
        return f"{self.signum.name} to the {'group' if self.group else 'process'}"


@dataclass
class Stopped:
    """How a case ended: exit code, output, seconds from the signal to the exit."""

    case: Case
    code: int
    text: str
    seconds: float
    notes: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        """The command's one ``Error:`` line; nothing else says it stopped or failed."""
        assert not any(noise in self.text for noise in NOISE), self.text[-4000:]
        lines = [line for line in self.text.splitlines() if line.startswith("Error:")]
        assert len(lines) == 1, self.text[-4000:]
        return lines[0]

    def record(self, **notes: str) -> None:
        """Append this case's row to ``$SESSION_RECS_SIGNAL_MATRIX`` (when set)."""
        self.notes.update(notes)
        target = os.environ.get("SESSION_RECS_SIGNAL_MATRIX")
        if not target:
            return
        row = {
            "command": self.case.command,
            "moment": self.case.moment,
            "signal": self.case.signal_name,
            "exit": self.code,
            "seconds": round(self.seconds, 1),
            **self.notes,
        }
        with open(target, "a") as sink:
            sink.write(json.dumps(row) + "\n")


def slow_save_path(folder: Path) -> str:
    """A folder holding the slow-save ``sitecustomize``, to put first on ``PYTHONPATH``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(SLOW_SAVE_SITE)
    return str(folder)


def interrupt(project: Path, case: Case, log_file: Path) -> Stopped:
    """Run ``case`` in ``project`` and stop it; fails if it has not exited ``case.bound``
    seconds after the signal (the issue's hang bound, not a timing)."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "200"}
    if case.slow_save:
        site = slow_save_path(log_file.parent / "slow_save")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [site, env.get("PYTHONPATH")]))
        env["SESSION_RECS_SLOW_SAVE"] = case.slow_save
    with log_file.open("w") as sink:
        driver = subprocess.Popen(
            [sys.executable, "-m", "session_recs", *case.args],
            cwd=project,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 300
            while case.marker not in log_file.read_text():
                assert time.monotonic() < deadline and driver.poll() is None, log_file.read_text()
                time.sleep(0.05)
            time.sleep(case.settle)
            (os.killpg if case.group else os.kill)(driver.pid, case.signum)
            sent = time.monotonic()
            try:
                code = driver.wait(timeout=case.bound)
            except subprocess.TimeoutExpired:
                raise AssertionError(
                    f"{case.id}: still running {case.bound:g}s after the signal:\n"
                    f"{log_file.read_text()[-3000:]}"
                ) from None
            seconds = time.monotonic() - sent
            # For the record (pytest -s): how long the command took to stop.
            print(f"{case.command} / {case.id}: exit {code} after {seconds:.1f}s")
        finally:
            if driver.poll() is None:
                os.killpg(driver.pid, signal.SIGKILL)
    return Stopped(case, code, log_file.read_text(), seconds)


def whole_versions(project: Path, pattern: str = "*") -> int:
    """Read every saved version of the models and model outputs matching ``pattern`` (a
    torn file fails to load) and check no half-written file is left; how many there are."""
    count = 0
    for layer in ("06_models", "07_model_output"):
        for folder in (project / "data" / layer / "demo").glob(pattern):
            if not folder.is_dir():
                continue
            for saved in folder.glob(f"*/{folder.name}"):
                if saved.suffix == ".parquet":
                    pd.read_parquet(saved)
                elif saved.suffix == ".json":
                    json.loads(saved.read_text())
                elif saved.suffix == ".npz":
                    load_model_file(saved)
                count += 1
    partial = sorted((project / "data").rglob("*.partial"))
    assert not partial, f"half-written files left: {partial}"
    return count
