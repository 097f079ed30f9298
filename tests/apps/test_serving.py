"""A fitted recommender as an MLflow pyfunc model, logged and served by `mlflow models
serve` on a loopback port, answering real HTTP requests (the `mlflow` extra)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from session_recs.core.errors import DataValidationError
from session_recs.models import build_model
from session_recs.models import pyfunc as serving
from session_recs.models.state import write_model

from ..conftest import mlflow_tracking
from ..servers import loopback_server

#: 30 items in 15 pairs: every session shows a_i then b_i (plus noise), so the model must
#: answer a session ending in a_i with b_i first.
PAIRS = [(f"a{i}", f"b{i}") for i in range(15)]


def planted_sessions(n: int = 300, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for session in range(n):
        first, then = PAIRS[session % len(PAIRS)]
        noise = [f"b{j}" for j in rng.choice(len(PAIRS), 2, replace=False)]
        items = [*noise, first, then]
        rows += [(session, position, item) for position, item in enumerate(items)]
    return pd.DataFrame(rows, columns=["session_id", "position", "item_id"])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    model = build_model("sequential_rules").fit(planted_sessions())
    path = tmp_path_factory.mktemp("model") / "sequential_rules.npz"
    with open(path, "wb") as file:
        write_model(model, file)
    return model, path


def test_a_session_gets_its_top_k_with_scores_and_its_unknown_items(fitted):
    model, _ = fitted
    answer = serving.predict(model, [["b4", "a3"], ["zz", "a7", "yy"]], k=5)
    assert list(answer.columns) == ["items", "scores", "ignored"]
    assert [row[0] for row in answer["items"]] == ["b3", "b7"]
    assert all(len(row) == 5 and len(set(row)) == 5 for row in answer["items"])
    assert all(np.all(np.diff(row) <= 0) for row in answer["scores"])
    assert list(answer["ignored"]) == [[], ["zz", "yy"]]
    assert "a3" not in answer["items"][0]  # the query item is excluded by default
    assert "a3" in serving.predict(model, [["a3"]], k=30, exclude_query=False)["items"][0]


@pytest.mark.parametrize("kind", ["most_popular", "session_knn"])  # last item, session
def test_a_batch_is_answered_as_its_sessions_one_by_one(kind):
    model = build_model(kind).fit(planted_sessions())
    assert model.uses_context == (kind == "session_knn")  # both query paths
    rng = np.random.default_rng(0)
    items = [item for pair in PAIRS for item in pair]
    sessions = [list(rng.choice(items, rng.integers(1, 6))) for _ in range(60)]
    batch = serving.predict(model, sessions, k=4)
    alone = pd.concat([serving.predict(model, [s], k=4) for s in sessions], ignore_index=True)
    assert batch["items"].tolist() == alone["items"].tolist()
    np.testing.assert_allclose(np.stack(batch["scores"]), np.stack(alone["scores"]))


@pytest.mark.parametrize(
    ("sessions", "k", "message"),
    [
        ([["a1"], []], 5, "session 1: `items` is empty; expected at least one item id."),
        ([["nope", "never"]], 5, "session 0: none of its items ['nope', 'never'] is known"),
        (["a1"], 5, "session 0: `items` must be a list of item ids, got str 'a1'."),
        ([["a1"]], 0, "params.k = 0: expected a whole number from 1 to 29."),
        ([["a1"]], 30, "params.k = 30: expected a whole number from 1 to 29."),
        ([["a1"]], "3", "params.k = '3': expected a whole number from 1 to 29."),
    ],
)
def test_requests_it_cannot_answer_get_one_line(fitted, sessions, k, message):
    model, _ = fitted
    with pytest.raises(serving.ServingError) as caught:
        serving.predict(model, sessions, k=k)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_a_served_model_requires_what_its_class_imports():
    names = {kind: [r.split("==")[0] for r in serving.requirements(build_model(kind))]
             for kind in ("session_knn", "word2vec")}  # fmt: skip
    assert {"numpy", "pandas", "scipy", "mlflow"} <= set(names["session_knn"])
    assert "gensim" not in names["session_knn"] and "gensim" in names["word2vec"]


# --- logged to MLflow and served over HTTP --------------------------------------------


@pytest.fixture
def mlflow() -> Any:
    return pytest.importorskip("mlflow", reason="the mlflow extra is not installed")


def test_the_logged_model_has_a_signature_an_example_and_answers_like_the_model(
    fitted, mlflow, tmp_path, monkeypatch
):
    model, path = fitted
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    with mlflow_tracking(f"file://{tmp_path / 'mlruns'}"):
        check_logged_model(mlflow, model, path)


def check_logged_model(mlflow: Any, model: Any, path: Path) -> None:
    with mlflow.start_run():
        logged = serving.log_model(path)
    info = mlflow.models.get_model_info(logged.model_uri)
    assert [spec.name for spec in info.signature.inputs.inputs] == ["items"]
    assert [spec.name for spec in info.signature.outputs.inputs] == [
        "items",
        "scores",
        "ignored",
        "model",
        "version",
    ]
    assert {param.name: param.default for param in info.signature.params.params} == {
        "k": 10,
        "exclude_query": True,
    }
    loaded = mlflow.pyfunc.load_model(logged.model_uri)
    example = mlflow.models.Model.load(logged.model_uri).load_input_example()
    assert example["items"][0] == list(
        model.fitted_index().decode(np.argsort(-model.popularity, kind="stable")[:3])
    )
    answer = loaded.predict(pd.DataFrame({"items": [["a5"]]}), params={"k": 3})
    assert answer["items"][0] == serving.predict(model, [["a5"]], k=3)["items"][0]
    assert answer["items"][0][0] == "b5"


def test_the_saved_mlflow_model_holds_the_model_file_and_no_pickle(fitted, mlflow, tmp_path):
    """The artifact is the recommender's own file; the pyfunc class is code (models from
    code), so MLflow pickles nothing, and loading reads the file without unpickling."""
    model, path = fitted
    folder = tmp_path / "served"
    serving.save_model(path, folder)
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert "artifacts/sequential_rules.npz" in files
    assert (folder / "artifacts/sequential_rules.npz").read_bytes() == path.read_bytes()
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".cloudpickle"))]
    assert "python_model.pkl" not in (folder / "MLmodel").read_text()
    loaded = mlflow.pyfunc.load_model(str(folder))
    answer = loaded.predict(pd.DataFrame({"items": [["a5"]]}), params={"k": 3})
    assert answer["items"][0] == serving.predict(model, [["a5"]], k=3)["items"][0]


def test_a_served_model_refuses_an_artifact_that_is_not_a_model_file(mlflow, tmp_path):
    old = tmp_path / "model.pkl"
    old.write_bytes(b"\x80\x04not a model")
    with pytest.raises(DataValidationError) as refused:
        serving.save_model(old, tmp_path / "served")
    assert str(refused.value).startswith(f"{old}: not a session-recs model file")
    assert "\n" not in str(refused.value)


def served(model_uri: str, tracking_uri: str, log: Path) -> contextlib.AbstractContextManager:
    """``mlflow models serve`` on a free loopback port; its process group ends on exit."""

    def command(port: int) -> list[str]:
        serve = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri]
        return [*serve, "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]

    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_ALLOW_FILE_STORE": "true"}
    return loopback_server(command, "/ping", log, env=env)


def invoke(url: str, body: bytes | dict) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{url}/invocations", data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.mark.slow
def test_mlflow_models_serve_answers_sessions_and_refuses_bad_requests(
    fitted, mlflow, tmp_path, monkeypatch
):
    _, path = fitted
    tracking_uri = f"file://{tmp_path / 'mlruns'}"
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    with mlflow_tracking(tracking_uri), mlflow.start_run():
        logged = serving.log_model(path)
    log = tmp_path / "serve.log"
    with served(logged.model_uri, tracking_uri, log) as url:
        port = int(url.rsplit(":", 1)[1])
        status, body = invoke(url, {"dataframe_records": [{"items": ["b1", "a2"]}]})
        assert status == 200, body
        (answer,) = body["predictions"]
        assert answer["items"][0] == "b2" and len(answer["items"]) == 10
        assert answer["ignored"] == []
        assert answer["model"] == "sequential_rules"
        assert answer["version"] == f"run:{logged.run_id}"

        status, body = invoke(
            url, {"dataframe_records": [{"items": ["x1", "a9", "x2"]}], "params": {"k": 3}}
        )
        assert status == 200, body
        assert body["predictions"][0]["items"][0] == "b9"
        assert body["predictions"][0]["ignored"] == ["x1", "x2"]
        assert len(body["predictions"][0]["items"]) == 3

        sessions = [[first] for first, _ in PAIRS] * 7  # 105 sessions in one request
        status, body = invoke(
            url, {"dataframe_records": [{"items": s} for s in sessions], "params": {"k": 2}}
        )
        assert status == 200
        assert [p["items"][0] for p in body["predictions"]] == [f"b{i}" for i in range(15)] * 7

        refused = {
            "empty": {"dataframe_records": [{"items": ["a1"]}, {"items": []}]},
            "unknown": {"dataframe_records": [{"items": ["nope"]}]},
            "k": {"dataframe_records": [{"items": ["a1"]}], "params": {"k": 0}},
            "big k": {"dataframe_records": [{"items": ["a1"]}], "params": {"k": 10_000}},
        }
        expected = {
            "empty": "session 1: `items` is empty; expected at least one item id.",
            "unknown": "session 0: none of its items ['nope'] is known to sequential_rules",
            "k": "params.k = 0: expected a whole number from 1 to 29.",
            "big k": "params.k = 10000: expected a whole number from 1 to 29.",
        }
        for case, request in refused.items():
            status, body = invoke(url, request)
            assert status == 400, (case, body)
            assert expected[case] in body["message"], (case, body)
            assert "Traceback" not in body["message"] and "stack_trace" not in body

        status, body = invoke(url, b'{"dataframe_records": [{"items": ["a1"]}')
        assert status == 400
        assert "json" in body["message"].lower()
        status, body = invoke(url, {"records": [["a1"]]})
        assert status == 400
        assert "dataframe_records" in body["message"]
    with pytest.raises(OSError):  # the server is gone
        urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5)
