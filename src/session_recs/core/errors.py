"""Errors meant for the user: each names the file, column or parameter at fault."""

from __future__ import annotations

import contextlib
from pathlib import Path


class SessionRecsError(Exception):
    """Base class for problems the user can fix (bad input, bad configuration)."""


class DataValidationError(SessionRecsError):
    """Input data does not have the expected shape, columns, types or content."""


class ConfigError(SessionRecsError):
    """A parameter or catalog setting is missing, unknown or out of range."""


def unreadable_version(
    name: str, folder: Path, version: str, reason: str, *, latest: bool
) -> DataValidationError:
    """A saved version of dataset ``name`` (``<folder>/<version>/<folder name>``) that cannot
    be read: the file, why, and the way back (an older version, or the step that makes it)."""
    older = sorted(
        (p.name for p in folder.iterdir() if p.is_dir() and p.name < version)
        if folder.is_dir()
        else (),
        reverse=True,
    )
    back = f"load the previous version with --load-versions={name}:{older[0]}, or " if older else ""
    path = folder / version / folder.name
    with contextlib.suppress(ValueError):
        path = path.relative_to(Path.cwd())
    return DataValidationError(
        f"The {'latest ' if latest else ''}saved {name} ({path}) cannot be read ({reason}): "
        f"{back}re-run the step that makes it (kedro run --to-outputs={name})."
    )
