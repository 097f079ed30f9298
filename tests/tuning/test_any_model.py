"""Searching any model: what each kind may vary (read from the model's own checks), the
per-kind presets, one-shot trials, several models in one run, and the faults a search
must answer in one line before Ray starts (no Ray in this file)."""

from __future__ import annotations

import http.server
import socket
import threading
from pathlib import Path

import pytest
import yaml

from session_recs.core.errors import ConfigError
from session_recs.framework.run_plan import check_searched
from session_recs.models import ModelSpec, model_class
from session_recs.models.knn import SessionKNN
from session_recs.models.searchable import searchable_options
from session_recs.models.transitions import SequentialRules
from session_recs.pipelines.namespaces import SEARCHABLE_MODELS
from session_recs.pipelines.tune.nodes import require_complete, resume_command
from session_recs.tuning.address import check_reachable, check_where, resolve
from session_recs.tuning.ray_objects import search_algorithm, trial_scheduler
from session_recs.tuning.search_settings import RaySettings
from session_recs.tuning.space import parse_settings, selected_models

from ..conftest import closed_port, model_kinds, needs_torch

ROOT = Path(__file__).resolve().parents[2]


def conf(name: str) -> dict:
    return yaml.safe_load((ROOT / "conf/base" / name).read_text())


@pytest.fixture(scope="module")
def tune() -> dict:
    return conf("parameters_tune.yml")["tune"]


@pytest.fixture(scope="module")
def specs() -> dict:
    both = {
        **conf("parameters_baseline.yml"),
        **conf("parameters_train_w2v.yml"),
        **conf("parameters_neural.yml"),
    }
    return {name: ModelSpec.model_validate(block["model"]) for name, block in both.items()}


def settings_for(tune, specs, model, share=1, **overrides):
    return parse_settings({**tune, **overrides}, {}, model, specs[model], share=share)


def test_each_kind_declares_what_a_search_may_vary_from_its_own_checks():
    knn = searchable_options(SessionKNN)
    assert set(knn) == {
        "k", "sample_size", "m", "weighting", "weighting_score", "similarity",
        "position_lambda", "idf_weighting",
    }  # fmt: skip
    assert (knn["k"].type, knn["k"].minimum, knn["k"].default) == (int, 1, 100)
    assert knn["m"].nullable and knn["position_lambda"].nullable
    assert set(knn["weighting"].choices) == {"same", "div", "linear", "quadratic", "log"}
    rules = searchable_options(SequentialRules)
    assert {"steps", "weighting", "pruning", "backward_weight", "history_weight"} <= set(rules)
    assert rules["decay"].exclusive_minimum and rules["decay"].maximum == 1
    assert "seed" not in rules and "workers" not in knn


@pytest.mark.parametrize("model", model_kinds(SEARCHABLE_MODELS))
def test_every_searchable_namespace_has_a_preset_that_parses(tune, specs, model):
    settings = settings_for(tune, specs, model)
    assert settings.kind == specs[model].kind
    assert settings.space, model
    search_algorithm(settings)
    trial_scheduler(settings)


@pytest.mark.neural
@needs_torch
def test_neural_models_search_their_epochs_with_asha(tune, specs):
    for model in ("gru4rec", "sasrec"):
        settings = settings_for(tune, specs, model)
        assert settings.resource == "epochs" and settings.scheduler.kind == "asha"
        assert "epochs" not in settings.space and settings.max_epochs >= 10
        options = searchable_options(model_class(model))
        managed = {"validation_k", "validation_context", "validation_exclude_query", "workers"}
        assert managed.isdisjoint(options) and "seed" not in options
    with pytest.raises(ConfigError, match=r"tune\.space\.dropout_p_hidden.*< 1"):
        settings_for(tune, specs, "gru4rec", space={"dropout_p_hidden": {"uniform": [0, 2]}})


def test_a_one_shot_search_starts_from_the_models_own_options(tune, specs):
    settings = settings_for(tune, specs, "sequential_rules_plus")
    assert (settings.kind, settings.preset, settings.resource) == (
        "sequential_rules",
        "sequential_rules",
        None,
    )
    assert settings.scheduler.kind == "fifo" and settings.max_epochs == 1
    # The namespace's options are every trial's base and the first point tried.
    assert settings.fixed == {}
    (start,) = settings.points_to_evaluate
    assert start["steps"] == 50 and start["backward_weight"] == 0.5
    assert start["history_weight"] == 0.1 and start["weighting"] == "div"
    assert settings.experiment_name("demo") == "sequential_rules_plus_demo_sequential_rules"
    knn = settings_for(tune, specs, "session_knn")
    assert knn.points_to_evaluate[0]["m"] is None and knn.points_to_evaluate[0]["k"] == 100


def test_word2vec_keeps_its_presets_and_asha(tune, specs):
    settings = settings_for(tune, specs, "word2vec_ff19_default")
    assert (settings.preset, settings.resource, settings.scheduler.kind) == (
        "efficient",
        "epochs",
        "asha",
    )
    assert settings.fixed["preset"] == "ff19_default" and "workers" not in settings.fixed
    # The starting point lies on the space's grid (vector_size 100, step 4 from 16).
    assert settings.space["vector_size"].to_ray().sample() % 4 == 0
    assert settings.points_to_evaluate[0]["vector_size"] == 100


def test_a_run_over_several_models_shares_the_budget(tune, specs):
    models = ["session_knn", "sequential_rules_plus", "word2vec_ff19_default"]
    assert selected_models({**tune, "models": models}) == tuple(models)
    assert selected_models({**tune, "models": "session_knn+sequential_rules_plus"}) == (
        "session_knn",
        "sequential_rules_plus",
    )
    assert selected_models(tune) == ("word2vec_search",)
    assert selected_models({**tune, "model": "item_knn"}) == ("item_knn",)
    budget = {"time_budget_s": 1800}
    assert settings_for(tune, specs, "session_knn", 3, **budget).time_budget_s == 600
    # Without a run-wide budget each preset keeps its own.
    assert settings_for(tune, specs, "session_knn", 3).time_budget_s == 1800 / 3


@pytest.mark.parametrize(
    ("model", "overrides", "message"),
    [
        (
            "session_knn",
            {"space": {"neighbours": {"int": [1, 5]}}},
            "tune.space.neighbours: session_knn (session_knn) has no searchable option "
            "'neighbours'; searchable: k, sample_size, m",
        ),
        (
            "session_knn",
            {"space": {"k": {"int": [0, 10]}}},
            "tune.space.k: k takes whole numbers >= 1, got 0.",
        ),
        (
            "session_knn",
            {"space": {"k": {"uniform": [1, 10]}}},
            "tune.space.k: k takes whole numbers; use int or logint, not uniform.",
        ),
        (
            "session_knn",
            {"space": {"weighting": {"choice": ["div", "cubic"]}}},
            "tune.space.weighting: weighting takes one of same, div, linear, quadratic, log, "
            "got 'cubic'.",
        ),
        (
            "session_knn",
            {"space": {"weighting": {"uniform": [0, 1]}}},
            "list them with choice or grid, not uniform",
        ),
        (
            "sequential_rules",
            {"space": {"decay": {"uniform": [0.5, 1.5]}}},
            "tune.space.decay: decay takes numbers > 0 and <= 1, got 1.5.",
        ),
        (
            "session_knn",
            {"preset": "efficient"},
            "tune.preset='efficient' searches word2vec models, not session_knn; presets for "
            "session_knn: session_knn.",
        ),
        (
            "session_knn",
            {"scheduler": {"kind": "asha"}},
            "tune.scheduler.kind = 'asha': fifo: session_knn (session_knn) trains in one shot",
        ),
        (
            "session_knn",
            {"space": {"k": {"int": [10, 20]}}, "fixed": {"similarity": "euclid"}},
            "tune.fixed: session_knn.similarity = 'euclid'",
        ),
        (
            "word2vec_ff19_default",
            {"space": {"negative": {"int": [0, 5]}}, "points_to_evaluate": []},
            "tune.space (negative=0) for word2vec_ff19_default: word2vec needs hs=1 or "
            "negative > 0",
        ),
        (
            "most_popular",
            {},
            "tune.model='most_popular' is a most_popular model, which has no option to search",
        ),
    ],
)
def test_a_space_the_model_does_not_take_is_refused_in_one_line(
    tune, specs, model, overrides, message
):
    with pytest.raises(ConfigError) as error:
        settings_for(tune, specs, model, **overrides)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_unknown_or_unsearchable_models_in_tune_models_are_named():
    with pytest.raises(ConfigError, match="no model namespace 'sesion_knn'; did you mean"):
        check_searched(["sesion_knn"])
    with pytest.raises(ConfigError, match="most_popular has no option to search"):
        check_searched(["most_popular"])
    check_searched(["word2vec_search", *SEARCHABLE_MODELS])


def test_the_resume_command_is_the_command_run_with_tune_resume():
    assert resume_command(["run", "--pipelines=tune"]) == (
        "kedro run --pipelines=tune --params=tune.resume=true"
    )
    assert resume_command(["run", "--params=tune.model=item_knn,tune.resume=false"]) == (
        "kedro run --params=tune.model=item_knn,tune.resume=true"
    )
    assert resume_command(["run", "--params", "a=1 b"]) == (
        "kedro run --params 'a=1 b,tune.resume=true'"
    )
    with pytest.raises(ConfigError, match=r"interrupted after 3 trials.*Resume it with: kedro"):
        require_complete({"search": {"complete": False, "trials": 3}}, "item_knn")
    require_complete({"search": {"complete": True}}, "item_knn")
    require_complete(None, "item_knn")


# --- where the search runs: every fault in one line, within the timeout --------------------


def test_auto_with_a_stale_cluster_file_names_the_file(tmp_path):
    stale = tmp_path / "ray_current_cluster"
    port = closed_port()
    stale.write_text(f"127.0.0.1:{port}")
    environ = {"RAY_TMPDIR": str(tmp_path)}
    address = resolve(RaySettings(address="auto"), environ)
    assert address.value == f"127.0.0.1:{port}"
    with pytest.raises(ConfigError) as error:
        check_reachable(address, 2, environ)
    assert str(error.value).startswith(
        f"ray.address=auto: {stale} names 127.0.0.1:{port}, where no Ray answers"
    )
    assert "a stopped Ray left it behind" in str(error.value)
    with pytest.raises(ConfigError, match="found no Ray on this machine"):
        resolve(RaySettings(address="auto"), {"RAY_TMPDIR": str(tmp_path / "none")})


def test_a_port_answered_by_something_else_is_named_not_ray():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        for address in (f"127.0.0.1:{port}", "env:HEAD"):
            settings = RaySettings(address=address, connect_timeout_s=3)
            with pytest.raises(ConfigError) as error:
                check_reachable(resolve(settings, {"HEAD": f"127.0.0.1:{port}"}), 3)
            assert f"The server at 127.0.0.1:{port}" in str(error.value)
            assert "is not a Ray head: it answered '<!DOCTYPE HTML>'" in str(error.value)
    finally:
        server.shutdown()
        server.server_close()


def test_a_port_that_accepts_but_never_answers_times_out_in_one_line():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # connections complete in the backlog; nothing ever replies
        port = silent.getsockname()[1]
        with pytest.raises(ConfigError) as error:
            check_reachable(f"127.0.0.1:{port}", 1)
    assert "timed out after 1s (ray.connect_timeout_s)" in str(error.value)


def test_ray_client_addresses_and_impossible_trials_are_refused(tune, specs):
    settings = settings_for(tune, specs, "session_knn")
    client = settings.model_copy(update={"ray": RaySettings(address="ray://127.0.0.1:10001")})
    with pytest.raises(ConfigError, match="is a Ray Client address, which a search cannot use"):
        check_where(client)
    big = settings.model_copy(
        update={"cpus_per_trial": 64, "ray": RaySettings(address="local", num_cpus=2)}
    )
    with pytest.raises(ConfigError) as error:
        check_where(big)
    assert str(error.value).startswith(
        "tune.cpus_per_trial = 64: a local Ray with 2 CPUs (ray.num_cpus, else this "
        "machine's) can never start such a trial; set at most 2."
    )
