"""Project commands, available as ``kedro <command>`` and ``python -m session_recs <command>``.

``run`` is Kedro's own run command, with one change: a problem the user can fix (a
:class:`~session_recs.errors.SessionRecsError`) ends the run with its message and exit
code 1 instead of a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run

from session_recs.errors import SessionRecsError


def user_error(exc: BaseException) -> SessionRecsError | None:
    """The SessionRecsError behind ``exc`` (Kedro wraps dataset errors), if there is one."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, SessionRecsError):
            return current
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


@click.group(name="session-recs")
def cli() -> None:
    """session-recs project commands."""


cli.add_command(
    click.Command(
        name="run",
        callback=friendly_errors(kedro_run.callback),
        params=kedro_run.params,
        help=kedro_run.help,
        short_help=kedro_run.short_help,
    )
)


@cli.command()
@click.argument("name", default="online_retail")
@click.option(
    "--dest",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the Parquet table [default: data/01_raw/<name>.parquet].",
)
@click.option("--url", default=None, help="Download from this URL instead of the official one.")
@click.option("--force", is_flag=True, help="Overwrite an existing table.")
@click.option("--timeout", default=60.0, show_default=True, help="Network timeout in seconds.")
@friendly_errors
def download(name: str, dest: Path | None, url: str | None, force: bool, timeout: float) -> None:
    """Download a public dataset (NAME: online_retail) into data/01_raw and verify it."""
    from session_recs.data.download import download_source

    target = dest or Path("data/01_raw") / f"{name}.parquet"
    written = download_source(name, target, url=url, force=force, timeout=timeout)
    click.echo(f"Wrote {written}")


@cli.command("make-demo")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("data/01_raw/demo_online_retail.parquet"),
    show_default=True,
    help="Parquet file to write.",
)
@click.option("--events", type=int, default=None, help="Approximate number of rows.")
@click.option("--seed", type=int, default=None, help="Random seed.")
@friendly_errors
def make_demo(output: Path, events: int | None, seed: int | None) -> None:
    """Generate synthetic Online-Retail-schema transactions (the demo data, or a large table)."""
    from session_recs import synthetic

    table = synthetic.generate_transactions(
        events if events is not None else synthetic.DEMO_N_EVENTS,
        seed=seed if seed is not None else synthetic.DEMO_SEED,
    )
    written = synthetic.write_transactions(table, output)
    click.echo(f"Wrote {len(table):,} rows to {written}")
