"""Ctrl-C (SIGINT to the process group) and SIGTERM (to the driver) at any moment of a
tune command (issue 24): before Ray starts, while it starts, during the trials, during
the refit. Each ends the command within its bound with exit code 1 and one line (the
resume command when a search was under way), no traceback, no Ray noise, every saved
version whole; the next run works. A resumed search honours the num_samples and
time budget given to it."""

from __future__ import annotations

import json
import pickle
import shlex
import signal

import pandas as pd
import pytest

from ..conftest import interrupt_when_logged, latest_version, run_cli
from .conftest import fresh_project, output

pytestmark = pytest.mark.slow

SMOKE = ["run", "--pipeline=tune", "--params=tune.smoke=true,tune.num_samples=40"]
KNN = "tune.model=session_knn,tune.smoke=true"
#: Hang checks, not timings: a stopped command exits within seconds without Ray, and
#: with Ray once it has started (a signal during ray.init waits for it: up to 20 s on a
#: loaded machine) and shut down (killed past 20 s).
BEFORE_RAY_S, WITH_RAY_S = 10, 60
RAY_NOISE = ("Traceback", "FileNotFoundError", "Failed to fetch metrics", "***", "failed with")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A demo project of these tests alone: which experiment a resume picks depends on
    the searches run before in the same project."""
    return fresh_project(tmp_path_factory.mktemp("signals") / "project")


def one_line(text: str) -> str:
    """The command's one error line; nothing else says it stopped or failed."""
    assert not any(noise in text for noise in RAY_NOISE), text[-4000:]
    (line,) = [line for line in text.splitlines() if line.startswith("Error:")]
    return line


def resume_args(line: str) -> list[str]:
    return shlex.split(line.split("Resume it with: ", 1)[1])[1:]


def whole_versions(project, pattern: str = "*") -> int:
    """Read every saved version of the models and model outputs matching ``pattern``
    (a torn file fails to load); how many there are."""
    count = 0
    for layer in ("06_models", "07_model_output"):
        for folder in (project / "data" / layer / "demo").glob(pattern):
            for saved in folder.glob(f"*/{folder.name}"):
                if saved.suffix == ".parquet":
                    pd.read_parquet(saved)
                elif saved.suffix == ".json":
                    json.loads(saved.read_text())
                elif saved.suffix == ".pkl":
                    pickle.loads(saved.read_bytes())
                count += 1
    return count


def trial_count(project, name: str) -> int:
    table = pd.read_parquet(latest_version(project / "data/06_models/demo" / name))
    return int((table["status"] == "TERMINATED").sum())


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(("Search:", 0, signal.SIGINT, True), id="sigint-before-ray"),
        pytest.param(("Starting a local Ray", 0.3, signal.SIGINT, True), id="sigint-ray-init"),
        pytest.param(("Starting a local Ray", 1.5, signal.SIGTERM, False), id="sigterm-ray-init"),
    ],
)
def test_a_signal_before_the_trials_stops_in_one_line_and_the_next_run_works(
    project, tmp_path, case
):
    marker, settle, signum, group = case
    moment = "before Ray" if marker == "Search:" else "ray.init"
    code, text = interrupt_when_logged(
        project,
        SMOKE,
        marker,
        tmp_path / "stopped.log",
        settle=settle,
        signum=signum,
        group=group,
        within=BEFORE_RAY_S if moment == "before Ray" else WITH_RAY_S,
    )
    assert code == 1, text[-4000:]
    line = one_line(text)
    name = signal.Signals(signum).name
    assert line.startswith(f"Error: Stopped by {name}"), line
    if moment == "ray.init":
        assert "before its results were saved. Resume it with: kedro run" in line
        # The resume command works, and honours a smaller num_samples.
        args = [a.replace("tune.num_samples=40", "tune.num_samples=2") for a in resume_args(line)]
        result = run_cli(project, *args, timeout=300)
        assert result.returncode == 0, output(result)[-4000:]
        assert trial_count(project, "tune_results.parquet") == 2
    whole_versions(project)


def test_ctrl_c_during_the_trials_saves_the_search_once_and_resumes_within_its_samples(
    project, tmp_path
):
    code, text = interrupt_when_logged(
        project, SMOKE, "done (1/", tmp_path / "trials.log", within=WITH_RAY_S
    )
    assert code == 1, text[-4000:]
    line = one_line(text)
    assert line.startswith("Error: SearchInterrupted: The search of word2vec_search"), line
    assert "saved as incomplete in tune_results and best_w2v_params" in line
    assert whole_versions(project, "tune_results.parquet") >= 1
    finished = trial_count(project, "tune_results.parquet")
    assert 1 <= finished < 40
    # num_samples given on resume is the total, counting the trials that ran before.
    total = finished + 2
    args = [
        a.replace("tune.num_samples=40", f"tune.num_samples={total}") for a in resume_args(line)
    ]
    result = run_cli(project, *args, timeout=300)
    assert result.returncode == 0, output(result)[-4000:]
    assert "Resuming the search in" in output(result)
    assert trial_count(project, "tune_results.parquet") == total


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(("done (1/", signal.SIGTERM, False, "search"), id="sigterm-trials"),
        pytest.param(("check_search_complete", signal.SIGINT, True, "refit"), id="sigint-refit"),
    ],
)
def test_a_one_shot_search_stops_in_one_line(project, tmp_path, case):
    marker, signum, group, stops = case
    before = whole_versions(project, "session_knn_tuned.pkl")
    args = ["run", "--pipelines=tune", f"--params={KNN},tune.num_samples=400"]
    if stops == "refit":
        args = ["run", "--pipelines=tune", f"--params={KNN}"]
    code, text = interrupt_when_logged(
        project,
        args,
        marker,
        tmp_path / "knn.log",
        signum=signum,
        group=group,
        within=WITH_RAY_S if stops == "search" else BEFORE_RAY_S,
    )
    assert code == 1, text[-4000:]
    line = one_line(text)
    name = signal.Signals(signum).name
    if stops == "search":
        assert line.startswith("Error: SearchInterrupted: The search of session_knn"), line
        assert f"{name} received: stopping the search" in text
    else:
        assert line.startswith(f"Error: Stopped by {name}: the outputs saved before"), line
    # Every saved version of the search's outputs and of the refit model reads whole.
    assert whole_versions(project, "session_knn_*") >= 2
    assert whole_versions(project, "session_knn_tuned.pkl") >= before


def test_a_resumed_search_honours_the_time_budget_it_is_given(project, tmp_path):
    args = ["run", "--pipelines=tune", f"--params={KNN},tune.num_samples=400"]
    code, text = interrupt_when_logged(
        project, args, "done (2/", tmp_path / "budget.log", within=WITH_RAY_S
    )
    assert code == 1, text[-4000:]
    first = trial_count(project, "session_knn_tune_results.parquet")
    resume = [
        a.replace("tune.smoke=true", "tune.smoke=true,tune.time_budget_s=3")
        for a in resume_args(one_line(text))
    ]
    result = run_cli(project, *resume, timeout=300)
    log = output(result)
    assert result.returncode == 0, log[-4000:]
    assert "budget 3s" in log and "within 3s" in log
    assert "Search finished in" in log and "Failed to fetch metrics" not in log
    # Three seconds of one-shot trials on the demo data: a few dozen at most, not 400
    # (before, the restored search kept its first budget, 300 s, and sample count).
    assert first <= trial_count(project, "session_knn_tune_results.parquet") < first + 100
