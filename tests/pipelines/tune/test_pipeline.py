"""`kedro run --pipeline=tune` end to end on the demo data of a fresh clone: a smoke search
on a local Ray writes every output and train_w2v trains the best configuration; bad
configuration stops the run with one line before Ray starts."""

from __future__ import annotations

import json

import pytest

from ...conftest import (
    closed_port,
    copy_project,
    load_model_file,
    output,
    run_cli,
    run_in_process,
)
from ...tuning.conftest import artifact, experiments, tune_tables

pytestmark = pytest.mark.slow

PNG = b"\x89PNG\r\n\x1a\n"


def test_smoke_search_writes_every_output_and_train_w2v_uses_the_best(tmp_path):
    """The mission's command as written (`--pipeline`, singular) on a fresh clone: it brings
    the data steps it needs, then searches, refits the best and reports."""
    project = copy_project(tmp_path / "project")
    result = run_cli(project, "run", "--pipeline=tune", "--params=tune.smoke=true")
    log = output(result)
    assert result.returncode == 0, log[-4000:]
    assert "Traceback" not in log
    assert "not saved yet for dataset demo: running ingest_interactions" in log
    assert "deprecated" not in log  # the singular flag is the users' own

    table, history = tune_tables(project)
    assert len(table) == 4
    assert (table["status"] == "TERMINATED").all()
    assert table["config/window"].between(1, 6).all()
    assert set(table["config/negative"]) <= {2, 5, 10}
    assert set(table["config/epochs"]) <= {2, 3}
    assert table["epochs_run"].between(1, 3).all()
    assert (table["epochs_run"] <= table["epochs_planned"]).all()
    assert table["node_id"].notna().all() and (table["attempts"] == 1).all()
    # One history row per epoch run; the table's metrics are the history's.
    assert len(history) == table["epochs_run"].sum()
    for row in table.itertuples():
        own = history[history["trial_id"] == row.trial_id]
        assert own["val_recall_at_10"].max() == table.loc[row.Index, "best_val_recall_at_10"]
        assert own["val_recall_at_10"].iloc[-1] == table.loc[row.Index, "last_val_recall_at_10"]
    assert (history["train_cpu_s"] > 0).all()
    assert table["last_val_recall_at_10"].is_monotonic_decreasing

    best = json.loads(artifact(project, "06_models", "best_w2v_params.json").read_text())
    top = table.set_index("trial_id").loc[best["search"]["trial_id"]]
    options = best["model"]["options"]
    assert best["model"]["kind"] == "word2vec"
    assert (options["window"], options["negative"]) == (
        top["config/window"],
        top["config/negative"],
    )
    assert options["vector_size"] == 16 and options["preset"] == "ff19_default"
    assert best["search"]["value"] == pytest.approx(top["last_val_recall_at_10"])
    # The run ends by training and testing the best configuration (word2vec_search).
    assert artifact(project, "07_model_output", "word2vec_search_metrics.parquet").exists()
    for plot in ("tune_curves.png", "tune_parameters.png"):
        assert artifact(project, "08_reporting", plot).read_bytes().startswith(PNG)
    chart = json.loads(artifact(project, "08_reporting", "tune_curves_chart.json").read_text())
    assert len(chart["data"]) == len(table)  # a line per trial
    assert len(experiments(project, "w2v_demo_efficient_smoke")) == 1
    # Progress is a line per trial in Kedro's log, not Tune's console tables.
    assert "done (4/4)" in log
    assert "Configuration for experiment" not in log

    result = run_cli(
        project,
        "run",
        "--pipelines=train_w2v",
        "--namespaces=word2vec_search",
        "--params=word2vec_search.model.from_search=true",
    )
    assert result.returncode == 0, output(result)[-4000:]
    model = load_model_file(artifact(project, "06_models", "word2vec_search.npz"))
    trained = model.params()
    assert {k: trained[k] for k in options} == options
    assert len(model.history) == options["epochs"]


def tune_run(params: str) -> list[str]:
    return ["run", "--pipelines=tune", f"--params={params}"]


def test_bad_configuration_stops_before_ray_starts(demo_project):
    before = sorted((demo_project / "data/06_models/demo").rglob("experiment_state-*"))
    port = closed_port()
    # Every message is checked in test_space.py; here, that a run stops on it, in one line.
    cases = [
        (
            "tune.space.windw.int=3",
            "tune.space.windw: word2vec_search (word2vec) has no searchable option 'windw'",
        ),
        (
            "tune.space.window.grid.start=9,tune.space.window.grid.stop=1",
            "tune.space.window: empty range (start 9 > stop 1)",
        ),
        (
            "tune.preset=fastest",
            "tune.preset='fastest' does not exist. Known presets: association_rules, efficient",
        ),
        (
            f"ray.address=127.0.0.1:{port},ray.connect_timeout_s=2",
            f"Cannot reach the Ray cluster at 127.0.0.1:{port}",
        ),
    ]
    # In this process: each stops before Ray starts (the last one on connecting).
    for params, message in cases:
        result = run_in_process(demo_project, *tune_run(params))
        assert result.exception is None, (result.exception, result.output[-3000:])
        assert result.exit_code == 1, result.output[-3000:]
        assert len(result.error_lines) == 1, result.output[-3000:]
        assert f"Error: ConfigError: {message}" in result.error_lines[0]
        assert "Searching on" not in result.output + result.log
    after = sorted((demo_project / "data/06_models/demo").rglob("experiment_state-*"))
    assert after == before
