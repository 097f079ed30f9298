"""`kedro run` (the default pipeline) on the demo data, as a user runs it: its console, every
model of the project fitted, evaluated and reported with the run's input versions, the demo
data's planted structure found; word2vec_search refuses to train before a search and trains
its options without. What each pipeline does on its own is tests/pipelines/<name>/'s."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from session_recs.pipelines.namespaces import BASELINE_MODELS, NEURAL_MODELS, W2V_MODELS

from ..conftest import check_metrics_table, latest_version, load_model_file, run_in_process

pytestmark = pytest.mark.slow  # reads the shared demo run (a subprocess `kedro run`)

PNG = b"\x89PNG\r\n\x1a\n"
MODELS = (*BASELINE_MODELS, *W2V_MODELS)
#: The default run fits the models that need no extra and no search, with or without the
#: neural extra (`kedro run --pipelines=train_neural` trains GRU4Rec and SASRec).
RUN = MODELS


def test_the_default_run_prints_no_traceback(demo_run):
    # Its duration is measured by benchmarks/bench_fresh_clone.py, never asserted.
    assert "Traceback" not in demo_run.log
    assert "dot notation is reserved" not in demo_run.log
    assert "Skipping" not in demo_run.log  # nothing of __default__ is left out
    assert "Workflow tracking is disabled" not in demo_run.log  # kedro-viz follows the run


def test_the_console_has_one_line_per_node_and_ends_with_a_summary(demo_run):
    """conf/logging.yml in effect: no per-dataset or node-start lines, one line per finished
    node, the log on stderr (and in info.log), and the best models with the report's path."""
    log = demo_run.log
    for noise in ("Loading data from", "Saving data to", "Running node:", "Completed node:"):
        assert noise not in log, noise
    assert "Add type hints to the `predict` method" not in log  # MLflow's, with the extra
    assert "Using synchronous mode" not in log
    assert re.search(r"Completed 1 out of (\d+) tasks: ingest_interactions$", log, flags=re.M)
    assert re.search(r"Completed (\d+) out of \1 tasks: \w+", log)  # the last one
    bars = ("epoch/s", "s/epoch")  # progress bars: one line each in a terminal
    lines = [line for line in log.splitlines() if not any(bar in line for bar in bars)]
    assert len(lines) < 120, len(lines)
    assert demo_run.stdout == ""
    head = "Best by recall@10 (last_pair, session context, 150 test queries, 95% bootstrap"
    assert head in log
    best = re.findall(r"\b([123])\. (\w+) (0\.\d{3}) \[(0\.\d{3}), (0\.\d{3})\]", log)
    assert [rank for rank, *_ in best] == ["1", "2", "3"]
    comparison = pd.read_parquet(demo_run.output("08_reporting", "model_comparison.parquet"))
    session = comparison.query("k == 10 and metric == 'recall' and context == 'session'")
    top = session.sort_values("value", ascending=False, kind="stable").head(3)
    assert [name for _, name, *_ in best] == top["model"].tolist()
    assert float(best[0][2]) == pytest.approx(top["value"].iloc[0], abs=5e-4)
    report = re.search(r"Report: (\S+model_comparison\.html)", log).group(1)
    assert (demo_run.path / report) == demo_run.output("08_reporting", "model_comparison.html")
    info = (demo_run.path / "info.log").read_text()
    assert head in info and "Completed 1 out of" in info


def test_every_model_is_saved_and_evaluated_with_intervals(demo_run):
    for name in RUN:
        model = load_model_file(demo_run.output("06_models", f"{name}.npz"))
        assert len(model.index) > 100
        metrics = pd.read_parquet(demo_run.output("07_model_output", f"{name}_metrics.parquet"))
        check_metrics_table(metrics, n_queries=150)


def test_sequence_models_find_the_demo_datas_planted_structure(demo_run):
    comparison = pd.read_parquet(demo_run.output("08_reporting", "model_comparison.parquet"))
    at10 = comparison[
        (comparison.k == 10) & (comparison.metric == "recall") & (comparison.context == "last_item")
    ].set_index("model")["value"]
    assert set(at10.index) == set(RUN)
    # The generator plants item groups and within-group order: sequence models must beat
    # popularity by far, and FF19's association rules must not beat sequential rules.
    assert at10["most_popular"] < 0.3
    for name in ("sequential_rules", "markov", "session_knn", "word2vec_ff19_default"):
        assert at10[name] > at10["most_popular"] + 0.3, name
    assert at10["sequential_rules"] > at10["association_rules_ff19"]


def test_the_report_lists_every_model_and_draws_its_plots(demo_run):
    markdown = demo_run.output("08_reporting", "model_comparison.md").read_text()
    html = demo_run.output("08_reporting", "model_comparison.html").read_text()
    assert markdown.startswith("# session-recs model comparison: demo")
    assert "## last_pair protocol, `last_item` context (150 test queries)" in markdown
    assert "## last_pair protocol, `session` context (150 test queries)" in markdown
    for name in RUN:
        assert f"| {name} " in markdown
        assert f"<th>{name}</th>" in html
    # The default report is over the models the default run fits: none is left "not run",
    # and there is no search section.
    for name in (*NEURAL_MODELS, "word2vec_search", "markov_tuned"):
        assert f"| {name} " not in markdown
    assert "Not run yet" not in markdown
    assert markdown.index("## The dataset") < markdown.index("## last_pair protocol")
    # The versions of what it read: all made by this run, saved under the run's version.
    version = demo_run.output("08_reporting", "model_comparison.md").parent.name
    # Every model's metrics and query ranks, the dataset profile, the comparison, tests and
    # accuracy by items seen, and what the profile was made from in this run (sessions,
    # sessionize_log and the three split tables).
    read = len(RUN) * 2 + 4 + 5
    assert f"input versions: {version}: {read} datasets (association_rules.metrics, " in (markdown)
    assert "Hyperparameter search" not in markdown
    assert demo_run.output("08_reporting", "model_comparison.png").read_bytes().startswith(PNG)
    for name in W2V_MODELS:
        curve = demo_run.output("08_reporting", f"{name}_learning_curve.png")
        assert curve.read_bytes().startswith(PNG)


def test_word2vec_records_one_history_row_per_epoch(demo_run):
    epochs = {"word2vec_ff19_default": 5, "word2vec_ff19_tuned": 20}
    for name, n in epochs.items():
        history = pd.read_parquet(
            demo_run.output("07_model_output", f"{name}_training_history.parquet")
        )
        assert history["epoch"].tolist() == list(range(1, n + 1))
        assert (history["loss"] > 0).all()
        assert history["recall@10"].between(0, 1).all()
        assert history["recall@10"].iloc[-1] > history["recall@10"].iloc[0]


def test_word2vec_search_needs_a_search_or_from_search_off(demo_run, tmp_path):
    project = demo_run.copy_to(tmp_path / "project")
    args = ("run", "--pipelines=train_w2v", "--namespaces=word2vec_search")
    result = run_in_process(project, *args)
    output_text = result.output + result.log
    assert result.exit_code == 1, output_text[-3000:]
    assert "There is no tune search for dataset demo yet" in output_text
    assert "kedro run --pipeline=tune" in output_text
    assert result.exception is None  # one line, no traceback
    assert "Traceback" not in output_text
    assert not (project / "data/06_models/demo/word2vec_search.npz").exists()

    result = run_in_process(
        project,
        *args,
        "--params=word2vec_search.model.from_search=false,word2vec_search.model.options.epochs=2",
    )
    assert result.exit_code == 0, (result.output + result.log)[-3000:]
    saved = latest_version(project / "data/06_models/demo/word2vec_search.npz")
    model = load_model_file(saved)
    assert model.params()["epochs"] == 2 and len(model.history) == 2
