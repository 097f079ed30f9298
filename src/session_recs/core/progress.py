"""Progress bars that name what they measure and stay readable in a log file.

:func:`progress_bar` makes every bar of the project (a model's epochs, a large file's
bytes). A model's bar is named after the model namespace whose node is running
(:func:`bar_label`; the run's hook sets it per node, so both Word2Vec bars no longer read
``word2vec``). On a terminal it is a tqdm bar; anywhere else (a log file, CI, a
notebook) a :class:`LineProgress` that logs a plain line at most every ``every_s``
seconds and one at the end, instead of one long line of carriage returns.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

#: The name bars carry while a node of a model namespace runs (None: the bar's own).
_LABEL: ContextVar[str | None] = ContextVar("progress_label", default=None)


def set_label(label: str | None) -> None:
    """Name the bars started from now on in this thread (None: each bar's own name)."""
    _LABEL.set(label or None)


@contextlib.contextmanager
def labelled(label: str | None) -> Iterator[None]:
    """Bars started in the block are named ``label``."""
    token = _LABEL.set(label or None)
    try:
        yield
    finally:
        _LABEL.reset(token)


def bar_label(default: str) -> str:
    """The running namespace's name, else ``default``."""
    return _LABEL.get() or default


class LineProgress:
    """A progress bar off a terminal: a log line at the first step (training has started),
    then at most every ``every_s`` seconds, and one when the bar closes (``label: 12/20
    epoch in 3.1 s, recall@10=0.5200``). Takes the calls tqdm takes here (``update``,
    ``set_postfix``, ``close``, ``n``)."""

    def __init__(self, total: int | None, desc: str, unit: str, every_s: float = 10.0) -> None:
        self.total, self.desc, self.unit, self.every_s = total, desc, unit, every_s
        self.n = 0
        self.postfix = ""
        self.started = self.last = time.perf_counter()
        self.lines = 0
        self._logged_at = -1

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if not self.lines or now - self.last >= self.every_s:  # the first, then throttled
            self._line(now)

    def set_postfix(self, values: Mapping[str, Any], refresh: bool = False) -> None:
        self.postfix = ", ".join(f"{key}={value}" for key, value in values.items())

    def close(self) -> None:
        if self.n and self._logged_at != self.n:
            self._line(time.perf_counter())

    def _line(self, now: float) -> None:
        self.last = now
        self._logged_at = self.n
        self.lines += 1
        of = f"/{self.total:,}" if self.total else ""
        postfix = f", {self.postfix}" if self.postfix else ""
        logger.info(
            "%s: %s%s %s in %.1f s%s",
            self.desc,
            f"{self.n:,}",
            of,
            self.unit,
            self.last - self.started,
            postfix,
        )

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def on_terminal() -> bool:
    """Whether bars go to a terminal (tqdm draws on stderr)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def progress_bar(
    total: int | None, desc: str, *, unit: str = "epoch", disable: bool = False, **tqdm_args: Any
) -> Any:
    """A bar over ``total`` ``unit``s named ``desc`` (a model's: :func:`bar_label`): a tqdm
    bar on a terminal, :class:`LineProgress` elsewhere; a disabled tqdm if ``disable``."""
    if disable or on_terminal():
        return tqdm(total=total, desc=desc, unit=unit, disable=disable, **tqdm_args)
    return LineProgress(total, desc, unit)
