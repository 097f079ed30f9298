"""MLflow tracking (the `mlflow` extra): off by default; with --env=mlflow a run logs its
shared parameters and report files to mlruns/, a nested run per model (parameters,
curves, fitted pyfunc model, metrics) with a run per evaluation under it, and tune trials
as nested runs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from session_recs.framework import tracking
from session_recs.models import pyfunc as serving
from session_recs.tuning import trial_runs

from ..conftest import (
    interrupt_when_logged,
    latest_version,
    load_model_file,
    mlflow_tracking,
    run_cli,
)

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
pytest.importorskip("kedro_mlflow", reason="the mlflow extra is not installed")

# Tiny Word2Vec models: the test is about what gets logged, not about the models.
FAST_W2V = (
    "--params=word2vec_ff19_default.model.options.epochs=2,"
    "word2vec_ff19_tuned.model.options.epochs=1"
)


def test_metric_names_are_shared_by_models_one_run_per_evaluation():
    table = pd.DataFrame(
        {
            "protocol": ["last_pair", "last_pair", "last_pair"],
            "context": ["last_item", "session", "session"],
            "metric": ["recall", "mrr", "recall"],
            "k": [10, 20, 10],
            "value": [0.25, 0.125, 0.5],
            "ci_low": [0.2, 0.1, float("nan")],
            "ci_high": [0.3, 0.15, float("nan")],
        }
    )
    assert tracking.evaluation_metrics(table) == {
        ("last_pair", "last_item"): {
            "recall_at_10": 0.25,
            "recall_at_10_ci_low": 0.2,
            "recall_at_10_ci_high": 0.3,
        },
        ("last_pair", "session"): {
            "mrr_at_20": 0.125,
            "mrr_at_20_ci_low": 0.1,
            "mrr_at_20_ci_high": 0.15,
            "recall_at_10": 0.5,
        },
    }
    assert tracking.headline([("last_pair", "last_item"), ("last_pair", "session")]) == (
        "last_pair",
        "session",
    )
    assert tracking.headline([("revealing", "last_item"), ("last_pair", "session")]) == (
        "revealing",
        "last_item",
    )


def test_training_histories_become_stepped_metrics_named_like_the_trials():
    history = pd.DataFrame(
        {"epoch": [1, 2], "loss": [3.0, 2.0], "recall@10": [0.1, 0.3], "seconds": [1.0, 1.5]}
    )
    assert tracking.epoch_metrics(history) == {
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


@pytest.mark.slow
def test_runs_are_untracked_by_default_and_tracked_with_the_mlflow_env(project, monkeypatch):
    result = run_cli(project, "run", "--pipelines=ingest")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (project / "mlruns").exists()

    result = run_cli(project, "run", "--env=mlflow", FAST_W2V, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "UserWarning" not in result.stderr
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # as the project's hook does
    with mlflow_tracking(f"file://{project / 'mlruns'}"):
        check_tracked_run(project)


def check_tracked_run(project: Path) -> None:
    client = mlflow.tracking.MlflowClient()
    experiment = client.get_experiment_by_name("session_recs")
    runs = client.search_runs([experiment.experiment_id])
    assert {run.info.status for run in runs} == {"FINISHED"}

    # The kedro run's own run: the shared settings of the active dataset only.
    (parent,) = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    assert parent.data.tags["dataset"] == "demo"
    assert parent.data.params["split.test_size"] == "150"
    models = {
        run.data.tags["model"]
        for run in runs
        if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    }
    assert {"session_knn", "word2vec_ff19_tuned", "most_popular"} <= models
    assert not [name for name in parent.data.params if name.split(".")[0] in models]
    assert not parent.data.metrics  # metrics live in the models' runs
    others = ("online_retail", "recsys15", "rsc15_100k", "aotm")
    assert not [name for name in parent.data.params if name.split(".")[0] in others]

    # One run per model: its parameters, its headline evaluation, its fitted model.
    by_name = {run.info.run_name: run for run in runs}
    knn = by_name["session_knn"]
    assert knn.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert knn.data.params["kind"] == "session_knn"
    assert by_name["word2vec_ff19_tuned"].data.params["options.epochs"] == "1"
    assert (knn.data.tags["protocol"], knn.data.tags["context"]) == ("last_pair", "session")
    metrics = pd.read_parquet(
        latest_version(project / "data/07_model_output/demo/session_knn_metrics.parquet")
    )
    headline = metrics.query(
        "protocol == 'last_pair' and context == 'session' and metric == 'recall'"
    )
    for row in headline.itertuples():
        assert knn.data.metrics[f"recall_at_{row.k}"] == pytest.approx(row.value)
        assert knn.data.metrics[f"recall_at_{row.k}_ci_low"] == pytest.approx(row.ci_low)
        assert knn.data.metrics[f"recall_at_{row.k}_ci_high"] == pytest.approx(row.ci_high)

    # Under each model, a run per evaluation, with the same metric names for every model:
    # MLflow's compare view lines the models up.
    evaluations = [
        run for run in runs if "context" in run.data.tags and "kind" not in run.data.tags
    ]
    last_item = {
        run.data.tags["model"]: run
        for run in evaluations
        if run.data.tags["protocol"] == "last_pair" and run.data.tags["context"] == "last_item"
    }
    assert models <= set(last_item)
    assert len({frozenset(run.data.metrics) for run in last_item.values()}) == 1
    assert {"recall_at_10", "mrr_at_10", "recall_at_10_ci_low"} <= set(
        last_item["markov"].data.metrics
    )
    row = metrics.query(
        "protocol == 'last_pair' and context == 'last_item' and metric == 'mrr' and k == 20"
    )
    assert last_item["session_knn"].data.metrics["mrr_at_20"] == pytest.approx(row["value"].item())
    assert last_item["session_knn"].data.tags["mlflow.parentRunId"] == knn.info.run_id

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
    result = run_cli(
        project,
        "run",
        "--env=mlflow",
        "--pipelines=tune",
        "--params=tune.smoke=true,tune.models=word2vec_search+session_knn",
        timeout=600,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.tracking.MlflowClient(f"file://{project / 'mlruns'}")
    experiment = client.get_experiment_by_name("session_recs")
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
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
    assert refits["session_knn_tuned"].data.params["options.m"]
    assert 0 < refits["session_knn_tuned"].data.metrics["recall_at_10"] <= 1
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
    # Once word2vec_ff19_tuned trains (its 500-epoch bar shows).
    stopped = interrupt_when_logged(project, args, "/500 [", tmp_path / "int.log", settle=3)
    assert stopped.code == 1 and "Traceback" not in stopped.text, stopped.text[-3000:]
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.tracking.MlflowClient(f"file://{project / 'mlruns'}")
    experiment = client.get_experiment_by_name("session_recs")
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    assert "RUNNING" not in {run.info.status for run in runs.values()}
    assert runs["ingest+sessionize+split+train_w2v"].info.status == "KILLED"
    assert runs["word2vec_ff19_tuned"].info.status == "KILLED"  # stopped while it trained
    assert runs["word2vec_ff19_tuned"].data.params["options.epochs"] == "500"


def test_an_interrupted_run_ends_evaluated_models_as_finished_and_the_rest_as_given():
    class Client:
        def __init__(self):
            self.ended, self.made = {}, 0

        def get_run(self, run_id):
            return SimpleNamespace(info=SimpleNamespace(experiment_id="0"))

        def create_run(self, experiment_id, run_name, tags):
            self.made += 1
            return SimpleNamespace(info=SimpleNamespace(run_id=run_name))

        def log_batch(self, run_id, metrics=(), params=()):
            pass

        def set_tag(self, run_id, key, value):
            pass

        def set_terminated(self, run_id, status):
            self.ended[run_id] = status

    client = Client()
    runs = tracking.ModelRuns(client, tracking.TrackingRun("file:///x", "e", "parent"), "demo")
    runs.model("markov"), runs.model("sasrec")
    runs.log_metrics(runs.evaluation("markov", "last_pair", "session"), {"recall_at_10": 0.5})
    runs.evaluated.add("markov")
    runs.end("KILLED")
    assert client.ended == {
        "markov last_pair session": "FINISHED",
        "markov": "FINISHED",
        "sasrec": "KILLED",
    }
