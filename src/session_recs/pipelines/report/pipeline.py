"""<model>.metrics → model_comparison, its Markdown/HTML report and plot.

The named pipeline (``kedro run --pipelines=report``, also part of ``tune``) reports every
model namespace and search there is; the default pipeline reports the models a plain
``kedro run`` fits (:func:`report_pipeline`, built in ``pipeline_registry.py``). Their nodes
share names and outputs, so no pipeline holds both: :func:`~session_recs.pipelines.
namespaces.combine` keeps the widest where pipelines are added up.
"""

from collections.abc import Iterable

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
    """Build the report pipeline: every model namespace and every search."""
    return report_pipeline(MODEL_NAMESPACES, (SEARCHED_MODEL, *SEARCHABLE_MODELS))


def report_pipeline(models: Iterable[str], searches: Iterable[str] = ()) -> Pipeline:
    """The report over ``models`` (reading each one's ``<model>.metrics`` and
    ``<model>.query_ranks``) and the tune results of ``searches``."""
    with reading_other_namespaces():
        return _report_nodes(tuple(models), tuple(searches))


def _search_results(model: str) -> str:
    """The dataset of ``model``'s tune results (FF19's search keeps its unprefixed name)."""
    return "tune_results" if model == SEARCHED_MODEL else f"{model}.tune_results"


def _report_nodes(models: tuple[str, ...], searches: tuple[str, ...]) -> Pipeline:
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
                    **{name: f"{name}.metrics" for name in models},
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
                    **{name: f"{name}.query_ranks" for name in models},
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
                    **{name: f"{name}.query_ranks" for name in models},
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
                    **{model: _search_results(model) for model in searches},
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
