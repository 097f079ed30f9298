"""params:tune → tune_settings → Ray Tune search → tune_results, best_w2v_params, plots."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    plot_tune_curves,
    plot_tune_parameters,
    run_word2vec_search,
    select_best_w2v_params,
    validate_tune_config,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Build the tune pipeline."""
    return Pipeline(
        [
            Node(
                validate_tune_config,
                inputs=["params:tune", "params:ray"],
                outputs="tune_settings",
                name="validate_tune_config",
            ),
            Node(
                run_word2vec_search,
                inputs=["tune_settings", "train_sessions", "validation_pairs", "params:dataset"],
                outputs=["tune_history", "tune_results"],
                name="run_word2vec_search",
            ),
            Node(
                select_best_w2v_params,
                inputs=["tune_results", "tune_settings"],
                outputs="best_w2v_params",
                name="select_best_w2v_params",
            ),
            Node(
                plot_tune_curves,
                inputs=["tune_history", "tune_settings"],
                outputs="tune_curves_plot",
                name="plot_tune_curves",
                tags=["report"],
            ),
            Node(
                plot_tune_parameters,
                inputs=["tune_results", "tune_settings"],
                outputs="tune_parameters_plot",
                name="plot_tune_parameters",
                tags=["report"],
            ),
        ],
        tags=["tune"],
    )
