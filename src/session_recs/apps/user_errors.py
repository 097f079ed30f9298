"""Problems the user can fix, as one line and exit code 1 for every command.

:func:`user_error` finds the user's mistake behind an exception (Kedro wraps dataset
errors, typed-parameter failures and OS faults; a saved file that cannot be read and a
catalog entry Kedro cannot build are named too; conf files are named by
:class:`~session_recs.framework.config_loader.ProjectConfigLoader`);
:func:`friendly_errors` wraps a click command so that such a mistake prints as ``Error:
<Kind>: <message>`` instead of a traceback; :class:`OneLineCommand` and
:class:`OneLineGroup` do the same for click's own usage errors (an unknown option, a
value of the wrong type, a missing argument), however the command is reached (``kedro
run``, ``python -m session_recs run``). The applications (``cli``, ``cml``) use them.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from kedro.config import MissingConfigException
from kedro.io.core import DatasetError, DatasetNotFoundError
from kedro.validation.exceptions import ParameterValidationError

from session_recs.core.errors import (
    ConfigError,
    DataValidationError,
    SessionRecsError,
    unreadable_version,
)
from session_recs.core.interrupts import signal_of, stop_signals

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


def _os_error(exc: OSError, outer: BaseException | None = None) -> ConfigError | None:
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
    filename = exc.filename
    if not filename and outer is not None:  # a write names no file: the dataset's path
        saving = re.search(r"Failed while saving data to dataset .*", str(outer))
        found = _FILEPATH.search(saving[0]) if saving else None
        filename = found["path"] if found else None
    where = f" ({filename})" if filename else ""
    return ConfigError(
        f"Cannot write{where}: {reason}. Nothing was published: the previous versions are "
        "still the latest (a hidden .partial file may be left; it is safe to delete)."
    )


#: Kedro's DataCatalog.load: ``<name>: Failed while loading data from dataset <repr>.``
_LOAD_FAILED = re.compile(
    r"^(?P<name>[^\s:]+): Failed while loading data from dataset (?P<repr>.*)"
)
_FILEPATH = re.compile(r"filepath=(?:\w*Path\()?'(?P<path>[^']+)'")
_LOAD_ARGS = re.compile(r"load_args=(?P<args>\{[^}]+\})")
_LOAD_VERSION = re.compile(r"version=Version\(load=(?:None|'(?P<load>[^']*)')")
#: Kedro's errors for a catalog entry it cannot build (an unknown type, a bad argument).
_ENTRY_FAILED = re.compile(
    r"^(?:An exception occurred when parsing config for dataset '(?P<a>[^']+)':\n"
    r"|Catalog entry '(?P<b>[^']+)' is not a valid dataset configuration"
    r"|\s*(?P<detail>.*)\nDataset '(?P<c>[^']+)' must only contain arguments valid)"
)


def _unreadable(exc: BaseException) -> bool:
    """Whether ``exc`` says a file's bytes are damaged or unreadable (not a bug in code)."""
    import pickle
    import zipfile

    readable = (OSError, EOFError, pickle.UnpicklingError, UnicodeDecodeError, zipfile.BadZipFile)
    if isinstance(exc, readable):
        return True
    return any(cls.__module__.startswith("pyarrow") for cls in type(exc).__mro__)


def _shown(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def _load_failure(exc: DatasetError) -> SessionRecsError | None:
    """A dataset whose file cannot be read (truncated, empty, not its format), in one line
    naming the file and, for a versioned one, the way back to an earlier version."""
    match = _LOAD_FAILED.match(str(exc))
    cause = exc.__cause__.__cause__ if exc.__cause__ is not None else None
    if match is None or cause is None or not _unreadable(cause):
        return None
    name, described = match["name"], match["repr"]
    path_match = _FILEPATH.search(described)
    version = _LOAD_VERSION.search(described)
    reason = (str(cause).strip().splitlines() or [""])[0]
    reason = re.sub(r"\s*'/[^']*'", "", reason)[:160]  # the path is named apart
    reason = f"{type(cause).__name__}{': ' + reason if reason else ''}"
    if path_match is None:
        return DataValidationError(f"Dataset {name} cannot be read ({reason}).")
    path = Path(path_match["path"])
    if version is None:
        return DataValidationError(f"{name} ({_shown(path)}) cannot be read ({reason}).")
    loaded = version["load"] or max(
        (p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else (), default=""
    )
    return unreadable_version(name, path, loaded, reason, latest=not version["load"])


def _entry_place(name: str) -> str:
    """`` (conf/<env>/catalog.yml, line N)`` of the catalog entry ``name`` (the last file
    that sets it), or nothing."""
    entry = re.compile(rf"^['\"]?{re.escape(name)}['\"]?\s*:")
    files = [
        f"{_shown(path)}, line {number}"
        for path in sorted(Path("conf").glob("*/catalog*.yml"))
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if entry.match(line)
    ]
    return f" ({files[-1]})" if files else ""


def _load_args_failure(exc: DatasetError) -> SessionRecsError | None:
    """A dataset whose entry gives ``load_args`` its reader refuses (an unknown argument or
    value), named by its catalog entry."""
    match = _LOAD_FAILED.match(str(exc))
    cause = exc.__cause__
    while isinstance(cause, DatasetError) and cause.__cause__ is not None:
        cause = cause.__cause__
    args = _LOAD_ARGS.search(str(exc))
    refused = isinstance(cause, TypeError | ValueError) and not isinstance(cause, SessionRecsError)
    if match is None or args is None or not refused:
        return None
    name = match["name"]
    reason = (str(cause).strip().splitlines() or [""])[0][:200]
    return ConfigError(
        f"Catalog entry '{name}'{_entry_place(name)}: its load_args {args['args']} are "
        f"refused ({type(cause).__name__}: {reason}); expected arguments its type's reader "
        "accepts (see the dataset's documentation)."
    )


def _entry_failure(exc: DatasetError) -> SessionRecsError | None:
    """A catalog entry Kedro cannot build (its type or its arguments), named."""
    match = _ENTRY_FAILED.match(str(exc))
    if match is None:
        return None
    name = match["a"] or match["b"] or match["c"]
    lines = match["detail"] or next(
        (x for x in str(exc)[match.end() :].strip().splitlines() if not x.startswith("Hint:")), ""
    )
    detail = lines.strip(" .")
    detail = detail.replace("kedro_datasets.", "")
    return ConfigError(
        f"Catalog entry '{name}'{_entry_place(name)}{': ' + detail if detail else ''}; "
        "expected a type Kedro can import (e.g. pandas.ParquetDataset, "
        "session_recs.framework.datasets.InteractionsDataset) and its arguments."
    )


def _kedro_mistake(exc: BaseException) -> SessionRecsError | None:
    """Kedro's own error for a dataset name the catalog lacks, for configuration it cannot
    find or for a typed parameter, in one line; None for other errors."""
    if isinstance(exc, DatasetNotFoundError):  # e.g. a misspelt --load-versions key
        return ConfigError(f"{exc} The catalog's datasets are in conf/base/catalog*.yml.")
    if isinstance(exc, MissingConfigException):  # e.g. --conf-source=a_file.txt
        return ConfigError(
            f"{exc}; expected a conf folder holding base/ and local/ (or a .zip or .tar.gz "
            "of one) for --conf-source."
        )
    if isinstance(exc, ParameterValidationError):
        return _parameter_errors(exc)
    return None


def user_error(exc: BaseException) -> SessionRecsError | None:
    """The user's mistake behind ``exc`` (Kedro wraps dataset errors), if there is one: a
    SessionRecsError, Kedro's error for a dataset name the catalog lacks, for a typed
    parameter or for configuration it cannot find, a saved file that cannot be read, a
    catalog entry Kedro cannot build or whose load_args its reader refuses, or a full disk /
    read-only folder."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, SessionRecsError):
            return current
        if (fault := _kedro_mistake(current)) is not None:
            return fault
        if isinstance(current, OSError) and (fault := _os_error(current, exc)) is not None:
            return fault
        if isinstance(current, DatasetError) and (
            fault := _load_failure(current)
            or _entry_failure(current)
            or _load_args_failure(current)
        ):
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


def _usage_line(exc: click.UsageError) -> click.ClickException:
    """click's usage error (three lines and exit code 2) as one line and exit code 1."""
    where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
    message = " ".join(exc.format_message().split()).removesuffix(".")
    return click.ClickException(f"ConfigError: {message}{where}.")


class _OneLineUsage(click.Command):
    """Parsing a command's options and arguments: a usage mistake is one line."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.exceptions.NoArgsIsHelpError:  # the help, as asked
            raise
        except click.UsageError as exc:
            raise _usage_line(exc) from None


class OneLineCommand(_OneLineUsage):
    """A click command whose usage mistakes (``--no-such-option``, ``-k abc``) print one
    line and exit with code 1, like every other mistake; ``--help`` still works."""


class OneLineGroup(_OneLineUsage, click.Group):
    """A click group of :class:`OneLineCommand` (and of groups like itself); an unknown
    subcommand is one line too."""

    command_class = OneLineCommand
    group_class = type  # subgroups are OneLineGroups

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            raise _usage_line(exc) from None


def _close_progress_bars() -> None:
    """End the lines of the progress bars a stop left open, so its message starts a line."""
    from tqdm import tqdm

    for bar in list(getattr(tqdm, "_instances", ())):
        with contextlib.suppress(Exception):
            bar.close()


@contextlib.contextmanager
def stopped_in_one_line(after: str) -> Iterator[None]:
    """SIGINT and SIGTERM stop the block (:func:`~session_recs.core.interrupts.stop_signals`);
    the command then ends with "Error: Stopped by <signal>" and the stop's own advice (e.g.
    a resume command) or ``after``, and exit code 1."""
    with stop_signals():
        try:
            yield
        except KeyboardInterrupt as stop:
            _close_progress_bars()
            advice = getattr(stop, "advice", "") or after
            raise click.ClickException(f"Stopped by {signal_of(stop)}{advice}") from None
