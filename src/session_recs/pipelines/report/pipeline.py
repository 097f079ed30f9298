"""<model>_metrics → model_comparison, its Markdown/HTML report and plot."""

from kedro.pipeline import Node, Pipeline

from session_recs.pipelines.namespaces import (
    MODEL_NAMESPACES,
    SEARCHABLE_MODELS,
    SEARCHED_MODEL,
    reading_other_namespaces,
)

from .nodes import (
    break_down_by_items_seen,
    chart_model_comparison,
    compile_model_comparison,
    describe_report_conditions,
    render_model_comparison,
    test_against_best,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Build the report pipeline."""
    with reading_other_namespaces():
        return _report_nodes()


def _report_nodes() -> Pipeline:
    return Pipeline(
        [
            Node(
                describe_report_conditions,
                inputs={
                    "train_sessions": "train_sessions",
                    "test_pairs": "test_pairs",
                    "test_sessions": "test_sessions",
                    # Only the settings that change what is measured: a model measured
                    # with another n_boot or memory_mb is still comparable.
                    "exclude_query": "params:evaluation.exclude_query",
                    "unknown_targets": "params:evaluation.unknown_targets",
                    "dataset": "params:dataset",
                },
                outputs="report_conditions",
                name="describe_report_conditions",
                tags=["report"],
            ),
            Node(
                compile_model_comparison,
                inputs={
                    "conditions": "report_conditions",
                    **{name: f"{name}_metrics" for name in MODEL_NAMESPACES},
                },
                outputs="model_comparison",
                name="compile_model_comparison",
                tags=["report"],
            ),
            Node(
                chart_model_comparison,
                inputs={"comparison": "model_comparison", "report": "params:report"},
                outputs="model_comparison_chart",
                name="chart_model_comparison",
                tags=["report"],
            ),
            Node(
                test_against_best,
                inputs={
                    "report": "params:report",
                    "conditions": "report_conditions",
                    **{name: f"{name}_query_ranks" for name in MODEL_NAMESPACES},
                },
                outputs="model_significance",
                name="test_against_best",
                tags=["report"],
            ),
            Node(
                break_down_by_items_seen,
                inputs={
                    "report": "params:report",
                    "conditions": "report_conditions",
                    **{name: f"{name}_query_ranks" for name in MODEL_NAMESPACES},
                },
                outputs="model_accuracy_by_items_seen",
                name="break_down_by_items_seen",
                tags=["report"],
            ),
            Node(
                render_model_comparison,
                inputs={
                    "comparison": "model_comparison",
                    "report": "params:report",
                    "dataset": "params:dataset",
                    "dataset_profile": "dataset_profile",
                    "tests": "model_significance",
                    "input_versions": "input_versions",
                    "conditions": "report_conditions",
                    "by_items_seen": "model_accuracy_by_items_seen",
                    SEARCHED_MODEL: "tune_results",
                    **{model: f"{model}.tune_results" for model in SEARCHABLE_MODELS},
                },
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
