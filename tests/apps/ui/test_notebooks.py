"""notebooks/ hold no outputs and run without errors on the demo data, before and after a
tune search, each in a fresh kernel of this interpreter that loads the Kedro project."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from ...conftest import ROOT, latest_version
from .conftest import EPOCHS, SEARCH_GRID

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "session-recs-tests"
#: Terminal colours and links (Kedro's rich logging and pretty-printing) in outputs.
ANSI = re.compile(r"\x1b\[[0-9;]*m|\x1b\]8;[^\x1b]*\x1b\\")


def test_notebooks_are_committed_without_outputs():
    assert len(NOTEBOOKS) >= 3, NOTEBOOKS
    dirty = [
        f"{path.name} cell {i}"
        for path in NOTEBOOKS
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, (
        f"notebooks with outputs: {dirty}; clear them before committing "
        "(Jupyter: Edit > Clear Outputs of All Cells, or "
        "`jupyter nbconvert --clear-output --inplace notebooks/*.ipynb`)"
    )


@pytest.fixture(scope="module")
def kernels(tmp_path_factory: pytest.TempPathFactory) -> KernelSpecManager:
    """A kernelspec running ipykernel on this interpreter, whatever Jupyter has installed."""
    folder = tmp_path_factory.mktemp("kernels")
    write_kernel_spec(folder / KERNEL)
    return KernelSpecManager(kernel_dirs=[str(folder)])


async def _execute(path: Path, kernels: KernelSpecManager) -> tuple[nbformat.NotebookNode, str]:
    notebook = nbformat.read(path, as_version=4)
    kernel = AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=kernels)
    client = NotebookClient(
        notebook, km=kernel, timeout=300, resources={"metadata": {"path": str(path.parent)}}
    )
    try:
        await client.async_execute()
    except CellExecutionError as error:
        return notebook, f"{path}: {error}"
    finally:
        # nbclient leaves a kernel it was given running.
        if await kernel.is_alive():
            await kernel.shutdown_kernel(now=True)
    return notebook, ""


def execute(paths: list[Path], kernels: KernelSpecManager) -> list[nbformat.NotebookNode]:
    """Run the notebooks side by side (most of each run is the kernel loading Kedro);
    fail with every cell error."""

    async def run_all():
        return await asyncio.gather(*(_execute(path, kernels) for path in paths))

    results = asyncio.run(run_all())
    errors = [error for _, error in results if error]
    assert not errors, "\n\n".join(errors)
    return [notebook for notebook, _ in results]


def text_of(notebook: nbformat.NotebookNode) -> str:
    """Everything the notebook printed or displayed as text."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
    return ANSI.sub("", "\n".join(parts))


def images_in(notebook: nbformat.NotebookNode) -> int:
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )


@pytest.mark.notebooks
@pytest.mark.slow
def test_notebooks_run_on_the_demo_data(ui_run, searched_run, kernels, tmp_path):
    names = [path.name for path in NOTEBOOKS]
    runs = [ui_run / "notebooks" / name for name in names]
    runs.append(searched_run / "notebooks" / "02_tune_results.ipynb")
    *executed, tuned = execute(runs, kernels)
    by_name = dict(zip(names, executed, strict=True))
    for name, notebook in (*by_name.items(), ("02_tune_results.searched.ipynb", tuned)):
        nbformat.write(notebook, tmp_path / name)  # executed, to look at after a failure

    sessions = pd.read_parquet(
        latest_version(ui_run / "data" / "03_primary" / "demo" / "sessions.parquet")
    )
    explore = by_name["01_explore_dataset.ipynb"]
    shown = re.search(r"^sessions\s+(\d+)$", text_of(explore), flags=re.MULTILINE)
    assert shown and int(shown[1]) == sessions["session_id"].nunique()
    assert images_in(explore) == 3  # session lengths, long tail, repeats

    before = by_name["02_tune_results.ipynb"]
    assert "No search has run yet for dataset 'demo'" in text_of(before)
    assert images_in(before) == 0
    trials = len(pd.MultiIndex.from_product(list(SEARCH_GRID.values())))
    assert f"dataset demo: {trials} trials, {trials * EPOCHS} reported epochs" in text_of(tuned)
    assert images_in(tuned) == 2  # the curves and the pairs of hyperparameters

    comparison = by_name["03_model_comparison.ipynb"]
    table = pd.read_parquet(
        latest_version(ui_run / "data" / "08_reporting" / "demo" / "model_comparison.parquet")
    )
    # The models with metrics (without PyTorch, gru4rec and sasrec are rows "not run").
    models = table.loc[table["protocol"] != "not_run", "model"].unique()
    assert len(models) >= 10
    assert all(model in text_of(comparison) for model in models)
    assert images_in(comparison) == 4
