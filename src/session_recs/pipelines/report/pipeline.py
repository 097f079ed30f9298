"""<model>_metrics → model_comparison, its Markdown/HTML report and plot."""

from kedro.pipeline import Node, Pipeline

from session_recs.pipelines.namespaces import MODEL_NAMESPACES

from .nodes import compile_model_comparison, render_model_comparison


def create_pipeline(**kwargs) -> Pipeline:
    """Build the report pipeline."""
    return Pipeline(
        [
            Node(
                compile_model_comparison,
                inputs={name: f"{name}_metrics" for name in MODEL_NAMESPACES},
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
