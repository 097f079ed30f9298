"""What a run prints: one line per finished node, no warnings users cannot act on, a
summary of the best models; pipelines listed in workflow order; a first command that
leaves the tracked pyproject.toml as it was (the default run's console: test_model_pipelines)."""

from __future__ import annotations

import logging
import shutil

import pandas as pd
import pytest

from session_recs.core.logs import DropWarnings, NodeProgress
from session_recs.evaluation.compare import leaders

from ..conftest import ROOT, run_cli


def record(name: str, message: str, *args) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None)


def test_the_runners_two_lines_per_node_become_one_naming_the_node():
    progress = NodeProgress()
    runner = "kedro.runner.sequential_runner"
    assert not progress.filter(record(runner, "Completed node: %s", "split_next_event"))
    count = record(runner, "Completed %d out of %d tasks", 4, 43)
    assert progress.filter(count)
    assert count.getMessage() == "Completed 4 out of 43 tasks: split_next_event"
    assert not progress.filter(
        record(runner, "Using synchronous mode for loading and saving data.")
    )
    other = record(runner, "Pipeline execution completed successfully in 1.0 sec.")
    assert progress.filter(other) and other.getMessage().endswith("1.0 sec.")


def test_only_the_named_library_warnings_are_dropped():
    drop = DropWarnings()
    mlflow = "\x1b[33mAdd type hints to the `predict` method to enable data validation\x1b[0m"
    assert not drop.filter(record("py.warnings", "%s", mlflow))
    fastapi = "FastAPIDeprecationWarning: ORJSONResponse is deprecated, FastAPI now serializes"
    assert not drop.filter(record("py.warnings", "%s", fastapi))
    assert drop.filter(record("py.warnings", "%s", "UserWarning: your column is empty"))


def comparison() -> pd.DataFrame:
    rows = []
    for model, recall in (("markov", 0.30), ("sasrec", 0.42), ("most_popular", 0.05), ("sr", 0.40)):
        for context, shift in (("last_item", 0.2), ("session", 0.0)):
            rows.append(
                {
                    "model": model,
                    "protocol": "last_pair",
                    "context": context,
                    "metric": "recall",
                    "k": 10,
                    "value": recall + shift * (model == "markov"),
                    "ci_low": recall - 0.03,
                    "ci_high": recall + 0.03,
                    "n_queries": 1000,
                }
            )
    return pd.DataFrame(rows)


def test_the_summary_names_the_best_three_with_intervals_in_the_session_context():
    lines = leaders(comparison(), k=10)
    assert lines == [
        "Best by recall@10 (last_pair, session context, 1,000 test queries, 95% bootstrap "
        "interval):",
        "  1. sasrec 0.420 [0.390, 0.450]",
        "  2. sr 0.400 [0.370, 0.430]",
        "  3. markov 0.300 [0.270, 0.330]",
    ]
    assert leaders(comparison(), k=20) == []  # nothing measured at that K
    only_last = comparison().query("context == 'last_item'")
    assert leaders(only_last, k=10, n=1)[1] == "  1. markov 0.500 [0.270, 0.330]"


def test_pipelines_are_listed_in_the_workflows_order(tmp_path):
    from kedro.framework.project import configure_project

    from session_recs.pipeline_registry import register_pipelines

    configure_project("session_recs")
    assert list(register_pipelines()) == [
        "__default__",
        "ingest",
        "sessionize",
        "split",
        "baseline",
        "train_w2v",
        "train_neural",
        "tune",
        "report",
    ]


def test_a_first_command_with_telemetry_on_leaves_pyproject_as_it_was(tmp_path):
    """kedro-telemetry adds a project id to pyproject.toml when there is none (a dirty git
    tree after the quickstart); the project ships its own, so nothing is written."""
    plugin = pytest.importorskip("kedro_telemetry.plugin")
    pyproject = tmp_path / "pyproject.toml"
    shutil.copy(ROOT / "pyproject.toml", pyproject)
    before = pyproject.read_bytes()
    project_id = plugin._get_or_create_project_id(pyproject)
    assert pyproject.read_bytes() == before
    assert project_id and project_id in before.decode()


@pytest.mark.slow
def test_help_prints_the_help_and_no_log_line(project):
    for args in (["--help"], ["run", "--help"]):
        result = run_cli(project, *args)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.startswith("Usage: ")
        assert result.stderr == "", result.stderr[-2000:]
