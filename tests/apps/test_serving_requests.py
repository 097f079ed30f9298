"""Every malformed request to the served model gets a 4xx with a message, and the server
stays up under a flood of them.

MLflow's scoring server parses the request before the model sees it: it drops an
undeclared parameter and 500s on JSON nested past Python's recursion limit; the served
model (session_recs.models.pyfunc) refuses both as 400. The first tests call the scoring
server's request handler in this process; the last one floods a real `mlflow models
serve` on a loopback port (slow).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from session_recs.models import pyfunc as serving

from . import test_serving
from .test_serving import invoke, served

#: The fitted model and its file, in the project's model-file format.
fitted = test_serving.fitted

pytest.importorskip("mlflow", reason="the mlflow extra is not installed")

GOOD = {"dataframe_records": [{"items": ["a1"]}]}
DEEP = b"[" * 100_000

#: (request body, HTTP status, a fragment of the message)
MALFORMED = [
    (DEEP, 400, "nested too deeply"),
    (b'{"dataframe_records": ' + DEEP, 400, "nested too deeply"),
    (
        {**GOOD, "params": {"kk": 3}},
        400,
        "params.kk: unknown parameter; expected k or exclude_query",
    ),
    ({**GOOD, "params": {"k": 5, "exclude": True}}, 400, "params.exclude: unknown parameter"),
    ({**GOOD, "params": {"k": "abc"}}, 400, "'k'"),
    ({**GOOD, "params": {"k": 3.5}}, 400, "'k'"),
    ({**GOOD, "params": {"k": True}}, 400, "'k'"),
    ({**GOOD, "params": {"k": [3]}}, 400, "'k'"),
    ({**GOOD, "params": {"k": None}}, 400, "params.k = None"),
    ({**GOOD, "params": {"k": 0}}, 400, "params.k = 0"),
    ({**GOOD, "params": {"exclude_query": "yes"}}, 400, "'exclude_query'"),
    ({**GOOD, "params": {"exclude_query": 3}}, 400, "'exclude_query'"),
    ({**GOOD, "params": "k=3"}, 400, "Parameters must be a dictionary"),
    ({"dataframe_records": [{"items": []}]}, 400, "session 0: `items` is empty"),
    ({"dataframe_records": [{"items": "a1"}]}, 400, "items"),
    ({"dataframe_records": [{"item": ["a1"]}]}, 400, "items"),
    ({"records": [["a1"]]}, 400, "dataframe_records"),
    (b"{not json", 400, "valid JSON"),
    (b"\xff\xfe", 400, "valid JSON"),
    (b"[1, 2]", 400, "Received a list"),
]

MALFORMED_IDS = [
    "deep-list",
    "deep-records",
    "unknown-param",
    "unknown-param-beside-k",
    "k-text",
    "k-fraction",
    "k-bool",
    "k-list",
    "k-null",
    "k-zero",
    "exclude-text",
    "exclude-number",
    "params-not-a-dict",
    "empty-session",
    "items-not-a-list",
    "no-items-column",
    "no-dataframe-key",
    "not-json",
    "not-utf8",
    "json-list",
]


@pytest.fixture(scope="module")
def model_file(fitted) -> Path:
    """The fitted model's file, in the project's model-file format (test_serving's)."""
    return fitted[1]


@pytest.fixture(scope="module")
def scoring(model_file, tmp_path_factory) -> Any:
    """The scoring server's request handler with the saved model, as `mlflow models
    serve` runs it (the server module is imported before the model loads)."""
    import mlflow.pyfunc
    from mlflow.pyfunc import scoring_server

    folder = tmp_path_factory.mktemp("mlflow_model") / "model"
    serving.save_model(model_file, folder)
    model = mlflow.pyfunc.load_model(str(folder))

    def post(body: bytes | dict) -> tuple[int, str]:
        from mlflow.exceptions import MlflowException

        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            answer = scoring_server.invocations(
                data, "application/json", model, model.metadata.get_input_schema()
            )
        except MlflowException as error:
            return error.get_http_status_code(), error.message
        return answer.status, str(answer.response)

    return post


def test_a_good_request_is_answered(scoring):
    status, body = scoring({**GOOD, "params": {"k": 3}})
    assert status == 200, body
    assert json.loads(body)["predictions"][0]["items"][0] == "b1"


@pytest.mark.parametrize(("body", "status", "fragment"), MALFORMED, ids=MALFORMED_IDS)
def test_a_malformed_request_gets_a_4xx_with_a_message(scoring, body, status, fragment):
    got, message = scoring(body)
    assert got == status, message[-500:]
    assert fragment in message, message[-500:]
    assert "Traceback" not in message


def test_the_models_own_predict_refuses_deep_and_odd_sessions(fitted):
    """What the model controls: a session nested instead of flat is a session of unknown
    items, refused naming its row."""
    model, _ = fitted
    deep: Any = ["a1"]
    for _ in range(200):
        deep = [deep]
    with pytest.raises(serving.ServingError, match="session 0: none of its items"):
        serving.predict(model, [deep])
    with pytest.raises(serving.ServingError, match="session 1: `items` must be a list"):
        serving.predict(model, [["a1"], {"a": 1}])


def test_other_models_keep_mlflows_handling_of_params():
    """The strict check applies to a ParamSchema of exactly k and exclude_query."""
    import mlflow.pyfunc
    from mlflow.types import DataType, ParamSchema, ParamSpec

    serving._strict_requests()
    other = ParamSchema([ParamSpec("temperature", DataType.double, 0.5)])
    assert mlflow.pyfunc._enforce_params_schema({"kk": 3}, other) == {"temperature": 0.5}


@pytest.mark.slow
def test_the_server_stays_up_under_a_flood_of_bad_requests(model_file, tmp_path, monkeypatch):
    import mlflow

    from ..conftest import mlflow_tracking

    tracking_uri = f"file://{tmp_path / 'mlruns'}"
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    with mlflow_tracking(tracking_uri), mlflow.start_run():
        logged = serving.log_model(model_file)
    with served(logged.model_uri, tracking_uri, tmp_path / "serve.log") as url:
        statuses = []
        for n in range(200):
            body, _, _ = MALFORMED[n % len(MALFORMED)]
            statuses.append(invoke_raw(url, body))
        assert set(statuses) <= {400}, sorted(set(statuses))
        status, body = invoke(url, {**GOOD, "params": {"k": 2}})
        assert status == 200, body
        assert body["predictions"][0]["items"][0] == "b1"
        status, body = invoke(url, {**GOOD, "params": {"kk": 3}})
        assert status == 400 and "params.kk" in body["message"], body


def invoke_raw(url: str, body: bytes | dict) -> int:
    """The HTTP status of one request (its body may not be JSON)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{url}/invocations", data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as error:
        error.read()
        return error.code
