"""Word2Vec trained, monitored and evaluated per preset namespace by SequentialRunner on the
planted sessions (tests/pipelines/conftest.py), and word2vec_search from a search's best
configuration or its own options."""

import pytest

from session_recs.core.errors import ConfigError
from session_recs.models.word2vec import Word2VecRecommender
from session_recs.pipelines import train_w2v
from session_recs.pipelines.namespaces import SEARCHED_MODEL, W2V_MODELS
from session_recs.pipelines.train_w2v.pipeline import searched_model_pipeline

from ..conftest import run_pipeline

EPOCHS = {"word2vec_ff19_default": 5, "word2vec_ff19_tuned": 20}


@pytest.fixture(scope="module")
def presets(parameters, split_data) -> dict:
    """The preset namespaces (not word2vec_search, which needs a search) run once."""
    pipeline = train_w2v.create_pipeline().only_nodes_with_namespaces(list(W2V_MODELS))
    return run_pipeline(pipeline, parameters, **split_data)


@pytest.fixture
def searched_params(parameters) -> dict:
    """word2vec_search's parameters with 2 epochs (any search's best wins over them)."""
    spec = parameters[SEARCHED_MODEL]["model"]
    model = {**spec, "options": {**spec["options"], "epochs": 2}}
    return {**parameters, SEARCHED_MODEL: {"model": model}}


@pytest.mark.parametrize("name", W2V_MODELS)
def test_each_preset_records_one_history_row_per_epoch_and_its_curve(presets, name):
    model = presets[f"{name}.recommender"]
    assert isinstance(model, Word2VecRecommender)
    history = presets[f"{name}.training_history"]
    assert history["epoch"].tolist() == list(range(1, EPOCHS[name] + 1))
    assert (history["loss"] > 0).all()
    assert history["recall@10"].between(0, 1).all()
    assert len(presets[f"{name}.learning_curve"].axes) >= 1
    metrics = presets[f"{name}.metrics"]
    assert set(metrics["model_kind"]) == {"word2vec"}
    recall = metrics.query("metric == 'recall' and context == 'last_item'")["value"]
    assert recall.between(0, 1).all() and recall.max() > 0


def test_word2vec_search_without_a_search_says_what_to_run(searched_params, split_data):
    with pytest.raises(ConfigError, match=r"run `kedro run --pipeline=tune` first"):
        run_pipeline(searched_model_pipeline(), searched_params, **split_data, best_w2v_params=None)


def test_word2vec_search_trains_its_options_with_from_search_off(searched_params, split_data):
    searched_params[SEARCHED_MODEL]["model"]["from_search"] = False
    outputs = run_pipeline(
        searched_model_pipeline(), searched_params, **split_data, best_w2v_params=None
    )
    model = outputs[f"{SEARCHED_MODEL}.recommender"]
    assert model.params()["epochs"] == 2 and len(model.history) == 2
    assert len(outputs[f"{SEARCHED_MODEL}.metrics"]) > 0


def test_word2vec_search_trains_the_best_configuration_of_a_search(searched_params, split_data):
    best = {
        "model": {"kind": "word2vec", "options": {"window": 2, "epochs": 3, "vector_size": 16}},
        "search": {"complete": True},
    }
    outputs = run_pipeline(
        searched_model_pipeline(), searched_params, **split_data, best_w2v_params=best
    )
    trained = outputs[f"{SEARCHED_MODEL}.recommender"].params()
    assert (trained["window"], trained["epochs"], trained["vector_size"]) == (2, 3, 16)
    assert trained["workers"] == 1  # from word2vec_search.model.options
