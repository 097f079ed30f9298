"""Atomic saves: a file the pipeline writes appears whole, or not at all.

Kedro's versioned datasets write ``<name>/<version>/<name>`` in place, so a run killed
while it writes leaves a truncated file that is also the *latest* version: the next
``kedro run`` loads it and fails. Here every write to a local file goes to a hidden
``.<name>.<random>.partial`` next to its target and is renamed onto it once the dataset
has finished writing (``os.replace``: atomic on one filesystem). A killed write leaves
only the hidden file, which no version lookup matches, so the previous version stays the
latest.

:func:`make_atomic` gives a dataset this behaviour by swapping the fsspec filesystem it
writes through; :class:`~session_recs.hooks.AtomicSavesHooks` does it for every dataset
a run saves, whatever its type, as long as it writes through ``self._fs.open`` as
kedro-datasets' file datasets do. Remote filesystems are left alone: object stores
already publish an object only when its upload completes.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from typing import Any

from fsspec.implementations.local import LocalFileOpener, LocalFileSystem, get_umask

PARTIAL_SUFFIX = ".partial"


class _AtomicFileOpener(LocalFileOpener):
    """A local file opened for writing into a hidden sibling, renamed onto its path on close.

    Leaving a ``with`` block on an exception, or dropping the file without closing it,
    discards the sibling instead: a failed save publishes nothing.
    """

    def __init__(self, path: str, mode: str, fs: LocalFileSystem | None = None, **kwargs: Any):
        self._published = False
        self.abandoned = False  # set by a text wrapper leaving its block on an exception
        kwargs.pop("autocommit", None)
        super().__init__(path, mode, autocommit=False, fs=fs, **kwargs)

    def _open(self) -> None:
        if self.f is not None and not self.f.closed:
            return
        folder, name = os.path.split(self.path)
        handle, self.temp = tempfile.mkstemp(
            prefix=f".{name}.", suffix=PARTIAL_SUFFIX, dir=folder or "."
        )
        os.close(handle)
        self.f = open(self.temp, mode=self.mode)  # noqa: SIM115 - closed by commit/discard

    def commit(self) -> None:
        """Flush the hidden file to disk and rename it onto the target path."""
        if self.abandoned:
            self.discard()
        if self._published:
            return
        self._published = True
        if not self.f.closed:
            self.f.flush()
            os.fsync(self.f.fileno())
            self.f.close()
        os.replace(self.temp, self.path)
        # mkstemp creates 0600; give the file the permissions a plain open() would have.
        os.chmod(self.path, 0o666 & ~get_umask())

    def discard(self) -> None:
        """Drop the hidden file: nothing is published."""
        if self._published:
            return
        self._published = True
        if not self.f.closed:
            self.f.close()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.temp)

    close = commit

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()

    def __del__(self) -> None:
        # Unlike a plain file, garbage collection must not publish half a write.
        with contextlib.suppress(Exception):
            self.discard()


class _AtomicTextWrapper(io.TextIOWrapper):
    """fsspec's text-mode file, telling its binary file when its block raised.

    ``TextIOWrapper`` closes its buffer the same way on success and on error; the flag
    makes that close a discard.
    """

    def __exit__(self, exc_type: Any, *args: Any) -> None:
        if exc_type is not None:
            self.buffer.abandoned = True
        super().__exit__(exc_type, *args)


class AtomicLocalFileSystem(LocalFileSystem):
    """fsspec's local filesystem whose writes are atomic (see the module docstring)."""

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        """As fsspec's ``open``; text-mode writes get a wrapper that can abandon them."""
        if "b" in mode or not ("w" in mode or "x" in mode):
            return super().open(path, mode=mode, **kwargs)
        text = {key: kwargs.pop(key) for key in ("encoding", "errors", "newline") if key in kwargs}
        binary = super().open(path, mode=mode.replace("t", "") + "b", **kwargs)
        return _AtomicTextWrapper(binary, **text)

    def _open(self, path: str, mode: str = "rb", block_size: Any = None, **kwargs: Any) -> Any:
        if "w" not in mode and "x" not in mode:
            return super()._open(path, mode=mode, block_size=block_size, **kwargs)
        path = self._strip_protocol(path)
        if self.auto_mkdir:
            self.makedirs(self._parent(path), exist_ok=True)
        if "x" in mode and os.path.exists(path):
            raise FileExistsError(path)
        return _AtomicFileOpener(path, mode.replace("x", "w"), fs=self, **kwargs)


def _wrapped(dataset: Any) -> list[Any]:
    """The dataset and any dataset it wraps (``OptionalDataset``'s ``_dataset``)."""
    inner = getattr(dataset, "_dataset", None)
    return [dataset, *(_wrapped(inner) if inner is not None else [])]


def make_atomic(dataset: Any) -> bool:
    """Make ``dataset``'s writes to local files atomic; ``True`` if it writes through one.

    Idempotent; datasets without a local fsspec filesystem (memory, remote, custom I/O)
    are left as they are.
    """
    changed = False
    for candidate in _wrapped(dataset):
        fs = getattr(candidate, "_fs", None)
        if isinstance(fs, AtomicLocalFileSystem):
            changed = True
        elif isinstance(fs, LocalFileSystem):
            candidate._fs = AtomicLocalFileSystem(**fs.storage_options)
            changed = True
    return changed
