"""Parsed conf files kept for the life of the process, keyed by their bytes.

Kedro's ``OmegaConfigLoader`` parses every YAML file of a folder each time a key
(parameters, catalog, ...) is read, and one run reads a folder several times (the run's
planning, the checks of :mod:`session_recs.framework.config_loader`, Kedro's context and
catalog). Parsing is most of that cost: ``parameters_tune.yml`` takes about 60 ms, a
copy of its parsed tree about 20 ms. Here a folder's parse is kept under a key made of
every file's path inside the folder and its bytes, so a file changed between two reads
is parsed again (and a copy of the project elsewhere is not), and each reader gets its
own copy: Kedro merges into the first file's tree in place.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

#: Folders kept (one run reads a few: base and its environment, per key).
CAPACITY = 64

Parsed = dict[Path, Any]
#: Parsed trees and the files read, by path relative to the folder.
_kept: OrderedDict[tuple, tuple[Parsed, frozenset[Path]]] = OrderedDict()


def _fingerprint(folder: Path) -> tuple[tuple[str, str], ...] | None:
    """Every file under ``folder`` (relative to it) with the sha1 of its bytes; ``None``
    when the folder cannot be listed or read (Kedro's own reading then says what is wrong)."""
    try:
        files = sorted(path for path in folder.rglob("*") if path.is_file())
        return tuple(
            (str(path.relative_to(folder)), hashlib.sha1(path.read_bytes()).hexdigest())
            for path in files
        )
    except OSError:
        return None


def read_folder(
    folder: Path,
    patterns: Iterable[str],
    key: str,
    processed_files: set,
    read: Callable[[set], Parsed],
) -> Parsed:
    """``read(processed_files)`` (Kedro's parse of ``folder`` for ``key``), or a copy of the
    same folder's earlier parse when no file under it has changed since."""
    fingerprint = _fingerprint(folder)
    if fingerprint is None:
        return read(processed_files)
    # Kedro names files by absolute path (fsspec's local paths), whatever the folder given.
    folder = Path(os.path.abspath(folder))
    cache_key = (tuple(patterns), key, fingerprint)
    if cache_key not in _kept:
        processed: set[Path] = set()
        parsed = read(processed)
        _kept[cache_key] = (
            {path.relative_to(folder): tree for path, tree in parsed.items()},
            frozenset(path.relative_to(folder) for path in processed),
        )
        if len(_kept) > CAPACITY:
            _kept.popitem(last=False)
    else:
        _kept.move_to_end(cache_key)
    kept, read_files = _kept[cache_key]
    processed_files.update(folder / path for path in read_files)
    return {folder / path: copy.deepcopy(tree) for path, tree in kept.items()}
