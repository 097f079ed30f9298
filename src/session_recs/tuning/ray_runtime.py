"""Where a search runs: connect to a Ray cluster, or start a local Ray sized to this
machine, and stop it in bounded time.

Where Ray runs is ``params:ray`` (``ray.address``, see :mod:`session_recs.tuning.address`).
A local Ray is started sized to this machine and shut down afterwards. Connected to a
cluster, the driver ships the project's code to the workers (``runtime_env``
``py_modules``) when ``ray.ship_code`` is on, and only disconnects at the end: the
cluster keeps running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ray

import session_recs
from session_recs.core import interrupts
from session_recs.core.errors import ConfigError
from session_recs.tuning.address import check_reachable, local_cpus, refuse_ray_client, resolve
from session_recs.tuning.search_settings import RaySettings

logger = logging.getLogger(__name__)


def runtime_env(settings: RaySettings) -> dict[str, Any]:
    """The Ray runtime environment for a cluster: the project's code plus any extras."""
    env = dict(settings.runtime_env)
    if settings.ship_code:
        package = str(Path(session_recs.__file__).resolve().parent)
        env["py_modules"] = [*env.get("py_modules", []), package]
    return env


@contextlib.contextmanager
def _loopback_only() -> Iterator[None]:
    """Make the Ray started in the block bind 127.0.0.1 only (GCS, raylet, workers, agents).

    Ray picks the node's external IP and binds every interface unless it runs as a
    single-machine Ray (what it does on macOS and Windows); this switch, read by the driver
    and inherited by the processes it starts, makes it so.
    """
    from ray._private import ray_constants

    variable = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR
    previous = os.environ.get(variable), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[variable] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if previous[0] is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = previous[0]
        ray_constants.ENABLE_RAY_CLUSTER = previous[1]


#: How long ``ray.shutdown`` may take before the processes this run started are killed.
SHUTDOWN_TIMEOUT_S = 20.0


def _own_process_group(popen: type) -> type:
    """``popen`` (Ray's ``ConsolePopen``) starting each process in a process group of its
    own (POSIX; elsewhere ``popen`` itself)."""
    if os.name != "posix":
        return popen

    class OwnGroup(popen):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("process_group", 0)
            super().__init__(*args, **kwargs)

    return OwnGroup


@contextlib.contextmanager
def _signals_stay_ours() -> Iterator[None]:
    """``ray.init`` with SIGINT and SIGTERM deferred (see :func:`interrupts.deferred`).

    Ray's driver replaces the SIGTERM handler (``sys.exit`` halfway through starting
    Ray) and its core worker installs a native one (a stack dump, exit 134); a SIGINT
    that lands in Ray's start-up code can be lost. Here neither is installed, a signal is
    only recorded, and it is raised once ``ray.init`` has returned, so the caller's
    ``finally`` stops the Ray that did start.

    The local Ray's processes (GCS, raylet, and the workers the raylet starts) run in a
    process group of their own: a signal to the command's process group (``kill -TERM
    -<pgid>``, a terminal's Ctrl-C) reaches the driver alone, which stops the search and
    then Ray in order, instead of Ray dying under a running search (its workers' errors,
    then a minute of retries). They still end with the driver: Ray binds them to it
    (``fate_share``), and :func:`_shutdown` kills them past its bound.
    """
    from ray._private import ray_constants, services
    from ray._private import utils as ray_utils

    setter = ray_utils.set_sigterm_handler
    native = ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER
    popen = services.ConsolePopen
    ray_utils.set_sigterm_handler = lambda handler: None
    ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = True
    # Ray has no setting for its processes' group: its class is swapped for the block.
    services.ConsolePopen = _own_process_group(popen)  # type: ignore[misc, assignment]
    try:
        with interrupts.deferred():
            yield
    finally:
        ray_utils.set_sigterm_handler = setter
        ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = native
        services.ConsolePopen = popen  # type: ignore[misc]


def _started_processes() -> list[Any]:
    """The processes (Popen objects) of the local Ray this driver started (GCS, raylet...)."""
    node = getattr(ray._private.worker, "_global_node", None)
    processes = getattr(node, "all_processes", None) or {}
    return [info.process for infos in processes.values() for info in infos]


def _shutdown() -> None:
    """``ray.shutdown``, bounded: a signal waits for it (then is raised), and past
    :data:`SHUTDOWN_TIMEOUT_S` the Ray processes this run started are killed."""
    with interrupts.deferred():
        started = _started_processes()

        def kill() -> None:
            logger.warning(
                "Ray did not stop within %.0fs: killing its processes", SHUTDOWN_TIMEOUT_S
            )
            for process in started:
                with contextlib.suppress(OSError):
                    process.kill()

        watchdog = threading.Timer(SHUTDOWN_TIMEOUT_S, kill)
        watchdog.daemon = True
        watchdog.start()
        try:
            ray.shutdown()
        finally:
            watchdog.cancel()


@contextlib.contextmanager
def ray_session(settings: RaySettings, cpus_per_trial: int = 1) -> Iterator[str]:
    """Connect to or start Ray for the duration of the block; yields a description.

    A Ray already initialised in this process (a notebook, a test) is used as is and left
    running; a Ray this function started is shut down at the end. Trials that need more
    CPUs than the largest node has are refused before anything runs.
    """
    if ray.is_initialized():
        yield "the Ray already running in this process"
        return
    address = resolve(settings)
    common: dict[str, Any] = {
        "log_to_driver": settings.log_to_driver,
        "logging_level": logging.WARNING,
        "include_dashboard": settings.include_dashboard,
    }
    if address.is_local:
        num_cpus = local_cpus(settings)
        where = f"a local Ray with {num_cpus} CPUs"
        if cpus_per_trial > num_cpus:
            raise ConfigError(
                f"tune.cpus_per_trial = {cpus_per_trial}: {where} (ray.num_cpus) can never "
                f"start such a trial; set at most {num_cpus}."
            )
        logger.info("Starting %s", where)
        with _loopback_only():
            try:
                with _signals_stay_ours():
                    ray.init(address="local", num_cpus=num_cpus, **common)
                yield where
            finally:
                _shutdown()
        return
    refuse_ray_client(address.value)
    check_reachable(address, settings.connect_timeout_s)
    # The dashboard belongs to the cluster; a connecting driver does not start one.
    common.pop("include_dashboard")
    try:
        with _signals_stay_ours():
            ray.init(address=address.value, runtime_env=runtime_env(settings) or None, **common)
    except interrupts.Stopped:
        _shutdown()  # connected, then stopped: disconnect
        raise
    except (ConnectionError, RuntimeError, TimeoutError, ImportError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = ""
        if "auth" in str(exc).lower() or "token" in str(exc).lower():
            hint = (
                " The cluster uses token authentication: export RAY_AUTH_MODE=token and "
                "its token (RAY_AUTH_TOKEN or ~/.ray/auth_token)."
            )
        raise ConfigError(
            f"Cannot connect to the Ray cluster at {address.value} (from {address.origin}): "
            f"{first}.{hint}"
        ) from None
    try:
        nodes = [node for node in ray.nodes() if node.get("Alive")]
        cpus = int(ray.cluster_resources().get("CPU", 0))
        gcs = ray.get_runtime_context().gcs_address
        where = f"the Ray cluster at {gcs} ({len(nodes)} nodes, {cpus} CPUs)"
        largest = max((int(n.get("Resources", {}).get("CPU", 0)) for n in nodes), default=0)
        if cpus_per_trial > largest:
            raise ConfigError(
                f"tune.cpus_per_trial = {cpus_per_trial}: the largest node of {where} has "
                f"{largest} CPUs, so no trial could ever start; set at most {largest}."
            )
        yield where
    finally:
        _shutdown()
