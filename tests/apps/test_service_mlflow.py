"""serve --model-uri: a session-recs model logged to MLflow, served by the service (its
recommender artifact read as a model file), answering as the logged model; what is not
one is refused in one line. Needs the mlflow extra (CI's mlflow step)."""

from __future__ import annotations

from typing import Any

import pytest

from session_recs.apps.service.models import open_mlflow_model
from session_recs.core.errors import ConfigError
from session_recs.models import pyfunc as serving

from ..conftest import mlflow_tracking
from . import test_serving
from .test_service import call, click, running

fitted = test_serving.fitted


@pytest.fixture
def mlflow() -> Any:
    return pytest.importorskip("mlflow", reason="the mlflow extra is not installed")


def test_serve_mlflow_uri_answers_as_the_logged_model(fitted, mlflow, tmp_path, monkeypatch):
    model, path = fitted
    tracking_uri = f"file://{tmp_path / 'mlruns'}"
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # to log it
    with mlflow_tracking(tracking_uri), mlflow.start_run() as run:
        serving.log_model(path, model="sequential_rules")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")  # serving sets it itself
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)  # as a user serving it would
    holder = open_mlflow_model(f"runs:/{run.info.run_id}/model")
    served = holder.current
    assert (served.model, served.version) == ("sequential_rules", f"run:{run.info.run_id}")
    with running(holder) as url:
        status, body = click(url, "s", "a4", k=5)
        reload = call(url, "/v1/admin/reload", b"")
    assert status == 200 and body["model"] == "sequential_rules", body
    assert body["items"] == serving.predict(model, [["a4"]], k=5)["items"][0]
    assert reload == (200, {**served.identity(), "swapped": False})


def test_a_saved_mlflow_folder_is_served_too(fitted, mlflow, tmp_path):
    model, path = fitted
    serving.save_model(path, tmp_path / "folder", model="rules")
    served = open_mlflow_model(str(tmp_path / "folder")).current
    assert (served.model, served.version) == ("rules", "unversioned")
    assert (
        served.answer(["a2", "a7"], 4).items
        == serving.predict(model, [["a2", "a7"]], 4)["items"][0]
    )


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("models:/nope/1", "Registered Model with name=nope not found"),
        ("runs:/0123abcd/model", "--model-uri runs:/0123abcd/model: "),
        ("FOLDER", "No such file"),
        ("OTHER", "not a session-recs model"),
    ],
    ids=["unregistered", "no-such-run", "no-mlmodel", "not-session-recs"],
)
def test_what_is_not_a_logged_session_recs_model_is_refused_in_one_line(
    mlflow, tmp_path, monkeypatch, uri, fragment
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"file://{tmp_path / 'mlruns'}")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    if uri == "FOLDER":
        (tmp_path / "empty").mkdir()
        uri = str(tmp_path / "empty")
    if uri == "OTHER":
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "MLmodel").write_text("flavors:\n  sklearn: {}\n")
        uri = str(tmp_path / "other")
    with pytest.raises(ConfigError) as refused:
        open_mlflow_model(uri)
    message = str(refused.value)
    assert message.startswith(f"--model-uri {uri}: ") and fragment in message, message
    assert "\n" not in message
