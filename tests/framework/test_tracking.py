"""MLflow tracking (the `mlflow` extra): off by default; with --env=mlflow a run logs its
shared parameters and report files to mlruns/, a nested run per model (parameters,
curves, fitted pyfunc model, metrics) with a run per evaluation under it, and tune trials
as nested runs."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, urlencode
from urllib.request import urlopen

import numpy as np
import pandas as pd
import pytest

from session_recs.framework import tracking
from session_recs.framework import tracking_names as names
from session_recs.models import effective_options
from session_recs.models import pyfunc as serving
from session_recs.tuning import trial_runs

from ..conftest import (
    copy_project,
    interrupt_when_logged,
    latest_version,
    load_model_file,
    mlflow_tracking,
    run_cli,
)
from ..servers import loopback_server

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
pytest.importorskip("kedro_mlflow", reason="the mlflow extra is not installed")

# Tiny Word2Vec models: the test is about what gets logged, not about the models.
FAST_W2V = (
    "--params=word2vec_ff19_default.model.options.epochs=2,"
    "word2vec_ff19_tuned.model.options.epochs=1"
)


def test_each_evaluation_is_logged_once_under_names_shared_by_every_model():
    table = pd.DataFrame(
        {
            "protocol": ["last_pair", "last_pair", "last_pair"],
            "context": ["last_item", "session", "session"],
            "metric": ["recall", "mrr", "recall"],
            "k": [10, 20, 10],
            "value": [0.25, 0.125, 0.5],
            "ci_low": [0.2, 0.1, float("nan")],
            "ci_high": [0.3, 0.15, float("nan")],
            "predictions_per_s": [1000.0, 900.0, 900.0],
        }
    )
    assert names.evaluation_metrics(table) == {
        "last_pair.last_item.recall_at_10": 0.25,
        "last_pair.last_item.recall_at_10_ci_low": 0.2,
        "last_pair.last_item.recall_at_10_ci_high": 0.3,
        "last_pair.last_item.predictions_per_s": 1000.0,
        "last_pair.session.mrr_at_20": 0.125,
        "last_pair.session.mrr_at_20_ci_low": 0.1,
        "last_pair.session.mrr_at_20_ci_high": 0.15,
        "last_pair.session.recall_at_10": 0.5,
        "last_pair.session.predictions_per_s": 900.0,
    }


def test_every_option_is_logged_at_its_value_in_force_prefixed_by_kind():
    from session_recs.models import model_class

    knn = tracking.spec_params({"kind": "session_knn", "options": {"m": 5}})
    assert len(knn) == 1 + len(model_class("session_knn").Options.model_fields) == 9
    assert knn["kind"] == "session_knn"
    assert (knn["session_knn.k"], knn["session_knn.m"]) == ("100", "5")  # default, given
    # Word2Vec's preset fills the options left None: ff19_tuned trains 100 epochs.
    w2v = tracking.spec_params({"kind": "word2vec", "options": {"preset": "ff19_tuned"}})
    assert (w2v["word2vec.epochs"], w2v["word2vec.window"]) == ("100", "13")
    assert "None" not in w2v.values()
    # From the tune search: the fitted model tells (logged when it is saved).
    assert tracking.spec_params({"kind": "word2vec", "from_search": True}) == {}


def test_the_kedro_runs_run_is_named_after_the_command_typed(monkeypatch):
    import click
    from click.core import ParameterSource
    from kedro.framework.cli.project import run

    # Without a command line (a notebook's session.run): the pipelines it names.
    assert names.typed_command({"pipeline_names": ["tune"]}) == "kedro run --pipelines=tune"
    assert names.typed_command({"pipeline_names": None}) == "kedro run"
    context = click.Context(run, info_name="run")
    with context:
        # From the shell: the arguments as typed, not the planned node list.
        monkeypatch.setattr("sys.argv", ["kedro", "run", "--namespaces=session_knn"])
        assert names.typed_command({"node_names": ["n"] * 37}) == (
            "kedro run --namespaces=session_knn"
        )
        # In process (click's CliRunner): the options given.
        monkeypatch.setattr("sys.argv", ["pytest", "-q"])
        context.params = {"namespaces": ["markov"], "params": {"a.b": 1}, "env": "mlflow"}
        for name in ("namespaces", "params", "env"):
            context.set_parameter_source(name, ParameterSource.COMMANDLINE)
        context.set_parameter_source("env", ParameterSource.COMMANDLINE)
        assert names.typed_command({}) == (
            "kedro run --env=mlflow --namespaces=markov --params=a.b=1"
        )


def test_a_models_run_records_its_own_fit_and_evaluation_seconds(monkeypatch):
    client = FakeClient()
    hooks = tracking.MlflowTrackingHooks()
    hooks._mlflow_hook = SimpleNamespace(before_node_run=lambda **_: None)
    hooks._runs = tracking.ModelRuns(client, tracking.TrackingRun("file:///x", "e", "p"), "demo")
    clock = iter([10.0, 11.0, 20.0, 20.25])  # the untimed node reads no clock
    monkeypatch.setattr(tracking.time, "perf_counter", lambda: next(clock))
    for name in ("markov.fit_recommender", "split_next_event", "markov.evaluate_recommender"):
        node = SimpleNamespace(name=name, namespace=name.rpartition(".")[0] or None)
        hooks.before_node_run(node, None, {}, False)
        hooks.after_node_run(node)
    assert client.metrics == {"markov": {"fit_seconds": 1.0, "evaluate_seconds": 0.25}}
    assert client.ended == {"markov": "FINISHED"}  # its run ends with its evaluation


def test_training_histories_become_stepped_metrics_named_like_the_trials():
    history = pd.DataFrame(
        {"epoch": [1, 2], "loss": [3.0, 2.0], "recall@10": [0.1, 0.3], "seconds": [1.0, 1.5]}
    )
    assert names.epoch_metrics(history) == {
        "train_loss": [(1, 3.0), (2, 2.0)],
        "val_recall_at_10": [(1, 0.1), (2, 0.3)],
        "epoch_seconds": [(1, 1.0), (2, 1.5)],
    }
    assert tracking.model_of("session_knn.metrics") == "session_knn"
    assert tracking.model_of("gru4rec.training_history") == "gru4rec"
    assert tracking.model_of("model_comparison") is None


def test_no_tune_callbacks_when_tracking_is_off():
    assert tracking.active_run() is None
    assert trial_runs.tune_callbacks("w2v_demo_efficient") == []


#: The commands the tracked project ran, as typed (each its run's name).
FULL_RUN = shlex.join(["kedro", "run", "--env=mlflow", FAST_W2V])
ONE_MODEL_RUN = "kedro run --env=mlflow --namespaces=session_knn"


@pytest.fixture(scope="module")
def tracked(tmp_path_factory) -> Path:
    """A project after an untracked run, then a tracked default run (tiny Word2Vec) and a
    tracked one-model run: the MLflow store the checks and the browser test read."""
    project = copy_project(tmp_path_factory.mktemp("tracked") / "project")
    result = run_cli(project, "run", "--pipelines=ingest")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (project / "mlruns").exists()
    for command in (FULL_RUN, ONE_MODEL_RUN):
        result = run_cli(project, *shlex.split(command)[1:], timeout=900)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "Traceback" not in result.stderr and "UserWarning" not in result.stderr
    return project


@pytest.mark.slow
def test_runs_are_untracked_by_default_and_tracked_with_the_mlflow_env(tracked, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # as the project's hook does
    with mlflow_tracking(f"file://{tracked / 'mlruns'}"):
        check_tracked_run(tracked)


def kedro_runs(client) -> dict[str, Any]:
    """The demo experiment's ``kedro run`` runs (no parent), by name."""
    experiment = client.get_experiment_by_name("session_recs/demo")
    runs = client.search_runs([experiment.experiment_id], "attributes.run_name LIKE 'kedro run%'")
    return {run.info.run_name: run for run in runs}


def check_tracked_run(project: Path) -> None:
    client = mlflow.tracking.MlflowClient()
    # One experiment per dataset, named after it; none named after the project alone.
    experiment = client.get_experiment_by_name("session_recs/demo")
    assert client.get_experiment_by_name("session_recs") is None
    runs = client.search_runs([experiment.experiment_id])
    assert {run.info.status for run in runs} == {"FINISHED"}

    # Each kedro run's run is named after the command typed, which is also its command tag.
    parents = kedro_runs(client)
    assert set(parents) == {FULL_RUN, ONE_MODEL_RUN}
    assert len([run for run in runs if "mlflow.parentRunId" not in run.data.tags]) == 2
    for name, run in parents.items():
        assert run.data.tags["kedro_command"] == name
        assert "node_names" not in run.data.tags  # a planned run's 1,000-character list
    one_model = client.search_runs(
        [experiment.experiment_id],
        f"tags.mlflow.parentRunId = '{parents[ONE_MODEL_RUN].info.run_id}'",
    )
    assert [run.info.run_name for run in one_model] == ["session_knn"]

    # The kedro run's own run: the shared settings of the active dataset only.
    parent = parents[FULL_RUN]
    runs = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.data.tags["dataset"] == "demo"
    assert parent.data.params["split.test_size"] == "150"
    models = {run.data.tags["model"] for run in runs}
    assert {"session_knn", "word2vec_ff19_tuned", "most_popular"} <= models
    assert not [name for name in parent.data.params if name.split(".")[0] in models]
    assert not parent.data.metrics  # metrics live in the models' runs
    others = ("online_retail", "recsys15", "rsc15_100k", "aotm")
    assert not [name for name in parent.data.params if name.split(".")[0] in others]

    # One run per model, and no other run under the kedro run's.
    assert len(runs) == len(models) == len({run.info.run_name for run in runs})
    by_name = {run.info.run_name: run for run in runs}
    # The docs' filter for a kedro run's models: exactly one run per model (before: two
    # per model matched tags.context = 'session', a model's own and its evaluation's).
    listed = client.search_runs(
        [experiment.experiment_id],
        f"tags.model != '' and tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert sorted(run.data.tags["model"] for run in listed) == sorted(models)
    assert not client.search_runs([experiment.experiment_id], "tags.context = 'session'")

    # Every option at its value in force, prefixed by the model's kind.
    knn = by_name["session_knn"]
    assert knn.data.params["kind"] == "session_knn"
    in_force = effective_options("session_knn")
    assert {f"session_knn.{name}": str(value) for name, value in in_force.items()} == {
        key: value for key, value in knn.data.params.items() if key.startswith("session_knn.")
    }
    assert knn.data.params["session_knn.k"] == "100"
    w2v = by_name["word2vec_ff19_tuned"].data.params
    assert (w2v["word2vec.epochs"], w2v["word2vec.window"]) == ("1", "13")  # given, preset

    # Its own fit and evaluation seconds, not the kedro run's.
    seconds = knn.data.metrics["fit_seconds"] + knn.data.metrics["evaluate_seconds"]
    assert knn.data.metrics["fit_seconds"] > 0 and knn.data.metrics["evaluate_seconds"] > 0
    assert seconds < (parent.info.end_time - parent.info.start_time) / 1000

    # Each evaluation's metrics once, named <protocol>.<context>.<metric>_at_<k>.
    metrics = pd.read_parquet(
        latest_version(project / "data/07_model_output/demo/session_knn_metrics.parquet")
    )
    evaluated = names.evaluation_metrics(metrics)
    assert set(knn.data.metrics) == {*evaluated, "fit_seconds", "evaluate_seconds"}
    # 2 contexts x 3 K x (recall, MRR, NDCG with their intervals; coverage, popularity),
    # and each context's predictions per second.
    assert len(evaluated) == 2 * 3 * (3 * 3 + 2) + 2
    headline = metrics.query(
        "protocol == 'last_pair' and context == 'session' and metric == 'recall'"
    )
    for row in headline.itertuples():
        name = f"last_pair.session.recall_at_{row.k}"
        assert knn.data.metrics[name] == pytest.approx(row.value)
        assert knn.data.metrics[f"{name}_ci_low"] == pytest.approx(row.ci_low)
        assert knn.data.metrics[f"{name}_ci_high"] == pytest.approx(row.ci_high)
        assert len(client.get_metric_history(knn.info.run_id, name)) == 1
    # The same names for every model: MLflow's compare view lines the models up.
    shared = {frozenset(k for k in run.data.metrics if k.startswith("last_pair.")) for run in runs}
    assert shared == {frozenset(evaluated)}

    # Word2Vec's and the neural models' training histories as stepped metrics.
    curve = client.get_metric_history(
        by_name["word2vec_ff19_default"].info.run_id, "val_recall_at_10"
    )
    history = pd.read_parquet(
        latest_version(
            project / "data/07_model_output/demo/word2vec_ff19_default_training_history.parquet"
        )
    )
    assert [m.step for m in curve] == history["epoch"].tolist() == [1, 2]
    assert [m.value for m in curve] == pytest.approx(history["recall@10"].tolist())

    # The fitted recommender as a pyfunc model that answers as the saved one does.
    saved = load_model_file(latest_version(project / "data/06_models/demo/session_knn.npz"))
    served = mlflow.pyfunc.load_model(knn.data.tags["model_uri"])
    session = list(saved.fitted_index().decode(np.arange(3)))
    answer = served.predict(pd.DataFrame({"items": [session]}), params={"k": 5})
    assert answer["items"][0] == serving.predict(saved, [session], k=5)["items"][0]

    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "reporting")}
    assert {
        "reporting/model_comparison.md",
        "reporting/model_comparison.html",
        "reporting/model_comparison.png",
    } <= logged
    curves = {
        a.path
        for a in client.list_artifacts(by_name["word2vec_ff19_tuned"].info.run_id, "reporting")
    }
    assert curves == {"reporting/word2vec_ff19_tuned_learning_curve.png"}
    report = Path(client.download_artifacts(parent.info.run_id, "reporting/model_comparison.md"))
    saved_report = latest_version(project / "data/08_reporting/demo/model_comparison.md")
    assert report.read_text() == saved_report.read_text()


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Any]:
    """Headless Debian Chromium through its chromedriver, as tests/apps/ui/test_viz.py's
    browser (whose module needs the ui folder's markers); quit afterwards."""
    found = {name: shutil.which(name) for name in ("chromium", "chromedriver")}
    if not all(found.values()):
        pytest.skip(
            "chromium and chromedriver not on PATH (apt-get install chromium chromium-driver)"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install -e '.[test]'")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found["chromium"]
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1600,1000",
                     f"--user-data-dir={tmp_path / 'chromium-profile'}"):  # fmt: skip
        options.add_argument(argument)
    service = Service(executable_path=found["chromedriver"])
    chromium = webdriver.Chrome(service=service, options=options)
    try:
        yield chromium
    finally:
        chromium.quit()


def wait_for(what: str, find: Callable[[], Any], timeout: float = 60) -> Any:
    """Poll ``find()`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not (found := find()):
        assert time.monotonic() < deadline, f"timed out after {timeout:g}s waiting for {what}"
        time.sleep(0.25)
    return found


def runs_page(url: str, experiment_id: str, search: str) -> str:
    """docs/mlflow.md's link: the experiment's runs (not MLflow's GenAI pages), filtered by
    ``search`` and ranked by the report's headline metric (a flat list, not nested)."""
    query = {
        "workflowType": "machine_learning",
        "searchFilter": search,
        "orderByKey": "metrics.`last_pair.session.recall_at_10`",
        "orderByAsc": "false",
    }
    return f"{url}/#/experiments/{experiment_id}/runs?{urlencode(query, quote_via=quote)}"


@pytest.mark.slow
def test_mlflow_ui_compares_one_run_per_model(tracked, driver, tmp_path, monkeypatch):
    """docs/mlflow.md's compare recipe in headless Chromium: ``mlflow ui`` on the store, the
    dataset's runs filtered to one kedro run's models, all selected, Compare: one column per
    model, the headline metric plotted by model. Saves the page (the picture in
    docs/images/mlflow-compare.png); the server is stopped afterwards."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = f"file://{tracked / 'mlruns'}"
    client = mlflow.tracking.MlflowClient(store)
    experiment_id = client.get_experiment_by_name("session_recs/demo").experiment_id
    parent = kedro_runs(client)[FULL_RUN].info.run_id
    search = f"tags.model != '' and tags.mlflow.parentRunId = '{parent}'"
    models = [run.info.run_name for run in client.search_runs([experiment_id], search)]
    assert len(models) >= 12

    def command(port: int) -> list[str]:
        ui = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", store]
        return [*ui, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]

    def text() -> str:
        return driver.find_element(By.TAG_NAME, "body").text

    def button(label: str) -> Any:
        found = [b for b in driver.find_elements(By.TAG_NAME, "button") if b.text == label]
        return found[0] if found else None

    def pick(box: Any, name: str) -> None:  # an option of one of the plot's selects
        box.click()
        box.send_keys(name)
        option = f".du-bois-light-select-item-option[title='{name}']"
        wait_for(name, lambda: driver.find_elements(By.CSS_SELECTOR, option))[-1].click()
        box.send_keys(Keys.ESCAPE)

    shot = tmp_path / "mlflow-compare.png"
    log = tmp_path / "mlflow-ui.log"
    with loopback_server(command, "/health", log, env=dict(os.environ)) as url:
        driver.get(runs_page(url, experiment_id, search))
        wait_for(f"{len(models)} matching runs", lambda: f"{len(models)} matching runs" in text())
        for close in driver.find_elements(By.CSS_SELECTOR, "button[aria-label='Close']"):
            close.click()  # MLflow's assistant panel
        driver.find_element(By.CSS_SELECTOR, "input[aria-label='Select all runs']").click()
        wait_for("the Compare button", lambda: button("Compare")).click()
        wait_for("the comparison", lambda: f"Comparing {len(models)} Runs" in text())
        wait_for("Clear All", lambda: button("Clear All")).click()
        plot_params, plot_metrics = driver.find_elements(By.CSS_SELECTOR, "input[role=combobox]")
        pick(plot_params, "model")
        pick(plot_metrics, "last_pair.session.recall_at_10")
        page = text()
        assert [model for model in models if model not in page] == []
        assert "last_pair.session.recall_at_10" in page
        driver.save_screenshot(str(shot))
    with pytest.raises(OSError):  # stopped
        urlopen(f"{url}/health", timeout=5)
    assert int.from_bytes(shot.read_bytes()[16:20], "big") == 1600  # the window's width
    folder = os.environ.get("SESSION_RECS_TEST_ARTIFACTS")
    if folder:
        shutil.copy(shot, Path(folder) / shot.name)


@pytest.mark.slow
def test_tune_trials_log_as_nested_runs_of_the_kedro_run(tmp_path, monkeypatch):
    from ray import tune

    uri = f"file://{tmp_path / 'mlruns'}"
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.tracking.MlflowClient(uri)
    experiment_id = client.create_experiment("session_recs")
    parent = client.create_run(experiment_id).info.run_id
    monkeypatch.setattr(trial_runs, "_active", trial_runs.TrackingRun(uri, "session_recs", parent))

    def trainable(config):
        for epoch in range(2):
            tune.report({"recall": config["x"] * (epoch + 1)})

    tuner = tune.Tuner(
        trainable,
        param_space={"x": tune.grid_search([0.1, 0.2])},
        run_config=tune.RunConfig(
            storage_path=str(tmp_path / "ray"), callbacks=trial_runs.tune_callbacks("w2v_test")
        ),
        tune_config=tune.TuneConfig(max_concurrent_trials=1),
    )
    import ray

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        assert not tuner.fit().errors
    finally:
        ray.shutdown()
    children = client.search_runs(
        [experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent}'"
    )
    assert sorted(float(run.data.params["x"]) for run in children) == [0.1, 0.2]
    assert sorted(run.data.metrics["recall"] for run in children) == pytest.approx([0.2, 0.4])
    assert {run.data.tags["tune_experiment"] for run in children} == {"w2v_test"}


@pytest.mark.slow
def test_a_tune_run_with_the_mlflow_env_logs_every_real_trial_as_a_finished_run(
    project, monkeypatch
):
    """The real trainables (Word2Vec per epoch, a one-shot session_knn) under --env=mlflow:
    every trial is a nested run with MLflow-valid metric names, and none is left open."""
    command = [
        "run",
        "--env=mlflow",
        "--pipelines=tune",
        "--params=tune.smoke=true,tune.models=word2vec_search+session_knn",
    ]
    result = run_cli(project, *command, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.tracking.MlflowClient(f"file://{project / 'mlruns'}")
    experiment = client.get_experiment_by_name("session_recs/demo")
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    assert parent.info.run_name == shlex.join(["kedro", *command])
    children = [
        run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    ]
    trials = [run for run in children if "tune_experiment" in run.data.tags]
    assert len(trials) == 8
    # The searches' refits are models of the run like any other, with their fitted model.
    refits = {run.info.run_name: run for run in children if "model" in run.data.tags}
    assert {"session_knn_tuned", "word2vec_search"} <= set(refits)
    assert refits["session_knn_tuned"].data.tags["model_uri"].startswith("models:/")
    assert refits["session_knn_tuned"].data.params["kind"] == "session_knn"  # the chosen one
    assert refits["session_knn_tuned"].data.params["session_knn.m"]
    assert 0 < refits["session_knn_tuned"].data.metrics["last_pair.session.recall_at_10"] <= 1
    assert refits["session_knn_tuned"].data.metrics["fit_seconds"] > 0
    others = ("online_retail", "recsys15", "rsc15_100k", "aotm")
    assert not [name for name in parent.data.params if any(o in name for o in others)]
    assert {run.info.status for run in runs} == {"FINISHED"}
    by_experiment = {run.data.tags["tune_experiment"] for run in trials}
    assert by_experiment == {"w2v_demo_efficient_smoke", "session_knn_demo_session_knn_smoke"}
    for run in trials:
        assert 0 <= run.data.metrics["val_recall_at_10"] <= 1
        assert "val_mrr_at_10" in run.data.metrics
    epochs = [
        len(client.get_metric_history(run.info.run_id, "val_recall_at_10"))
        for run in trials
        if run.data.tags["tune_experiment"].startswith("w2v")
    ]
    assert max(epochs) >= 2  # Word2Vec trials log one step per epoch


@pytest.mark.slow
def test_ctrl_c_ends_the_tracked_runs_it_opened_as_killed(project, tmp_path, monkeypatch):
    """Kedro hands a KeyboardInterrupt to no hook: without the project's session the
    kedro run's run and its unfinished model runs would stay RUNNING for ever."""
    args = ["run", "--env=mlflow", "--pipelines=train_w2v"]
    args += ["--params=word2vec_ff19_tuned.model.options.epochs=500"]
    # Once word2vec_ff19_tuned trains (its 500-epoch bar prints a line: not a terminal).
    stopped = interrupt_when_logged(project, args, "/500 epoch", tmp_path / "int.log", settle=3)
    assert stopped.code == 1 and "Traceback" not in stopped.text, stopped.text[-3000:]
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.tracking.MlflowClient(f"file://{project / 'mlruns'}")
    experiment = client.get_experiment_by_name("session_recs/demo")
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    assert "RUNNING" not in {run.info.status for run in runs.values()}
    assert runs[shlex.join(["kedro", *args])].info.status == "KILLED"
    assert runs["word2vec_ff19_tuned"].info.status == "KILLED"  # stopped while it trained
    assert runs["word2vec_ff19_tuned"].data.params["word2vec.epochs"] == "500"


class FakeClient:
    """The MlflowClient calls ModelRuns makes, recorded by run name."""

    def __init__(self):
        self.ended, self.metrics, self.params = {}, {}, {}

    def get_run(self, run_id):
        return SimpleNamespace(info=SimpleNamespace(experiment_id="0"))

    def create_run(self, experiment_id, run_name, tags):
        return SimpleNamespace(info=SimpleNamespace(run_id=run_name))

    def log_batch(self, run_id, metrics=(), params=()):
        self.metrics.setdefault(run_id, {}).update({m.key: m.value for m in metrics})
        self.params.setdefault(run_id, {}).update({p.key: p.value for p in params})

    def set_tag(self, run_id, key, value):
        pass

    def set_terminated(self, run_id, status):
        self.ended[run_id] = status


def test_an_interrupted_run_ends_evaluated_models_as_finished_and_the_rest_as_given():
    client = FakeClient()
    runs = tracking.ModelRuns(client, tracking.TrackingRun("file:///x", "e", "parent"), "demo")
    runs.model("markov"), runs.model("sasrec")
    runs.log_metrics(runs.model("markov"), {"last_pair.session.recall_at_10": 0.5})
    runs.finish("markov")
    runs.log_params("sasrec", {"kind": "sasrec", "sasrec.epochs": "500"})
    runs.log_params("sasrec", {"kind": "sasrec", "sasrec.epochs": "5", "sasrec.seed": "0"})
    runs.end("KILLED")
    assert client.ended == {"markov": "FINISHED", "sasrec": "KILLED"}
    # A parameter is logged once (MLflow refuses a change): the first value stays.
    assert client.params["sasrec"] == {"kind": "sasrec", "sasrec.epochs": "500", "sasrec.seed": "0"}
