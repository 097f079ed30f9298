"""Problems the user can fix, as one line and exit code 1 for every command.

:func:`user_error` finds the user's mistake behind an exception (Kedro wraps dataset
errors, typed-parameter failures and OS faults); :func:`friendly_errors` wraps a click
command so that such a mistake prints as ``Error: <Kind>: <message>`` instead of a
traceback. The applications (``cli``, ``cml``) use it.
"""

from __future__ import annotations

import errno
import functools
import re
from collections.abc import Callable
from typing import Any

import click
from kedro.io.core import DatasetNotFoundError
from kedro.validation.exceptions import ParameterValidationError

from session_recs.errors import ConfigError, SessionRecsError

#: Kedro's ParameterValidationError lists one failed check per line in this form.
_PARAMETER_LINE = re.compile(
    r"^- Parameter '(?P<key>[^']*)': (?:Failed to instantiate \w+ for parameter '[^']*': )?"
    r"(?P<message>.*)$"
)


def _parameter_errors(exc: ParameterValidationError) -> ConfigError:
    """Kedro's typed-parameter failures as one line per bad value, named by its key."""
    lines = []
    for line in str(exc).splitlines():
        match = _PARAMETER_LINE.match(line.strip())
        if not match:
            continue
        key, message = match["key"], match["message"]
        section = key.rsplit(".", 1)[-1]
        # The settings models name their section (e.g. "model"); give the full key instead.
        if message.startswith(f"{section}.") or message.startswith(f"{section}:"):
            message = key + message[len(section) :]
        elif not message.startswith(key):
            message = f"{key}: {message}"
        lines.append(message)
    return ConfigError("\n".join(lines) if lines else str(exc))


def _os_error(exc: OSError) -> ConfigError | None:
    """A machine fault while reading or writing a file, in one line; None for other errors."""
    reasons = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exceeded",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "the file system is read-only",
    }
    reason = reasons.get(exc.errno or 0)
    if reason is None:
        return None
    where = f" ({exc.filename})" if exc.filename else ""
    return ConfigError(
        f"Cannot write{where}: {reason}. Nothing was published: the previous versions are "
        "still the latest (a hidden .partial file may be left; it is safe to delete)."
    )


def user_error(exc: BaseException) -> SessionRecsError | None:
    """The user's mistake behind ``exc`` (Kedro wraps dataset errors), if there is one: a
    SessionRecsError, Kedro's error for a dataset name the catalog lacks or for a typed
    parameter, or a full disk / read-only folder."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, SessionRecsError):
            return current
        if isinstance(current, DatasetNotFoundError):  # e.g. a misspelt --load-versions key
            return ConfigError(f"{current} The catalog's datasets are in conf/base/catalog*.yml.")
        if isinstance(current, ParameterValidationError):
            return _parameter_errors(current)
        if isinstance(current, OSError) and (fault := _os_error(current)) is not None:
            return fault
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user errors raised by ``command`` into a one-line message and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Exception as exc:
            error = user_error(exc)
            if error is None:
                raise
            raise click.ClickException(f"{type(error).__name__}: {error}") from None

    return wrapper
