"""Ctrl-C (SIGINT to the process group) and SIGTERM (to the process) at five moments of
neural training (issue 24): while the data is prepared (before the first epoch), during
an epoch, between epochs (after a validation), while the model file is saved, during the
evaluation. Each ends `kedro run --pipelines=train_neural` within 10 s with exit code 1
and one line, no traceback; every saved model file loads and no half-written file is
left; the next run works.

The cases run in order in one project, each one the "next run" of the one before (it
gets past the moment the one before stopped at); the last run goes to the end. GRU4Rec
stands for both models: the training loop and its stop path are
:class:`~session_recs.models.neural.NeuralRecommender`'s.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pandas as pd
import pytest

from ..conftest import copy_project, latest_version, load_model_file, needs_torch, run_cli
from ..signal_runs import Case, interrupt, record_next_run, whole_versions

pytestmark = [pytest.mark.slow, pytest.mark.neural, needs_torch]

#: The issue's bound (a hang check, not a timing).
BOUND_S = 10
TRAIN = ("run", "--pipelines=train_neural", "--namespaces=gru4rec")
#: Two epochs, so that there is a moment between them.
TWO_EPOCHS = (*TRAIN, "--params=gru4rec.model.options.epochs=2")


def cases() -> list[Case]:
    """(moment, marker, seconds after it, slow save): each with SIGINT to the group and
    SIGTERM to the process."""
    moments = [
        ("data preparation", "Dataset demo: report.k", 0.3, ""),
        ("during an epoch", "gru4rec:", 1.0, ""),
        ("between epochs", "1/2 epoch", 0.0, ""),
        ("saving the model", "slow save:", 0.5, "gru4rec.npz"),
        ("evaluation", "gru4rec.fit_recommender", 0.0, ""),
    ]
    return [
        Case("neural training", moment, TWO_EPOCHS, marker, signum, group, BOUND_S, settle, slow)
        for moment, marker, settle, slow in moments
        for signum, group in ((signal.SIGINT, True), (signal.SIGTERM, False))
    ]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo project with the data pipelines run."""
    target = copy_project(tmp_path_factory.mktemp("neural_signals") / "project")
    result = run_cli(target, "run", "--pipelines=ingest,sessionize,split")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return target


def model_versions(project: Path) -> list[str]:
    """The saved versions of the model file (a stop during a save can leave the empty
    folder Kedro made for its version: no file, so no version to load)."""
    folder = project / "data/06_models/demo/gru4rec.npz"
    return sorted(p.parent.name for p in folder.glob("*/gru4rec.npz"))


def test_neural_training_stops_at_every_moment_and_the_next_run_works(project, tmp_path):
    for number, case in enumerate(cases()):
        before = model_versions(project)
        stopped = interrupt(project, case, tmp_path / f"{number}-{case.id}.log")
        assert stopped.code == 1, f"{case.id}: {stopped.text[-4000:]}"
        line = stopped.line()
        assert line.startswith(f"Error: Stopped by {case.signum.name}: the outputs saved"), line
        whole_versions(project, "gru4rec*")
        after = model_versions(project)
        # A model file is saved whole once the fit ends, and only then.
        saved = case.moment == "evaluation"
        assert after[: len(before)] == before and len(after) == len(before) + saved, after
        stopped.record(state=f"{len(after)} model versions whole")
    # The next run goes to the end; its model file loads and recommends.
    result = run_cli(project, *TRAIN, "--params=gru4rec.model.options.epochs=1", timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    model = load_model_file(latest_version(project / "data/06_models/demo/gru4rec.npz"))
    assert model.network is not None
    history = pd.read_parquet(
        project / "data/07_model_output/demo/gru4rec_training_history.parquet"
    )
    assert history["epoch"].tolist() == [1]
    whole_versions(project)
    record_next_run("neural training", "ok: ran to the end, the model file loads")
