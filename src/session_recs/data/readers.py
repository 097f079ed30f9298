"""Readers for the raw sources: each returns a DataFrame in the source's own columns.

(Over 400 lines: one reader per raw format, each with the format's own checks, plus the
sniffing of any table's format, encoding and delimiter.)

No mapping onto the project's interaction schema happens here (that is
:mod:`session_recs.data.interactions`); a reader only turns one file format into a
well-typed table and raises :class:`~session_recs.core.errors.DataValidationError`,
naming the file and what was expected, for anything it cannot read.

==================  ============================  ===========================================
reader              formats                       columns
==================  ============================  ===========================================
read_online_retail  .parquet/.pq, .xlsx, .csv      InvoiceNo, StockCode, Description, Quantity,
                                                  InvoiceDate, UnitPrice, CustomerID, Country
read_recsys15_…     yoochoose-clicks.dat          SessionId, Timestamp, ItemId, Category
read_aotm           aotm_list_ids.txt             PlaylistId, Position, ArtistId, SongId
read_table          CSV/TSV, Parquet, xlsx         as in the file (format, encoding and
                    (sniffed from the content)    delimiter sniffed; each overridable)
==================  ============================  ===========================================
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Collection
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from openpyxl.utils.exceptions import InvalidFileException

from session_recs.core.errors import ConfigError, DataValidationError
from session_recs.data.progress import reading

PathLike = str | os.PathLike[str]
logger = logging.getLogger(__name__)

ONLINE_RETAIL_COLUMNS: tuple[str, ...] = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
RECSYS15_COLUMNS: tuple[str, ...] = ("SessionId", "Timestamp", "ItemId", "Category")
AOTM_COLUMNS: tuple[str, ...] = ("PlaylistId", "Position", "ArtistId", "SongId")

PARQUET_SUFFIXES = (".parquet", ".pq")
ONLINE_RETAIL_SUFFIXES = (*PARQUET_SUFFIXES, ".xlsx", ".csv")
# The dtype pd.read_parquet gives for the reference Online Retail table.
INVOICE_DATE_DTYPE = "datetime64[us]"
# Kaggle's "ecommerce-data" CSV writes dates as month/day/year hour:minute.
KAGGLE_DATE_FORMAT = "%m/%d/%Y %H:%M"
RECSYS15_FORMAT = "headerless CSV 'sessionID,timestamp,itemID,category'"
AOTM_FORMAT = "'#<playlist># <artist>:<song> <artist>:<song> ...'"

_SNIFF_BYTES = 8192
# Leading bytes of binary formats people most often hand to a text reader by mistake.
_MAGIC = {
    b"PAR1": "a Parquet file",
    b"PK\x03\x04": "a zip archive (or an .xlsx workbook)",
    b"\xd0\xcf\x11\xe0": "an old Excel .xls workbook",
    b"\x1f\x8b": "a gzip archive",
}
# Errors pandas, pyarrow, openpyxl and zipfile raise for a file that is not what it claims.
_READ_ERRORS = (
    ValueError,
    OSError,
    KeyError,
    IndexError,
    zipfile.BadZipFile,
    InvalidFileException,
    pa.ArrowException,
)
_AOTM_ID = r"-?\d{1,18}"  # at most 18 digits: always fits in int64
_AOTM_PAIR = rf"{_AOTM_ID}\s*:\s*{_AOTM_ID}"
# Pairs must be separated by whitespace: "1:23:4" is malformed, and the regex stays linear.
_AOTM_LINE = (
    r"^\s*#\s*(?P<playlist>\d{1,18})\s*#"
    rf"(?P<body>(?:\s*{_AOTM_PAIR}(?:\s+{_AOTM_PAIR})*)?)\s*$"
)


def _existing(path: PathLike, what: str, hint: str = "") -> Path:
    """``path`` as a Path, or a DataValidationError when nothing is there."""
    path = Path(path)
    if not path.exists():
        raise DataValidationError(f"{what} file not found: {path}{hint}")
    return path


def _reject_binary(path: Path, expected: str, encoding: str = "utf-8") -> None:
    """Refuse a binary file (Parquet, zip, NUL bytes) handed to a text reader."""
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            raise DataValidationError(f"{path} looks like {kind}, not {expected}.")
    wide = encoding.lower().replace("_", "-").startswith(("utf-16", "utf-32"))
    if b"\x00" in head and not wide:
        raise DataValidationError(f"{path} is a binary file, not {expected}.")


def _unreadable(path: Path, expected: str, err: BaseException) -> DataValidationError:
    """The error for a file that the library for ``expected`` could not parse."""
    detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return DataValidationError(f"{path} could not be read as {expected}: {detail}")


def _require_rows(frame: pd.DataFrame, path: Path, what: str) -> pd.DataFrame:
    """``frame`` unchanged, or a DataValidationError when it has no rows."""
    if frame.empty:
        raise DataValidationError(f"{what} file {path} is empty: it has no data rows.")
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet file, with format errors in the user's language."""
    try:
        return pd.read_parquet(path)
    except _READ_ERRORS as err:
        raise _unreadable(path, "a Parquet file", err) from err


def _read_csv(path: Path, encoding: str, **kwargs: object) -> pd.DataFrame:
    """A delimited text file in ``encoding``; decoding and parsing errors name the file."""
    _reject_binary(path, "a CSV text file", encoding)
    try:
        with reading(path, f"a CSV table ({encoding})") as handle:
            return pd.read_csv(handle, encoding=encoding, **kwargs)
    except UnicodeDecodeError as err:
        found = err.object[err.start : err.start + 1]
        raise DataValidationError(
            f"{path} is not valid {encoding} text (found byte {found!r}: {err.reason}); "
            "give the file's encoding (e.g. encoding: ISO-8859-1 in the dataset's load_args)."
        ) from err
    except pd.errors.EmptyDataError as err:
        raise DataValidationError(f"{path} is empty: expected a header line and rows.") from err
    except _READ_ERRORS as err:
        raise _unreadable(path, "a CSV table", err) from err


def _read_text_csv_any_encoding(path: Path, **kwargs: object) -> pd.DataFrame:
    """UTF-8 when the bytes decode as UTF-8, else ISO-8859-1 (which decodes anything)."""
    # UTF-8 first: a UTF-8 file read as Latin-1 gives silent mojibake ("CAFÃ\x89"), while
    # Latin-1 text with accents is almost never valid UTF-8.
    try:
        return _read_csv(path, "utf-8-sig", **kwargs)
    except DataValidationError as err:
        if not isinstance(err.__cause__, UnicodeDecodeError):
            raise
    logger.info("%s is not UTF-8 text: reading it as ISO-8859-1 (Latin-1)", path)
    return _read_csv(path, "ISO-8859-1", **kwargs)


def _as_text(values: pd.Series) -> pd.Series:
    """Codes as pandas ``str``: 536365 and 536365.0 both become "536365"; missing stays NA."""
    if pd.api.types.is_float_dtype(values):
        present = values.dropna()
        if (present % 1 == 0).all():
            values = values.astype("Int64")
    return values.astype("str")


def _as_number(values: pd.Series, column: str, path: Path) -> pd.Series:
    """Numbers from a column that may hold text; non-numbers raise naming the column."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        examples = ", ".join(repr(v) for v in values[bad].unique()[:3])
        raise DataValidationError(
            f"Column '{column}' of {path} must be numeric; {int(bad.sum())} value(s) are not, "
            f"e.g. {examples}."
        )
    return numbers


def _as_integer(values: pd.Series, column: str, path: Path) -> pd.Series:
    """int64 from a numeric column; missing or fractional values raise naming the column."""
    numbers = _as_number(values, column, path)
    if pd.api.types.is_integer_dtype(numbers) and not numbers.isna().any():
        return numbers.astype("int64")
    floats = numbers.astype("float64")
    bad = floats.isna() | (floats % 1 != 0)
    if bad.any():
        raise DataValidationError(
            f"Column '{column}' of {path} must hold whole numbers with no gaps; "
            f"{int(bad.sum())} value(s) are missing or fractional (first in data row "
            f"{int(bad.to_numpy().argmax()) + 1})."
        )
    return floats.astype("int64")


def _as_invoice_date(values: pd.Series, path: Path) -> pd.Series:
    """Datetimes pass through; text is month/day/year (Kaggle), ISO-8601 or any other date."""
    if pd.api.types.is_datetime64_any_dtype(values):
        dates = values
    else:
        text = values.astype("str")
        dates = None
        for date_format in (KAGGLE_DATE_FORMAT, "ISO8601", "mixed"):
            try:
                dates = pd.to_datetime(text, format=date_format)
                break
            except (ValueError, TypeError, OverflowError):
                continue
        if dates is None:
            parsed = pd.to_datetime(text, format="mixed", errors="coerce")
            bad = text[parsed.isna() & text.notna()]
            raise DataValidationError(
                f"Column 'InvoiceDate' of {path} could not be read as dates; expected e.g. "
                f"'12/1/2010 8:26' (month/day/year) or '2010-12-01 08:26:00', found "
                f"{bad.iloc[0]!r} ({len(bad)} unreadable value(s))."
            )
    if dates.dt.tz is not None:
        dates = dates.dt.tz_localize(None)
    return dates.astype(INVOICE_DATE_DTYPE)


def _online_retail_schema(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The 8 UCI columns, in order, with the dtypes of the reference Parquet table."""
    raw = raw.rename(columns=lambda name: str(name).strip())
    missing = [name for name in ONLINE_RETAIL_COLUMNS if name not in raw.columns]
    if missing:
        raise DataValidationError(
            f"Online Retail file {path} lacks column(s) {missing}; expected "
            f"{list(ONLINE_RETAIL_COLUMNS)}, found {[str(c) for c in raw.columns]}."
        )
    _require_rows(raw, path, "Online Retail")
    out = pd.DataFrame(
        {
            "InvoiceNo": _as_text(raw["InvoiceNo"]),
            "StockCode": _as_text(raw["StockCode"]),
            "Description": _as_text(raw["Description"]),
            "Quantity": _as_integer(raw["Quantity"], "Quantity", path),
            "InvoiceDate": _as_invoice_date(raw["InvoiceDate"], path),
            "UnitPrice": _as_number(raw["UnitPrice"], "UnitPrice", path).astype("float64"),
            "CustomerID": _as_number(raw["CustomerID"], "CustomerID", path).astype("float64"),
            "Country": _as_text(raw["Country"]),
        }
    )
    return out.reset_index(drop=True)


def read_online_retail(path: PathLike) -> pd.DataFrame:
    """UCI Online Retail from .parquet, the original .xlsx or Kaggle's .csv, in file order."""
    path = _existing(
        path,
        "Online Retail",
        " (download it with `python -m session_recs download online_retail`).",
    )
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        raw = _read_parquet(path)
    elif suffix == ".xlsx":
        try:
            # openpyxl parses the UCI workbook (23 MB) in about a minute.
            with reading(path, "an Excel workbook") as handle:
                raw = pd.read_excel(handle, sheet_name=0, engine="openpyxl")
        except _READ_ERRORS as err:
            raise _unreadable(path, "an Excel .xlsx workbook", err) from err
    elif suffix == ".csv":
        # Codes stay text as written ("085123", "85123A"); numbers are converted below.
        raw = _read_text_csv_any_encoding(path, dtype="str", keep_default_na=False, na_values=[""])
    else:
        raise DataValidationError(
            f"Online Retail file {path} has an unsupported suffix {path.suffix!r}; "
            f"expected one of {list(ONLINE_RETAIL_SUFFIXES)}."
        )
    return _online_retail_schema(raw, path)


def read_recsys15_clicks(path: PathLike) -> pd.DataFrame:
    """RecSys Challenge 2015 ``yoochoose-clicks.dat``; Timestamp is naive UTC wall-clock time."""
    path = _existing(path, "RecSys15 clicks")
    _reject_binary(path, RECSYS15_FORMAT)
    types = {
        "SessionId": pa.int64(),
        "Timestamp": pa.timestamp("ms", tz="UTC"),
        "ItemId": pa.int64(),
        "Category": pa.string(),
    }
    try:
        with reading(path, "RecSys15 clicks") as handle:
            table = pa_csv.read_csv(
                handle,
                read_options=pa_csv.ReadOptions(column_names=list(RECSYS15_COLUMNS)),
                convert_options=pa_csv.ConvertOptions(column_types=types),
            )
    except _READ_ERRORS as err:
        if "Empty CSV file" in str(err):
            raise DataValidationError(f"RecSys15 clicks file {path} is empty.") from err
        raise _unreadable(path, RECSYS15_FORMAT + " with ISO-8601 UTC timestamps", err) from err
    clicks = table.to_pandas()
    _require_rows(clicks, path, "RecSys15 clicks")
    return clicks.assign(
        Timestamp=clicks["Timestamp"].dt.tz_localize(None).astype("datetime64[ms]"),
        Category=clicks["Category"].astype("str"),
    )


def read_aotm(path: PathLike) -> pd.DataFrame:
    """Art of the Mix ``aotm_list_ids.txt``: one row per track, in playlist order."""
    path = _existing(path, "Art of the Mix")
    _reject_binary(path, f"an Art of the Mix text file {AOTM_FORMAT}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataValidationError(
            f"{path} is not UTF-8 text (byte {err.start}); expected an Art of the Mix "
            f"playlist file with lines {AOTM_FORMAT}."
        ) from err
    lines = pd.Series(text.splitlines(), dtype="str")
    lines.index = pd.RangeIndex(1, len(lines) + 1, name="line")
    lines = lines[lines.str.strip() != ""]
    if lines.empty:
        raise DataValidationError(f"Art of the Mix file {path} is empty: it has no playlists.")
    parts = lines.str.extract(_AOTM_LINE)
    malformed = parts["playlist"].isna()
    if malformed.any():
        number = int(malformed.idxmax())
        raise DataValidationError(
            f"Art of the Mix file {path}, line {number}: {lines[number][:200]!r} is not a "
            f"playlist; expected {AOTM_FORMAT} ({int(malformed.sum())} malformed line(s))."
        )
    counts = parts["body"].str.count(":").to_numpy()
    if counts.sum() == 0:
        raise DataValidationError(f"Art of the Mix file {path} has playlists but no tracks.")
    # Every body passed the line pattern, so it is only integers around colons: one C-level
    # pass parses all of them (ids have at most 18 digits, so they fit in int64).
    joined = " ".join(parts["body"].tolist()).replace(":", " ")
    pairs = np.fromstring(joined, dtype=np.int64, sep=" ").reshape(-1, 2)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return pd.DataFrame(
        {
            "PlaylistId": np.repeat(parts["playlist"].astype("int64").to_numpy(), counts),
            "Position": np.arange(len(pairs), dtype=np.int64) - starts,
            "ArtistId": pairs[:, 0],
            "SongId": pairs[:, 1],
        }
    )


#: Formats :func:`read_table` reads, and the delimiters it recognises in text.
TABLE_FORMATS = ("csv", "parquet", "xlsx")
DELIMITERS = (",", ";", "\t", "|")
_SNIFF_LINES = 50


def sniff_format(path: Path) -> str:
    """``parquet``, ``xlsx`` or ``csv`` from the file's first bytes, whatever its name."""
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    return "csv"


def sniff_encoding(path: Path) -> str:
    """The text encoding of ``path``: a BOM's, else UTF-8 when the sample decodes, else Latin-1."""
    size = _SNIFF_BYTES * 8
    with path.open("rb") as handle:
        head = handle.read(size)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        # A multi-byte character cut at the end of the sample is not an error.
        if not (len(head) == size and err.reason == "unexpected end of data"):
            return "ISO-8859-1"
    return "utf-8"


def sniff_delimiter(path: Path, encoding: str) -> str:
    """The delimiter that splits the first lines into the most columns, the same number in each.

    Fields are split as the csv module reads them, so quoted commas do not count; a file
    with one column (no delimiter found) is read with ``,``.
    """
    import csv

    with path.open(encoding=encoding, errors="replace", newline="") as handle:
        lines = [line for _, line in zip(range(_SNIFF_LINES), handle, strict=False)]
    lines = [line for line in lines if line.strip()]
    if len(lines) > 1 and not lines[-1].endswith(("\n", "\r")):
        lines = lines[:-1]  # possibly cut short
    best, best_width = ",", 1
    for sep in DELIMITERS:
        widths = {len(row) for row in csv.reader(lines, delimiter=sep)}
        if len(widths) == 1 and (width := widths.pop()) > best_width:
            best, best_width = sep, width
    return best


def read_table(
    path: PathLike,
    *,
    file_format: str | None = None,
    sep: str | None = None,
    encoding: str | None = None,
    sheet_name: str | int = 0,
    what: str = "Interactions table",
    text_columns: Collection[str] = (),
) -> pd.DataFrame:
    """A CSV/TSV, Parquet or Excel table, columns as in the file.

    The format, the text encoding and the delimiter are sniffed from the content (a
    ``.csv`` that is tab- or semicolon-separated reads as such); each can be given instead.
    In text, ``text_columns`` (ids) are read as written, never parsed as numbers ("0123"
    and "123" stay two ids); Parquet and xlsx columns keep their own types.
    """
    path = _existing(path, what)
    if path.is_dir():
        raise DataValidationError(f"{what} {path} is a folder; expected a file.")
    file_format = file_format or sniff_format(path)
    if file_format not in TABLE_FORMATS:
        raise ConfigError(
            f"format: {file_format!r} for {path} is not one of {list(TABLE_FORMATS)}."
        )
    if file_format != "csv" and (sep is not None or encoding is not None):
        raise ConfigError(
            f"load_args sep and encoding apply to text tables; {path} is read as {file_format}."
        )
    if file_format == "parquet":
        table = _read_parquet(path)
    elif file_format == "xlsx":
        try:
            with reading(path, "an Excel workbook") as handle:
                table = pd.read_excel(handle, sheet_name=sheet_name, engine="openpyxl")
        except _READ_ERRORS as err:
            raise _unreadable(path, "an Excel .xlsx workbook", err) from err
    else:
        encoding = encoding or sniff_encoding(path)
        _reject_binary(path, "a CSV text file", encoding)
        sep = sep or sniff_delimiter(path, encoding)
        table = _read_csv(path, encoding, sep=sep, dtype=dict.fromkeys(text_columns, "str"))
        if table.shape[1] == 1:
            raise DataValidationError(
                f"{path} reads as a single column {str(table.columns[0])[:80]!r}: no delimiter "
                f"among {[d.replace(chr(9), 'tab') for d in DELIMITERS]} splits its lines the "
                "same way. Give the separator in the catalog entry, e.g. load_args: {sep: ';'}."
            )
        table.attrs["sep"] = sep
    return _require_rows(table, path, what)
