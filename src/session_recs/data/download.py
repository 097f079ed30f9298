"""Download a public dataset archive, verify it and store it as Parquet.

``download_source("online_retail", "data/01_raw/online_retail.parquet")`` streams the
UCI zip, reads the spreadsheet inside it with
:func:`~session_recs.data.readers.read_online_retail`, checks its columns and row count
and only then moves the Parquet file into place: a failed or interrupted download never
leaves a partial ``dest`` behind, and an existing ``dest`` is kept unless ``force=True``.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from session_recs.core.errors import ConfigError, DataValidationError, SessionRecsError
from session_recs.data.readers import ONLINE_RETAIL_COLUMNS, read_online_retail

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
USER_AGENT = "session-recs dataset download (python urllib)"


@dataclass(frozen=True)
class RemoteSource:
    """A public dataset: where its archive lives, which member to read, what it must hold."""

    name: str
    url: str
    member: str
    expected_rows: int
    expected_columns: tuple[str, ...]
    description: str = ""
    #: sha256 of the archive, when the publisher gives one (checked before it is read).
    sha256: str | None = None


SOURCES: dict[str, RemoteSource] = {
    "online_retail": RemoteSource(
        name="online_retail",
        url="https://archive.ics.uci.edu/static/public/352/online+retail.zip",
        member="Online Retail.xlsx",
        expected_rows=541_909,
        expected_columns=ONLINE_RETAIL_COLUMNS,
        description=(
            "UCI Online Retail (id 352, Daqing Chen; CC BY 4.0): transactions of a UK "
            "online retailer, 2010-12-01 to 2011-12-09. The FF19 study's dataset."
        ),
    ),
}


def _resolve_source(name: str, source: RemoteSource | None) -> RemoteSource:
    """``source`` when given, else the known source called ``name``."""
    if source is not None:
        return source
    if name not in SOURCES:
        raise ConfigError(
            f"Unknown dataset {name!r} to download; known: {', '.join(sorted(SOURCES))}."
        )
    return SOURCES[name]


def _fetch(url: str, target: Path, *, timeout: float, progress: bool, label: str) -> str:
    """Stream ``url`` into ``target`` in chunks and return its sha256; network problems
    become SessionRecsError."""
    received = 0
    total: int | None = None
    digest = hashlib.sha256()
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in {"http", "https", "file"}:
        raise ConfigError(f"Cannot download {url!r}: expected an http://, https:// or file:// URL.")
    try:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = getattr(response, "status", None) or 200
            if status >= 400:
                raise SessionRecsError(f"Download of {url} failed: HTTP {status}.")
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with (
                target.open("wb") as out,
                tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=label,
                    disable=not progress,
                ) as bar,
            ):
                while chunk := response.read(CHUNK_BYTES):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as err:
        raise SessionRecsError(
            f"Download of {url} failed: HTTP {err.code} {err.reason}. Check the URL "
            "(or pass --url with a mirror)."
        ) from err
    except urllib.error.URLError as err:
        raise SessionRecsError(
            f"Download of {url} failed: {err.reason}. Check your network connection "
            "(or pass --url with a mirror)."
        ) from err
    except TimeoutError as err:
        raise SessionRecsError(
            f"Download of {url} failed: no answer within {timeout:g} s (pass --timeout to "
            "wait longer)."
        ) from err
    except (OSError, http.client.HTTPException) as err:
        raise SessionRecsError(
            f"Download of {url} was interrupted after {received:,} bytes: {err!r}."
        ) from err
    except ValueError as err:
        raise ConfigError(f"Cannot download {url!r}: {err}.") from err
    if total is not None and received != total:
        raise SessionRecsError(
            f"Download of {url} was cut short: received {received:,} of {total:,} bytes."
        )
    return digest.hexdigest()


def _extract_member(archive: Path, member: str, folder: Path, url: str) -> Path:
    """Copy ``member`` (matched by file name, case-insensitively) out of the zip ``archive``."""
    wanted = PurePosixPath(member).name.lower()
    try:
        with zipfile.ZipFile(archive) as zipped:
            names = [info.filename for info in zipped.infolist() if not info.is_dir()]
            matches = [name for name in names if PurePosixPath(name).name.lower() == wanted]
            if not matches:
                raise DataValidationError(
                    f"The archive downloaded from {url} has no member {member!r}; "
                    f"it contains: {names}."
                )
            # Our own file name, never the archive's path, so nothing escapes ``folder``.
            target = folder / PurePosixPath(matches[0]).name
            with zipped.open(matches[0]) as source, target.open("wb") as out:
                shutil.copyfileobj(source, out, CHUNK_BYTES)
    except zipfile.BadZipFile as err:
        raise DataValidationError(
            f"The file downloaded from {url} is not a valid zip archive (expected one "
            f"containing {member!r}): {err}."
        ) from err
    return target


def _verify(table_columns: list[str], rows: int, source: RemoteSource, url: str) -> None:
    """Raise unless the table has the source's columns (in order) and row count."""
    expected = list(source.expected_columns)
    if table_columns != expected:
        raise DataValidationError(
            f"{source.member} from {url} has columns {table_columns}; expected {expected}."
        )
    if rows != source.expected_rows:
        raise DataValidationError(
            f"{source.member} from {url} has {rows:,} rows; expected {source.expected_rows:,} "
            f"for {source.name!r}. The download may be a different version of the dataset."
        )


def download_source(
    name: str,
    dest: str | Path,
    *,
    url: str | None = None,
    source: RemoteSource | None = None,
    force: bool = False,
    timeout: float = 60,
    progress: bool = True,
    sha256: str | None = None,
) -> Path:
    """Download, verify and write source ``name`` as Parquet at ``dest``; return ``dest``.

    The archive's sha256 is checked against ``sha256`` (or the source's own, when known)
    before anything is read from it.
    """
    source = _resolve_source(name, source)
    url = url or source.url
    expected = (sha256 or source.sha256 or "").strip().lower() or None
    if expected is not None and not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise ConfigError(f"--sha256 {sha256!r}: expected 64 hexadecimal digits.")
    dest = Path(dest)
    if dest.is_dir():
        raise ConfigError(
            f"{dest} is a folder; give the Parquet file to write, e.g. {dest}/x.parquet."
        )
    if dest.exists() and not force:
        raise SessionRecsError(
            f"{dest} already exists; pass --force (force=True) to download it again "
            "and overwrite it."
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Everything is staged next to ``dest`` so the final os.replace is atomic; the folder
    # goes away on success and on any failure alike.
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}.", dir=dest.parent) as staging:
        folder = Path(staging)
        archive = folder / "archive.zip"
        logger.info("Downloading %s from %s", source.name, url)
        digest = _fetch(url, archive, timeout=timeout, progress=progress, label=source.name)
        if expected is not None and digest != expected:
            raise DataValidationError(
                f"The archive downloaded from {url} has sha256 {digest}; expected {expected}. "
                "It is not the published file (a changed or corrupted download): nothing "
                "was written."
            )
        member = _extract_member(archive, source.member, folder, url)
        archive.unlink()
        logger.info("Reading %s (a large spreadsheet takes a minute)", member.name)
        table = read_online_retail(member)
        _verify([str(c) for c in table.columns], len(table), source, url)
        staged = folder / dest.name
        table.to_parquet(staged, index=False)
        os.replace(staged, dest)
    logger.info("Wrote %s: %s rows, %s columns", dest, f"{len(table):,}", table.shape[1])
    return dest
