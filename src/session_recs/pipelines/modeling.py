"""The template every model runs through: fit on train_sessions, evaluate on the test data.

Pipelines instantiate it once per model with ``namespace=<model name>``; parameters
``<model name>.model`` (``kind`` and ``options``) choose the model, and the outputs are
``<model name>.recommender``, ``<model name>.metrics`` and ``<model name>.query_ranks``
(all inside the model's namespace, which kedro-viz draws as one collapsible group).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pandas as pd
from kedro.pipeline import Node, Pipeline

from session_recs.core.tables import is_table
from session_recs.evaluation.next_event import EvaluationConfig, evaluate_with_ranks
from session_recs.models import ModelSpec, Recommender

SHARED_INPUTS = {"train_sessions", "validation_pairs", "test_pairs", "test_sessions"}


def engine_errors(doing: str, data: Any) -> Any:
    """The columnar engine's failures in one line saying what it was ``doing``
    (:func:`session_recs.data.engine.errors`) when ``data`` is its table; a DataFrame
    needs no engine (nor its import)."""
    if not is_table(data):
        return contextlib.nullcontext()
    from session_recs.data.engine import errors

    return errors(doing, data._find_backend())


def fit_recommender(
    train_sessions: pd.DataFrame, validation_pairs: pd.DataFrame, model: ModelSpec
) -> Recommender:
    """Build the model that ``model`` (kind + options) describes and fit it (on the
    columnar engine when ``train_sessions`` is its table and the model counts there)."""
    recommender = ModelSpec.model_validate(model).build()
    with engine_errors(f"fitting {recommender.name}", train_sessions):
        return recommender.fit(train_sessions, validation_pairs)


def evaluate_recommender(  # noqa: PLR0917 (a node: Kedro passes inputs by position)
    recommender: Recommender,
    train_sessions: pd.DataFrame,
    test_pairs: pd.DataFrame,
    test_sessions: pd.DataFrame,
    evaluation: EvaluationConfig,
    dataset: str = "",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Test metrics of a fitted model under every protocol and context configured, and
    each test query's target rank (the report's paired tests between models), both
    carrying what they were measured on (dataset, split fingerprints, settings, options)."""
    config = EvaluationConfig.model_validate(evaluation)
    # A table's fingerprint and repeats are read a batch at a time and only the rows of
    # the test pairs' sessions come into memory, never the whole table.
    with engine_errors(f"evaluating {recommender.name}", train_sessions):
        return evaluate_with_ranks(
            recommender, train_sessions, test_pairs, test_sessions, config, dataset=str(dataset)
        )


def fit_node() -> Node:
    """``train_sessions`` + ``params:model`` → ``recommender``."""
    return Node(
        fit_recommender,
        inputs=["train_sessions", "validation_pairs", "params:model"],
        outputs="recommender",
        name="fit_recommender",
        tags=["model"],
    )


def evaluate_node() -> Node:
    """``recommender`` → ``metrics`` and ``query_ranks`` on the test data."""
    return Node(
        evaluate_recommender,
        inputs=[
            "recommender",
            "train_sessions",
            "test_pairs",
            "test_sessions",
            "params:evaluation",
            "params:dataset",
        ],
        outputs=["metrics", "query_ranks"],
        name="evaluate_recommender",
        tags=["model", "evaluation"],
    )


def model_template() -> Pipeline:
    """fit → evaluate, with dataset names to be namespaced per model."""
    return Pipeline([fit_node(), evaluate_node()])


def model_pipelines(
    names: tuple[str, ...],
    template: Pipeline | Callable[[str], Pipeline] | None = None,
    extra_inputs: set[str] | frozenset[str] = frozenset(),
) -> Pipeline:
    """One namespaced copy of ``template`` per model name (``template(name)`` when it is a
    function of the name).

    The split's outputs (and ``extra_inputs``), ``params:evaluation`` and
    ``params:dataset`` are shared, not namespaced; everything else becomes
    ``<name>.<dataset>`` (``<name>.recommender``, ``<name>.metrics``,
    ``<name>.query_ranks``) and ``params:<name>.model``.
    """
    template = template or model_template()
    template_of = (lambda _: template) if isinstance(template, Pipeline) else template
    return sum(
        (
            Pipeline(
                template_of(name),
                namespace=name,
                inputs=SHARED_INPUTS | set(extra_inputs),
                parameters={"params:evaluation", "params:dataset"},
            )
            for name in names
        ),
        Pipeline([]),
    )
