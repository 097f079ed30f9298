"""Every baseline namespace fitted and evaluated by SequentialRunner on planted sessions
(tests/pipelines/conftest.py): each item is always followed by the next of its group."""

import pandas as pd
import pytest

from session_recs.models import Recommender
from session_recs.pipelines import baseline
from session_recs.pipelines.namespaces import BASELINE_MODELS

from ...conftest import check_metrics_table
from ..conftest import run_pipeline


def at(metrics: pd.DataFrame, metric: str, k: int, context: str = "last_item") -> float:
    """One value of a ``<model>.metrics`` table."""
    row = metrics.query("metric == @metric and k == @k and context == @context")
    assert len(row) == 1, row
    return float(row["value"].iloc[0])


@pytest.mark.parametrize("name", BASELINE_MODELS)
def test_each_namespace_fits_its_model_and_measures_it_with_intervals(baseline_outputs, name):
    assert isinstance(baseline_outputs[f"{name}.recommender"], Recommender)
    check_metrics_table(baseline_outputs[f"{name}.metrics"], n_queries=60, found=True)
    assert len(baseline_outputs[f"{name}.query_ranks"]) > 0


def test_a_namespace_builds_the_kind_and_options_of_its_parameters(baseline_outputs):
    for name, kind in (("association_rules_ff19", "association_rules"), ("markov", "markov")):
        metrics = baseline_outputs[f"{name}.metrics"]
        assert set(metrics["model_kind"]) == {kind}
    for name, mode in (("association_rules_ff19", "ff19"), ("association_rules", "clean")):
        options = baseline_outputs[f"{name}.metrics"]["model_options"]
        assert options.str.contains(f'"mode": "{mode}"').all(), name


def test_sequence_models_find_the_planted_order(baseline_outputs):
    def mrr(name: str) -> float:
        return at(baseline_outputs[f"{name}.metrics"], "mrr", 5)

    # The next item is always the next of the group: first for every test query.
    assert mrr("markov") == 1.0 and mrr("sequential_rules") == 1.0
    # Co-occurrence alone cannot tell the next item from the previous one.
    assert mrr("association_rules") < 1.0
    # Popularity does not know the group: 40 items of equal weight.
    assert at(baseline_outputs["most_popular.metrics"], "recall", 10) < 0.5


def test_one_namespace_runs_alone(parameters, split_data):
    pipeline = baseline.create_pipeline().only_nodes_with_namespaces(["markov"])
    outputs = run_pipeline(pipeline, parameters, **split_data)
    assert set(outputs) == {"markov.recommender", "markov.metrics", "markov.query_ranks"}
    assert at(outputs["markov.metrics"], "recall", 5) == 1.0
