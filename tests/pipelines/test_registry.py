"""The registered pipelines: ``__default__`` holds only what a plain ``kedro run`` makes (and
the sources it reads), the report and tune pipelines hold the rest; every model's datasets
sit in its namespace, at the files of their former names."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline

from session_recs.framework.config_loader import ProjectConfigLoader
from session_recs.framework.run_plan import plan_run
from session_recs.pipelines.namespaces import (
    BASELINE_MODELS,
    MODEL_NAMESPACES,
    NEURAL_MODELS,
    SEARCHABLE_MODELS,
    SEARCHED_MODEL,
    W2V_MODELS,
    combine,
    tuned_name,
)
from session_recs.settings import CONFIG_LOADER_ARGS

from ..conftest import ROOT

REPORT_NODES = {
    "describe_report_conditions",
    "compile_model_comparison",
    "chart_model_comparison",
    "test_against_best",
    "render_model_comparison",
}


@pytest.fixture(scope="module")
def registry() -> dict[str, Pipeline]:
    from kedro.framework.project import configure_project

    from session_recs.pipeline_registry import register_pipelines

    configure_project("session_recs")
    return register_pipelines()


@pytest.fixture
def fresh_catalog(tmp_path: Path) -> Iterator[DataCatalog]:
    """The project's catalog (conf/base, the demo dataset) in an empty folder: as after a
    clone, nothing saved yet. Paths are relative to the working directory, as in a run."""
    loader = ProjectConfigLoader(str(ROOT / "conf"), env="base", **CONFIG_LOADER_ARGS)
    with contextlib.chdir(tmp_path):
        yield DataCatalog.from_config(loader["catalog"])


def datasets(pipeline: Pipeline) -> set[str]:
    """The datasets ``pipeline`` reads or writes, without parameters."""
    return {
        name
        for name in pipeline.datasets()
        if not name.startswith("params:") and name != "parameters"
    }


def test_the_default_pipeline_shows_only_what_a_plain_run_makes(registry, fresh_catalog):
    """Counting: every dataset of ``__default__`` (parameters aside) is either made by a
    node a plain ``kedro run`` runs from a fresh clone (the run planning's nodes, which leave
    out what needs a missing extra or a search) or a source no registered pipeline makes
    (the raw data, and the run's input versions, which the project's hooks fill). The rest,
    such as a tuned model's metrics or a search's results, would be "not created": 0."""
    default = registry["__default__"]
    plan = plan_run(default, registry, fresh_catalog)
    planned = [node for node in default.nodes if node.name in plan.node_names]
    assert len(planned) == len(default.nodes) == len(plan.node_names)  # nothing skipped
    assert plan.notes == []
    made = {output for node in planned for output in node.outputs}
    made_anywhere = combine(registry.values()).all_outputs()
    sources = {name for name in datasets(default) if name not in made_anywhere}
    assert sources == {"raw_interactions", "input_versions"}
    not_created = datasets(default) - made - sources
    assert sorted(not_created) == []
    # What that leaves, per model: its recommender, metrics and query ranks (and Word2Vec's
    # training history and learning curve).
    models = (*BASELINE_MODELS, *W2V_MODELS)
    per_model = {name for name in datasets(default) if name.partition(".")[0] in models}
    assert len(per_model) == 3 * len(models) + 2 * len(W2V_MODELS) == 40


def test_the_default_report_reads_the_models_the_default_run_fits(registry):
    default = registry["__default__"]
    compile_node = next(n for n in default.nodes if n.name == "compile_model_comparison")
    read = {name.removesuffix(".metrics") for name in compile_node.inputs if ".metrics" in name}
    assert read == {*BASELINE_MODELS, *W2V_MODELS}
    for name in (*NEURAL_MODELS, SEARCHED_MODEL, tuned_name("markov")):
        assert not any(node.namespace == name for node in default.nodes), name
    assert "tune_results" not in default.datasets()


def test_the_report_and_tune_pipelines_report_every_model_measured(registry):
    everything = {f"{name}.metrics" for name in MODEL_NAMESPACES}
    searches = {"tune_results", *(f"{model}.tune_results" for model in SEARCHABLE_MODELS)}
    for name in ("report", "tune"):
        pipeline = registry[name]
        assert {node.name for node in pipeline.nodes} >= REPORT_NODES, name
        assert everything | searches <= pipeline.datasets(), name
    assert everything | searches <= registry["report"].inputs()  # read, made elsewhere
    # tune holds the searches, their outputs and the tuned refits (and word2vec_search).
    tune = registry["tune"]
    assert {"tune_results", "best_w2v_params", "markov.tune_results"} <= tune.all_outputs()
    assert {"markov_tuned.metrics", f"{SEARCHED_MODEL}.metrics"} <= tune.all_outputs()
    # The report's nodes in tune are the report pipeline's own: tune and report add up.
    assert {node for node in registry["report"].nodes} <= set(tune.nodes)
    assert registry["tune"] + registry["report"]


def test_combining_keeps_the_report_that_reads_every_model(registry):
    with pytest.raises(ValueError, match="unique names"):
        registry["__default__"] + registry["report"]  # Kedro's own sum refuses the pair
    combined = combine([registry["__default__"], registry["report"]])
    compile_node = next(n for n in combined.nodes if n.name == "compile_model_comparison")
    assert {f"{name}.metrics" for name in MODEL_NAMESPACES} <= set(compile_node.inputs)
    assert len(combined.nodes) == len(registry["__default__"].nodes)


def test_each_model_is_one_namespace_holding_its_outputs(registry):
    for pipeline in ("baseline", "train_w2v"):
        for node in registry[pipeline].nodes:
            assert node.namespace, node.name
            assert all(output.startswith(f"{node.namespace}.") for output in node.outputs)
    markov = {o for n in registry["baseline"].nodes if n.namespace == "markov" for o in n.outputs}
    assert markov == {"markov.recommender", "markov.metrics", "markov.query_ranks"}


def test_a_version_saved_under_the_former_name_is_read_under_the_new(fresh_catalog, tmp_path):
    """``markov_metrics`` (before the datasets moved into the model's namespace) saved its
    versions at ``data/07_model_output/<dataset>/markov_metrics.parquet/<version>/``;
    ``markov.metrics`` reads them there."""
    version = "2026-01-01T00.00.00.000Z"
    tables = {
        "metrics": pd.DataFrame({"metric": ["recall"], "k": [10], "value": [0.25]}),
        "query_ranks": pd.DataFrame({"query": [0, 1], "rank": [3, 0]}),
    }
    for table, frame in tables.items():
        folder = tmp_path / f"data/07_model_output/demo/markov_{table}.parquet/{version}"
        folder.mkdir(parents=True)
        frame.to_parquet(folder / f"markov_{table}.parquet")
    for table, frame in tables.items():  # the fixture's working directory is tmp_path
        pd.testing.assert_frame_equal(fresh_catalog.load(f"markov.{table}"), frame)
    assert fresh_catalog.load("association_rules.metrics") is None  # never saved
