"""Synthetic OTTO-shaped session logs at any size, generated and written in chunks.

The OTTO e-commerce log (Kaggle's "OTTO - Multi-Objective Recommender System") holds
about 2.2 x 10^8 events of 12.9 M sessions over 1.86 M items in four weeks: one row per
event, ``session``, ``aid`` (the item), ``ts`` (unix seconds) and ``type`` (``clicks``,
``carts``, ``orders``). This module writes tables of that shape, with its heavy tails and
something for a recommender to learn:

- **Session lengths** are lognormal (``length_sigma``) around ``mean_session_length``
  events (OTTO: 16.8), at least 1: most sessions are short, a few run to hundreds.
- **Item popularity** is Zipf (``zipf_exponent``) over shuffled ids: a few items take a
  large share of the events, most are rare.
- **Sequences.** Items have a hidden cyclic order. A session's first event, and with
  probability ``1 - p_sequential`` every later one, is a fresh popularity draw (an
  anchor); the others continue from the last anchor along the hidden order (anchor, its
  successor, the successor's successor...), so transitions repeat across sessions.
- **Time.** Sessions start uniformly over ``days`` days from ``start``; events within a
  session are exponential gaps of ``mean_gap_s`` seconds apart.
- **Types** are drawn with OTTO's shares (about 90% clicks, 8% carts, 2% orders).

Memory is bounded by ``chunk_events``: each chunk's sessions are drawn, turned into rows
and written as one Parquet row group before the next is drawn; only the item tables
(``items`` entries) stay for the whole run. Chunk ``c`` draws from its own random
stream (``seed`` and ``c``), so the same settings give the same file, byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field, field_validator

from session_recs.core.config import Settings

TYPES = ("clicks", "carts", "orders")
#: Columns of the written table, as in OTTO's own Parquet exports.
COLUMNS = ("session", "aid", "ts", "type")


Share = Annotated[float, Field(ge=0)]


class LogShape(Settings):
    """What :func:`write_log` generates."""

    events: int = Field(1_000_000, ge=1)
    #: Up to 10^8: its tables (popularity, hidden order) take 32 bytes an item.
    items: int = Field(100_000, ge=2, le=10**8)
    seed: int = Field(0, ge=0)
    mean_session_length: float = Field(16.8, ge=1)
    length_sigma: float = Field(1.2, gt=0, le=4)
    zipf_exponent: float = Field(0.9, ge=0, le=3)
    p_sequential: float = Field(0.5, ge=0, le=1)
    #: Shares of clicks, carts and orders (any scale: they are normalised).
    type_shares: tuple[Share, Share, Share] = (0.90, 0.08, 0.02)
    start: str = "2022-07-31"
    days: int = Field(28, ge=1)
    mean_gap_s: float = Field(60.0, gt=0)
    chunk_events: int = Field(5_000_000, ge=1)

    @field_validator("type_shares")
    @classmethod
    def _some_share(cls, shares: tuple[float, float, float]) -> tuple[float, float, float]:
        if sum(shares) <= 0:
            raise ValueError("at least one share above 0")
        return shares


class _Items:
    """The item tables every chunk draws from: popularity and the hidden order."""

    def __init__(self, shape: LogShape, rng: np.random.Generator) -> None:
        n = shape.items
        weights = np.arange(1, n + 1, dtype=np.float64) ** -shape.zipf_exponent
        popularity = np.empty(n)
        popularity[rng.permutation(n)] = weights  # ranks shuffled over ids
        self.cdf = np.cumsum(popularity / popularity.sum())
        self.cdf[-1] = 1.0
        self.order = rng.permutation(n)  # the hidden cycle: order[r] is followed by order[r+1]
        self.position = np.empty(n, dtype=np.int64)
        self.position[self.order] = np.arange(n)

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.searchsorted(self.cdf, rng.random(size), side="right").astype(np.int64)

    def after(self, anchors: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """The item ``steps`` places after each anchor in the hidden order."""
        return self.order[(self.position[anchors] + steps) % len(self.order)]


def _session_lengths(rng: np.random.Generator, shape: LogShape, events: int) -> np.ndarray:
    """Lognormal lengths (at least 1) adding up to exactly ``events``."""
    sigma = shape.length_sigma
    mu = np.log(shape.mean_session_length) - sigma**2 / 2
    lengths: list[np.ndarray] = []
    total = 0
    while total < events:
        need = events - total
        batch = np.maximum(
            1, np.rint(rng.lognormal(mu, sigma, int(need / shape.mean_session_length) + 16))
        ).astype(np.int64)
        lengths.append(batch)
        total += int(batch.sum())
    every = np.concatenate(lengths)
    ends = np.cumsum(every)
    last = int(np.searchsorted(ends, events))  # the session that reaches ``events``
    every = every[: last + 1]
    every[-1] -= int(ends[last]) - events
    return every


def _chunk(
    shape: LogShape, items: _Items, index: int, events: int, first_session: int
) -> pd.DataFrame:
    rng = np.random.default_rng([shape.seed, 1, index])
    lengths = _session_lengths(rng, shape, events)
    n_sessions = len(lengths)
    starts = np.cumsum(lengths) - lengths
    position = np.arange(events, dtype=np.int64) - np.repeat(starts, lengths)  # in session
    anchor = (position == 0) | (rng.random(events) >= shape.p_sequential)
    fresh = items.draw(rng, int(anchor.sum()))
    anchor_at = np.maximum.accumulate(np.where(anchor, np.arange(events), 0))
    anchor_item = np.empty(events, dtype=np.int64)
    anchor_item[anchor] = fresh
    aid = items.after(anchor_item[anchor_at], np.arange(events) - anchor_at)

    begin = pd.Timestamp(shape.start, tz="UTC").timestamp()
    session_start = begin + rng.random(n_sessions) * shape.days * 86_400
    gaps = rng.exponential(shape.mean_gap_s, events)
    gaps[starts] = 0.0
    elapsed = np.cumsum(gaps)
    within = elapsed - np.repeat(elapsed[starts], lengths)
    ts = np.floor(np.repeat(session_start, lengths) + within).astype(np.int64)
    kind = np.searchsorted(
        np.cumsum(shape.type_shares), rng.random(events) * sum(shape.type_shares)
    )
    return pd.DataFrame(
        {
            "session": np.repeat(np.arange(first_session, first_session + n_sessions), lengths),
            "aid": aid,
            "ts": ts,
            "type": pd.Categorical.from_codes(np.minimum(kind, 2), categories=list(TYPES)),
        }
    )


def generate_chunks(shape: LogShape) -> Iterator[pd.DataFrame]:
    """The log, ``chunk_events`` rows at a time (the last chunk holds the rest); sessions
    never span two chunks, and their ids count up from 0 across chunks."""
    shape = LogShape.model_validate(shape)
    items = _Items(shape, np.random.default_rng([shape.seed, 0]))
    done, first_session = 0, 0
    for index in range(-(-shape.events // shape.chunk_events)):
        size = min(shape.chunk_events, shape.events - done)
        frame = _chunk(shape, items, index, size, first_session)
        done += size
        first_session = int(frame["session"].iat[-1]) + 1
        yield frame


def write_log(shape: LogShape, path: str | Path) -> tuple[Path, int, int]:
    """Write the log to a Parquet file atomically (a hidden sibling, then a rename), one row
    group per chunk; return the path, the events and the sessions written."""
    from session_recs.data.atomic import AtomicLocalFileSystem

    target = Path(path)
    schema = pa.schema(
        [
            ("session", pa.int64()),
            ("aid", pa.int64()),
            ("ts", pa.int64()),
            ("type", pa.dictionary(pa.int8(), pa.string())),
        ]
    )
    events = sessions = 0
    with (
        AtomicLocalFileSystem(auto_mkdir=True).open(str(target), "wb") as handle,
        pq.ParquetWriter(handle, schema) as writer,
    ):
        for frame in generate_chunks(shape):
            table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
            writer.write_table(table, row_group_size=len(frame))
            events += len(frame)
            sessions = int(frame["session"].iat[-1]) + 1
    return target, events, sessions
