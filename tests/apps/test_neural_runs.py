"""The neural models as users run them: `kedro run --pipelines=train_neural` on a fresh
clone, an interrupted fit, a wrong value, and the same commands without PyTorch."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from ..conftest import (
    copy_project,
    interrupt_when_logged,
    latest_version,
    needs_torch,
    output,
    run_cli,
)

pytestmark = pytest.mark.slow

#: Makes `import torch` fail in a subprocess, as on a machine without the neural extra.
WITHOUT_TORCH = """\
import sys


class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NoTorch())
"""


def run_without_torch(project: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    site = tmp_path / "without_torch"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(WITHOUT_TORCH)
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    return run_cli(project, *args, timeout=600, env={"PYTHONPATH": path})


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in output(result).splitlines() if line.startswith("Error:")]


def test_without_pytorch_the_neural_models_are_skipped_in_one_line(project, tmp_path):
    install = 'pip install -e ".[neural]"'
    # Asked for alone: refused in one line that says how to install.
    result = run_without_torch(project, tmp_path, "run", "--pipelines=train_neural")
    assert result.returncode == 1, output(result)[-3000:]
    assert "Traceback" not in output(result)
    (line,) = error_lines(result)
    assert "gru4rec, sasrec need PyTorch, which is not installed: " in line and install in line
    # Beside other models: they run, the neural ones are skipped in one line.
    result = run_without_torch(
        project,
        tmp_path,
        "run",
        "--pipelines=baseline,train_neural",
        "--namespaces=most_popular,gru4rec",
    )
    assert result.returncode == 0, output(result)[-3000:]
    assert f"Skipping gru4rec: they need PyTorch, which is not installed: {install}" in (
        output(result)
    )
    assert latest_version(project / "data/07_model_output/demo/most_popular_metrics.parquet")
    assert not (project / "data/07_model_output/demo/gru4rec_metrics.parquet").exists()
    # Searching one: the same line, before Ray starts.
    result = run_without_torch(
        project, tmp_path, "run", "--pipelines=tune", "--params=tune.model=sasrec"
    )
    assert result.returncode == 1, output(result)[-3000:]
    (line,) = error_lines(result)
    assert "sasrec needs PyTorch, which is not installed" in line and install in line


@pytest.mark.neural
@needs_torch
def test_train_neural_on_a_fresh_clone_trains_monitors_evaluates_and_reports(tmp_path):
    project = copy_project(tmp_path / "project")
    result = run_cli(project, "run", "--pipelines=train_neural,report", timeout=900)
    assert result.returncode == 0, output(result)[-4000:]
    log = output(result)
    assert "not saved yet for dataset demo: running" in log  # the data pipelines came first
    demo = project / "data"
    for model, epochs in (("gru4rec", 3), ("sasrec", 30)):  # the demo block's epochs
        history = pd.read_parquet(demo / f"07_model_output/demo/{model}_training_history.parquet")
        assert list(history["epoch"]) == list(range(1, epochs + 1))
        assert history["loss"].iloc[-1] < history["loss"].iloc[0]
        assert latest_version(demo / f"08_reporting/demo/{model}_learning_curve.png")
        metrics = pd.read_parquet(
            latest_version(demo / f"07_model_output/demo/{model}_metrics.parquet")
        )
        recall = metrics.query("metric == 'recall' and k == 10 and context == 'session'")
        assert len(recall) == 1 and recall["value"].iloc[0] > 0.5, metrics
        assert recall["ci_low"].iloc[0] < recall["value"].iloc[0] < recall["ci_high"].iloc[0]
        assert f"{model}:" in log  # the progress bar
    report = latest_version(demo / "08_reporting/demo/model_comparison.md").read_text()
    assert "| gru4rec " in report and "| sasrec " in report

    # A wrong value: one line naming it, nothing saved over.
    before = sorted(p.name for p in (demo / "06_models/demo/gru4rec.npz").iterdir())
    result = run_cli(
        project,
        "run",
        "--pipelines=train_neural",
        "--params=gru4rec.model.options.dropout_p_hidden=1.5",
    )
    assert result.returncode == 1 and "Traceback" not in output(result)
    (line,) = error_lines(result)
    assert "gru4rec.model.options.dropout_p_hidden = 1.5" in line, line
    assert sorted(p.name for p in (demo / "06_models/demo/gru4rec.npz").iterdir()) == before

    # Ctrl-C while GRU4Rec trains: exit 1, no traceback, the saved model untouched.
    stopped = interrupt_when_logged(
        project, ["run", "--pipelines=train_neural"], "gru4rec:", tmp_path / "interrupted.log"
    )
    assert stopped.code == 1 and "Traceback" not in stopped.text, stopped.text[-3000:]
    assert sorted(p.name for p in (demo / "06_models/demo/gru4rec.npz").iterdir()) == before
