"""A Ray cluster on Cloudera Machine Learning (CML): the head in this session, N CML workers.

The processes behind ``python -m session_recs cml-cluster up|down|status``
(:mod:`session_recs.apps.cml` holds the commands): :func:`cluster_up` starts a Ray head in the
current CML session, launches N CML workers through CML's workers API
(``cml.workers_v1``, or the legacy ``cdsw`` module) that each run ``ray start
--address=<head>``, and waits until they joined; :func:`cluster_down` stops exactly the
workers and the head process that :class:`ClusterState` (a small JSON file) records.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from session_recs.core.errors import ConfigError

DEFAULT_STATE_FILE = Path("data/06_models/ray_cml_cluster.json")
STARTED_MARK = "Ray runtime started"


def workers_api() -> ModuleType:
    """CML's workers API: ``cml.workers_v1``, else the legacy ``cdsw`` module."""
    try:
        import cml.workers_v1 as api
    except ImportError:
        try:
            import cdsw as api
        except ImportError:
            raise ConfigError(
                "cml-cluster runs inside a CML session: neither cml.workers_v1 nor the legacy "
                "cdsw module can be imported here. Start a CML session (Python 3 editor) "
                "and run the command from its terminal."
            ) from None
    return api


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


@dataclass
class ClusterState:
    """What ``up`` started, so ``down`` can stop exactly that."""

    address: str
    head_pid: int
    head_log: str
    dashboard_url: str
    worker_ids: list[str] = field(default_factory=list)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> ClusterState:
        if not path.exists():
            raise ConfigError(
                f"No CML Ray cluster recorded in {path}: start one with "
                "`python -m session_recs cml-cluster up`."
            )
        try:
            return cls(**json.loads(path.read_text()))
        except (ValueError, TypeError) as err:  # not JSON, or not the fields `up` writes
            raise ConfigError(
                f"{path} is not a cluster record that `cml-cluster up` writes ({err}); "
                "stop the cluster by hand (`ray stop`) and delete the file."
            ) from None


def ray_node_command(*args: str) -> list[str]:
    """``ray start --block ARGS`` with the ports a node may not share with another node on
    its host (dashboard agent, workers) picked free, so workers that share a host (or a head
    on the same host) never fight over Ray's fixed defaults."""
    return [
        "ray",
        "start",
        "--block",
        *args,
        f"--dashboard-agent-listen-port={free_port()}",
        "--min-worker-port=0",
        "--max-worker-port=0",
    ]


def join_head(address: str, cpus: int, environ: Mapping[str, str] | None = None) -> None:
    """On a CML worker: run a Ray node that joins the head at ``address`` until stopped."""
    environ = os.environ if environ is None else environ
    args = [f"--address={address}", f"--num-cpus={cpus}"]
    if environ.get("CDSW_IP_ADDRESS"):
        args.append(f"--node-ip-address={environ['CDSW_IP_ADDRESS']}")
    subprocess.run(ray_node_command(*args), check=True)


def worker_code(address: str, cpus: int) -> str:
    """Python a CML worker runs: :func:`join_head`. Workers mount the session's project and
    Python packages, so they import this module as the session does."""
    module = "session_recs.tuning.cml_cluster"
    return f"from {module} import join_head\n\njoin_head({address!r}, {cpus})\n"


def auth_env(environ: Mapping[str, str]) -> dict[str, str]:
    """Token-authentication settings for the head, its workers and drivers.

    Ray turns token authentication on for clusters started where a token exists, and a
    worker joins only with the same token. Unless ``RAY_AUTH_MODE=disabled``, the cluster
    uses the token in ``RAY_AUTH_TOKEN``, the file ``RAY_AUTH_TOKEN_PATH``, or
    ``~/.ray/auth_token`` (generated when missing; CML workers share the project's home).
    """
    if environ.get("RAY_AUTH_MODE", "token").lower() == "disabled":
        return {"RAY_AUTH_MODE": "disabled"}
    env = {"RAY_AUTH_MODE": "token"}
    env.update({k: environ[k] for k in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH") if environ.get(k)})
    if len(env) == 1 and not (Path.home() / ".ray" / "auth_token").exists():
        from ray._private.authentication.authentication_token_setup import (
            generate_and_save_token,
        )

        generate_and_save_token()
    return env


def dashboard_url(environ: Mapping[str, str], head_ip: str, port: int) -> str:
    """The dashboard through CML's read-only port proxy when known, else host:port."""
    engine, domain = environ.get("CDSW_ENGINE_ID"), environ.get("CDSW_DOMAIN")
    if engine and domain and str(port) == environ.get("CDSW_READONLY_PORT"):
        return f"https://read-only-{engine}.{domain}"
    return f"http://{head_ip}:{port}"


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise ConfigError(f"Timed out after {timeout_s:g}s waiting for {what}.")
        time.sleep(0.5)


def start_head(
    head_ip: str,
    port: int,
    *,
    cpus: int,
    dashboard_host: str,
    dashboard_port: int,
    log: Path,
    timeout_s: float,
    env: Mapping[str, str],
) -> subprocess.Popen:
    """``ray start --head --block`` in its own process group, once it reports it started."""
    log.parent.mkdir(parents=True, exist_ok=True)
    command = ray_node_command(
        "--head",
        f"--node-ip-address={head_ip}",
        f"--port={port}",
        f"--num-cpus={cpus}",
        # The dashboard starts when ray[default] is installed (best effort otherwise).
        f"--dashboard-host={dashboard_host}",
        f"--dashboard-port={dashboard_port}",
    )
    with log.open("w") as output:
        head = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **env},
        )

    def started() -> bool:
        if head.poll() is not None:
            raise ConfigError(
                f"The Ray head exited with code {head.returncode}: see {log} "
                f"({shlex.join(command)})."
            )
        return STARTED_MARK in log.read_text(errors="replace")

    _wait_for(started, timeout_s, f"the Ray head on {head_ip}:{port} (log: {log})")
    return head


_NODES_PROBE = """
import json, logging, sys, time
import ray

address, wanted, timeout_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
deadline = time.monotonic() + timeout_s
while True:
    nodes = [
        {"id": n["NodeID"], "cpus": n["Resources"].get("CPU", 0)}
        for n in ray.nodes() if n["Alive"]
    ]
    if len(nodes) >= wanted or time.monotonic() > deadline:
        break
    time.sleep(1)
print(json.dumps(nodes))
"""


def alive_nodes(
    address: str,
    env: Mapping[str, str],
    *,
    wanted: int = 0,
    timeout_s: float = 0,
    check: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """The cluster's live nodes, once at least ``wanted`` are up or ``timeout_s`` passed.

    One short-lived driver in a child process asks Ray (a new driver per poll would load a
    small machine as much as the nodes it waits for); ``check`` runs every second meanwhile
    and may raise to give up early.
    """
    probe = subprocess.Popen(
        [sys.executable, "-c", _NODES_PROBE, address, str(wanted), str(timeout_s)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **env},
    )
    try:
        while probe.poll() is None:
            if check is not None:
                check()
            time.sleep(1)
    finally:
        if probe.poll() is None:
            probe.kill()
        output = probe.communicate()[0]
    if probe.returncode != 0 or not output.strip():
        return []
    return json.loads(output.strip().splitlines()[-1])


def stop_process_group(pid: int, grace_s: float = 3.0) -> None:
    """SIGTERM then SIGKILL the process group led by ``pid`` (a ``ray start --block``)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def _worker_ids(launched: Any) -> list[str]:
    return [str(worker["id"]) for worker in launched or []]


def _check_workers_running(api: ModuleType, ids: list[str]) -> None:
    """Raise if a launched worker already ended: its ``ray start`` could not join."""
    ended = [
        worker
        for worker in api.list_workers()
        if str(worker.get("id")) in ids
        and worker.get("status") in ("failed", "succeeded", "stopped", "timedout")
    ]
    if ended:
        worker = ended[0]
        raise ConfigError(
            f"CML worker {worker['id']} ended ({worker.get('status')}) before joining the Ray "
            "head: see its output in the session's Workers tab (a firewall between workers, "
            "or a Ray version that differs from the session's, are the usual causes)."
        )


def cluster_up(
    workers: int,
    cpu: int,
    memory: float,
    *,
    head_cpus: int,
    port: int,
    state_file: Path,
    timeout_s: float,
    dashboard_host: str = "0.0.0.0",
    environ: Mapping[str, str] | None = None,
) -> ClusterState:
    """Start the head here and ``workers`` CML workers; return what was started."""
    environ = os.environ if environ is None else environ
    if workers < 1 or cpu < 1 or memory <= 0:
        raise ConfigError(
            f"cml-cluster up needs --workers >= 1, --cpu >= 1 and --memory > 0; got "
            f"{workers}, {cpu}, {memory}."
        )
    if state_file.exists():
        raise ConfigError(
            f"A CML Ray cluster is already recorded in {state_file}: stop it with "
            "`python -m session_recs cml-cluster down` first."
        )
    api = workers_api()
    head_ip = environ.get("CDSW_IP_ADDRESS")
    if not head_ip:
        raise ConfigError(
            "CDSW_IP_ADDRESS is not set, so the head's address is unknown: run inside a "
            "CML session (which sets it)."
        )
    address = f"{head_ip}:{port}"
    dashboard_port = int(environ.get("CDSW_READONLY_PORT") or free_port())
    log = state_file.with_suffix(".head.log")
    auth = auth_env(environ)
    head = start_head(
        head_ip,
        port,
        cpus=head_cpus,
        dashboard_host=dashboard_host,
        dashboard_port=dashboard_port,
        log=log,
        timeout_s=timeout_s,
        env=auth,
    )
    url = dashboard_url(environ, head_ip, dashboard_port)
    state = ClusterState(address, head.pid, str(log), url)
    state.save(state_file)
    try:
        launched = api.launch_workers(
            n=workers, cpu=cpu, memory=memory, code=worker_code(address, cpu), env=auth
        )
        state.worker_ids = _worker_ids(launched)
        state.save(state_file)
        if len(state.worker_ids) < workers:
            raise ConfigError(
                f"CML launched {len(state.worker_ids)} of {workers} workers; check the "
                "project's worker quota and the Workers tab of this session."
            )
        nodes = alive_nodes(
            address,
            auth,
            wanted=workers + 1,
            timeout_s=timeout_s,
            check=lambda: _check_workers_running(api, state.worker_ids),
        )
        if len(nodes) < workers + 1:
            raise ConfigError(
                f"Only {max(len(nodes) - 1, 0)} of {workers} CML workers joined the Ray head at "
                f"{address} within {timeout_s:g}s; see the session's Workers tab."
            )
    except BaseException:
        cluster_down(state_file)
        raise
    return state


def cluster_down(state_file: Path) -> ClusterState:
    """Stop the recorded workers (through CML) and head; forget the state file."""
    state = ClusterState.load(state_file)
    if state.worker_ids:
        workers_api().stop_workers(*state.worker_ids)
    stop_process_group(state.head_pid)
    state_file.unlink(missing_ok=True)
    return state
