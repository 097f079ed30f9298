"""MLflow tracking (the `mlflow` extra): off by default; with --env=mlflow a run logs its
parameters, metrics and report files to mlruns/, and tune trials log as nested runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from session_recs import tracking

from .conftest import latest_version, run_cli

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
pytest.importorskip("kedro_mlflow", reason="the mlflow extra is not installed")

# Tiny Word2Vec models: the test is about what gets logged, not about the models.
FAST_W2V = (
    "--params=word2vec_ff19_default.model.options.epochs=1,"
    "word2vec_ff19_tuned.model.options.epochs=1"
)


def test_metric_names_follow_model_protocol_context_metric_k():
    table = pd.DataFrame(
        {
            "protocol": ["last_pair", "last_pair"],
            "context": ["last_item", "session"],
            "metric": ["recall", "mrr"],
            "k": [10, 20],
            "value": [0.25, 0.125],
        }
    )
    assert tracking.metric_values("markov", table) == {
        "markov.last_pair.last_item.recall_at_10": 0.25,
        "markov.last_pair.session.mrr_at_20": 0.125,
    }


def test_no_tune_callbacks_when_tracking_is_off():
    assert tracking.active_run() is None
    assert tracking.tune_callbacks("w2v_demo_efficient") == []


@pytest.mark.slow
def test_runs_are_untracked_by_default_and_tracked_with_the_mlflow_env(project, monkeypatch):
    result = run_cli(project, "run", "--pipelines=ingest")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (project / "mlruns").exists()

    result = run_cli(project, "run", "--env=mlflow", FAST_W2V)
    assert result.returncode == 0, result.stderr[-3000:]
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # as the project's hook does
    client = mlflow.tracking.MlflowClient(f"file://{project / 'mlruns'}")
    experiment = client.get_experiment_by_name("session_recs")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["split.test_size"] == "150"
    assert run.data.params["session_knn.model.kind"] == "session_knn"
    assert run.data.params["word2vec_ff19_tuned.model.options.epochs"] == "1"

    metrics = pd.read_parquet(
        latest_version(project / "data/07_model_output/demo/session_knn_metrics.parquet")
    )
    recall = metrics.query(
        "protocol == 'last_pair' and context == 'session' and metric == 'recall'"
    )
    for row in recall.itertuples():
        key = f"session_knn.last_pair.session.recall_at_{row.k}"
        assert run.data.metrics[key] == pytest.approx(row.value)
    assert "word2vec_ff19_tuned.last_pair.last_item.mrr_at_10" in run.data.metrics

    logged = {a.path for a in client.list_artifacts(run.info.run_id, "reporting")}
    assert {
        "reporting/model_comparison.md",
        "reporting/model_comparison.html",
        "reporting/model_comparison.png",
        "reporting/word2vec_ff19_tuned_learning_curve.png",
    } <= logged
    report = Path(client.download_artifacts(run.info.run_id, "reporting/model_comparison.md"))
    saved = latest_version(project / "data/08_reporting/demo/model_comparison.md")
    assert report.read_text() == saved.read_text()


@pytest.mark.slow
def test_tune_trials_log_as_nested_runs_of_the_kedro_run(tmp_path, monkeypatch):
    from ray import tune

    uri = f"file://{tmp_path / 'mlruns'}"
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.tracking.MlflowClient(uri)
    experiment_id = client.create_experiment("session_recs")
    parent = client.create_run(experiment_id).info.run_id
    monkeypatch.setattr(tracking, "_active", tracking.TrackingRun(uri, "session_recs", parent))

    def trainable(config):
        for epoch in range(2):
            tune.report({"recall": config["x"] * (epoch + 1)})

    tuner = tune.Tuner(
        trainable,
        param_space={"x": tune.grid_search([0.1, 0.2])},
        run_config=tune.RunConfig(
            storage_path=str(tmp_path / "ray"), callbacks=tracking.tune_callbacks("w2v_test")
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
    trials = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(trials) == 8
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
