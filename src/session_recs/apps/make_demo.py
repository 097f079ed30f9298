"""``python -m session_recs make-demo``: the demo table, a large Online-Retail-shaped one, or
an OTTO-shaped session log (:mod:`session_recs.data.synthetic`,
:mod:`session_recs.data.synthetic_logs`)."""

from __future__ import annotations

from pathlib import Path

import click

from session_recs.apps.user_errors import OneLineCommand, friendly_errors
from session_recs.core.config import OptionError
from session_recs.core.errors import ConfigError

#: make-demo's shapes and the file each writes by default.
DEMO_SHAPES = {
    "online-retail": Path("data/01_raw/demo_online_retail.parquet"),
    "otto": Path("data/01_raw/otto_synthetic.parquet"),
}


@click.command("make-demo", cls=OneLineCommand)
@click.option(
    "--shape",
    type=click.Choice(sorted(DEMO_SHAPES)),
    default="online-retail",
    show_default=True,
    help="online-retail: UCI Online Retail's transactions (the demo data); otto: an "
    "OTTO-shaped session log (session, aid, ts, type), written in chunks at any size.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Parquet file to write [default: data/01_raw/demo_online_retail.parquet, or "
    "data/01_raw/otto_synthetic.parquet for --shape otto].",
)
@click.option(
    "--events",
    type=int,
    default=None,
    help="Number of rows (approximate for online-retail) [default: 60000, otto 1000000].",
)
@click.option(
    "--items",
    type=int,
    default=None,
    help="Catalogue size: items with Zipf popularity [default: 1200, otto 100000].",
)
@click.option("--seed", type=int, default=None, help="Random seed.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@friendly_errors
def make_demo(
    *,
    shape: str,
    output: Path | None,
    events: int | None,
    items: int | None,
    seed: int | None,
    force: bool,
) -> None:
    """Generate synthetic data: Online-Retail-schema transactions (the demo data, or a large
    table) or an OTTO-shaped session log.

    Example: python -m session_recs make-demo --events 10000000 --items 1000000 --output
    data/01_raw/large.parquet
    """
    output = output if output is not None else DEMO_SHAPES[shape]
    if output.is_dir():
        raise ConfigError(f"--output {output} is a folder; give the Parquet file to write.")
    if output.exists() and not force:
        raise ConfigError(
            f"--output {output} already exists; pass --force to replace it (it may be real "
            "data: the demo table is data/01_raw/demo_online_retail.parquet)."
        )
    flags = {
        "n_events": "--events",
        "events": "--events",
        "n_items": "--items",
        "items": "--items",
        "seed": "--seed",
    }
    try:
        if shape == "otto":
            _write_otto(output, events, items, seed)
            return
        from session_recs.data import synthetic

        table = synthetic.generate_transactions(
            events if events is not None else synthetic.DEMO_N_EVENTS,
            n_items=items if items is not None else synthetic.DEMO_N_ITEMS,
            seed=seed if seed is not None else synthetic.DEMO_SEED,
        )
    except OptionError as err:  # named by the flag the user typed
        flag = flags.get(err.key)
        if flag is None:
            raise
        raise OptionError("", flag, err.value, err.expected) from None
    written = synthetic.write_transactions(table, output)
    click.echo(f"Wrote {len(table):,} rows to {written}")


def _write_otto(output: Path, events: int | None, items: int | None, seed: int | None) -> None:
    from session_recs.data import synthetic_logs

    given = {"events": events, "items": items, "seed": seed}
    shape = synthetic_logs.LogShape.check(
        "make-demo", **{key: value for key, value in given.items() if value is not None}
    )
    written, n_events, n_sessions = synthetic_logs.write_log(shape, output)
    click.echo(
        f"Wrote {n_events:,} events of {n_sessions:,} sessions over {shape.items:,} items "
        f"to {written}"
    )
