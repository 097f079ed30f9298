"""Where Ray runs, from ``params:ray``'s ``address``, checked without importing Ray.

- ``local``: start a Ray on this machine;
- ``env:RAY_ADDRESS`` (any variable name): the address in that environment variable;
- ``host:port`` (a head node's GCS) or ``ray://host:10001`` (Ray Client);
- ``auto``: Ray's own lookup (``RAY_ADDRESS``, else a Ray already running on this machine).

A remote address is probed with a TCP connection first, so an unreachable cluster is a
:class:`~session_recs.errors.ConfigError` naming the address within
``ray.connect_timeout_s``, before Ray starts.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit

from session_recs.errors import ConfigError
from session_recs.tuning.settings import RaySettings


def resolve_address(settings: RaySettings, environ: Mapping[str, str] | None = None) -> str:
    """The address to connect to (``local`` to start Ray here), with ``env:`` looked up."""
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
        return value
    return address


def _host_port(address: str) -> tuple[str, int] | None:
    """Host and port of ``host:port`` or ``ray://host:port``; None for ``auto``/``local``."""
    if address in ("auto", "local"):
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


def check_reachable(address: str, timeout_s: float) -> None:
    """Raise ConfigError naming ``address`` unless a TCP connection opens within the timeout."""
    target = _host_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout_s):
            return
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise ConfigError(
            f"Cannot reach the Ray cluster at {address} ({reason} after at most "
            f"{timeout_s:g}s). Is the head node running (ray start --head), is the address "
            "right (ray.address / RAY_ADDRESS), and is the port open?"
        ) from None
