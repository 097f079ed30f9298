"""The tune pipeline's nodes that need no Ray, run by SequentialRunner on the planted split
(tests/pipelines/conftest.py): a search's settings checked, a best configuration refitted
and evaluated as ``<model>_tuned``, an interrupted search refused. The searches themselves
(Ray) are tests/pipelines/tune/test_pipeline.py's."""

import pytest

from session_recs.pipelines import tune
from session_recs.pipelines.namespaces import (
    NEURAL_MODELS,
    NEURAL_TAG,
    SEARCHABLE_MODELS,
    TUNE_TAG,
)
from session_recs.pipelines.tune.nodes import SearchInterrupted
from session_recs.pipelines.tune.pipeline import search_nodes, tuned_model_nodes

from ..conftest import run_pipeline


@pytest.fixture
def markov_best() -> dict:
    """What a finished search of markov saves as ``markov.best_params``."""
    return {
        "model": {"kind": "markov", "options": {"context_window": 2}},
        "search": {"complete": True, "trials": 4, "trial_id": "t1", "value": 0.9},
    }


def test_every_searchable_model_has_a_search_and_a_tuned_refit():
    pipeline = tune.create_pipeline()
    assert all(TUNE_TAG in node.tags for node in pipeline.nodes)
    namespaces = {(node.namespace or "").split(".")[0] for node in pipeline.nodes}
    for model in SEARCHABLE_MODELS:
        assert {model, f"{model}_tuned"} <= namespaces, model
        neural = {
            NEURAL_TAG in node.tags for node in pipeline.only_nodes_with_namespaces([model]).nodes
        }
        assert neural == {model in NEURAL_MODELS}, model


def test_a_search_s_settings_are_checked_before_ray_starts(parameters):
    check = search_nodes("markov").only_nodes("markov.validate_tune_config")
    params = {**parameters, "tune": {**parameters["tune"], "model": "markov"}}
    settings = run_pipeline(check, params)["markov.tune_settings"]
    assert settings.model == "markov"
    assert settings.exclude_query is True  # the test's evaluation setting, for one-shot trials


def test_the_best_configuration_is_refitted_and_evaluated_as_tuned(
    parameters, split_data, markov_best
):
    outputs = run_pipeline(
        tuned_model_nodes("markov"), parameters, **split_data, **{"markov.best_params": markov_best}
    )
    model = outputs["markov_tuned.recommender"]
    assert model.params()["context_window"] == 2
    metrics = outputs["markov_tuned.metrics"]
    assert set(metrics["model_kind"]) == {"markov"}
    assert (
        metrics.query("metric == 'mrr' and k == 5 and context == 'last_item'")["value"].iloc[0]
        == 1.0
    )


def test_an_interrupted_search_is_not_refitted(parameters, split_data, markov_best):
    markov_best["search"]["complete"] = False
    with pytest.raises(
        SearchInterrupted, match="The search of markov was interrupted after 4 trials"
    ):
        run_pipeline(
            tuned_model_nodes("markov"),
            parameters,
            **split_data,
            **{"markov.best_params": markov_best},
        )


class _RaySearchStarted(Exception):
    """Raised in place of Ray's search, once the plan is logged."""


def test_a_search_says_what_it_will_do_and_for_how_long_before_ray_starts(
    parameters, split_data, monkeypatch, caplog
):
    from session_recs.pipelines.tune.nodes import run_model_search, validate_tune_config
    from session_recs.tuning import runner

    started = []

    def search(settings, *args, **kwargs):
        started.append(settings)
        raise _RaySearchStarted

    monkeypatch.setattr(runner, "run_search", search)
    tune_params = {**parameters["tune"], "auto_budget": {"seconds_per_1000_events": 1000}}
    ray_params = {**parameters["ray"], "address": "local", "num_cpus": 2}
    settings = validate_tune_config(
        tune_params,
        ray_params,
        parameters["word2vec_search"]["model"],
        parameters["evaluation"],
    )
    assert settings.time_budget_s == "auto"
    events = len(split_data["train_sessions"])
    with caplog.at_level("INFO"), pytest.raises(_RaySearchStarted):
        run_model_search(
            settings, split_data["train_sessions"], split_data["validation_pairs"], "demo"
        )
    # 1,000 s per 1,000 events: the planted split's events in seconds, above the 60 s floor.
    assert events > 60
    assert started[0].time_budget_s == events
    plans = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Tune plan:")]
    assert len(plans) == 1
    plan = plans[0]
    assert plan.startswith("Tune plan: word2vec_search (word2vec, preset 'efficient') on demo:")
    assert "up to 300 trials of up to 60 epochs" in plan
    assert f"stopping after {events:,} s at most (auto: {events:,} training events x 1000 s" in plan
    assert "2 trials at a time, 1 CPU each, on a local Ray with 2 CPUs" in plan
    assert "/ray_tune/w2v_demo_efficient_<start time>" in plan
    assert plan.endswith("--params=tune.resume=true")
