"""`recommend`: top-K items from a trained model of the demo data, and its error messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from session_recs.apps.cli import cli
from session_recs.apps.recommend import recommend_items
from session_recs.evaluation.next_event import pair_set

from ..conftest import copy_project, latest_version, load_model_file, run_cli, run_in_process

pytestmark = pytest.mark.slow  # a run of the data and baseline pipelines trains the models first


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A demo project after ingest, sessionize, split and baseline."""
    project = copy_project(tmp_path_factory.mktemp("recommend") / "project")
    result = run_in_process(project, "run", "--pipelines=ingest,sessionize,split,baseline")
    assert result.exit_code == 0 and result.exception is None, result.output[-3000:]
    return project


def load_latest(project: Path, layer: str, name: str):
    path = latest_version(project / "data" / layer / "demo" / name)
    return load_model_file(path) if path.suffix == ".npz" else pd.read_parquet(path)


def a_session(project: Path) -> list[str]:
    """The first training session's first four items (all known to every model)."""
    train = load_latest(project, "05_model_input", "train_sessions.parquet")
    return train[train.session_id == train.session_id.iloc[0]].item_id.head(4).tolist()


def invoke(project: Path, monkeypatch, *args: str):
    monkeypatch.chdir(project)
    return CliRunner().invoke(cli, ["recommend", *args])


def test_kedro_recommend_prints_only_the_table_on_stdout(trained):
    """Through Kedro's own CLI too, every log line goes to stderr."""
    import os
    import shutil
    import subprocess

    kedro = shutil.which("kedro")
    if kedro is None:
        pytest.skip("the kedro command is not on PATH")
    items = a_session(trained)
    # Kedro's CLI wants the project's source folder; the package itself is installed.
    (trained / "src").mkdir(exist_ok=True)
    result = subprocess.run(
        [kedro, "recommend", "NOT-AN-ITEM", *items, "--model", "markov", "-k", "3"],
        cwd=trained,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("Top 3 from markov (dataset demo, version ")
    assert len(lines) == 2 + 3 and "INFO" not in result.stdout
    # The log (here the unknown item's warning) goes to stderr, never into the table.
    assert "Ignoring item(s) unknown to markov: NOT-AN-ITEM" in result.stderr
    assert "Ignoring" not in result.stdout


def test_command_prints_top_k_with_descriptions_and_scores(trained):
    items = a_session(trained)
    result = run_cli(trained, "recommend", *items, "--model", "session_knn", "-k", "5")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()  # the table alone: Kedro logs to stderr
    assert "Completed" not in result.stdout and "INFO" not in result.stdout
    assert lines[0].startswith("Top 5 from session_knn (dataset demo, version ")
    assert lines[1].split() == ["rank", "item_id", "description", "score"]
    catalog = load_latest(trained, "03_primary", "item_catalog.parquet").set_index("item_id")
    expected = recommend_items(items, model="session_knn", k=5, project_path=trained)
    assert len(lines) == 2 + 5
    for line, row in zip(lines[2:], expected.itertuples(), strict=True):
        assert line.split()[:2] == [str(row.rank), row.item_id]
        assert catalog.loc[row.item_id, "description"] in line
        assert line.split()[-1] == f"{row.score:.4f}"


@pytest.mark.parametrize("model", ["session_knn", "most_popular", "sequential_rules_plus"])
def test_recommendations_equal_the_evaluators_query_of_the_same_session(trained, model):
    items = a_session(trained)
    table = recommend_items(items, model=model, k=10, project_path=trained)
    recommender = load_latest(trained, "06_models", f"{model}.npz")
    # The evaluator's own query for a session: pairs + the session's rows as context.
    rows = pd.DataFrame({"session_id": 0, "position": range(len(items)), "item_id": items})
    pairs = pd.DataFrame({"session_id": [0], "query_item": [items[-1]], "target_item": ["x"]})
    queries = pair_set(pairs, recommender.index, rows).queries
    expected = recommender.recommend(queries, 10)
    assert table["item_id"].tolist() == recommender.index.decode(expected.items[0]).tolist()
    assert np.allclose(table["score"], expected.scores[0])
    assert table["rank"].tolist() == list(range(1, 11))
    assert items[-1] not in set(table["item_id"])
    assert table.attrs["model"] == model and table.attrs["dataset"] == "demo"


def test_unknown_items_are_skipped_with_a_warning(trained, caplog):
    items = a_session(trained)
    with_unknown = [items[0], "NO-SUCH-ITEM", *items[1:]]
    table = recommend_items(with_unknown, model="session_knn", k=10, project_path=trained)
    assert "Ignoring item(s) unknown to session_knn: NO-SUCH-ITEM" in caplog.text
    known_only = recommend_items(items, model="session_knn", k=10, project_path=trained)
    assert table["item_id"].tolist() == known_only["item_id"].tolist()


def test_an_older_model_version_loads_with_load_version(trained, monkeypatch):
    folder = trained / "data/06_models/demo/most_popular.npz"
    version = sorted(p.name for p in folder.iterdir())[0]
    result = invoke(
        trained, monkeypatch, *a_session(trained), "-m", "most_popular", "--load-version", version
    )
    assert result.exit_code == 0, result.output
    assert f"version {version})" in result.output


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["NOPE-1", "NOPE-2"], ["None of the items ['NOPE-1', 'NOPE-2'] is known to session_knn"]),
        (
            ["85123A", "--model", "deep_thought"],
            ["Unknown model 'deep_thought'", "session_knn", "word2vec_ff19_tuned"],
        ),
        (
            ["85123A", "--model", "word2vec_ff19_default"],
            [
                "No trained word2vec_ff19_default model for dataset 'demo'",
                "kedro run --pipelines=train_w2v --namespaces=word2vec_ff19_default "
                "--params=dataset=demo",
            ],
        ),
        (
            ["85123A", "--params=dataset=online_retail"],
            [
                "No trained session_knn model for dataset 'online_retail'",
                "kedro run --pipelines=baseline --namespaces=session_knn",
            ],
        ),
        (["85123A", "-k", "0"], ["-k must be a positive whole number of items, got '0'"]),
        (["85123A", "-k", "ten"], ["-k must be a positive whole number of items, got 'ten'"]),
        (["85123A", "--load-version", "1999-01-01T00.00.00.000Z"], ["Cannot load version"]),
        (["85123A", "--params=dataset=nowhere"], ["Unknown dataset 'nowhere'"]),
    ],
    ids=[
        "no-known-item",
        "unknown-model",
        "untrained",
        "other-dataset",
        "k-0",
        "k-text",
        "version",
        "dataset",
    ],
)
def test_bad_requests_get_one_clear_line_and_exit_code_1(trained, monkeypatch, args, fragments):
    result = invoke(trained, monkeypatch, *args)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    for fragment in fragments:
        assert fragment in result.output
