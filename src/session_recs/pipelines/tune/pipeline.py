"""params:tune → a search per model → tune results, best parameters, plots, tuned refit.

One search per searchable model namespace (see
:data:`~session_recs.pipelines.namespaces.SEARCHABLE_MODELS`); the run planning keeps
those ``tune.model`` / ``tune.models`` name (:func:`~session_recs.pipelines.namespaces.
searched_by`).
FF19's Word2Vec search (``word2vec_search``, the default) keeps its own dataset names
(``tune_results``, ``best_w2v_params``, ...) and is refitted by train_w2v's
``word2vec_search``; every other model ``m`` writes ``m.tune_results``, ``m.best_params``
and ``m.tune_*_plot``, and is refitted and evaluated as ``m_tuned``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from kedro.pipeline import Node, Pipeline

from session_recs.pipelines.modeling import evaluate_node, model_pipelines
from session_recs.pipelines.namespaces import (
    NEURAL_MODELS,
    NEURAL_TAG,
    SEARCHABLE_MODELS,
    SEARCHED_MODEL,
    TUNE_TAG,
    reading_other_namespaces,
    tuned_name,
)

from .nodes import (
    chart_tune_curves,
    check_search_complete,
    fit_best,
    plot_tune_curves,
    plot_tune_parameters,
    run_model_search,
    select_best_params,
    validate_search,
    validate_tune_config,
)


def _bound(func: Callable, **kwargs: str) -> Callable:
    bound = functools.partial(func, **kwargs)
    functools.update_wrapper(bound, func)
    return bound


def search_nodes(model: str) -> Pipeline:
    """Check, run and summarise the search of ``model`` (namespace ``model``, except FF19's
    ``word2vec_search``, whose datasets and nodes keep their unprefixed names)."""
    legacy = model == SEARCHED_MODEL
    nodes = [
        Node(
            validate_tune_config if legacy else _bound(validate_search, model=model),
            inputs=["params:tune", "params:ray", "params:model", "params:evaluation"],
            outputs="tune_settings",
            name="validate_tune_config",
        ),
        Node(
            run_model_search,
            inputs=["tune_settings", "train_sessions", "validation_pairs", "params:dataset"],
            outputs=["tune_history", "tune_results"],
            name=f"run_{SEARCHED_MODEL}" if legacy else "run_search",
        ),
        Node(
            select_best_params,
            inputs=["tune_results", "tune_settings"],
            outputs="best_params",
            name="select_best_w2v_params" if legacy else "select_best_params",
        ),
        Node(
            check_search_complete,
            inputs=["best_params", "tune_settings"],
            outputs=None,
            name="check_search_complete",
        ),
        Node(
            plot_tune_curves,
            inputs=["tune_history", "tune_settings"],
            outputs="tune_curves_plot",
            name="plot_tune_curves",
            tags=["report"],
        ),
        Node(
            chart_tune_curves,
            inputs=["tune_history", "tune_results", "tune_settings"],
            outputs="tune_curves_chart",
            name="chart_tune_curves",
            tags=["report"],
        ),
        Node(
            plot_tune_parameters,
            inputs=["tune_results", "tune_settings"],
            outputs="tune_parameters_plot",
            name="plot_tune_parameters",
            tags=["report"],
        ),
    ]
    shared = {"params:tune", "params:ray", "params:dataset", "params:evaluation"}
    if legacy:
        search = Pipeline(
            nodes,
            outputs={"best_params": "best_w2v_params"},
            parameters={"params:model": f"params:{model}.model"},
        )
    else:
        search = Pipeline(
            nodes,
            namespace=model,
            inputs={"train_sessions", "validation_pairs"},
            parameters=shared,
        )
    return search


def tuned_model_nodes(model: str) -> Pipeline:
    """``<model>_tuned``: refit ``<model>.best_params`` on the training sessions, evaluate."""
    fit = Node(
        _bound(fit_best, model=model),
        inputs=["train_sessions", "validation_pairs", "best_params"],
        outputs="recommender",
        name="fit_recommender",
        tags=["model"],
    )
    template = Pipeline([fit, evaluate_node()])
    refit = model_pipelines((tuned_name(model),), template, extra_inputs={"best_params"})
    with reading_other_namespaces():
        refit = Pipeline(refit, inputs={"best_params": f"{model}.best_params"})
    return refit


def create_pipeline(**kwargs) -> Pipeline:
    """Build the tune pipeline: a search of every searchable model (and their refits)."""
    pipeline = search_nodes(SEARCHED_MODEL)
    for model in SEARCHABLE_MODELS:
        nodes = search_nodes(model) + tuned_model_nodes(model)
        # A neural model's search and refit are left out, in one line, without PyTorch.
        pipeline += Pipeline(nodes, tags=[NEURAL_TAG]) if model in NEURAL_MODELS else nodes
    return Pipeline(pipeline, tags=[TUNE_TAG])
