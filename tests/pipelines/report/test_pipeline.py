"""The report pipeline builds its tables from the metrics the baseline pipeline made in the
test (tests/pipelines/conftest.py); models that did not run are named as not run."""

import re

import pytest

from session_recs.pipelines import report
from session_recs.pipelines.namespaces import (
    BASELINE_MODELS,
    MODEL_NAMESPACES,
    NEURAL_MODELS,
    SEARCHABLE_MODELS,
    SEARCHED_MODEL,
    W2V_MODELS,
)

from ..conftest import run_pipeline

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report_outputs(parameters, planted_split, split_data, baseline_outputs) -> dict:
    """The report on the baseline's models; every other model not run, no search."""
    results = {}
    for name in MODEL_NAMESPACES:
        for table in ("metrics", "query_ranks"):
            results[f"{name}.{table}"] = baseline_outputs.get(f"{name}.{table}")
    searches = {f"{model}.tune_results": None for model in SEARCHABLE_MODELS}
    return run_pipeline(
        report.create_pipeline(),
        parameters,
        **split_data,
        **results,
        **searches,
        tune_results=None,
        dataset_profile=planted_split["dataset_profile"],
        input_versions={"markov.metrics": "2026-01-01T00.00.00.000Z"},
    )


def test_the_comparison_holds_every_baseline_model_and_names_the_others(report_outputs):
    comparison = report_outputs["model_comparison"]
    measured = comparison[comparison.protocol != "not_run"]
    assert set(measured["model"]) == set(BASELINE_MODELS)
    # The models of the other pipelines are named as not run (a tuned refit only once
    # its search has run).
    not_run = set(comparison.loc[comparison.protocol == "not_run", "model"])
    assert {"word2vec_ff19_default", *NEURAL_MODELS, SEARCHED_MODEL} <= not_run
    assert not_run <= {*W2V_MODELS, *NEURAL_MODELS, SEARCHED_MODEL}
    at10 = measured.query("k == 10 and metric == 'recall' and context == 'last_item'")
    assert at10.set_index("model").loc["markov", "value"] == 1.0
    assert at10["value"].between(0, 1).all()


def test_the_paired_tests_compare_each_model_with_the_best(report_outputs):
    tests = report_outputs["model_significance"]
    assert len(tests) > 0
    assert set(tests["model"]) <= set(BASELINE_MODELS)


def test_the_report_lists_every_model_with_its_dataset_and_draws_the_plot(report_outputs):
    markdown = report_outputs["model_comparison_report"]
    html = report_outputs["model_comparison_html"]
    assert markdown.startswith("# session-recs model comparison: demo")
    assert "## last_pair protocol, `last_item` context (60 test queries)" in markdown
    assert "## last_pair protocol, `session` context (60 test queries)" in markdown
    assert markdown.index("## The dataset") < markdown.index("## last_pair protocol")
    for name in BASELINE_MODELS:
        assert f"| {name} " in markdown
        assert f"<th>{name}</th>" in html
    assert "Hyperparameter search" not in markdown
    assert "input versions: 2026-01-01T00.00.00.000Z: 1 dataset (markov.metrics)" in markdown
    comparison = report_outputs["model_comparison"]
    not_run = re.search(r"^Not run yet: (.*)\.$", markdown, flags=re.M).group(1).split(", ")
    assert set(not_run) == set(comparison.loc[comparison.protocol == "not_run", "model"])
    figure = report_outputs["model_comparison_plot"]
    assert len(figure.axes) >= 1
    # FF19's tuned preset is a model of train_w2v, not a search's refit: named when not run.
    assert "word2vec_ff19_tuned" in not_run


def test_the_html_report_draws_four_charts_and_the_breakdown_by_items_seen(report_outputs):
    html = report_outputs["model_comparison_html"]
    drawn = re.findall(r'<div id="chart-([\w-]+)" class="plotly-graph-div"', html)
    assert drawn == ["recall", "by-k", "tradeoff", "by-seen"]
    assert html.count("<script") == 5 and "<script src" not in html
    assert len(html.encode()) < 5_000_000
    seen = report_outputs["model_accuracy_by_items_seen"]
    assert set(seen["model"]) == set(BASELINE_MODELS)
    # Every test query counted once per model and context (60 last pairs).
    per_model = seen.groupby(["model", "context"])["n_queries"].sum()
    assert (per_model == 60).all()
    assert seen["recall"].between(0, 1).all() and (seen["k"] == 10).all()


def test_a_report_with_no_model_measured_says_so_in_one_line(
    parameters, planted_split, split_data, caplog
):
    """A fresh clone's `kedro run --pipelines=report`: a report naming every model as not
    run, and one warning line saying what to run."""
    results = {f"{name}.{table}": None for name in MODEL_NAMESPACES
               for table in ("metrics", "query_ranks")}  # fmt: skip
    outputs = run_pipeline(
        report.create_pipeline(),
        parameters,
        **split_data,
        **results,
        **{f"{model}.tune_results": None for model in SEARCHABLE_MODELS},
        tune_results=None,
        dataset_profile=planted_split["dataset_profile"],
        input_versions={},
    )
    markdown = outputs["model_comparison_report"]
    assert "No model has metrics for this dataset yet: run `kedro run`." in markdown
    not_run = re.search(r"^Not run yet: (.*)\.$", markdown, flags=re.M).group(1).split(", ")
    assert len(not_run) == len(MODEL_NAMESPACES) - len(SEARCHABLE_MODELS)  # no refits
    assert "<script" not in outputs["model_comparison_html"]  # no chart of nothing
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert [w for w in warnings if "No model has metrics" in w] == [
        "No model has metrics for dataset demo yet: the report lists them as not run. "
        "`kedro run --params=dataset=demo` trains and evaluates them."
    ]
