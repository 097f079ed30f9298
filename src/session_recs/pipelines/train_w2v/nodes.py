"""Nodes of the train_w2v pipeline beyond the shared fit/evaluate template.

gensim is imported by the nodes that train or plot, not here: every command loads the
pipeline registry, and a run that trains no Word2Vec should not pay gensim's import (about
a second).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from session_recs.core.errors import ConfigError
from session_recs.models import ModelSpec
from session_recs.models.base import Recommender
from session_recs.pipelines.modeling import fit_recommender
from session_recs.pipelines.namespaces import SEARCHED_MODEL
from session_recs.pipelines.tune.nodes import require_complete


def extract_training_history(recommender: Recommender) -> pd.DataFrame:
    """Per-epoch loss and validation metrics recorded while training (a
    :class:`~session_recs.models.word2vec.Word2VecRecommender`'s ``history``)."""
    return recommender.history


def plot_learning_curve(history: pd.DataFrame, *, model: str = "") -> Figure:
    """Validation metrics and loss per epoch, titled with the model's name."""
    from session_recs.models.epoch_metrics import learning_curve_figure

    return learning_curve_figure(history, title=f"{model} learning curve".strip())


def searched_model(model: ModelSpec, best_w2v_params: dict[str, Any] | None) -> ModelSpec:
    """The model to train: ``model`` itself, or with ``from_search`` the tune pipeline's best.

    With ``from_search: true`` the best configuration's options win over ``model.options``
    (which then only supply what the search did not set, such as ``workers``).
    """
    model = ModelSpec.model_validate(model)
    if not model.from_search:
        return model
    if best_w2v_params is None:
        raise ConfigError(
            f"{SEARCHED_MODEL}.model.from_search is true but there is no best_w2v_params for "
            "this dataset yet: run `kedro run --pipeline=tune` first (same --params=dataset), "
            f"or set --params={SEARCHED_MODEL}.model.from_search=false to train "
            f"{SEARCHED_MODEL}.model.options."
        )
    require_complete(best_w2v_params, SEARCHED_MODEL)
    best = best_w2v_params.get("model") or {}
    if best.get("kind") != "word2vec" or not isinstance(best.get("options"), dict):
        raise ConfigError(
            "best_w2v_params must hold {model: {kind: word2vec, options: {...}}}; got "
            f"{best_w2v_params!r}. Rerun `kedro run --pipeline=tune`."
        )
    return ModelSpec(kind="word2vec", options={**model.options, **best["options"]})


def fit_searched_word2vec(
    train_sessions: pd.DataFrame,
    validation_pairs: pd.DataFrame,
    model: ModelSpec,
    best_w2v_params: dict[str, Any] | None,
) -> Recommender:
    """Fit Word2Vec with the tune pipeline's best configuration (or ``model.options``)."""
    return fit_recommender(train_sessions, validation_pairs, searched_model(model, best_w2v_params))
