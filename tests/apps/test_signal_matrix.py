"""Ctrl-C (SIGINT to the process group) and SIGTERM (to the process) at five moments of
the default run (``python -m session_recs run``, ``kedro run`` for one; issue 24): while
it ingests, while a versioned dataset is being saved, while a model fits, while the
models are evaluated, while the report is drawn. Each ends
the run within 10 s with exit code 1 and one line, no traceback; every saved version of
every dataset reads whole and no half-written file is left; the next run works.

The cases run in order in one project, each one the "next run" of the one before (it
gets past the moment the previous one stopped at); the last test runs to the end.

The save of ``train_sessions`` is made slow on purpose so a signal reliably lands inside
it (``Case.slow_save``, see :mod:`tests.signal_runs`): the product's save path (Kedro's
versioned dataset through the atomic filesystem of :mod:`session_recs.data.atomic`) is
the one every dataset uses.

Plain ``pytest`` runs three of the five moments: ingest (SIGINT, ``python -m session_recs
run``), the save (SIGTERM) and the evaluation (SIGTERM, ``kedro run``), so each command
and each signal is stopped there; the fit and the report, later moments of the same run,
are marked ``soak`` (CI runs them as a stage of their own: ``pytest -m soak``).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pandas as pd
import pytest

from ..conftest import copy_project, load_model_file, run_cli
from ..signal_runs import BOUND_S, Case, interrupt, record_next_run

pytestmark = pytest.mark.slow

RUN = ("run",)
SIGINT, SIGTERM = signal.SIGINT, signal.SIGTERM
#: The moments, each with one signal: SIGINT to the group, SIGTERM to the process.
CASES = [
    Case("run", "ingest", RUN, "Dataset demo: report.k", SIGINT, True, BOUND_S, 0.3),
    Case("run", "save", RUN, "slow save:", SIGTERM, False, BOUND_S, 0.5, "train_sessions"),
    Case("run", "fit", RUN, "word2vec_ff19_tuned: 1/", SIGINT, True, BOUND_S, 1.0),
    Case(
        "run",
        "evaluation (kedro run)",
        RUN,
        "Completed 19 out of",
        SIGTERM,
        False,
        BOUND_S,
        0.2,
        program=("kedro",),
    ),
    Case("run", "report", RUN, "Completed 36 out of", SIGINT, True, BOUND_S, 0.3),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo project (and the source folder kedro's own CLI wants)."""
    path = copy_project(tmp_path_factory.mktemp("signal_matrix") / "project")
    (path / "src").mkdir()
    return path


def read_whole(saved: Path) -> None:
    """Read ``saved`` as its kind is read; a torn file raises."""
    suffix = saved.suffix
    if suffix == ".parquet":
        pd.read_parquet(saved)
    elif suffix == ".json":
        json.loads(saved.read_text())
    elif suffix == ".npz":
        load_model_file(saved)
    elif suffix == ".html":
        assert saved.read_text().rstrip().endswith("</html>"), saved
    elif suffix == ".png":
        assert saved.read_bytes()[-12:-4] == b"\x00\x00\x00\x00IEND", saved
    elif suffix == ".md":
        saved.read_text()
    else:
        raise AssertionError(f"unexpected kind of saved file: {saved}")


def whole_versions(project: Path) -> int:
    """Every saved version of every dataset reads whole and no half-written file is left
    behind (a version folder holds its file or nothing); how many versions there are."""
    data = project / "data"
    partial = [str(p) for p in data.rglob("*") if p.name.endswith(".partial")]
    assert not partial, partial
    count = 0
    for layer in sorted(data.glob("0[2-8]_*")):
        for saved in sorted(p for p in layer.rglob("*") if p.is_file()):
            assert saved.parent.parent.name == saved.name, f"not a saved version: {saved}"
            read_whole(saved)
            count += 1
    return count


#: The moments plain ``pytest`` deselects (see the module docstring).
SOAK = ("fit", "report")


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, id=case.id, marks=[pytest.mark.soak] if case.moment in SOAK else [])
        for case in CASES
    ],
)
def test_a_signal_stops_the_default_run_in_one_line_and_keeps_every_version_whole(
    project, tmp_path, case
):
    before = whole_versions(project)
    stopped = interrupt(project, case, tmp_path / f"{case.id}.log")
    assert stopped.code == 1, stopped.text[-4000:]
    assert stopped.line() == (
        f"Error: Stopped by {case.signum.name}: the outputs saved before are whole and kept; "
        "run the command again to go on."
    )
    after = whole_versions(project)
    assert after >= before
    stopped.record(state=f"{after} versions whole")


def test_the_run_after_the_signals_completes(project):
    before = whole_versions(project)
    result = run_cli(project, "run")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert whole_versions(project) > before
    record_next_run("run", "ok: ran to the end")
