"""A parameter is applied or refused, never ignored (issue 23).

The config loader refuses a key no file of conf/base has (a misspelt section), a value
where the defaults have a section and the reverse, and a bad ``dataset``, wherever they
are set; ``dataset`` picks the catalog's source from any conf file. The run planning
brings in the data nodes that read a ``--params`` value, or stops naming the pipeline
to add. Unit tests on the loader and the planner, then the CLI in process (one line,
exit 1, nothing saved changed), then one subprocess for the traceback-free console.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.pipeline import Pipeline, node

from session_recs.core.errors import ConfigError
from session_recs.framework.config_loader import ProjectConfigLoader
from session_recs.framework.run_plan import bring_in_readers
from session_recs.settings import CONFIG_LOADER_ARGS

from ..conftest import copy_project, latest_version, run_cli, run_in_process, saved_hashes

#: Commands run end to end as a user runs them (in process): the slow layer.
pytestmark = pytest.mark.slow


def loader(project: Path, runtime: dict | None = None, env: str | None = None):
    return ProjectConfigLoader(
        str(project / "conf"), env=env, runtime_params=runtime or {}, **CONFIG_LOADER_ARGS
    )


def write_local(project: Path, text: str, env: str = "local") -> None:
    (project / "conf" / env / "parameters.yml").write_text(text)


#: (--params, conf/local/parameters.yml, a fragment of the one line)
UNKNOWN_KEYS = [
    (
        {"evalution": {"ks": 5}},
        "",
        "Unknown parameter section 'evalution' (--params); did you mean 'evaluation'?",
    ),
    (
        {},
        "evalution:\n  ks: [5]\n",
        "Unknown parameter section 'evalution' (conf/local/parameters.yml); did you mean "
        "'evaluation'?",
    ),
    ({"zzz": 1}, "", "Unknown parameter section 'zzz' (--params); the sections are: "),
    (
        {"datasets": {"demo": {"splt": {"seed": 5}}}},
        "",
        "Unknown parameter section 'splt' (datasets.demo in --params); did you mean 'split'?",
    ),
    (
        {},
        "datasets:\n  mine:\n    sessionise: {order: file}\n",
        "Unknown parameter section 'sessionise' (datasets.mine in conf/local/parameters.yml)",
    ),
    (
        {"split": 5},
        "",
        "split = 5 (--params): split is a section of settings, not a value; set one of its "
        "keys, e.g. split.strategy=...",
    ),
    (
        {"split": {"seed": {"x": 3}}},
        "",
        "split.seed.x (--params): split.seed is a single value (123 by default), not a "
        "section of settings.",
    ),
    ({"dataset": {"x": 1}}, "", "dataset.x (--params): dataset is a single value"),
    (
        {"session_knn": {"foo": 3}},
        "",
        "session_knn.foo (--params): unknown setting; a model namespace holds only "
        "session_knn.model",
    ),
    (
        {},
        "markov:\n  modle: {kind: markov}\n",
        "markov.modle (conf/local/parameters.yml): unknown setting",
    ),
    (
        {"datasets": {"online_retail": {"split": {"seed": 5}}}},
        "",
        "datasets.online_retail (--params) applies when dataset=online_retail, and this "
        "run's dataset is demo",
    ),
]


@pytest.mark.parametrize(("runtime", "local", "message"), UNKNOWN_KEYS)
def test_an_unknown_or_misshapen_key_is_refused_in_one_line(project, runtime, local, message):
    if local:
        write_local(project, local)
    with pytest.raises(ConfigError) as caught:
        loader(project, runtime)["parameters"]
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


#: (--params, conf/local/parameters.yml, a fragment of the one line)
BAD_DATASETS = [
    ({"dataset": None}, "", "dataset is empty (--params). Known datasets: aotm, demo, "),
    ({"dataset": ""}, "", "dataset is empty (--params)."),
    (
        {"dataset": "../up"},
        "",
        "dataset = '../up' (--params): expected a name of letters, digits, '_' or '-'",
    ),
    ({"dataset": 7}, "", "dataset = 7 (--params): expected a name"),
    (
        {},
        "dataset: nosuch\n",
        "Unknown dataset 'nosuch' (conf/local/parameters.yml). Known datasets: aotm, demo, "
        "online_retail, otto_synthetic, recsys15, rsc15_100k.",
    ),
]


@pytest.mark.parametrize(("runtime", "local", "message"), BAD_DATASETS)
def test_a_bad_dataset_is_refused_wherever_it_is_set(project, runtime, local, message):
    if local:
        write_local(project, local)
    for key in ("catalog", "parameters"):
        with pytest.raises(ConfigError) as caught:
            loader(project, runtime)[key]
        assert message in str(caught.value)


@pytest.mark.parametrize("where", ["base", "local", "cluster", "--params"])
def test_dataset_picks_the_catalog_source_wherever_it_is_set(project, where):
    runtime, env = {}, None
    if where == "--params":
        runtime = {"dataset": "aotm"}
    elif where == "base":
        path = project / "conf/base/parameters.yml"
        path.write_text(path.read_text().replace("dataset: demo", "dataset: aotm"))
    else:
        env = None if where == "local" else where
        path = project / "conf" / where / "parameters.yml"
        path.write_text("dataset: aotm\n")
    config = loader(project, runtime, env)
    catalog = config["catalog"]
    assert catalog["raw_interactions"]["filepath"].endswith("aotm_list_ids.txt")
    assert "/aotm/" in catalog["sessions"]["filepath"]
    params = config["parameters"]
    assert params["dataset"] == "aotm"
    # The settings follow the same source (file order, FF19's split: nothing is timed).
    assert params["split"]["strategy"] == "ff19"
    if where == "cluster":
        assert params["ray"]["storage_path"] == "data/06_models/aotm/ray_tune"


def test_a_dataset_block_given_with_params_applies_to_that_dataset(project):
    params = loader(project, {"datasets": {"demo": {"split": {"seed": 5}}}})["parameters"]
    assert params["split"]["seed"] == 5 and params["split"]["test_size"] == 150
    assert "datasets" not in params
    params = loader(project, {"dataset": "aotm", "datasets": {"aotm": {"split": {"seed": 6}}}})[
        "parameters"
    ]
    assert params["split"]["seed"] == 6


def test_the_projects_own_files_and_environments_pass(project):
    for env in (None, "cluster", "cml"):
        for dataset in ("demo", "online_retail", "rsc15_100k", "aotm", "recsys15"):
            loader(project, {"dataset": dataset}, env)["parameters"]


# --- the run planning: a --params value read outside the selected nodes ---------------


def _same(x):
    return x


def _pair(x, y):
    return x


DATA = ["data"]
INGEST = node(_same, "raw", "interactions", name="ingest", tags=DATA)
SESSIONIZE = node(
    _pair, ["interactions", "params:sessionize"], "sessions", name="sessionize", tags=DATA
)
CATALOGUE = node(_same, "sessions", "item_catalog", name="catalogue", tags=DATA)
SPLIT = node(_pair, ["sessions", "params:split"], "train", name="split", tags=DATA)
FIT = node(_pair, ["train", "params:m.model"], "m.recommender", name="fit", namespace="m")
EVALUATE = node(_pair, ["m.recommender", "params:evaluation"], "m_metrics", name="m.evaluate")
REPORT = node(_pair, ["m_metrics", "params:report"], "comparison", name="report")
TUNE = node(_pair, ["train", "params:tune"], "tune_results", name="search")
REGISTRY = {
    "ingest": Pipeline([INGEST]),
    "sessionize": Pipeline([SESSIONIZE, CATALOGUE]),
    "split": Pipeline([SPLIT]),
    "baseline": Pipeline([FIT, EVALUATE]),
    "tune": Pipeline([TUNE]),
    "report": Pipeline([REPORT]),
}
EVERYTHING = sum(REGISTRY.values(), Pipeline([]))


def plan(nodes, given, by_namespace=False):
    kept, note = bring_in_readers(
        list(nodes), EVERYTHING, given, REGISTRY, by_namespace=by_namespace
    )
    return sorted(n.name for n in kept), note


def test_a_value_read_in_the_run_or_by_every_run_adds_nothing():
    assert plan([SPLIT], {"split": {"seed": 7}}) == (["split"], "")
    assert plan([SPLIT], {"dataset": "aotm"}) == (["split"], "")
    assert plan([FIT, EVALUATE], {"evaluation": {"ks": [5]}}) == (["m.evaluate", "m.fit"], "")


def test_a_data_node_upstream_is_brought_in_with_the_nodes_between():
    names, note = plan([SPLIT], {"sessionize": {"min_session_length": 3}})
    assert names == ["sessionize", "split"]  # not the catalogue: the split does not read it
    assert note == (
        "sessionize.min_session_length (--params) is read before the selected nodes: "
        "running sessionize first."
    )
    names, note = plan([FIT, EVALUATE], {"sessionize": {"gap_minutes": 5}, "split": {"seed": 7}})
    assert names == ["m.evaluate", "m.fit", "sessionize", "split"]
    assert "running sessionize → split first" in note


@pytest.mark.parametrize(
    ("nodes", "given", "by_namespace", "message"),
    [
        (
            [TUNE],
            {"m": {"model": {"options": {"k": 3}}}},
            False,
            "m.model.options.k (--params): only pipeline baseline reads it",
        ),
        (
            [FIT, EVALUATE],
            {"tune": {"num_samples": 3}},
            False,
            "tune.num_samples (--params): only pipeline tune reads it, and tune is not in this "
            "run; add --pipelines=tune.",
        ),
        (
            [REPORT],
            {"evaluation": {"ks": [5]}},
            False,
            "evaluation.ks (--params): only pipeline baseline reads it",
        ),
        (
            [REPORT],
            {"split": {"seed": 7}},
            False,
            "split.seed (--params): only pipeline split reads it, and split is not in this run; "
            "add --pipelines=split.",
        ),
    ],
)
def test_a_value_only_other_pipelines_read_is_refused(nodes, given, by_namespace, message):
    with pytest.raises(ConfigError) as caught:
        plan(nodes, given, by_namespace)
    assert message in str(caught.value)


def test_a_value_that_would_remake_a_pinned_input_is_refused():
    with pytest.raises(ConfigError) as caught:
        bring_in_readers([FIT], EVERYTHING, {"split": {"seed": 7}}, REGISTRY, pinned=["train"])
    assert str(caught.value) == (
        "split.seed (--params) is read by split, which would make train again, and "
        "--load-versions pins it: drop one of the two."
    )


# --- the CLI, in process: one line, exit 1, nothing saved changed ---------------------

SPLIT_RUN = "--pipelines=split"
MODEL_RUN = "--namespaces=most_popular"
CLI_CASES = [
    (
        (SPLIT_RUN, "--params=evalution.ks=5"),
        "",
        "Unknown parameter section 'evalution' (--params); did you mean 'evaluation'?",
    ),
    (
        (SPLIT_RUN,),
        "evalution:\n  ks: [5]\n",
        "Unknown parameter section 'evalution' (conf/local/parameters.yml)",
    ),
    ((SPLIT_RUN,), "split:\n  sed: 5\n", "split.sed: unknown setting (value 5)"),
    ((SPLIT_RUN, "--params=sessionize.gap_minute=5"), "", "sessionize.gap_minute: unknown"),
    (
        (MODEL_RUN, "--params=session_knn.model.options.kk=3"),
        "",
        "session_knn.model: Unknown option(s) ['kk'] for model kind 'session_knn'",
    ),
    ((SPLIT_RUN,), "dataset: nosuch\n", "Unknown dataset 'nosuch' (conf/local/parameters.yml)"),
    ((SPLIT_RUN, "--params=dataset="), "", "dataset is empty (--params). Known datasets: "),
    ((SPLIT_RUN, "--params=dataset=a.b"), "", "dataset = 'a.b' (--params): expected a name"),
    ((SPLIT_RUN, "--params=split=5"), "", "split = 5 (--params): split is a section"),
    (
        (SPLIT_RUN, "--params=datasets.online_retail.split.seed=5"),
        "",
        "datasets.online_retail (--params) applies when dataset=online_retail",
    ),
    (
        ("--params=tune.num_samples=3",),
        "",
        "tune.num_samples (--params): only pipeline tune reads it, and tune is not in this run; "
        "add --pipelines=tune.",
    ),
    (
        ("--pipelines=report", "--params=evaluation.n_boot=10"),
        "",
        "evaluation.n_boot (--params): only pipelines baseline, train_w2v, train_neural, tune "
        "read it, and none of them is in this run; add one, e.g. --pipelines=baseline.",
    ),
    (
        ("--pipelines=baseline", MODEL_RUN, "--params=session_knn.model.options.k=5"),
        "",
        "session_knn.model.options.k (--params): model session_knn is not in this run; add "
        "--namespaces=session_knn.",
    ),
    (
        (SPLIT_RUN, "--params=markov.model.options.context_window=2"),
        "",
        "markov.model.options.context_window (--params): model markov is not in this run; "
        "add --pipelines=baseline.",
    ),
    ((MODEL_RUN, "--params=report.k=5"), "", "report.k (--params): only pipeline report"),
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    project = copy_project(tmp_path_factory.mktemp("params_applied") / "project")
    result = run_in_process(project, "run", MODEL_RUN)
    assert result.exit_code == 0 and result.exception is None, result.output[-3000:]
    return project, saved_hashes(project)


@pytest.mark.parametrize(
    ("args", "local", "fragment"),
    CLI_CASES,
    ids=[" ".join(a) + (" + conf/local" if local else "") for a, local, _ in CLI_CASES],
)
def test_a_parameter_never_ignored_gets_one_line_and_changes_nothing(
    prepared, args, local, fragment
):
    project, before = prepared
    path = project / "conf/local/parameters.yml"
    if local:
        path.write_text(local)
    try:
        result = run_in_process(project, "run", *args)
    finally:
        path.unlink(missing_ok=True)
    assert result.exception is None, (result.exception, result.output[-3000:])
    assert result.exit_code == 1, result.output[-3000:]
    assert len(result.error_lines) == 1, result.output[-3000:]
    assert fragment in result.error_lines[0], result.error_lines[0]
    assert saved_hashes(project) == before


def _versions(project: Path, name: str) -> list[str]:
    folder = project / "data/05_model_input/demo" / name
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_value_for_an_upstream_data_step_runs_it_first(prepared, tmp_path):
    import shutil

    project = tmp_path / "p"
    shutil.copytree(prepared[0], project)
    sessions = project / "data/03_primary/demo/sessions.parquet"
    before = sorted(p.name for p in sessions.iterdir())
    result = run_in_process(project, "run", SPLIT_RUN, "--params=sessionize.min_session_length=9")
    assert result.exit_code == 0 and result.exception is None, result.output[-3000:]
    assert (
        "sessionize.min_session_length (--params) is read before the selected nodes: running "
        "sessionize_interactions first." in result.log
    )
    after = sorted(p.name for p in sessions.iterdir())
    assert len(after) == len(before) + 1
    import pandas as pd

    lengths = pd.read_parquet(latest_version(sessions)).groupby("session_id").size()
    assert lengths.min() >= 9

    splits = _versions(project, "train_sessions.parquet")
    result = run_in_process(
        project, "run", "--pipelines=baseline", MODEL_RUN, "--params=split.seed=7"
    )
    assert result.exit_code == 0 and result.exception is None, result.output[-3000:]
    assert "split.seed (--params) is read before the selected nodes: running split_next_event" in (
        result.log
    )
    assert len(_versions(project, "train_sessions.parquet")) == len(splits) + 1


@pytest.mark.slow
def test_a_misspelt_section_and_a_local_dataset_stop_the_cli_in_one_line(project):
    """In a real process: exit 1, one line, no traceback, nothing saved."""
    (project / "conf/local/parameters.yml").write_text("dataset: nosuch\n")
    for args in (("--params=evalution.ks=5",), ()):
        result = run_cli(project, "run", "--pipelines=split", *args)
        output = result.stdout + result.stderr
        assert result.returncode == 1, output[-3000:]
        assert "Traceback" not in output
        errors = [line for line in output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, output[-3000:]
        assert ("'evalution'" if args else "'nosuch' (conf/local/parameters.yml)") in errors[0]
        assert not any(
            p.is_file() for p in (project / "data").rglob("*") if "01_raw" not in p.parts
        )
