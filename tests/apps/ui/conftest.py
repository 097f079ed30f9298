"""Shared by the kedro-viz and notebook tests: copies of the session's demo run (one of
them with a synthetic tune search's outputs) and the artifacts the tests leave behind.

The copies also hold the notebooks and an empty ``src/``: ``kedro viz`` and
``%load_ext kedro.ipython`` bootstrap the project and want its source folder (the package
itself is the installed one).
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest
from kedro.io import DataCatalog
from matplotlib.figure import Figure

from session_recs.framework.config_loader import ProjectConfigLoader

from ...conftest import ROOT, DemoRun

#: The synthetic search: a full grid over three hyperparameters, EPOCHS epochs per trial.
SEARCH_GRID = {"window": [1, 4, 7], "negative": [2, 5], "ns_exponent": [-0.5, 0.75]}
EPOCHS = 3
METRIC = "val_recall_at_10"

#: Files the tests saved for people to look at, listed at the end of the pytest output.
SAVED_ARTIFACTS: list[Path] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "viz: drives kedro-viz in headless Chromium")
    config.addinivalue_line("markers", "notebooks: executes notebooks/ on the demo data")


def pytest_terminal_summary(terminalreporter) -> None:
    if SAVED_ARTIFACTS:
        terminalreporter.section("test artifacts")
        for path in SAVED_ARTIFACTS:
            terminalreporter.write_line(str(path))


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $SESSION_RECS_TEST_ARTIFACTS, or pytest's base temp folder."""
    configured = os.environ.get("SESSION_RECS_TEST_ARTIFACTS")
    folder = Path(configured) if configured else tmp_path_factory.getbasetemp() / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_artifact(source: Path, folder: Path) -> Path:
    """Copy ``source`` into the artifacts ``folder`` and list it in the test summary."""
    target = folder / source.name
    shutil.copy(source, target)
    SAVED_ARTIFACTS.append(target)
    return target


def with_notebooks(project: Path) -> Path:
    """``project`` plus the notebooks and an empty ``src/``."""
    shutil.copytree(
        ROOT / "notebooks",
        project / "notebooks",
        ignore=shutil.ignore_patterns(".ipynb_checkpoints"),
    )
    (project / "src").mkdir(exist_ok=True)
    return project


@pytest.fixture(scope="session")
def ui_run(demo_run: DemoRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shared demo run (no tune search) with the notebooks. Read it only."""
    return with_notebooks(demo_run.copy_to(tmp_path_factory.mktemp("ui") / "demo"))


@pytest.fixture(scope="session")
def searched_run(demo_run: DemoRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo run with a tune search's outputs saved through its catalog."""
    project = with_notebooks(demo_run.copy_to(tmp_path_factory.mktemp("ui") / "searched"))
    save_search_outputs(project)
    return project


@contextmanager
def working_directory(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def save_search_outputs(project: Path) -> None:
    """Save a synthetic search (SEARCH_GRID, EPOCHS each) as the tune pipeline would:
    tune_history, tune_results, best_w2v_params, both tune plots and the curves' chart.

    A real search needs Ray and a minute or more; its outputs are tested in tests/tuning.
    """
    history, results = synthetic_search()
    best = results.iloc[0]
    options = {name: best[f"config/{name}"].item() for name in SEARCH_GRID}
    best_params = {
        "model": {"kind": "word2vec", "options": {**options, "epochs": EPOCHS, "seed": 0}},
        "search": {"trial_id": best["trial_id"], "metric": METRIC, "value": best[f"last_{METRIC}"]},
    }
    curves, parameters = Figure(figsize=(6, 4)), Figure(figsize=(6, 4))
    axes = curves.add_subplot()
    for _, trial in history.groupby("trial_id"):
        axes.plot(trial["epoch"], trial[METRIC])
    parameters.add_subplot().scatter(results["config/window"], results[f"last_{METRIC}"])
    chart = go.Figure(
        [go.Scatter(x=t["epoch"], y=t[METRIC], name=n) for n, t in history.groupby("trial_id")]
    )
    # Catalog file paths are relative to the project, as in a Kedro session.
    with working_directory(project):
        loader = ProjectConfigLoader("conf", base_env="base", default_run_env="local")
        catalog = DataCatalog.from_config(loader["catalog"])
        catalog.save("tune_history", history)
        catalog.save("tune_results", results)
        catalog.save("best_w2v_params", best_params)
        catalog.save("tune_curves_plot", curves)
        catalog.save("tune_curves_chart", chart)
        catalog.save("tune_parameters_plot", parameters)


def synthetic_search() -> tuple[pd.DataFrame, pd.DataFrame]:
    """tune_history and tune_results of a finished grid search, in the tune pipeline's
    schema (session_recs.tuning.results); the metric grows with window and negative."""
    history, trials = [], []
    for number, values in enumerate(itertools.product(*SEARCH_GRID.values())):
        config = dict(zip(SEARCH_GRID, values, strict=True))
        trial_id = f"trial{number:02d}"
        final = 0.2 + 0.03 * config["window"] + 0.01 * config["negative"]
        curve = [final * (1 - 0.5**epoch) for epoch in range(1, EPOCHS + 1)]
        for epoch, value in enumerate(curve, start=1):
            history.append(
                {
                    "trial_id": trial_id,
                    "attempt": 1,
                    "epoch": epoch,
                    METRIC: value,
                    "val_mrr_at_10": value / 2,
                    "time_total_s": 0.5 * epoch,
                }
            )
        trials.append(
            {"trial_id": trial_id, "status": "TERMINATED",
             **{f"config/{name}": value for name, value in config.items()},
             "epochs_planned": EPOCHS, "epochs_run": EPOCHS, "stopped_early": False,
             f"best_{METRIC}": curve[-1], f"last_{METRIC}": curve[-1],
             "best_val_mrr_at_10": curve[-1] / 2, "last_val_mrr_at_10": curve[-1] / 2,
             "best_epoch": EPOCHS, "wall_s": 0.5 * EPOCHS, "attempts": 1}
        )  # fmt: skip
    results = pd.DataFrame(trials).sort_values(f"last_{METRIC}", ascending=False, kind="stable")
    return pd.DataFrame(history), results.reset_index(drop=True)
