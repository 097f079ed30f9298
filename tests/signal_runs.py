"""What the signal tests of the long commands share (issue 24): a case (command, moment,
signal, to the group or to the process), running it until a line appears and then
sending the signal, the one line it must end with, and every saved version read whole.

A save is made slow on purpose so a signal reliably lands inside it: with
``SESSION_RECS_SLOW_SAVE`` set, a ``sitecustomize`` put on the command's ``PYTHONPATH``
makes every write of :mod:`session_recs.data.atomic` to a path containing that text
print ``slow save: <path>`` and wait before publishing. The product's save path (the
catalog's versioned datasets through the atomic filesystem) is the one every dataset uses.

With ``SESSION_RECS_SIGNAL_MATRIX`` set to a file, every signal test (run, serving, viz,
tune, neural) appends each case's row there through :func:`record` (JSON lines), and its
next run's outcome through :func:`record_next_run`, for ``benchmarks/signal_matrix.py``.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .conftest import interrupt_when_logged, load_model_file

#: The issue's bound: a stopped command ends within 10 s (a hang check, not a timing).
BOUND_S = 10
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
    ``slow_save``: the text of the saved path to make slow (see the module docstring);
    ``program``: the module ``python -m`` runs (``kedro`` for ``kedro run``)."""

    command: str
    moment: str
    args: tuple[str, ...]
    marker: str
    signum: signal.Signals
    group: bool
    bound: float
    settle: float = 0.0
    slow_save: str = ""
    program: tuple[str, ...] = ("session_recs",)

    @property
    def id(self) -> str:
        target = "group" if self.group else "process"
        return f"{self.moment.replace(' ', '-')}-{self.signum.name.lower()}-{target}"

    @property
    def signal_name(self) -> str:
        return signal_name(self.signum, self.group)


def one_line(text: str) -> str:
    """The one ``Error:`` line of a stopped command's output ``text``; nothing else in it
    says it stopped or failed (no :data:`NOISE`)."""
    assert not any(noise in text for noise in NOISE), text[-4000:]
    lines = [line for line in text.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, text[-4000:]
    return lines[0]


def signal_name(signum: signal.Signals, group: bool) -> str:
    """How the matrix names a signal and where it went: ``SIGINT to the group``."""
    return f"{signum.name} to the {'group' if group else 'process'}"


@dataclass
class Stopped:
    """How a case ended: exit code, output, seconds from the signal to the exit."""

    case: Case
    code: int
    text: str
    seconds: float
    notes: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        """The command's one ``Error:`` line (:func:`one_line`)."""
        return one_line(self.text)

    def record(self, **notes: str) -> None:
        """Append this case's row to the signal matrix (:func:`record`)."""
        self.notes.update(notes)
        record(
            self.case.command,
            self.case.moment,
            self.case.signal_name,
            self.code,
            self.seconds,
            **self.notes,
        )


def record(command: str, moment: str, sent: str, code: int, seconds: float, **notes: str) -> None:
    """Append a case's row to ``$SESSION_RECS_SIGNAL_MATRIX`` (when set): command, moment,
    signal, exit code, seconds from the signal to the exit, and ``notes`` (its state)."""
    row = {"command": command, "moment": moment, "signal": sent, "exit": code}
    _append({**row, "seconds": round(seconds, 1), **notes})


def record_next_run(command: str, outcome: str) -> None:
    """Append how the run after the last case of ``command`` went (it ran to the end)."""
    _append({"command": command, "next run": outcome})


def _append(row: dict) -> None:
    target = os.environ.get("SESSION_RECS_SIGNAL_MATRIX")
    if target:
        with open(target, "a") as sink:
            sink.write(json.dumps(row) + "\n")


def slow_save_path(folder: Path) -> str:
    """A folder holding the slow-save ``sitecustomize``, to put first on ``PYTHONPATH``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(SLOW_SAVE_SITE)
    return str(folder)


def interrupt(project: Path, case: Case, log_file: Path) -> Stopped:
    """Run ``case`` in ``project`` and stop it (:func:`~tests.conftest.interrupt_when_logged`);
    fails if it has not exited ``case.bound`` seconds after the signal."""
    env = {}
    if case.slow_save:
        site = slow_save_path(log_file.parent / "slow_save")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [site, os.environ.get("PYTHONPATH")]))
        env["SESSION_RECS_SLOW_SAVE"] = case.slow_save
    ended = interrupt_when_logged(
        project,
        list(case.args),
        case.marker,
        log_file,
        settle=case.settle,
        signum=case.signum,
        group=case.group,
        within=case.bound,
        program=case.program,
        env=env,
    )
    return Stopped(case, ended.code, ended.text, ended.seconds)


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
