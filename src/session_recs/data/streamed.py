"""Text sources with a fixed layout, streamed into Parquet for the columnar engine.

A text log larger than memory cannot go through the pandas readers of
:mod:`session_recs.data.readers` (about 400 bytes an event once read). RecSys15's
``yoochoose-clicks.dat`` (33 million clicks) has a fixed layout, so it is parsed here in
blocks by the same Arrow CSV options as :func:`~session_recs.data.readers.read_recsys15_clicks`
and written block by block to a Parquet file, which the engine then reads like any other
(:func:`session_recs.data.engine.interactions_from_parquet`). Memory stays at a few
blocks whatever the file's size.

The Parquet copy is kept beside the engine's spill files, named after the source's path,
size and modification time: the next run reads it again without parsing, and a changed
source gets a new copy.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import csv as pa_csv

from session_recs.core.errors import DataValidationError
from session_recs.data.readers import (
    _READ_ERRORS,
    RECSYS15_COLUMNS,
    RECSYS15_FORMAT,
    _existing,
    _reject_binary,
    _unreadable,
)

#: Bytes of text parsed at a time. Arrow's reader holds about 35 blocks' worth at its
#: peak (parsed ahead and being written): 4 MB keeps a 33-million-click file at 0.37 GB of
#: resident memory, as fast as 64 MB blocks (1.8 GB).
BLOCK_BYTES = 4 << 20

#: RecSys15's columns as :func:`~session_recs.data.readers.read_recsys15_clicks` reads them.
RECSYS15_TYPES = {
    "SessionId": pa.int64(),
    "Timestamp": pa.timestamp("ms", tz="UTC"),
    "ItemId": pa.int64(),
    "Category": pa.string(),
}


def estimated_rows(source: Path, sample: int = 1 << 16) -> int:
    """The lines of a text file, from its size and its first ``sample`` bytes' lines."""
    size = source.stat().st_size
    with source.open("rb") as handle:
        head = handle.read(sample)
    lines = max(head.count(b"\n"), 1)
    return int(size * lines / max(len(head), 1))


def cached_copy(source: Path, folder: Path, kind: str) -> Path:
    """Where the Parquet copy of ``source`` goes: named after its path, size and time."""
    stat = source.stat()
    key = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return folder / f"{kind}-{source.stem}-{digest}.parquet"


def recsys15_parquet(path: str | os.PathLike[str], folder: Path) -> Path:
    """``yoochoose-clicks.dat`` as Parquet (naive UTC timestamps to the millisecond,
    integer ids, text categories), streamed; an existing copy of the same file is reused.
    Refusals in the pandas reader's words: a missing, binary, empty or malformed file."""
    source = _existing(path, "RecSys15 clicks")
    _reject_binary(source, RECSYS15_FORMAT)
    folder.mkdir(parents=True, exist_ok=True)
    target = cached_copy(source, folder, "recsys15")
    if target.exists():
        return target
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        rows = _stream(source, partial)
        if not rows:
            raise DataValidationError(
                f"RecSys15 clicks file {source} is empty: it has no data rows."
            )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _stream(source: Path, target: Path) -> int:
    """Parse ``source`` block by block into ``target``; the rows written."""
    schema = pa.schema(
        [
            ("SessionId", pa.int64()),
            ("Timestamp", pa.timestamp("ms")),
            ("ItemId", pa.int64()),
            ("Category", pa.string()),
        ]
    )
    rows = 0
    try:
        reader = pa_csv.open_csv(
            str(source),
            read_options=pa_csv.ReadOptions(
                column_names=list(RECSYS15_COLUMNS), block_size=BLOCK_BYTES
            ),
            convert_options=pa_csv.ConvertOptions(column_types=RECSYS15_TYPES),
        )
        with pq.ParquetWriter(str(target), schema) as writer:
            for batch in reader:
                writer.write_table(_naive(batch, schema))
                rows += batch.num_rows
    except _READ_ERRORS as err:
        if "Empty CSV file" in str(err):
            raise DataValidationError(f"RecSys15 clicks file {source} is empty.") from err
        raise _unreadable(source, RECSYS15_FORMAT + " with ISO-8601 UTC timestamps", err) from err
    return rows


def _naive(batch: Any, schema: pa.Schema) -> pa.Table:
    """A parsed block with its UTC timestamps as naive wall-clock time (as the reader's)."""
    columns = [batch.column(name) for name in schema.names]
    columns[1] = columns[1].cast(pa.timestamp("ms"))
    return pa.Table.from_arrays(columns, schema=schema)
