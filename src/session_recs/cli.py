"""Kedro loads a project's own commands from ``<package>.cli`` (its ``cli`` group); they
live with the other applications in :mod:`session_recs.apps.cli`."""

from session_recs.apps.cli import cli

__all__ = ["cli"]
