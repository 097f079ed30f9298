"""``python -m session_recs <command>``: the project's commands (run, download, make-demo)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from kedro.framework.project import configure_project


def main(*args: Any, **kwargs: Any) -> Any:
    """Configure the Kedro project and dispatch to the project's command group."""
    configure_project(Path(__file__).parent.name)
    from session_recs.cli import cli

    kwargs.setdefault("standalone_mode", not hasattr(sys, "ps1"))
    return cli(*args, **kwargs)


if __name__ == "__main__":
    main()
