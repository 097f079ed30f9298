"""notebooks/ hold no outputs and run without errors or log lines on the demo data, before
and after a tune search, each in a fresh kernel of this interpreter that loads the Kedro
project; without the data they stop in one line naming the command to run first; and
`kedro render-notebooks` writes them as small, self-contained HTML files."""

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

from session_recs.apps.notebooks import notebook_logging

from ...conftest import ROOT, copy_project, latest_version, run_in_process
from .conftest import EPOCHS, SEARCH_GRID, with_notebooks

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "session-recs-tests"
#: Terminal colours and links (Kedro's rich logging and pretty-printing) in outputs.
ANSI = re.compile(r"\x1b\[[0-9;]*m|\x1b\]8;[^\x1b]*\x1b\\")
#: What a log line or tqdm's missing-ipywidgets warning leaves in an output.
NOISE = re.compile(r" INFO | DEBUG |WARNING|IProgress")


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


def test_every_notebook_loads_the_project_through_the_quiet_extension():
    first_code = [
        next(c.source for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code")
        for p in NOTEBOOKS
    ]
    assert all(
        src.splitlines()[-1] == "%load_ext session_recs.apps.notebooks" for src in first_code
    )


def test_notebook_logging_quiets_the_console_and_keeps_the_log_file_in_the_project(tmp_path):
    config = {
        "handlers": {
            "console": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
            "info_file": {"class": "logging.handlers.RotatingFileHandler", "filename": "info.log"},
        },
        "loggers": {"kedro": {"level": "INFO"}},
    }
    quiet = notebook_logging(config, tmp_path)
    assert quiet["handlers"]["console"]["level"] == "WARNING"
    assert quiet["handlers"]["info_file"]["filename"] == str(tmp_path / "info.log")
    assert "level" not in quiet["handlers"]["info_file"]
    assert quiet["loggers"] == {"kedro": {"level": "INFO"}}
    assert "level" not in config["handlers"]["console"]  # a copy: the original is unchanged


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


def run_side_by_side(
    paths: list[Path], kernels: KernelSpecManager
) -> list[tuple[nbformat.NotebookNode, str]]:
    """Run the notebooks side by side (most of each run is the kernel loading Kedro):
    each executed notebook and its cell error ("" for none)."""

    async def run_all():
        return await asyncio.gather(*(_execute(path, kernels) for path in paths))

    return asyncio.run(run_all())


def execute(paths: list[Path], kernels: KernelSpecManager) -> list[nbformat.NotebookNode]:
    """Run the notebooks side by side; fail with every cell error."""
    results = run_side_by_side(paths, kernels)
    errors = [error for _, error in results if error]
    assert not errors, "\n\n".join(errors)
    return [notebook for notebook, _ in results]


def noise_in(notebook: nbformat.NotebookNode) -> list[str]:
    """Lines of the notebook's outputs (streams, and displays: Kedro's rich log handler
    displays its records) that are log lines."""
    return [
        line
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        for text in (output.get("text", ""), output.get("data", {}).get("text/plain", ""))
        for line in ANSI.sub("", text).splitlines()
        if NOISE.search(line)
    ]


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
        assert not noise_in(notebook), (name, noise_in(notebook))

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


@pytest.mark.notebooks
@pytest.mark.slow
def test_a_notebook_without_its_data_says_what_to_run_first_in_one_line(kernels, tmp_path):
    """Before any `kedro run`: 01 and 03 stop at their setup cell with one line (no
    traceback), 02 says no search has run."""
    project = with_notebooks(copy_project(tmp_path / "empty"))
    paths = [project / "notebooks" / path.name for path in NOTEBOOKS]
    results = dict(zip([p.name for p in NOTEBOOKS], run_side_by_side(paths, kernels), strict=True))
    expected = {
        "01_explore_dataset.ipynb": "run `kedro run --pipelines=ingest,sessionize,split`",
        "03_model_comparison.ipynb": (
            "model_comparison not made yet for dataset 'demo': run `kedro run`"
        ),
    }
    for name, command in expected.items():
        notebook, error = results[name]
        assert error, f"{name} ran to the end without its data"
        errors = [
            (i, output)
            for i, cell in enumerate(notebook.cells)
            for output in cell.get("outputs", [])
            if output["output_type"] == "error"
        ]
        assert len(errors) == 1, errors
        index, output = errors[0]
        assert index == 2  # the setup cell after %load_ext; nothing after it ran
        assert all(not cell.get("outputs") for cell in notebook.cells[index + 1 :])
        shown = [ANSI.sub("", line) for line in output["traceback"]]
        assert len(shown) == 1 and shown[0].startswith("NotReady: "), shown
        assert command in shown[0], shown[0]
        assert not noise_in(notebook), noise_in(notebook)
    notebook, error = results["02_tune_results.ipynb"]
    assert not error, error
    assert "No search has run yet for dataset 'demo'" in text_of(notebook)


@pytest.mark.notebooks
@pytest.mark.slow
def test_render_notebooks_writes_small_self_contained_html_with_the_plots(ui_run, tmp_path):
    output = tmp_path / "html"
    result = run_in_process(ui_run, "render-notebooks", "--output", str(output))
    assert result.exception is None and result.exit_code == 0, result.output[-3000:]
    written = {path.name: path for path in output.iterdir()}
    assert sorted(written) == [path.stem + ".html" for path in NOTEBOOKS]
    assert len(result.output.strip().splitlines()) == len(NOTEBOOKS)  # one "Wrote" line each
    images = {
        "01_explore_dataset.html": 3,
        "02_tune_results.html": 0,
        "03_model_comparison.html": 4,
    }
    for name, path in written.items():
        html = path.read_text()
        assert path.stat().st_size < 2_000_000, (name, path.stat().st_size)
        assert html.count('src="data:image/png;base64,') == images[name], name
        assert "<script src=" not in html, name  # nothing fetched from a network
        assert not NOISE.search(re.sub(r"<style.*?</style>", "", html, flags=re.DOTALL)), name
    assert "sessions" in written["01_explore_dataset.html"].read_text()
    assert not (ui_run / "docs").exists()  # --output was given: nothing else written
