"""<model>_metrics → model_comparison, its Markdown/HTML report and plot."""

from kedro.pipeline import Node, Pipeline

from session_recs.pipelines.baseline import BASELINE_MODELS
from session_recs.pipelines.train_w2v.pipeline import SEARCHED_MODEL, W2V_MODELS

from .nodes import compile_model_comparison, render_model_comparison


def create_pipeline(**kwargs) -> Pipeline:
    """Build the report pipeline."""
    models = (*BASELINE_MODELS, *W2V_MODELS, SEARCHED_MODEL)
    return Pipeline(
        [
            Node(
                compile_model_comparison,
                inputs={name: f"{name}_metrics" for name in models},
                outputs="model_comparison",
                name="compile_model_comparison",
                tags=["report"],
            ),
            Node(
                render_model_comparison,
                inputs=[
                    "model_comparison",
                    "params:report",
                    "params:dataset",
                    "tune_results",
                    "dataset_profile",
                ],
                outputs=[
                    "model_comparison_report",
                    "model_comparison_html",
                    "model_comparison_plot",
                ],
                name="render_model_comparison",
                tags=["report"],
            ),
        ]
    )
