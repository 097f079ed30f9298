"""Where Ray runs, from ``params:ray``'s ``address``, checked without importing Ray.

- ``local``: start a Ray on this machine (bound to 127.0.0.1 only);
- ``env:RAY_ADDRESS`` (any variable name): the address in that environment variable;
- ``host:port`` (a head node's GCS) or ``ray://host:10001`` (Ray Client);
- ``auto``: ``$RAY_ADDRESS``, else the cluster ``ray start`` last started on this machine
  (Ray's ``ray_current_cluster`` file in its temp folder).

Before Ray connects, :func:`check_reachable` probes the address within
``ray.connect_timeout_s``: a TCP connection, then the HTTP/2 greeting every Ray (gRPC)
server answers. Nothing listening, a timeout, a server that is not Ray (a web server on
the port) and a stale ``ray_current_cluster`` file each get one line naming the address
and where it came from, so a run never hangs in Ray's own retries.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from session_recs.core.errors import ConfigError
from session_recs.tuning.search_settings import RaySettings, SearchSettings

#: HTTP/2's client greeting and an empty SETTINGS frame: a gRPC server (every Ray head,
#: GCS and Ray Client alike) answers with its own SETTINGS frame.
_HTTP2_GREETING = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_SETTINGS_FRAME = 0x04


@dataclass(frozen=True)
class Address:
    """A resolved address and, for messages, where it came from."""

    value: str
    origin: str = ""

    @property
    def is_local(self) -> bool:
        return self.value == "local"


def ray_temp_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Ray's temp folder (``$RAY_TMPDIR``, else the system's temp folder + ``/ray``)."""
    environ = os.environ if environ is None else environ
    if environ.get("RAY_TMPDIR"):
        return Path(environ["RAY_TMPDIR"])
    return Path(environ.get("TMPDIR") or tempfile.gettempdir()) / "ray"


def current_cluster_file(environ: Mapping[str, str] | None = None) -> Path:
    """The file in which ``ray start`` records the address of the cluster it started."""
    return ray_temp_dir(environ) / "ray_current_cluster"


def resolve(settings: RaySettings, environ: Mapping[str, str] | None = None) -> Address:
    """The address to connect to (``local`` to start Ray here) and where it came from."""
    environ = os.environ if environ is None else environ
    address = settings.address.strip()
    if address.startswith("env:"):
        variable = address[4:]
        value = environ.get(variable, "").strip()
        if not value:
            raise ConfigError(
                f"ray.address reads the Ray address from ${variable}, which is not set. "
                f"Export it (e.g. export {variable}=<head-ip>:6379) or set ray.address."
            )
        return Address(value, f"${variable}")
    if address == "auto":
        value = environ.get("RAY_ADDRESS", "").strip()
        if value and value != "auto":
            return Address(value, "$RAY_ADDRESS (ray.address=auto)")
        recorded = current_cluster_file(environ)
        try:
            value = recorded.read_text().strip()
        except OSError:
            value = ""
        if not value:
            raise ConfigError(
                f"ray.address=auto found no Ray on this machine ($RAY_ADDRESS is not set and "
                f"{recorded} does not exist): start one with `ray start --head`, export "
                "RAY_ADDRESS, or set ray.address (local starts a Ray for the run)."
            )
        return Address(value, f"{recorded} (ray.address=auto)")
    return Address(address, "ray.address")


def _host_port(address: str) -> tuple[str, int] | None:
    """Host and port of ``host:port`` or ``ray://host:port``; None for ``local``."""
    if address == "local":
        return None
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise ConfigError(
            f"Ray address {address!r} is not host:port or ray://host:port "
            "(e.g. 10.0.0.5:6379 or ray://10.0.0.5:10001)."
        )
    return parts.hostname, port


def _greeting_answer(connection: socket.socket, deadline: float) -> bytes:
    connection.sendall(_HTTP2_GREETING)
    received = b""
    while len(received) < 9:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        connection.settimeout(left)
        chunk = connection.recv(64)
        if not chunk:
            break
        received += chunk
    return received


def check_reachable(
    address: str | Address, timeout_s: float, environ: Mapping[str, str] | None = None
) -> None:
    """Raise ConfigError naming ``address`` unless a Ray server answers it within
    ``timeout_s`` (TCP, then the HTTP/2 greeting; TLS clusters get the TCP check only)."""
    environ = os.environ if environ is None else environ
    if isinstance(address, str):
        address = Address(address, "ray.address")
    target = _host_port(address.value)
    if target is None:
        return
    stale = address.origin.startswith(str(current_cluster_file(environ)))
    where = f"{address.value} (from {address.origin})"
    deadline = time.monotonic() + timeout_s
    try:
        with socket.create_connection(target, timeout=timeout_s) as connection:
            if environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
                return
            answer = _greeting_answer(connection, deadline)
    except OSError as exc:
        reason = (
            f"timed out after {timeout_s:g}s (ray.connect_timeout_s)"
            if isinstance(exc, TimeoutError)
            else exc.strerror or str(exc)
        )
        if stale:
            raise ConfigError(
                f"ray.address=auto: {address.origin.split(' ')[0]} names {address.value}, "
                f"where no Ray answers ({reason}): a stopped Ray left it behind. Start Ray "
                "(ray start --head), delete that file, or set ray.address."
            ) from None
        raise ConfigError(
            f"Cannot reach the Ray cluster at {where}: {reason}. Is the head node running "
            "(ray start --head), is the address right, and is the port open?"
        ) from None
    if len(answer) < 9 or answer[3] != _SETTINGS_FRAME:
        lines = [line.strip() for line in answer.decode("latin-1").splitlines() if line.strip()]
        shown = lines[0][:60] if lines else "nothing before closing the connection"
        raise ConfigError(
            f"The server at {where} is not a Ray head: it answered {shown!r}, not Ray's "
            "gRPC. Check the port (the GCS port, 6379 by default; ray:// uses the Ray "
            "Client port, 10001)."
        )


def refuse_ray_client(address: str) -> None:
    """Ray Client (``ray://``) cannot drive a Tune search: refuse it in one line."""
    if address.startswith("ray://"):
        raise ConfigError(
            f"ray.address {address} is a Ray Client address, which a search cannot use: "
            "Tune's driver needs a direct connection. Use the head's GCS address "
            "(<head-ip>:6379), or run kedro on the head node with ray.address=auto."
        )


def local_cpus(settings: RaySettings) -> int:
    """CPUs a local Ray gets: ``ray.num_cpus``, else every CPU of this machine."""
    return settings.num_cpus or os.cpu_count() or 1


def check_where(settings: SearchSettings) -> Address:
    """Everything about where the search runs that can be checked before Ray starts: the
    address resolves and answers as Ray, and a local Ray can hold one trial."""
    address = resolve(settings.ray)
    if address.is_local:
        cpus = local_cpus(settings.ray)
        if settings.cpus_per_trial > cpus:
            raise ConfigError(
                f"tune.cpus_per_trial = {settings.cpus_per_trial}: a local Ray with {cpus} "
                "CPUs (ray.num_cpus, else this machine's) can never start such a trial; set "
                f"at most {cpus}."
            )
        return address
    refuse_ray_client(address.value)
    check_reachable(address, settings.ray.connect_timeout_s)
    return address
