"""Hardening: determinism, nothing lost (re-runs, a killed run), --load-versions."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ..conftest import copy_project, load_model_file, run_cli, saved_hashes

pytestmark = pytest.mark.slow  # runs, re-runs and kills the CLI in subprocesses

PIPELINES = "--pipelines=ingest,sessionize,split,baseline"
SPLIT_OUTPUTS = ("train_sessions", "validation_pairs", "test_pairs", "test_sessions")
BASELINE_MODELS = ("most_popular", "association_rules", "session_knn")
MODEL_INPUT = Path("data/05_model_input/demo")


def versions(folder: Path) -> list[Path]:
    """Saved files of a versioned dataset ``<name>.<ext>/<version>/<name>.<ext>``, oldest first."""
    return sorted(v / folder.name for v in folder.iterdir() if (v / folder.name).exists())


def metrics(path: Path) -> pd.DataFrame:
    """A metrics table without its timing column."""
    return pd.read_parquet(path).drop(columns="predictions_per_s")


@pytest.fixture(scope="module")
def twice(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A demo project after two identical runs, and the artifacts of the first."""
    project = copy_project(tmp_path_factory.mktemp("hardening") / "project")
    assert run_cli(project, "run", PIPELINES).returncode == 0
    first = saved_hashes(project)
    result = run_cli(project, "run", PIPELINES)
    assert result.returncode == 0, result.stderr[-3000:]
    return project, first


def test_same_seed_gives_the_same_split_and_the_same_baseline_metrics(twice):
    project, _ = twice
    for name in SPLIT_OUTPUTS:
        one, two = versions(project / MODEL_INPUT / f"{name}.parquet")
        pd.testing.assert_frame_equal(pd.read_parquet(one), pd.read_parquet(two))
    for model in BASELINE_MODELS:
        folder = project / f"data/07_model_output/demo/{model}_metrics.parquet"
        one, two = versions(folder)
        pd.testing.assert_frame_equal(metrics(one), metrics(two))
        assert metrics(one)["value"].notna().all()


def test_a_rerun_adds_versions_and_overwrites_nothing(twice):
    project, first = twice
    second = saved_hashes(project)
    assert all(second[path] == digest for path, digest in first.items())
    assert len(second) == 2 * len(first)
    assert any("06_models" in path for path in first)  # models are versioned too


def test_word2vec_with_one_worker_and_a_seed_gives_identical_vectors():
    from session_recs.models.word2vec import Word2VecRecommender

    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 12, size=300)
    train = pd.DataFrame(
        {
            "session_id": np.repeat(np.arange(len(lengths)), lengths),
            "position": np.concatenate([np.arange(n) for n in lengths]),
            "item_id": rng.integers(0, 80, size=lengths.sum()).astype(str),
        }
    )

    def fit() -> Word2VecRecommender:
        options = {"preset": "ff19_default", "seed": 3, "workers": 1, "epochs": 3}
        return Word2VecRecommender(**options).fit(train)

    one, two = fit(), fit()
    assert one.wv.index_to_key == two.wv.index_to_key
    assert np.array_equal(one.wv.vectors, two.wv.vectors)
    other = Word2VecRecommender(preset="ff19_default", seed=4, workers=1, epochs=3).fit(train)
    assert not np.array_equal(one.wv.vectors, other.wv.vectors)


@pytest.fixture(scope="module")
def killed(twice) -> dict:
    """The project after a default run (with longer sessions) killed in its first model.

    What was saved before it is recorded first: the number of versions of each split
    output and model.
    """
    project, _ = twice
    split = project / MODEL_INPUT
    models = project / "data/06_models/demo"
    before = {p: len(versions(p)) for p in [*split.iterdir(), *models.iterdir()]}
    # The default pipeline: split, then baseline and Word2Vec (which take a while). Longer
    # sessions only, so that this run's train_sessions differ from the earlier ones.
    process = subprocess.Popen(
        [sys.executable, "-m", "session_recs", "run", "--params=sessionize.min_session_length=8"],
        cwd=project,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    # Kill as soon as a model of this run starts being saved (its version folder appears).
    # A kill that lands mid-write is made deterministic in test_atomic_saves.py.
    def models_saved() -> int:
        return sum(len(list(folder.iterdir())) for folder in models.iterdir())

    saved = models_saved()
    try:
        deadline = time.monotonic() + 180
        while models_saved() == saved and time.monotonic() < deadline:
            assert process.poll() is None, "the run ended before the split was saved"
            time.sleep(0.05)
        assert process.poll() is None, "the run finished before it could be killed"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return {"project": project, "before": before}


def test_a_run_killed_midway_leaves_earlier_versions_loadable(killed):
    project, before = killed["project"], killed["before"]
    assert len(versions(project / MODEL_INPUT / "test_sessions.parquet")) == (
        before[project / MODEL_INPUT / "test_sessions.parquet"] + 1
    )
    for folder, count in before.items():
        assert count >= 2
        # Every visible version loads, the killed run's included: none is truncated.
        for path in versions(folder):
            if path.suffix == ".npz":
                assert load_model_file(path).index is not None
            elif path.suffix == ".json":
                assert json.loads(path.read_text())["sessions"] > 0
            else:
                assert len(pd.read_parquet(path)) > 0


def test_load_versions_runs_a_pipeline_on_an_older_input(killed):
    project = killed["project"]
    trains = versions(project / MODEL_INPUT / "train_sessions.parquet")
    old_train, newest = trains[0], trains[-1]
    assert len(pd.read_parquet(newest)) < len(pd.read_parquet(old_train))

    # The killed run's latest split is whole, and an older input can be chosen by version.
    result = run_cli(
        project,
        "run",
        "--pipelines=baseline",
        "--namespaces=most_popular",
        f"--load-versions=train_sessions:{old_train.parent.name}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    model_path = versions(project / "data/06_models/demo/most_popular.npz")[-1]
    model = load_model_file(model_path)
    # MostPopular's popularity counts every training event: the old version's.
    assert model.popularity.sum() == len(pd.read_parquet(old_train))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--pipelines=split", "--load-versions=sessions:2026-01-01T00.00.00.000Z"],
            r"--load-versions=sessions:2026-01-01T00\.00\.00\.000Z: 'sessions' has no version "
            r"'2026-01-01T00\.00\.00\.000Z' in .*sessions\.parquet/\. Saved versions, newest "
            r"first: \d{4}-\d\d-\d\dT",
        ),
        (
            ["--pipelines=split", "--load-versions=sesions:2026-01-01T00.00.00.000Z"],
            r"'load_versions' keys \[sesions\] are not found in the catalog",
        ),
        (
            ["--pipelines=splitt"],
            # In the workflow's order (pipeline_registry.WORKFLOW).
            r"Unknown pipeline 'splitt' in --pipelines; the project's pipelines are ingest, "
            r"sessionize, split, baseline, train_w2v, train_neural, tune, report \(no "
            r"--pipelines: __default__, all but tune and train_neural\)\.",
        ),
    ],
    ids=["missing-version", "misspelt-dataset", "unknown-pipeline"],
)
def test_wrong_run_options_get_one_line_and_save_nothing(twice, args, expected):
    project, _ = twice
    before = saved_hashes(project)
    result = run_cli(project, "run", *args)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    [error] = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert re.search(expected, error), error
    assert saved_hashes(project) == before
