"""What the notebooks in notebooks/ need, and ``kedro render-notebooks``.

``%load_ext session_recs.apps.notebooks``, a notebook's first cell, is Kedro's own
``%load_ext kedro.ipython`` (``catalog``, ``context``, ``session``, ``pipelines``,
``%reload_kedro``) without the log lines: the kernel starts in notebooks/, where Kedro
finds no conf/logging.yml and falls back to its own INFO-level rich console, so this
applies the project's conf/logging.yml (or ``$KEDRO_LOGGING_CONFIG``) with its console at
WARNING (:func:`notebook_logging`); info.log still gets every record.

:func:`require` stops a notebook whose data has not been made yet with one line naming
what to run (a :class:`NotReady`, shown without a traceback). :func:`render` executes
the notebooks on the project's data and writes each as HTML (``docs/notebooks/``), one
self-contained file with its plots as PNG images.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import subprocess
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import click
import pandas as pd
import yaml

from session_recs.apps.user_errors import friendly_errors
from session_recs.core.errors import ConfigError, SessionRecsError

#: Where ``kedro render-notebooks`` writes, relative to the project.
RENDERED = Path("docs/notebooks")
#: Seconds one cell may run when rendering.
CELL_TIMEOUT_S = 600
#: The lab template without its two scripts from a CDN (require.js, MathJax): the
#: notebooks use neither widgets nor formulas, and the files then open without a network.
OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
"""


class NotReady(SessionRecsError):
    """A notebook's data has not been made yet; IPython shows the message alone."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def frame(data: Any) -> pd.DataFrame:
    """A loaded dataset as a DataFrame: a table of the columnar engine (what the data
    layer's entries load from ``engine.min_rows`` rows) is run, without its ``_row``."""
    if isinstance(data, pd.DataFrame):
        return data
    if "_row" in data.columns:
        data = data.drop("_row")
    return data.to_pandas()


def require(catalog: Any, names: Iterable[str], run: str) -> None:
    """Raise :class:`NotReady` (one line: the missing datasets and the command ``run``
    that makes them) unless every dataset in ``names`` has been saved."""
    missing = [name for name in names if not catalog.exists(name)]
    if missing:
        dataset = catalog.load("params:dataset") if catalog.exists("params:dataset") else None
        made_for = f" for dataset {dataset!r}" if dataset else ""
        raise NotReady(
            f"{', '.join(missing)} not made yet{made_for}: run `{run}` in the project "
            "folder first, then this notebook again."
        )


def notebook_logging(config: dict[str, Any], project: Path) -> dict[str, Any]:
    """``config`` (a logging.yml) for a notebook: console handlers at WARNING, log files
    under ``project`` (the kernel's working folder is notebooks/)."""
    config = copy.deepcopy(config)
    for handler in config.get("handlers", {}).values():
        if "filename" in handler:
            handler["filename"] = str(project / handler["filename"])
        elif handler.get("class", "").endswith("StreamHandler"):
            handler["level"] = "WARNING"
    return config


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            del os.environ[name]
        else:
            os.environ[name] = previous


def _quiet_logging(project: Path) -> None:
    path = Path(os.environ.get("KEDRO_LOGGING_CONFIG") or project / "conf" / "logging.yml")
    if not path.is_file():
        return
    # Kedro applies a logging config when kedro.framework.project is first imported (and
    # logs which at INFO): let that first one be the project's own, whose console already
    # hides that line, rather than Kedro's rich INFO console.
    with _environment("KEDRO_LOGGING_CONFIG", str(path)):
        from kedro.framework.project import LOGGING

    LOGGING.configure(notebook_logging(yaml.safe_load(path.read_text()), project))


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext session_recs.apps.notebooks``: Kedro's extension, quiet."""
    from kedro.utils import find_kedro_project

    # tqdm.auto (imported by the project's progress bars and MLflow) warns when ipywidgets
    # is missing; the project's bars are plain log lines off a terminal, never widgets.
    warnings.filterwarnings("ignore", message="IProgress not found")
    project = find_kedro_project(Path.cwd())
    if project is not None:
        _quiet_logging(Path(project))
    # Imported after: it imports kedro.framework.project (see _quiet_logging).
    from kedro.ipython import load_ipython_extension as load_kedro

    load_kedro(ipython)


def _missing_extra(error: ImportError) -> ConfigError:
    return ConfigError(
        f"render-notebooks needs the jupyter extra ({error.name} is missing): "
        'pip install -e ".[jupyter]"'
    )


def execute(notebooks: list[Path], log: logging.Logger) -> list[Any]:
    """Each notebook executed in a fresh kernel of this interpreter, in its own folder;
    :class:`NotReady` in a cell ends it all in one line."""
    try:
        import nbformat
        from ipykernel.kernelspec import write_kernel_spec
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
    except ImportError as error:
        raise _missing_extra(error) from None
    executed = []
    with tempfile.TemporaryDirectory() as kernels:
        # This interpreter's kernel, whatever kernels Jupyter has installed.
        write_kernel_spec(Path(kernels) / "session-recs")
        spec_manager = KernelSpecManager(kernel_dirs=[kernels])
        for path in notebooks:
            notebook = nbformat.read(path, as_version=4)
            kernel = KernelManager(
                kernel_name="session-recs", kernel_spec_manager=spec_manager, log=log
            )
            client = NotebookClient(
                notebook,
                km=kernel,
                timeout=CELL_TIMEOUT_S,
                resources={"metadata": {"path": str(path.parent.resolve())}},
                log=log,
            )
            try:
                # The kernel's own stderr holds its start-up notices; cells print through
                # Jupyter's messages, into the notebook.
                client.execute(stderr=subprocess.DEVNULL)
            except CellExecutionError as error:
                if error.ename == NotReady.__name__:
                    raise ConfigError(f"{path}: {error.evalue}") from None
                raise
            finally:
                # nbclient leaves a kernel it was given running.
                if client.kc is not None:
                    client.kc.stop_channels()
                if kernel.is_alive():
                    kernel.shutdown_kernel(now=True)
            executed.append(notebook)
    return executed


def render(notebooks: list[Path], output: Path) -> list[Path]:
    """Execute the notebooks (:func:`execute`), then write each as
    ``<output>/<name>.html``: nothing is written unless all of them ran."""
    # Jupyter's own notices (a kernel on TCP, images without alt text, zmq contexts left
    # to the garbage collector) are nothing to act on: errors only.
    quiet = logging.getLogger(f"{__name__}.jupyter")
    quiet.setLevel(logging.ERROR)
    executed = execute(notebooks, quiet)
    try:
        from nbconvert import HTMLExporter
    except ImportError as error:
        raise _missing_extra(error) from None
    output.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as templates:
        (Path(templates) / "offline.html.j2").write_text(OFFLINE_TEMPLATE)
        exporter = HTMLExporter(
            log=quiet,
            extra_template_paths=[templates],
            template_file="offline.html.j2",
            exclude_input_prompt=True,
            exclude_output_prompt=True,
        )
        for path, notebook in zip(notebooks, executed, strict=True):
            html, _ = exporter.from_notebook_node(notebook)
            target = output / f"{path.stem}.html"
            target.write_text(html, encoding="utf-8")
            written.append(target)
    return written


@click.command("render-notebooks")
@click.argument("notebooks", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=RENDERED,
    show_default=True,
    help="Folder for the HTML files.",
)
@friendly_errors
def render_notebooks(notebooks: tuple[Path, ...], output: Path) -> None:
    """Execute the notebooks (NOTEBOOKS: notebooks/*.ipynb) on the data the last runs
    left and write them as HTML, plots included, to read without Jupyter.

    Example: kedro run && kedro render-notebooks
    """
    paths = list(notebooks) or sorted(Path("notebooks").glob("*.ipynb"))
    if not paths:
        raise ConfigError("No notebooks/*.ipynb here: run render-notebooks in the project folder.")
    for target in render(paths, output):
        click.echo(f"Wrote {target} ({target.stat().st_size / 1e6:.2f} MB)")
