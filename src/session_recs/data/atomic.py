"""Atomic saves: a file a dataset writes appears whole, or not at all.

Kedro's versioned datasets write ``<name>/<version>/<name>`` in place, so a run killed
while it writes leaves a truncated file that is also the *latest* version: the next
``kedro run`` loads it and fails. Here a dataset's writes to a local file go to a hidden
``.<name>.<random>.partial`` next to its target, which is renamed onto the target
(``os.replace``: atomic on one filesystem) when the file is closed after a complete
write. A killed write leaves only the hidden file, which no version lookup matches, so
the previous version stays the latest. (Such leftovers are safe to delete.)

Closing a file publishes it; leaving a ``with`` block on an exception, or dropping a
file without closing it, publishes nothing. kedro-datasets' file datasets all write
inside a ``with self._fs.open(...)`` block, which is what :func:`make_atomic` relies on.
:class:`~session_recs.framework.hooks.AtomicSavesHooks` applies it to every node output.
Remote filesystems are left alone: object stores publish an object only when its
upload completes.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
from typing import IO, Any, cast

from fsspec.compression import compr
from fsspec.core import get_compression
from fsspec.implementations.local import LocalFileOpener, LocalFileSystem, get_umask

PARTIAL_SUFFIX = ".partial"
# Read once: get_umask() briefly changes the process umask, which threads could observe.
_UMASK = get_umask()


def _name_file(exc: BaseException | None, path: str) -> None:
    """An OSError raised by a write (a full disk: ENOSPC from write, flush or fsync) names
    no file; give it the target's path, so the message says which file was not published."""
    if isinstance(exc, OSError) and exc.errno is not None and exc.filename is None:
        exc.filename = path


class _AtomicFileOpener(LocalFileOpener):
    """A local file opened for writing into a hidden sibling, renamed onto its path on close.

    ``compression`` (any of fsspec's codecs) is applied here rather than around this
    file, because a codec's ``close`` does not close the file it writes into.
    """

    #: What is written to (fsspec's attribute): the hidden file, or a codec over it.
    f: Any

    def __init__(self, path: str, mode: str, fs: LocalFileSystem | None = None, **kwargs: Any):
        self._finished = False
        self.abandoned = False  # set when the writer failed: close() then discards
        self._raw: IO[Any] | None = None
        kwargs.pop("autocommit", None)
        super().__init__(path, mode, autocommit=False, fs=fs, **kwargs)

    def _open(self) -> None:
        if self.f is not None and not self.f.closed:
            return
        folder, name = os.path.split(self.path)
        handle, self.temp = tempfile.mkstemp(
            prefix=f".{name}.", suffix=PARTIAL_SUFFIX, dir=folder or "."
        )
        self._raw = os.fdopen(handle, self.mode)
        self.f = self._raw
        if self.compression:
            self.f = compr[self.compression](self._raw, mode=self.mode[0])

    def _hidden_file(self) -> IO[Any]:
        """The hidden file (``__init__`` opens it, through fsspec's ``_open``)."""
        if self._raw is None:
            raise ValueError(f"{self.path} was never opened")
        return self._raw

    def _target_mode(self) -> int:
        """An overwritten file keeps its permissions; a new one gets open()'s (0666 & ~umask)."""
        try:
            return stat.S_IMODE(os.stat(self.path).st_mode)
        except FileNotFoundError:
            return 0o666 & ~_UMASK

    def commit(self) -> None:
        """Flush the hidden file to disk and rename it onto the target path."""
        if self._finished:
            return
        if self.abandoned:
            self.discard()
            return
        try:
            raw = self._hidden_file()
            if self.f is not raw:
                self.f.close()  # a codec writes its trailer into the raw file here
            raw.flush()
            os.fsync(raw.fileno())
            os.fchmod(raw.fileno(), self._target_mode())  # mkstemp creates 0600
            raw.close()
            os.replace(self.temp, self.path)
        except BaseException as exc:
            self.discard()
            _name_file(exc, self.path)
            raise
        self._finished = True

    def discard(self) -> None:
        """Drop the hidden file: nothing is published."""
        if self._finished:
            return
        self._finished = True
        for handle in (self.f, self._raw):
            if handle is not None:
                with contextlib.suppress(Exception):
                    handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.temp)

    close = commit

    @property
    def closed(self) -> bool:
        return self._finished

    def fileno(self) -> int:
        return self._hidden_file().fileno()

    def __exit__(self, exc_type: Any, exc: Any, *_: Any) -> None:
        if exc_type is not None:
            self.abandoned = True
            _name_file(exc, self.path)
        self.commit()

    def __del__(self) -> None:
        # Unlike a plain file, garbage collection must not publish half a write.
        with contextlib.suppress(Exception):
            self.discard()


class _AtomicTextWrapper(io.TextIOWrapper):
    """The text-mode file over an atomic binary one.

    ``TextIOWrapper`` closes its buffer the same way on success, on error and when it is
    garbage collected; these tell the buffer which it is, so only a close publishes.
    """

    def __exit__(self, exc_type: Any, *args: Any) -> None:
        if exc_type is not None:
            cast(_AtomicFileOpener, self.buffer).abandoned = True
        super().__exit__(exc_type, *args)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if not self.closed:
                cast(_AtomicFileOpener, self.buffer).abandoned = True
        super().__del__()


class AtomicLocalFileSystem(LocalFileSystem):
    """fsspec's local filesystem whose writes are atomic (see the module docstring)."""

    def open(
        self,
        path: str,
        mode: str = "rb",
        block_size: Any = None,
        cache_options: Any = None,
        compression: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """As fsspec's ``open`` (whose text and compression handling this mirrors for
        writes); a file opened to write is an atomic one."""
        if not ("w" in mode or "x" in mode):
            return super().open(
                path, mode, block_size, cache_options, compression=compression, **kwargs
            )
        path = self._strip_protocol(path)
        if self.auto_mkdir:
            self.makedirs(self._parent(path), exist_ok=True)
        if "x" in mode and os.path.exists(path):
            raise FileExistsError(path)
        text = "b" not in mode
        text_args = {
            key: kwargs.pop(key) for key in ("encoding", "errors", "newline") if key in kwargs
        }
        binary_mode = mode.replace("t", "").replace("x", "w").replace("b", "") + "b"
        opener = _AtomicFileOpener(
            path, binary_mode, fs=self, compression=get_compression(path, compression), **kwargs
        )
        return _AtomicTextWrapper(opener, **text_args) if text else opener


def _wrapped(dataset: Any) -> list[Any]:
    """The dataset and any dataset it wraps (``OptionalDataset``'s ``_dataset``)."""
    inner = getattr(dataset, "_dataset", None)
    return [dataset, *(_wrapped(inner) if inner is not None else [])]


def make_atomic(dataset: Any) -> bool:
    """Make ``dataset``'s writes through its local fsspec filesystem atomic.

    ``True`` if it has one (a dataset writing some other way, e.g. with a library that
    takes the path, gains nothing). Idempotent; datasets without a local filesystem
    (memory, remote) are left as they are.
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
