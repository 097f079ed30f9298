"""Every pipeline runs from a fresh clone, in the order a user tries them.

The commands run exactly as the README and the mission write them, each in a fresh copy
of the project where nothing has run yet: a pipeline brings the data steps it needs, the
report renders whatever has metrics, and a set of outputs one run left half-saved is
refused in one line. (`kedro run --pipeline=tune` on a fresh clone, the mission's command:
tests/pipelines/tune/test_pipeline.py, which checks every output of that run.)
"""

from __future__ import annotations

import json
import shutil

import pytest
from kedro_datasets.pandas import ParquetDataset

from ..conftest import copy_project, latest_version, run_cli, run_in_process, shared_file

REPORT = "data/08_reporting/{dataset}/model_comparison.md"


def report_text(project, dataset: str = "demo") -> str:
    return latest_version(project / REPORT.format(dataset=dataset)).read_text()


def ok(result) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Traceback" not in output
    return output


@pytest.mark.slow
def test_report_on_a_fresh_clone_lists_every_model_as_not_run(project):
    ok(run_cli(project, "run", "--pipelines=report"))
    text = report_text(project)
    assert "No model has metrics for this dataset yet" in text
    assert "Not run yet: most_popular, association_rules_ff19" in text
    assert "| sessions | 901 |" in text  # the profile opens the report


@pytest.mark.slow
def test_split_before_ingest_and_train_w2v_before_a_search(project):
    output = ok(run_cli(project, "run", "--pipelines=split"))
    assert "running ingest_interactions → sessionize_interactions" in output
    one_epoch = (
        "--params=word2vec_ff19_default.model.options.epochs=1,"
        "word2vec_ff19_tuned.model.options.epochs=1"
    )
    output = ok(run_cli(project, "run", "--pipelines=train_w2v", one_epoch))
    assert "Skipping word2vec_search: there is no tune search for dataset demo yet" in output
    models = project / "data/06_models/demo"
    assert {p.name for p in models.iterdir()} == {
        "word2vec_ff19_default.npz",
        "word2vec_ff19_tuned.npz",
    }
    # An interrupted search is no search to train from either.
    saved = models / "best_w2v_params.json/2026-01-01T00.00.00.000Z/best_w2v_params.json"
    saved.parent.mkdir(parents=True)
    incomplete = {"model": {"kind": "word2vec", "options": {}}, "search": {"complete": False}}
    saved.write_text(json.dumps(incomplete))
    output = ok(run_cli(project, "run", "--pipelines=train_w2v", one_epoch))
    assert (
        "Skipping word2vec_search: there is only an interrupted tune search for dataset demo"
    ) in output
    assert not (models / "word2vec_search.npz").exists()


@pytest.mark.real_data
@pytest.mark.slow
def test_one_model_on_online_retail_then_the_report(project):
    shutil.copy(shared_file("online_retail.parquet"), project / "data/01_raw")
    args = ("--params=dataset=online_retail",)
    ok(run_cli(project, "run", *args, "--namespaces=sequential_rules_plus"))
    ok(run_cli(project, "run", *args, "--pipelines=report"))
    text = report_text(project, "online_retail")
    assert "| sequential_rules_plus " in text
    assert "Not run yet: most_popular" in text
    assert "| sessions | 4,234 |" in text and "| events | 406,632 |" in text
    # FF19's published numbers are shown, ours beside them where the model ran.
    assert "Published reference numbers (FF19" in text


@pytest.mark.slow
def test_a_run_killed_between_the_splits_saves_is_refused_in_one_line(tmp_path, monkeypatch):
    project = copy_project(tmp_path / "project")
    for _ in range(2):
        assert run_in_process(project, "run", "--pipelines=split").exit_code == 0
    folder = project / "data/05_model_input/demo"
    latest = {
        name: latest_version(folder / f"{name}.parquet").parent.name
        for name in ("train_sessions", "test_pairs")
    }
    assert latest["train_sessions"] == latest["test_pairs"]

    # A third split dies (as on Ctrl-C or a kill) after train_sessions and validation_pairs
    # are saved, before test_pairs: the latest versions are now a mixed set.
    original = ParquetDataset.save

    def dies_at_test_pairs(self, data):
        if "test_pairs" in str(self._filepath):
            raise KeyboardInterrupt
        return original(self, data)

    monkeypatch.setattr(ParquetDataset, "save", dies_at_test_pairs)
    killed = run_in_process(project, "run", "--pipelines=split", "--params=split.seed=7")
    assert killed.exit_code == 1 and "Error: Stopped by SIGINT" in killed.output  # Ctrl-C
    monkeypatch.setattr(ParquetDataset, "save", original)
    newest = latest_version(folder / "train_sessions.parquet").parent.name
    assert newest != latest_version(folder / "test_pairs.parquet").parent.name

    result = run_in_process(project, "run", "--namespaces=most_popular")
    assert result.exit_code == 1 and result.exception is None, result.output[-3000:]
    [line] = result.error_lines
    assert "The latest outputs of node split_next_event come from different runs" in line
    assert f"train_sessions {newest}" in line and "kedro run --pipelines=split" in line
    assert not (project / "data/06_models/demo/most_popular.npz").exists()

    # Rerunning the split makes a whole set again, and the model trains on it.
    assert run_in_process(project, "run", "--pipelines=split").exit_code == 0
    assert run_in_process(project, "run", "--namespaces=most_popular").exit_code == 0
    assert latest_version(project / "data/06_models/demo/most_popular.npz").exists()
