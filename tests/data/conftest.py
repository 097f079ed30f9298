"""Fixture builders for the raw-source readers: small files written inside each test."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd

# The reference Online Retail table's dtypes (pd.read_parquet of the shared copy).
RETAIL_DTYPES = {
    "InvoiceNo": "str",
    "StockCode": "str",
    "Description": "str",
    "Quantity": "int64",
    "InvoiceDate": "datetime64[us]",
    "UnitPrice": "float64",
    "CustomerID": "float64",
    "Country": "str",
}

# Not sorted by invoice or date, so a reader that reorders rows is caught; non-ASCII text,
# a missing Description and CustomerID, a cancellation, a comma and a trailing space.
_RETAIL_ROWS = [
    ("536365", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 6, "2010-12-01 08:26", 2.55, 17850),
    ("536365", "71053", "CAFÉ METAL LANTERN", 6, "2010-12-01 08:26", 3.39, 17850),
    ("581498", "22139", "Dotcomgiftshop Gift Voucher £40.00", 1, "2011-12-09 10:26", 33.19, None),
    ("C536379", "D", "Discount", -1, "2010-12-01 09:41", 27.5, 14527),
    ("536414", "22139", None, 56, "2010-12-01 11:52", 0.0, None),
    ("540001", "POST", "RED, WHITE & BLUE BUNTING ", 12, "2011-01-13 15:07", 1.25, 12583),
]


def retail_frame() -> pd.DataFrame:
    """The Online Retail rows above, with the reference table's dtypes."""
    frame = pd.DataFrame(
        _RETAIL_ROWS,
        columns=[
            "InvoiceNo",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "UnitPrice",
            "CustomerID",
        ],
    )
    frame["Country"] = ["United Kingdom"] * 5 + ["France"]
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"])
    frame["CustomerID"] = frame["CustomerID"].astype("float64")
    return frame.astype(RETAIL_DTYPES)


def _cell(value: object) -> object:
    """A code as the UCI spreadsheet stores it: a number when it is all digits."""
    return int(value) if isinstance(value, str) and value.isdigit() else value


def write_retail_xlsx(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` like the original "Online Retail.xlsx": numeric codes as numbers."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Online Retail"
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        sheet.append(
            [
                _cell(row.InvoiceNo),
                _cell(row.StockCode),
                None if pd.isna(row.Description) else row.Description,
                int(row.Quantity),
                row.InvoiceDate.to_pydatetime(),
                float(row.UnitPrice),
                None if np.isnan(row.CustomerID) else int(row.CustomerID),
                row.Country,
            ]
        )
    book.save(path)
    return path


def write_retail_csv(frame: pd.DataFrame, path: Path, encoding: str = "ISO-8859-1") -> Path:
    """Write ``frame`` like Kaggle's ecommerce-data CSV: "12/1/2010 8:26", ids without ".0"."""
    dates = frame["InvoiceDate"]
    kaggle = frame.assign(
        InvoiceDate=[f"{d.month}/{d.day}/{d.year} {d.hour}:{d.minute:02d}" for d in dates],
        CustomerID=frame["CustomerID"].astype("Int64"),
    )
    kaggle.to_csv(path, index=False, encoding=encoding)
    return path


def write_retail_zip(
    frame: pd.DataFrame, folder: Path, member: str = "Online Retail.xlsx"
) -> bytes:
    """The bytes of a zip holding ``frame`` as an .xlsx called ``member``."""
    workbook = write_retail_xlsx(frame, folder / "workbook.xlsx")
    archive = folder / "archive.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.write(workbook, member)
    return archive.read_bytes()


CLICKS_TEXT = (
    "1,2014-04-07T10:51:09.277Z,214536502,0\n"
    "1,2014-04-07T10:54:09.868Z,214536500,0\n"
    "3,2014-04-02T13:26:02.515Z,214716935,2053\n"
    "2,2014-04-06T18:26:34.530Z,214662742,S\n"
)


def clicks_frame() -> pd.DataFrame:
    """What ``read_recsys15_clicks`` must return for CLICKS_TEXT."""
    return pd.DataFrame(
        {
            "SessionId": np.array([1, 1, 3, 2], dtype="int64"),
            "Timestamp": pd.to_datetime(
                [
                    "2014-04-07 10:51:09.277",
                    "2014-04-07 10:54:09.868",
                    "2014-04-02 13:26:02.515",
                    "2014-04-06 18:26:34.530",
                ]
            ).astype("datetime64[ms]"),
            "ItemId": np.array([214536502, 214536500, 214716935, 214662742], dtype="int64"),
            "Category": pd.Series(["0", "0", "2053", "S"], dtype="str"),
        }
    )


# Lenient spacing around colons, a blank line, a playlist with no tracks, a repeated track.
AOTM_TEXT = "#1# 12: 345 13: 456 12: 345\n\n#2#7:70   8 :80\n#3# \n  #10# 1:2\n"


def aotm_frame() -> pd.DataFrame:
    """What ``read_aotm`` must return for AOTM_TEXT."""
    rows = [(1, 0, 12, 345), (1, 1, 13, 456), (1, 2, 12, 345), (2, 0, 7, 70), (2, 1, 8, 80)]
    rows.append((10, 0, 1, 2))
    return pd.DataFrame(rows, columns=["PlaylistId", "Position", "ArtistId", "SongId"]).astype(
        "int64"
    )


def write_rsc15_tsv(path: Path, sessions: list[int], items: list[int], times: list[float]) -> Path:
    """A table shaped like rsc15_100k's files: tab-separated ``SessionId ItemId Time``."""
    lines = ["SessionId\tItemId\tTime"]
    lines += [f"{s}\t{i}\t{t}" for s, i, t in zip(sessions, items, times, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def rsc15_train(path: Path) -> Path:
    """Three training clicks in two sessions."""
    return write_rsc15_tsv(
        path, [3, 3, 9], [214716935, 214832672, 214586805], [1396437466.94, 1396438212.318, 1.5]
    )


def rsc15_test(path: Path) -> Path:
    """Two test clicks in one session."""
    return write_rsc15_tsv(path, [11, 11], [214832672, 214716935], [1396483200.0, 1396483260.5])


def stamp(path: Path) -> tuple[int, bytes]:
    """A file's modification time and content, to show it was left untouched."""
    return path.stat().st_mtime_ns, path.read_bytes()


def listing(folder: Path) -> list[str]:
    """Every entry under ``folder`` (hidden ones too), relative and sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
