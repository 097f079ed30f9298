"""Train, monitor and evaluate Word2Vec, once per preset (one namespace each), and once
with the tune pipeline's best configuration (namespace ``word2vec_search``)."""

import functools

from kedro.pipeline import Node, Pipeline

from session_recs.pipelines.modeling import evaluate_node, fit_node, model_pipelines
from session_recs.pipelines.namespaces import SEARCH_TAG, SEARCHED_MODEL, W2V_MODELS

from .nodes import extract_training_history, fit_searched_word2vec, plot_learning_curve


def monitoring_nodes(model: str) -> Pipeline:
    """The training history and learning curve of fitted model ``model`` (a namespace)."""
    plot = functools.partial(plot_learning_curve, model=model)
    functools.update_wrapper(plot, plot_learning_curve)
    return Pipeline(
        [
            Node(
                extract_training_history,
                inputs="recommender",
                outputs="training_history",
                name="extract_training_history",
                tags=["model"],
            ),
            Node(
                plot,
                inputs="training_history",
                outputs="learning_curve",
                name="plot_learning_curve",
                tags=["model", "report"],
            ),
        ]
    )


def searched_model_pipeline() -> Pipeline:
    """``word2vec_search``: fit from ``best_w2v_params``, evaluate, plot its learning curve.

    Part of both train_w2v and tune (so ``kedro run --pipelines=tune`` ends with the tuned
    model's test metrics), and left out of the default run, which has no search results.
    """
    fit = Node(
        fit_searched_word2vec,
        inputs=["train_sessions", "validation_pairs", "params:model", "best_w2v_params"],
        outputs="recommender",
        name="fit_recommender",
        tags=["model"],
    )
    template = Pipeline([fit, evaluate_node()]) + monitoring_nodes(SEARCHED_MODEL)
    searched = model_pipelines((SEARCHED_MODEL,), template, extra_inputs={"best_w2v_params"})
    # session_recs.framework.run_plan leaves these out, in one line, while there is no search.
    return Pipeline(searched, tags=[SEARCH_TAG])


def create_pipeline(**kwargs) -> Pipeline:
    """Build the train_w2v pipeline."""
    presets = model_pipelines(
        W2V_MODELS, lambda name: Pipeline([fit_node(), evaluate_node()]) + monitoring_nodes(name)
    )
    return presets + searched_model_pipeline()
