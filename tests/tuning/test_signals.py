"""Ctrl-C (SIGINT to the process group) and SIGTERM (to the driver) at five moments of the
tune commands (issue 24): before Ray starts, while it starts, during the trials, while
the search's results are saved, and after the search (the refit of a one-shot model; the
plots of the Word2Vec smoke search, whose refit is train_w2v's); and SIGTERM to the
whole process group during the trials. Each ends the command within its bound with exit
code 1 and one line (the resume command when a search was under way), no traceback, no
Ray noise, every saved version whole and no half-written file.

The cases of a command run in order in one project, each one the "next run" of the one
before: it runs the printed resume command (or the same command) and gets past the
moment the one before stopped at; the last run goes to the end and honours the
num_samples (Word2Vec) or time budget (one-shot) it is given. One test per command, so
the order holds whatever order pytest picks.

Those two matrices (11 stopped runs each, about 3 minutes a command) are marked ``soak``:
plain ``pytest`` deselects them and CI runs them as a stage of their own (``pytest -m
soak``). Plain ``pytest`` keeps one case per command, in a project of its own: Ctrl-C
during the trials, checked as in the matrix, then the resumed run to the end with the
same checks as the matrix's last run.
"""

from __future__ import annotations

import dataclasses
import shlex
import signal
from pathlib import Path

import pandas as pd
import pytest

from ..conftest import latest_version, output, run_cli
from ..signal_runs import Case, interrupt, record_next_run, whole_versions

pytestmark = pytest.mark.slow

#: The issue's bounds (hang checks, not timings): 10 s, 30 s while Ray shuts down.
BOUND_S, WITH_RAY_S = 10, 30
SIGINT, SIGTERM = signal.SIGINT, signal.SIGTERM


def moments(command: str, args: tuple[str, ...], results: str, after: tuple[str, str]) -> list:
    """The cases of one tune command, in the order they run; ``results``: the file name
    of the search's saved results; ``after``: the moment after the search and its marker."""

    def both(moment: str, marker: str, bound: float, settle=(0.0, 0.0), slow="") -> list:
        return [
            Case(command, moment, args, marker, signum, group, bound, wait, slow)
            for signum, group, wait in ((SIGINT, True, settle[0]), (SIGTERM, False, settle[1]))
        ]

    return [
        *both("before Ray", "Search:", BOUND_S),
        *both("ray.init", "Starting a local Ray", WITH_RAY_S, settle=(0.3, 1.5)),
        *both("trials", "done (1/", WITH_RAY_S),
        Case(command, "trials", args, "done (1/", SIGTERM, True, WITH_RAY_S),
        *both("saving", "slow save:", BOUND_S, settle=(0.5, 0.5), slow=results),
        *both(after[0], after[1], BOUND_S),
    ]


#: Moments after which a search ran to its end (it is given 2 more trials than ran).
TO_THE_END = ("saving", "after the search", "refit")
SMOKE = ("run", "--pipeline=tune", "--params=tune.smoke=true,tune.num_samples=40")
KNN = ("run", "--pipelines=tune", "--params=tune.model=session_knn,tune.smoke=true")


@pytest.fixture(scope="module")
def project(tmp_path_factory, split_project):
    """A demo project of these tests alone: which experiment a resume picks depends on
    the searches run before in the same project."""
    return split_project(tmp_path_factory.mktemp("signals") / "project")


@pytest.fixture(scope="module")
def one_case_project(tmp_path_factory, split_project):
    """A demo project of the one-case tests alone (not the matrices': see ``project``)."""
    return split_project(tmp_path_factory.mktemp("signals-one-case") / "project")


def during_the_trials(cases: list[Case]) -> list[Case]:
    """The one case plain ``pytest`` keeps of a command's matrix: SIGINT to the group
    during the trials."""
    kept = [c for c in cases if c.moment == "trials" and c.signum == SIGINT and c.group]
    assert len(kept) == 1, kept
    return kept


def resume_args(line: str) -> tuple[str, ...]:
    return tuple(shlex.split(line.split("Resume it with: ", 1)[1])[1:])


def with_params(args: tuple[str, ...], **params: object) -> tuple[str, ...]:
    """``args`` with ``params`` set in its ``--params`` (replaced if there)."""
    changed = []
    for word in args:
        if word.startswith("--params="):
            items = dict(item.split("=", 1) for item in word.removeprefix("--params=").split(","))
            items.update({key.replace("__", "."): str(value) for key, value in params.items()})
            changed.append("--params=" + ",".join(f"{k}={v}" for k, v in items.items()))
        else:
            changed.append(word)
    return tuple(changed)


def trial_count(project: Path, name: str) -> int:
    table = pd.read_parquet(latest_version(project / "data/06_models/demo" / name))
    return int((table["status"] == "TERMINATED").sum())


def run_the_cases(project: Path, tmp_path: Path, cases: list[Case], model: str, results: str):
    """Run ``cases`` in order, each from the command the one before printed (or the same
    command); check each; return the args of the next run and the trials so far."""
    args = cases[0].args
    finished = 0
    for number, planned in enumerate(cases):
        run_args = args
        if planned.moment in TO_THE_END:
            run_args = with_params(args, tune__num_samples=finished + 2)
        case = dataclasses.replace(planned, args=run_args)
        stopped = interrupt(project, case, tmp_path / f"{number}-{case.id}.log")
        assert stopped.code == 1, f"{case.id}: {stopped.text[-4000:]}"
        line = stopped.line()
        name = case.signum.name
        if case.moment in ("ray.init", "trials"):
            # A search under way: saved as incomplete (trials), or not at all (ray.init);
            # the line says how to resume it.
            assert "Resume it with: kedro run" in line, line
            if case.moment == "trials":
                assert line.startswith(f"Error: SearchInterrupted: The search of {model}"), line
                assert f"{name} received: stopping the search" in stopped.text
                finished = trial_count(project, results)
                assert finished >= 1
            else:
                assert line.startswith(f"Error: Stopped by {name} during the search of"), line
            args = resume_args(line)
        else:
            assert line.startswith(f"Error: Stopped by {name}: the outputs saved before"), line
        versions = whole_versions(project)
        stopped.record(
            state=f"{versions} versions whole",
            resumed="yes" if "Resuming the search in" in stopped.text else "no",
        )
    return args, finished


def check_the_smoke_search(project: Path, tmp_path: Path, cases: list[Case]) -> None:
    """Run ``cases`` of the smoke search, then the next run to the end."""
    args, finished = run_the_cases(
        project, tmp_path, cases, "word2vec_search", "tune_results.parquet"
    )
    total = finished + 2
    if cases[-1].moment in TO_THE_END:  # saved by the last case
        assert trial_count(project, "tune_results.parquet") == total
    # The next run goes to the end, within the num_samples it is given (the total).
    result = run_cli(project, *with_params(args, tune__num_samples=total), timeout=300)
    assert result.returncode == 0, output(result)[-4000:]
    assert "Resuming the search in" in output(result)
    assert trial_count(project, "tune_results.parquet") == total
    whole_versions(project)
    record_next_run("tune smoke", f"ok: resumed, ran to the end ({total} trials)")


def check_a_one_shot_search(project: Path, tmp_path: Path, cases: list[Case]) -> None:
    """Run ``cases`` of a one-shot search, then the next run to the end."""
    args, finished = run_the_cases(
        project, tmp_path, cases, "session_knn", "session_knn_tune_results.parquet"
    )
    # The next run goes to the end within the time budget it is given, not the first
    # search's 300 s and 400 trials (the restored search used to keep them).
    result = run_cli(
        project, *with_params(args, tune__num_samples=400, tune__time_budget_s=3), timeout=300
    )
    log = output(result)
    assert result.returncode == 0, log[-4000:]
    assert "budget 3s" in log and "within 3s" in log
    assert "Search finished in" in log and "Failed to fetch metrics" not in log
    # Three seconds of one-shot trials on the demo data: a few dozen at most, not 400;
    # the trials before are kept (2 more than the stopped search's when the last case ran
    # to the end; a resumed search may finish none of its own within 3 s on a busy machine).
    first = finished + (2 if cases[-1].moment in TO_THE_END else 0)
    trials = trial_count(project, "session_knn_tune_results.parquet")
    assert first <= trials < first + 100
    whole_versions(project)
    record_next_run("tune session_knn", f"ok: resumed, ran to the end ({trials} trials in 3 s)")


def smoke_cases() -> list[Case]:
    return moments(
        "tune smoke", SMOKE, "tune_results.parquet", ("after the search", "run_word2vec_search")
    )


def one_shot_cases() -> list[Case]:
    return moments(
        "tune session_knn",
        with_params(KNN, tune__num_samples=400),
        "session_knn_tune_results.parquet",
        ("refit", "session_knn.check_search_complete"),
    )


@pytest.mark.soak
def test_the_smoke_search_stops_at_every_moment_and_resumes_within_its_samples(project, tmp_path):
    check_the_smoke_search(project, tmp_path, smoke_cases())


@pytest.mark.soak
def test_a_one_shot_search_stops_at_every_moment_and_resumes_within_its_budget(project, tmp_path):
    check_a_one_shot_search(project, tmp_path, one_shot_cases())


def test_the_smoke_search_stops_during_its_trials_and_resumes_within_its_samples(
    one_case_project, tmp_path
):
    check_the_smoke_search(one_case_project, tmp_path, during_the_trials(smoke_cases()))


def test_a_one_shot_search_stops_during_its_trials_and_resumes_within_its_budget(
    one_case_project, tmp_path
):
    check_a_one_shot_search(one_case_project, tmp_path, during_the_trials(one_shot_cases()))
