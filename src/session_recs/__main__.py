"""``python -m session_recs <command>``: the project's commands (run, download, make-demo)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any


def main(*args: Any, **kwargs: Any) -> Any:
    """Configure the Kedro project and dispatch to the project's command group."""
    # Kedro logs which logging config it uses as soon as it is imported, through a rich
    # handler that writes to the current sys.stdout: send that line to stderr, so that a
    # command's stdout holds only what it prints (recommend: its table).
    with contextlib.redirect_stdout(sys.stderr):
        from kedro.framework.project import configure_project

        configure_project(Path(__file__).parent.name)
    from session_recs.cli import cli

    kwargs.setdefault("standalone_mode", not hasattr(sys, "ps1"))
    return cli(*args, **kwargs)


if __name__ == "__main__":
    main()
