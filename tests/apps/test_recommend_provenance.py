"""`recommend` and the served model say what answered: the model, its saved version, the
dataset, and the options in which it differs from what conf/ gives its namespace now."""

from __future__ import annotations

import pandas as pd
import pytest

from session_recs.apps.recommend import provenance
from session_recs.models import build_model
from session_recs.models import pyfunc as serving
from session_recs.pipelines.modeling import fit_recommender

from ..conftest import (
    copy_project,
    latest_version,
    load_model_file,
    mlflow_tracking,
    run_cli,
    run_in_process,
    save_model_file,
)
from .test_serving import planted_sessions

VERSION = "2026-12-06T10.11.12.123Z"
TRAIN = pd.DataFrame(
    {
        "session_id": [0, 0, 0, 1, 1, 2, 2],
        "position": [0, 1, 2, 0, 1, 0, 1],
        "item_id": list("abcabca"),
    }
)
CONF = {"session_knn": {"model": {"kind": "session_knn", "options": {"k": 100}}}}


def fitted(kind: str = "session_knn", **options):
    return fit_recommender(TRAIN, TRAIN.iloc[:0], {"kind": kind, "options": options})


def test_fitting_records_the_kind_and_every_option_with_its_default(tmp_path):
    model = load_model_file(save_model_file(fitted(k=50), tmp_path / "session_knn.npz"))
    assert model.built_from["kind"] == "session_knn"
    assert model.built_from["options"] == {
        "k": 50,
        "sample_size": 1000,
        "m": None,
        "weighting": "div",
        "weighting_score": "quadratic",
        "similarity": "dot",
        "position_lambda": 3.0,
        "idf_weighting": 1.0,
    }
    assert "callbacks" not in build_model("word2vec").built_from["options"]


def test_the_line_names_model_version_dataset_and_the_options_that_differ():
    assert provenance(fitted(k=100), "session_knn", "demo", VERSION, CONF) == (
        f"session_knn {VERSION} (dataset demo): options as in conf"
    )
    assert provenance(fitted(k=50), "session_knn", "demo", VERSION, CONF) == (
        f"session_knn {VERSION} (dataset demo): options differ from conf: k=50 (conf: 100)"
    )
    assert provenance(fitted(k=50, sample_size=10), "session_knn", "demo", VERSION, CONF) == (
        f"session_knn {VERSION} (dataset demo): options differ from conf: k=50 (conf: 100), "
        "sample_size=10 (conf: 1000)"
    )


def test_other_kinds_tuned_refits_and_old_models_say_so():
    assert provenance(fitted("markov"), "session_knn", "demo", VERSION, CONF).endswith(
        ": kind markov (conf: session_knn)"
    )
    assert provenance(fitted(k=50), "session_knn_tuned", "demo", VERSION, CONF) == (
        f"session_knn_tuned {VERSION} (dataset demo): options chosen by a tune search; "
        "options differ from session_knn's conf: k=50 (conf: 100)"
    )
    old = fitted()
    del old.built_from  # as saved by a session-recs before the record existed
    assert provenance(old, "session_knn", "demo", None, CONF) == (
        "session_knn unversioned (dataset demo): options not recorded (saved by an older "
        "session-recs; retrain to record them)"
    )
    assert provenance(fitted(), "session_knn", "demo", VERSION, {}).endswith(
        ": options not compared (conf has no session_knn.model)"
    )


def test_a_served_models_identity_is_its_name_and_saved_version(tmp_path):
    versioned = tmp_path / "session_knn.npz" / VERSION / "session_knn.npz"
    assert serving.identity(versioned) == {"model": "session_knn", "version": VERSION}
    assert serving.identity(versioned, "knn_a", "abc") == {"model": "knn_a", "version": VERSION}
    plain = tmp_path / "model.npz"
    assert serving.identity(plain, run_id="abc") == {"model": "model", "version": "run:abc"}
    assert serving.identity(plain) == {"model": "model", "version": "unversioned"}


def test_the_logged_model_answers_with_its_name_and_version(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
    path = tmp_path / "markov.npz" / VERSION / "markov.npz"
    model = fit_recommender(planted_sessions(), None, {"kind": "markov"})
    save_model_file(model, path)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    with mlflow_tracking(f"file://{tmp_path / 'mlruns'}"):
        with mlflow.start_run():
            logged = serving.log_model(path, model="markov_ff19")
        info = mlflow.models.get_model_info(logged.model_uri)
        loaded = mlflow.pyfunc.load_model(logged.model_uri)
        answer = loaded.predict(pd.DataFrame({"items": [["a3"], ["b1", "a5"]]}), params={"k": 2})
    outputs = [spec.name for spec in info.signature.outputs.inputs]
    assert outputs == ["items", "scores", "ignored", "model", "version"]
    assert (
        answer[["model", "version"]].to_dict("records")
        == [{"model": "markov_ff19", "version": VERSION}] * 2
    )
    assert [row[0] for row in answer["items"]] == ["b3", "b5"]


@pytest.mark.slow
def test_recommend_says_on_stderr_which_model_answered_with_which_options(tmp_path):
    """A model trained by a one-off --params run: recommend names the option it changed."""
    project = copy_project(tmp_path / "project")
    trained = run_in_process(
        project,
        "run",
        "--pipelines=baseline",
        "--namespaces=markov",
        "--params=markov.model.options.context_window=2",
    )
    assert trained.exit_code == 0 and trained.exception is None, trained.output[-3000:]
    version = latest_version(project / "data" / "06_models" / "demo" / "markov.npz").parent.name
    train = pd.read_parquet(
        latest_version(project / "data" / "05_model_input" / "demo" / "train_sessions.parquet")
    )
    items = train.item_id.head(2).tolist()
    result = run_cli(project, "recommend", *items, "--model", "markov", "-k", "3")
    assert result.returncode == 0, result.stderr[-3000:]
    line = f"markov {version} (dataset demo): options differ from conf: context_window=2 (conf: 1)"
    assert [text for text in result.stderr.splitlines() if line in text]
    assert line not in result.stdout
    assert result.stdout.splitlines()[0].startswith("Top 3 from markov (dataset demo, version ")


def test_recommend_names_an_unreadable_model_file_and_the_command_that_retrains_it(tmp_path):
    from types import SimpleNamespace

    from kedro.io import DatasetError

    from session_recs.apps.recommend import load_model
    from session_recs.core.errors import ConfigError, DataValidationError
    from session_recs.models.state import ModelFileError

    where = str(tmp_path / "markov.npz" / VERSION / "markov.npz")

    def unreadable(name, version=None):
        cause = ModelFileError(where, "saved in model format 2", "retrain it")
        raise DatasetError("Failed while loading data") from cause

    dataset = SimpleNamespace(
        _filepath=tmp_path / "markov.npz", resolve_load_version=lambda: VERSION
    )
    catalog = SimpleNamespace(exists=lambda name: True, get=lambda name: dataset, load=unreadable)
    with pytest.raises(DataValidationError) as refused:
        load_model(catalog, "markov", "demo", None)
    assert str(refused.value) == (
        f"The latest saved markov.recommender for dataset 'demo' ({where}) cannot be read: "
        "saved in model format 2; retrain it with `kedro run --pipelines=baseline "
        "--namespaces=markov --params=dataset=demo`, or pick an older version with --load-version."
    )
    # Only an older session-recs' pickles: said, and not loaded.
    (tmp_path / "markov.pkl" / VERSION).mkdir(parents=True)
    catalog.exists = lambda name: False
    with pytest.raises(ConfigError) as missing:
        load_model(catalog, "markov", "demo", None)
    assert str(missing.value).startswith(
        f"No trained markov model for dataset 'demo' yet ({tmp_path / 'markov.pkl'} holds an "
        "older session-recs' pickles, not loaded). Train it with `kedro run --pipelines=baseline"
    )
