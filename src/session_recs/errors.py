"""Errors meant for the user: each names the file, column or parameter at fault."""

from __future__ import annotations


class SessionRecsError(Exception):
    """Base class for problems the user can fix (bad input, bad configuration)."""


class DataValidationError(SessionRecsError):
    """Input data does not have the expected shape, columns, types or content."""


class ConfigError(SessionRecsError):
    """A parameter or catalog setting is missing, unknown or out of range."""
