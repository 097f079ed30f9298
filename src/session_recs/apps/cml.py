"""``cml-cluster up|down|status``: a Ray cluster of CML workers for the tune pipeline.

``python -m session_recs cml-cluster up --workers 4 --cpu 2 --memory 8`` starts a Ray head
in the current CML session and N CML workers that join it, and prints the Ray dashboard
URL; then ``kedro run --pipeline=tune --env=cml`` runs the search on it, and
``cml-cluster down`` stops the workers and the head. The processes are managed by
:mod:`session_recs.tuning.cml_cluster`.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from session_recs.apps.user_errors import OneLineGroup, friendly_errors
from session_recs.tuning.cml_cluster import (
    DEFAULT_STATE_FILE,
    ClusterState,
    alive_nodes,
    auth_env,
    cluster_down,
    cluster_up,
)

STATE_OPTION = click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_STATE_FILE,
    show_default=True,
    help="Where `up` records what it started, for `down`.",
)


@click.group(name="cml-cluster", cls=OneLineGroup)
def cml_cluster() -> None:
    """Start (up) or stop (down) a Ray cluster on CML workers, from a CML session."""


@cml_cluster.command()
@click.option("--workers", type=int, default=2, show_default=True, help="CML workers to launch.")
@click.option("--cpu", type=int, default=2, show_default=True, help="vCPUs per worker.")
@click.option("--memory", type=float, default=8, show_default=True, help="GiB per worker.")
@click.option(
    "--head-cpus",
    type=int,
    default=0,
    show_default=True,
    help="CPUs of this session offered to trials (0: trials run on the workers only).",
)
@click.option("--port", type=int, default=6379, show_default=True, help="The head's GCS port.")
@click.option(
    "--dashboard-host",
    default="0.0.0.0",
    show_default=True,
    help="Interface the Ray dashboard listens on (CML's read-only port proxy needs 0.0.0.0).",
)
@click.option("--timeout", type=float, default=300, show_default=True, help="Seconds to wait.")
@STATE_OPTION
@friendly_errors
def up(
    *,
    workers: int,
    cpu: int,
    memory: float,
    head_cpus: int,
    port: int,
    dashboard_host: str,
    timeout: float,
    state_file: Path,
) -> None:
    """Start a Ray head here and WORKERS CML workers joining it."""
    state = cluster_up(
        workers,
        cpu,
        memory,
        head_cpus=head_cpus,
        port=port,
        state_file=state_file,
        timeout_s=timeout,
        dashboard_host=dashboard_host,
    )
    click.echo(f"Ray cluster up: head {state.address}, {workers} CML workers x {cpu} CPU.")
    click.echo(f"Ray dashboard: {state.dashboard_url}")
    click.echo("Search on it:  kedro run --pipelines=tune --env=cml")
    click.echo("Stop it:       python -m session_recs cml-cluster down")


@cml_cluster.command()
@STATE_OPTION
@friendly_errors
def down(state_file: Path) -> None:
    """Stop the CML workers and the Ray head that `up` started."""
    state = cluster_down(state_file)
    click.echo(f"Stopped {len(state.worker_ids)} CML workers and the Ray head at {state.address}.")


@cml_cluster.command()
@STATE_OPTION
@friendly_errors
def status(state_file: Path) -> None:
    """Show the recorded cluster and its live Ray nodes."""
    state = ClusterState.load(state_file)
    nodes = alive_nodes(state.address, auth_env(os.environ))
    cpus = sum(node["cpus"] for node in nodes)
    click.echo(f"Ray head {state.address}: {len(nodes)} live nodes, {cpus:g} CPUs.")
    click.echo(f"Ray dashboard: {state.dashboard_url}")


if __name__ == "__main__":
    cml_cluster()
