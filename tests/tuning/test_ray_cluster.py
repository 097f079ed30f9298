"""Searches on a real two-node Ray cluster on this machine, reached through the `cluster`
Kedro env ($RAY_ADDRESS): a head and a worker node, separate `ray start` processes of one
CPU each, shared by the module and stopped at its end.

Trials run on both nodes; a driver killed mid-search resumes without rerunning finished
trials; a worker node killed mid-search has its trial retried on the head, with every
trial accounted for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from ..conftest import output, run_cli
from .conftest import (
    Cluster,
    experiments,
    finished_trials,
    kill,
    running_on,
    start_driver,
    tune_tables,
    wait_until,
)

pytestmark = pytest.mark.slow

#: A smoke search with the basic (grid/random) algorithm and no early stopping. Its trials
#: are shorter than a trial process's start (imports, runtime env), so with actor reuse Tune
#: would hand a second trial to the first process free; a process per trial spreads them.
SEARCH = "tune.preset=ff19_negative,tune.smoke=true,tune.reuse_actors=false"
#: Three identical trials of 12 epochs (about 4 s each): long enough to kill something
#: while they run. Parameter values cannot hold commas, hence a one-value grid.
LONG_TRIALS = (
    f"{SEARCH},tune.num_samples=3,tune.fixed.vector_size=8,tune.max_epochs=12,"
    "tune.space.epochs.grid.start=12,tune.space.epochs.grid.stop=12"
)
DONE = re.compile(r"trial (\S+) done \(")
FAILED = re.compile(r"trial (\S+) failed(?: on \S+)? and will be retried")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, ray_env) -> Iterator[Cluster]:
    """A head and a worker node of one CPU each."""
    cluster = Cluster(ray_env, tmp_path_factory.mktemp("ray-nodes"))
    try:
        cluster.start(workers=1)
        yield cluster
    finally:
        cluster.stop()


def search(params: str, *options: str) -> list[str]:
    """The command line of a search through the cluster env."""
    return ["run", "--pipelines=tune", "--env=cluster", f"--params={params}", *options]


#: Stop after the search's tables (no plots, no retraining of the best configuration).
SEARCH_ONLY = "--to-nodes=run_word2vec_search"


def test_search_through_the_cluster_env_runs_trials_on_both_nodes(
    cluster, demo_project, monkeypatch
):
    cluster.use(monkeypatch)
    # Two 1-CPU nodes, two trials at once: one on each.
    result = run_cli(demo_project, *search(f"{SEARCH},tune.num_samples=2"))
    log = output(result)
    assert result.returncode == 0, log[-4000:]
    assert "Searching on the Ray cluster at" in log and "(2 nodes, 2 CPUs)" in log
    table, _ = tune_tables(demo_project)
    assert len(table) == 2 and (table["status"] == "TERMINATED").all()
    assert set(table["node_id"]) == {node.node_id() for node in cluster.nodes}


def test_a_killed_driver_resumes_without_rerunning_finished_trials(
    cluster, demo_project, monkeypatch, tmp_path
):
    cluster.use(monkeypatch)
    monkeypatch.setenv("TUNE_GLOBAL_CHECKPOINT_S", "0.5")  # save the experiment state often
    params = f"{LONG_TRIALS},tune.name=resume"
    log = tmp_path / "driver.log"
    driver = start_driver(demo_project, log, *search(params, SEARCH_ONLY))
    try:
        # Two CPUs, three trials: when two have finished, the third is under way.
        wait_until(
            lambda: len(finished_trials(demo_project, "resume")) >= 2,
            120,
            f"two finished trials in the saved experiment state (driver log: {log})",
        )
    finally:
        kill(driver)
    # What the resumed run reads: the state Tune saved last.
    finished = finished_trials(demo_project, "resume")
    assert len(finished) == 2, finished

    result = run_cli(demo_project, *search(f"{params},tune.resume=true", SEARCH_ONLY))
    log = output(result)
    assert result.returncode == 0, log[-4000:]
    assert "Resuming the search in" in log
    table, history = tune_tables(demo_project)
    assert len(table) == 3 and (table["status"] == "TERMINATED").all()
    assert finished < set(table["trial_id"])
    # Only the unfinished trials ran again; the finished ones kept their single run.
    assert set(DONE.findall(log)) == set(table["trial_id"]) - finished
    kept = table[table["trial_id"].isin(finished)]
    assert (kept["attempts"] == 1).all() and (kept["epochs_run"] == 12).all()
    assert history.groupby("trial_id")["epoch"].max().eq(12).all()
    assert len(experiments(demo_project, "resume")) == 1


def test_a_killed_worker_nodes_trial_is_retried_on_the_head(
    cluster, demo_project, monkeypatch, tmp_path
):
    """It kills the module's worker node (the next test using the cluster starts another)."""
    cluster.use(monkeypatch)
    monkeypatch.setenv("TUNE_GLOBAL_CHECKPOINT_S", "0.5")
    head, worker = cluster.nodes
    doomed = worker.node_id()
    log = tmp_path / "driver.log"
    params = f"{LONG_TRIALS},tune.name=worker_kill"
    driver = start_driver(demo_project, log, *search(params, SEARCH_ONLY))
    try:
        # Kill the worker node while a trial on it is between its first and last epoch.
        wait_until(
            lambda: running_on(demo_project, "worker_kill", doomed),
            120,
            f"a trial reporting from the worker node (driver log: {log})",
        )
        kill(worker.process)
        assert driver.wait(timeout=180) == 0, log.read_text()[-4000:]
    finally:
        if driver.poll() is None:
            kill(driver)
    text = log.read_text()
    failed = set(FAILED.findall(text))
    assert failed, text[-4000:]
    table, history = tune_tables(demo_project)
    assert len(table) == 3 and (table["status"] == "TERMINATED").all()
    assert (table["epochs_run"] == 12).all()
    assert set(table["node_id"]) == {head.node_id()}  # every trial ended on the head
    retried = history[history["trial_id"].isin(failed)]
    first_attempt = retried[retried["attempt"] == 1]
    assert set(first_attempt["node_id"]) == {doomed}
    assert set(retried.loc[retried["attempt"] > 1, "node_id"]) == {head.node_id()}
