"""``python -m session_recs serve`` (and ``kedro serve``): the service on uvicorn."""

from __future__ import annotations

import logging
import socket
import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from kedro.framework.cli.utils import env_option

from session_recs.apps.user_errors import friendly_errors, stopped_in_one_line
from session_recs.core.errors import ConfigError

logger = logging.getLogger(__name__)


def check_address(command: str, host: str, port: int) -> None:
    """Refuse, in one line naming ``command``, an address a server cannot listen on,
    before anything slow starts (a server's own message for it is a traceback)."""
    with socket.socket() as probe:
        # As uvicorn binds: a port left in TIME_WAIT by an earlier server is free to use.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"{command} --host {host} --port {port}: cannot listen there "
                f"({exc.strerror or exc}); pick a free port with --port."
            ) from None


def _refuse_unused_options(
    model_file: Path | None, model_uri: str | None, redis: str | None
) -> None:
    """An option given that the chosen source or store would not use is refused in one
    line, never ignored."""
    given = {
        name
        for name in ("load_version", "env", "params", "max_sessions", "poll")
        if click.get_current_context().get_parameter_source(name)
        in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    }
    if model_file is not None and model_uri is not None:
        raise ConfigError("serve: give --model-file or --model-uri, not both.")
    source = "--model-file" if model_file is not None else "--model-uri" if model_uri else None
    catalog_only = sorted(given & {"load_version", "env", "params"})
    if source and catalog_only:
        option = "--" + catalog_only[0].replace("_", "-")
        raise ConfigError(
            f"serve: {option} picks the catalog's model; {source} names the model itself. "
            f"Drop {option}, or serve from the catalog with --model."
        )
    if "load_version" in given and "poll" in given:
        raise ConfigError(
            "serve: --poll looks for newer saved versions; --load-version pins one. "
            "Drop one of them."
        )
    if model_uri is not None and "poll" in given:
        raise ConfigError(
            "serve: --poll looks for newer saved versions; an MLflow URI names one version."
        )
    if redis is not None and "max_sessions" in given:
        raise ConfigError(
            "serve: --max-sessions bounds the in-process store; with --redis, Redis bounds "
            "the sessions (its maxmemory and an LRU policy)."
        )


def _redis_store(url: str, bounds: Any) -> Any:
    """The Redis store at ``url``, or a ConfigError naming what is wrong with it."""
    from session_recs.apps.service.redis_store import RedisStore

    try:
        return RedisStore(url, bounds)
    except ValueError as exc:
        raise ConfigError(f"--redis {url}: {str(exc).rstrip('.')}.") from None


@click.command()
@click.option(
    "--model",
    "-m",
    default=None,
    help="Model name [default: session_knn; with --model-file, the file's name].",
)
@click.option("--load-version", default=None, help="Model version to serve [default: newest].")
@click.option(
    "--model-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Serve this saved model file, or the newest version in a versioned folder "
    "(<model>.npz/), instead of the catalog's.",
)
@click.option(
    "--model-uri",
    default=None,
    help="Serve a model logged to MLflow (runs:/<run id>/model, models:/<name>/<version>) "
    "instead of the catalog's (the mlflow extra).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", "-p", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port."
)
@click.option(
    "--ttl",
    default=1800.0,
    show_default=True,
    type=click.FloatRange(min=0.001),
    help="Seconds a session is kept after its last click.",
)
@click.option(
    "--max-sessions",
    default=100_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Sessions held at most (the least recently used goes first).",
)
@click.option(
    "--session-items",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="Clicks kept per session (its last ones).",
)
@click.option(
    "--max-k", default=100, show_default=True, type=click.IntRange(min=1), help="Largest k."
)
@click.option(
    "--poll",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Look for a newer saved model every this many seconds (0: only on SIGHUP or "
    "POST /v1/admin/reload).",
)
@click.option(
    "--redis",
    "redis_url",
    default=None,
    metavar="URL",
    help="Keep the sessions in this Redis (redis://127.0.0.1:6379/0), shared by every "
    "replica that uses it, instead of in this process.",
)
@click.option("--access-log", is_flag=True, help="Log every request (slower).")
@env_option
@friendly_errors
def serve(  # noqa: PLR0917 (click passes options as arguments)
    model: str | None,
    load_version: str | None,
    model_file: Path | None,
    model_uri: str | None,
    host: str,
    port: int,
    ttl: float,
    max_sessions: int,
    session_items: int,
    max_k: int,
    poll: float,
    redis_url: str | None,
    access_log: bool,
    env: str | None,
    params: dict[str, Any],
) -> None:
    """Serve recommendations while sessions happen: the service keeps each session.

    \b
    GET  /v1/recommend?session_id=S&item=I&k=K   add item I to session S, answer its top K
    POST /v1/recommend {"items": [...], "k": K}  answer one whole session
    GET  /healthz, GET /metrics (Prometheus), POST /v1/admin/reload (or SIGHUP)

    Example: python -m session_recs serve --model session_knn --params=dataset=rsc15_100k
    """
    import uvicorn

    from session_recs.apps.service.app import build_app
    from session_recs.apps.service.models import (
        open_catalog_model,
        open_mlflow_model,
        open_model_file,
    )
    from session_recs.apps.service.store import MemoryStore, StoreBounds

    _refuse_unused_options(model_file, model_uri, redis_url)
    bounds = StoreBounds(ttl_s=ttl, max_sessions=max_sessions, max_items=session_items)
    store = MemoryStore(bounds) if redis_url is None else _redis_store(redis_url, bounds)
    check_address("serve", host, port)
    stopped = f": the service on {host}:{port} is stopped; the sessions it held are dropped."
    with stopped_in_one_line(stopped):  # a model's load (and its first answer) too
        if model_uri is not None:
            holder = open_mlflow_model(model_uri, model)
        elif model_file is not None:
            holder = open_model_file(model_file, model)
        else:
            holder = open_catalog_model(
                model or "session_knn", load_version=load_version, env=env, params=params
            )
        app = build_app(holder, store, max_k=max_k, poll_s=poll)
        served = holder.current
        click.echo(
            f"Serving {served.model} {served.version} (dataset {served.dataset}) on "
            f"http://{host}:{port} (sessions in {store.kind}): GET /v1/recommend?session_id=S&"
            "item=I&k=K; Ctrl-C stops.",
            err=True,
        )
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=access_log,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        server = uvicorn.Server(config)
        server.run()
    if not server.started:  # uvicorn logged why (e.g. the port was taken meanwhile)
        sys.exit(1)
