"""Progress while a large raw file is read: a bar over its bytes, and log lines.

RecSys15's ``yoochoose-clicks.dat`` is 1.4 GB: reading it is the longest silent step of
an ingest. :func:`reading` opens a file for the readers with a bar over the bytes
consumed (for files of :data:`PROGRESS_MIN_BYTES` or more; plain log lines off a
terminal, :mod:`session_recs.core.progress`) and logs its size before and its throughput
after, through Kedro's logging.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from session_recs.core.progress import progress_bar

logger = logging.getLogger(__name__)

#: Files smaller than this are read without a bar (they take well under a second).
PROGRESS_MIN_BYTES = 64 * 2**20


class _CountingReader(io.RawIOBase):
    """A raw binary file that advances a progress bar by the bytes read from it."""

    def __init__(self, raw: io.RawIOBase, bar: Any) -> None:
        super().__init__()
        self._raw = raw
        self._bar = bar

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._raw.readinto(buffer)
        if count:
            self._bar.update(count)
        return count

    def seekable(self) -> bool:
        return self._raw.seekable()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        position = self._raw.seek(offset, whence)
        self._bar.n = position
        return position

    def tell(self) -> int:
        return self._raw.tell()


def _megabytes(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"


@contextlib.contextmanager
def reading(path: Path, what: str) -> Iterator[io.BufferedReader]:
    """``path`` opened for binary reading, with progress for large files.

    ``what`` names the source in the messages (e.g. ``"RecSys15 clicks"``).
    """
    size = path.stat().st_size
    logger.info("Reading %s from %s (%s)", what, path, _megabytes(size))
    start = time.perf_counter()
    with (
        path.open("rb", buffering=0) as raw,
        progress_bar(
            size,
            f"reading {path.name}",
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            disable=size < PROGRESS_MIN_BYTES,
        ) as bar,
    ):
        yield io.BufferedReader(_CountingReader(raw, bar), buffer_size=4 * 2**20)
    seconds = time.perf_counter() - start
    logger.info(
        "Read %s in %.1f s (%s/s)", path.name, seconds, _megabytes(int(size / max(seconds, 1e-9)))
    )
