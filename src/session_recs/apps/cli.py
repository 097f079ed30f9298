"""Project commands, available as ``kedro <command>`` and ``python -m session_recs <command>``.

``run`` is Kedro's own run command, with one change: a problem the user can fix (a
:class:`~session_recs.core.errors.SessionRecsError`) ends the run with its message and exit
code 1 instead of a traceback. Every other command reports such problems the same way.

Ctrl-C and SIGTERM end ``run``, ``viz run`` (kedro-viz's, whose server it stops) and
``serve-mlflow`` (MLflow's scoring server, stopped with its workers) with one line and
exit code 1 (:func:`stopped_in_one_line`).

(Over 400 lines: Kedro loads a project's commands from one module, so every command lives
here with its own option checks, and the servers it starts share the stop handling.)
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import yaml
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.cli.utils import env_option
from kedro_viz.launchers.cli.main import viz as kedro_viz
from kedro_viz.launchers.cli.run import run as kedro_viz_run

from session_recs.apps.cml import cml_cluster
from session_recs.apps.make_demo import make_demo
from session_recs.apps.notebooks import render_notebooks
from session_recs.apps.service.command import check_address, serve
from session_recs.apps.user_errors import (
    OneLineCommand,
    OneLineGroup,
    friendly_errors,
    stopped_in_one_line,
)
from session_recs.core.errors import ConfigError
from session_recs.core.interrupts import deferred
from session_recs.framework.conf_files import yaml_problem

#: Seconds a stopped server gets to shut down gracefully (then it is killed): within the
#: 10 s a stopped command has to end in.
GRACE_S = 3.0


@click.group(name="session-recs", cls=OneLineGroup)
def cli() -> None:
    """session-recs project commands."""


def _load_versions(ctx: click.Context, param: click.Parameter, value: str) -> dict[str, str]:
    """``--load-versions=name:version,...`` with a one-line error for a malformed item."""
    pairs = {}
    for item in filter(None, (part.strip() for part in (value or "").split(","))):
        name, colon, version = item.partition(":")
        if not colon or not name or not version or "/" in version or version in {".", ".."}:
            raise click.ClickException(
                f"ConfigError: --load-versions={item}: expected <dataset>:<version>, e.g. "
                "sessions:2026-11-26T20.49.58.123Z (the versions are the folder names under "
                "the dataset's path)."
            )
        pairs[name] = version
    return pairs


def _yaml_named(param: click.Parameter) -> click.Parameter:
    """``param`` (one of ``kedro run``'s options) whose own callback parses YAML (the
    values of --params and --runner-params, the --config file): a YAML mistake, or a
    --config file without its ``run:`` section, is a bad value of the option (one line)."""
    callback = param.callback
    if callback is None:
        return param

    def checked(ctx: click.Context, this: click.Parameter, value: Any) -> Any:
        try:
            return callback(ctx, this, value)
        except yaml.YAMLError as err:
            text = str(value)
            if this.name == "config":
                text = Path(value).read_text(encoding="utf8", errors="replace")
            raise click.BadParameter(
                f"{value}{yaml_problem(err, text)}; expected valid YAML.", ctx, this
            ) from None
        except (KeyError, TypeError) as err:
            if this.name != "config":
                raise
            raise click.BadParameter(
                f"{value} has no {err} section; expected a mapping "
                f"{ctx.info_name}: {{<option>: <value>, ...}}.",
                ctx,
                this,
            ) from None

    named = copy.copy(param)
    named.callback = checked
    return named


def _run_options() -> list[click.Parameter]:
    """``kedro run``'s options, with --load-versions parsed by :func:`_load_versions` and
    the YAML of the others named by :func:`_yaml_named`."""
    return [
        click.Option(param.opts, type=str, default="", help=param.help, callback=_load_versions)
        if param.name == "load_versions"
        else _yaml_named(param)
        for param in kedro_run.params
    ]


def _check_runner(name: str) -> None:
    """``--runner``: one of Kedro's runners or the dotted path of a runner class."""
    from kedro.runner import AbstractRunner
    from kedro.utils import load_obj

    try:
        runner = load_obj(name, "kedro.runner")
    except (ImportError, AttributeError, ValueError):
        runner = None
    if not (isinstance(runner, type) and issubclass(runner, AbstractRunner)):
        raise ConfigError(
            f"--runner={name}: not a Kedro runner; expected SequentialRunner, ParallelRunner, "
            "ThreadRunner or the dotted path of an AbstractRunner class."
        )


def _run(**kwargs: Any) -> Any:
    """Kedro's ``run``; the planning and the checks are the project session's
    (:class:`session_recs.framework.session.ProjectSession`). SIGTERM stops it as Ctrl-C does, and
    either ends it with one line (:func:`session_recs.core.interrupts.stop_signals`)."""
    if kwargs.get("pipeline") and kwargs.get("pipelines"):
        raise ConfigError("Give --pipeline or --pipelines, not both (e.g. --pipelines=tune).")
    if kwargs.get("runner"):
        _check_runner(kwargs["runner"])
    kept = ": the outputs saved before are whole and kept; run the command again to go on."
    with warnings.catch_warnings(), stopped_in_one_line(kept):
        # `--pipeline` is what our users type (and what the mission's docs say): no warning.
        warnings.filterwarnings("ignore", message="Option '--pipeline' is deprecated")
        run = kedro_run.callback
        if run is None:  # click allows a command without one; Kedro's run has one
            raise RuntimeError("kedro's run command has no callback")
        return run(**kwargs)


def _end_group(leader: subprocess.Popen) -> None:
    """SIGTERM to the process group ``leader`` leads (started in a session of its own),
    SIGKILL to whatever is left of it after :data:`GRACE_S`."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(leader.pid, signum)
        deadline = time.monotonic() + GRACE_S
        while time.monotonic() < deadline:
            leader.poll()  # reaps the leader: a zombie still counts as a member
            try:
                os.killpg(leader.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def _end_children() -> None:
    """Stop this process's multiprocessing children (kedro-viz's server): SIGTERM, then
    SIGKILL after :data:`GRACE_S`."""
    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    deadline = time.monotonic() + GRACE_S
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
        if child.is_alive():
            child.kill()
            child.join(GRACE_S)


cli.add_command(
    OneLineCommand(
        name="run",
        callback=friendly_errors(_run),
        params=_run_options(),
        help=kedro_run.help,
        short_help=kedro_run.short_help,
    )
)


cli.add_command(cml_cluster)
cli.add_command(render_notebooks)
cli.add_command(make_demo)


@contextlib.contextmanager
def _children_without_ctrl_c() -> Iterator[None]:
    """Spawn this block's multiprocessing children with SIGINT blocked (a spawned child
    keeps its parent's signal mask). Ctrl-C reaches the whole process group: a child still
    importing would print a KeyboardInterrupt traceback; this way only the parent hears it
    and stops the child itself (:func:`_end_children`)."""
    from multiprocessing import util

    spawn = util.spawnv_passfds

    def spawn_masked(*args: Any, **kwargs: Any) -> Any:
        unmasked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return spawn(*args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, unmasked)

    util.spawnv_passfds = spawn_masked  # popen_spawn_posix reads it at each start
    try:
        yield
    finally:
        util.spawnv_passfds = spawn


def _viz_until_stopped(start: Callable[..., Any]) -> Callable[..., Any]:
    """kedro-viz's ``run`` (``start``: it starts the server in a child process and
    returns), then waiting for the server; a signal stops the server and ends the command
    in one line, instead of exit code 0 and a traceback from the exit's wait."""

    def run(**kwargs: Any) -> None:
        after = ": kedro viz is stopped; it saves nothing, every saved version is as it was."
        with stopped_in_one_line(after):
            try:
                with _children_without_ctrl_c():
                    start(**kwargs)
                for child in multiprocessing.active_children():
                    child.join()
                    if child.exitcode:
                        raise click.ClickException(
                            f"kedro viz's server exited with code {child.exitcode} (its "
                            "messages are above)."
                        )
            finally:
                with deferred():  # a second signal does not cut the stop short
                    _end_children()

    return run


#: ``kedro viz run``: kedro-viz's command, stopped in one line.
viz_run = OneLineCommand(
    name="run",
    callback=_viz_until_stopped(kedro_viz_run.callback),
    params=kedro_viz_run.params,
    help=kedro_viz_run.help,
    short_help=kedro_viz_run.short_help,
)


# `kedro viz` is a global command (kedro-viz's entry point), which a project's cli.py
# cannot override; Kedro imports this module for every command in the project, so its
# `run` is pointed here instead. `python -m session_recs viz` is the same group.
kedro_viz.lazy_subcommands["run"] = f"{__name__}.viz_run"
cli.add_command(kedro_viz)


def _check_servable(model_uri: str, host: str, port: int) -> None:
    """Refuse, in one line, a model MLflow cannot find and an address already taken, before
    starting the server (whose own messages for them are tracebacks)."""

    from mlflow.exceptions import MlflowException
    from mlflow.models import get_model_info

    try:
        get_model_info(model_uri)
    except (MlflowException, OSError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(
            f"serve-mlflow {model_uri}: {reason}; expected runs:/<run id>/model, "
            "models:/<name>/<version> or a folder with an MLmodel file (with "
            "MLFLOW_TRACKING_URI set to the tracking store the run was logged to)."
        ) from None
    check_address("serve-mlflow", host, port)


@cli.command("serve-mlflow")
@click.argument("model_uri")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", "-p", default=5000, show_default=True, type=click.IntRange(1, 65535), help="Port."
)
@friendly_errors
def serve_mlflow(model_uri: str, host: str, port: int) -> None:
    """Serve a logged model (MODEL_URI: runs:/<run id>/model, models:/<name>/<version> or a
    folder) with MLflow's scoring server, in this environment.

    As ``mlflow models serve -m MODEL_URI --env-manager local``, except that Ctrl-C or
    SIGTERM stop the server and its workers and end the command with one line and exit
    code 1 (MLflow's own command exits 1 with "Aborted!" on Ctrl-C, and on SIGTERM dies
    without a word, leaving its server running).
    """
    if importlib.util.find_spec("mlflow") is None:
        raise ConfigError('serve-mlflow needs MLflow: pip install -e ".[mlflow]".')
    # As the tracking hook: the project's store is the mlruns/ folder, which MLflow 3
    # refuses (models:/ URIs included) unless asked; the server inherits the setting.
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    _check_servable(model_uri, host, port)
    serve = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri]
    command = [*serve, "--env-manager", "local", "--host", host, "--port", str(port)]
    stopped = f": the server on {host}:{port} is stopped; serving saves nothing."
    with stopped_in_one_line(stopped):
        # In a session of its own: a signal reaches it through this command alone, which
        # stops the whole server (MLflow's command and the uvicorn it starts).
        with deferred():
            server = subprocess.Popen(command, start_new_session=True)
        try:
            code = server.wait()
        finally:
            with deferred():  # a second signal does not cut the stop short
                _end_group(server)
    if code:
        raise click.ClickException(
            f"mlflow models serve exited with code {code} (its messages are above)."
        )


@cli.command()
@click.argument("name", default="online_retail")
@click.option(
    "--dest",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the Parquet table [default: data/01_raw/<name>.parquet].",
)
@click.option("--url", default=None, help="Download from this URL instead of the official one.")
@click.option("--force", is_flag=True, help="Overwrite an existing table.")
@click.option("--timeout", default=60.0, show_default=True, help="Network timeout in seconds.")
@click.option("--sha256", default=None, help="Expected sha256 of the archive (hex).")
@friendly_errors
def download(  # noqa: PLR0917 (click passes options as arguments)
    name: str, dest: Path | None, url: str | None, force: bool, timeout: float, sha256: str | None
) -> None:
    """Download a public dataset (NAME: online_retail) into data/01_raw and verify it."""
    from session_recs.data.download import download_source

    target = dest or Path("data/01_raw") / f"{name}.parquet"
    written = download_source(name, target, url=url, force=force, timeout=timeout, sha256=sha256)
    click.echo(f"Wrote {written}")


def _kedro_run_option(name: str) -> click.Parameter:
    """One of ``kedro run``'s options (same spelling, parsing and help)."""
    return next(param for param in _run_options() if param.name == name)


@cli.command()
@click.argument("items", nargs=-1, required=True)
@click.option("--model", "-m", default="session_knn", show_default=True, help="Model name.")
@click.option(
    "-k", "k", default="10", show_default=True, metavar="K", help="How many items to recommend."
)
@click.option("--load-version", default=None, help="Model version to load [default: latest].")
@click.option("--include-query", is_flag=True, help="Allow the last query item among the results.")
@env_option
@friendly_errors
def recommend(  # noqa: PLR0917 (click passes options as arguments)
    items: tuple[str, ...],
    model: str,
    k: str,
    load_version: str | None,
    include_query: bool,
    env: str | None,
    params: dict[str, Any],
) -> None:
    """Top-K items for a session of ITEMS (item ids in order) from a trained model.

    Example: python -m session_recs recommend 85123A 22423 --model session_knn -k 10
    --params=dataset=online_retail
    """
    from session_recs.apps.recommend import check_k, recommend_items

    count = check_k(k)  # before the (slower) project start
    # The catalog's "Loading data from ..." lines would bury the table.
    kedro_io = logging.getLogger("kedro.io")
    level = kedro_io.level
    kedro_io.setLevel(logging.WARNING)
    # Kedro's rich log handler writes to whatever sys.stdout is: the log goes to stderr,
    # so stdout holds the table alone (`recommend ... > top.txt`).
    try:
        with contextlib.redirect_stdout(sys.stderr):
            table = recommend_items(
                list(items),
                model=model,
                k=count,
                env=env,
                load_version=load_version,
                params=params,
                exclude_query=not include_query,
            )
    finally:
        kedro_io.setLevel(level)
    info = table.attrs
    click.echo(
        f"Top {len(table)} from {info['model']} (dataset {info['dataset']}, version "
        f"{info['version']}) after {' > '.join(items)}:"
    )
    shown = table.assign(score=table["score"].map("{:.4f}".format))
    click.echo(shown.to_string(index=False))


# `--params` exactly as `kedro run` parses it (e.g. --params=dataset=online_retail).
recommend.params.append(_kedro_run_option("params"))

# The service: `--params` as `kedro run` parses it (e.g. --params=dataset=rsc15_100k).
serve.params.append(_kedro_run_option("params"))
cli.add_command(serve)
