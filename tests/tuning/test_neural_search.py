"""A smoke search of each neural model through `kedro run --pipelines=tune` (the neural
extra): epochs are ASHA's resource, every epoch reports the validation metrics, and the
best configuration is refitted and evaluated as `<model>_tuned`."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ..conftest import needs_torch, output, run_cli
from .conftest import ray_processes, wait_until
from .test_search_runs import newest

pytestmark = [pytest.mark.slow, pytest.mark.neural, needs_torch]

MODELS = ("gru4rec", "sasrec")


def test_a_smoke_search_of_each_neural_model_finishes_and_writes_its_outputs(demo_project):
    before = ray_processes()
    result = run_cli(
        demo_project,
        "run",
        "--pipelines=tune",
        # Twice the smoke preset's budget (300 s shared): a quiet machine finishes the 4
        # trials of each long before it, a busy one (CI's installs beside) still does.
        f"--params=tune.smoke=true,tune.models={'+'.join(MODELS)},tune.time_budget_s=600",
        timeout=850,
    )
    log = output(result)
    assert result.returncode == 0, log[-4000:]
    for model in MODELS:
        table = pd.read_parquet(newest(demo_project, "06_models", f"{model}_tune_results.parquet"))
        assert len(table) == 4 and (table["status"] == "TERMINATED").all(), model
        # Epochs are the resource: at most the smoke search's 3, reported one by one.
        assert table["epochs_run"].between(1, 3).all() and table["epochs_run"].max() == 3
        assert table["last_val_recall_at_10"].between(0, 1).all()
        best = json.loads(
            newest(demo_project, "06_models", f"{model}_best_params.json").read_text()
        )
        assert best["model"]["kind"] == model and best["search"]["complete"]
        assert best["search"]["value"] == pytest.approx(table["last_val_recall_at_10"].max())
        history = pd.read_parquet(
            newest(demo_project, "07_model_output", f"{model}_tune_history.parquet")
        )
        assert history.groupby("trial_id")["epoch"].max().max() == 3
        metrics = pd.read_parquet(
            newest(demo_project, "07_model_output", f"{model}_tuned_metrics.parquet")
        )
        recall = metrics.query("metric == 'recall' and k == 10 and context == 'session'")
        # A smoke search (3 epochs of tiny networks) already beats most_popular (0.13).
        assert recall["value"].iloc[0] > 0.2, metrics
        for plot in ("tune_curves.png", "tune_parameters.png"):
            assert newest(demo_project, "08_reporting", f"{model}_{plot}").stat().st_size > 1000
    wait_until(lambda: not (ray_processes() - before), 30, "the search's Ray to stop")
