"""Raw-source readers on small files built here, with known answers and bad inputs."""

from __future__ import annotations

import re

import numpy as np
import openpyxl
import pandas as pd
import pytest

from session_recs.core.errors import ConfigError, DataValidationError
from session_recs.data.readers import (
    read_aotm,
    read_online_retail,
    read_recsys15_clicks,
    read_table,
)

from ..conftest import shared_file
from .conftest import (
    AOTM_TEXT,
    CLICKS_TEXT,
    RETAIL_DTYPES,
    aotm_frame,
    clicks_frame,
    retail_frame,
    rsc15_train,
    write_retail_csv,
    write_retail_xlsx,
)


def write_retail(kind: str, folder):
    """The fixture Online Retail table as ``kind``: parquet, xlsx, latin-1 or UTF-8 CSV."""
    frame = retail_frame()
    if kind == "parquet":
        path = folder / "online_retail.parquet"
        frame.to_parquet(path, index=False)
        return path
    if kind == "xlsx":
        return write_retail_xlsx(frame, folder / "Online Retail.xlsx")
    encoding = {"csv-latin1": "ISO-8859-1", "csv-utf8": "utf-8"}[kind]
    return write_retail_csv(frame, folder / "data.csv", encoding=encoding)


# ---------------------------------------------------------------- Online Retail


@pytest.mark.parametrize("kind", ["parquet", "xlsx", "csv-latin1", "csv-utf8"])
def test_online_retail_reads_every_format_to_the_same_table(tmp_path, kind):
    table = read_online_retail(write_retail(kind, tmp_path))

    pd.testing.assert_frame_equal(table, retail_frame())
    assert table.dtypes.astype(str).to_dict() == RETAIL_DTYPES
    assert table["InvoiceNo"].tolist() == [
        "536365",
        "536365",
        "581498",
        "C536379",
        "536414",
        "540001",
    ]
    assert table["StockCode"].tolist() == ["85123A", "71053", "22139", "D", "22139", "POST"]
    assert table["Description"].iloc[1] == "CAFÉ METAL LANTERN"
    assert table["Description"].iloc[2] == "Dotcomgiftshop Gift Voucher £40.00"
    assert table["Description"].iloc[5] == "RED, WHITE & BLUE BUNTING "
    assert table["Description"].isna().tolist() == [False] * 4 + [True, False]
    assert np.isnan(table["CustomerID"].iloc[2]) and table["CustomerID"].iloc[0] == 17850.0


def test_online_retail_xlsx_numeric_codes_become_strings(tmp_path):
    path = write_retail("xlsx", tmp_path)
    sheet = openpyxl.load_workbook(path).active
    # The fixture stores codes the way the UCI file does: numbers where they are all digits.
    assert sheet["A2"].value == 536365 and sheet["B3"].value == 71053
    assert sheet["A5"].value == "C536379" and sheet["B2"].value == "85123A"

    table = read_online_retail(path)

    assert table["InvoiceNo"].iloc[0] == "536365"
    assert table["StockCode"].iloc[1] == "71053"


def test_online_retail_csv_is_latin1_with_month_first_dates(tmp_path):
    path = write_retail("csv-latin1", tmp_path)
    raw = path.read_bytes()
    assert "CAFÉ".encode("latin-1") in raw and b"\xa340.00" in raw
    assert b"12/9/2011 10:26" in raw and b"1/13/2011 15:07" in raw

    table = read_online_retail(path)

    assert table["InvoiceDate"].tolist() == [
        pd.Timestamp("2010-12-01 08:26"),
        pd.Timestamp("2010-12-01 08:26"),
        pd.Timestamp("2011-12-09 10:26"),
        pd.Timestamp("2010-12-01 09:41"),
        pd.Timestamp("2010-12-01 11:52"),
        pd.Timestamp("2011-01-13 15:07"),
    ]


def test_online_retail_parquet_with_numeric_codes_loses_no_digits(tmp_path):
    frame = pd.DataFrame(
        {
            "InvoiceNo": [536365.0, 536366.0],
            "StockCode": np.array([71053, 22633], dtype="int64"),
            "Description": ["A", "B"],
            "Quantity": [1.0, 2.0],
            "InvoiceDate": pd.to_datetime(["2010-12-01 08:26", "2010-12-01 08:28"]).astype(
                "datetime64[ns]"
            ),
            "UnitPrice": [1, 2],
            "CustomerID": [17850, 13047],
            "Country": ["France", "EIRE"],
            "Extra": [0, 0],
        }
    )
    frame.to_parquet(tmp_path / "codes.parquet")

    table = read_online_retail(tmp_path / "codes.parquet")

    assert table.columns.tolist() == list(RETAIL_DTYPES)
    assert table.dtypes.astype(str).to_dict() == RETAIL_DTYPES
    assert table["InvoiceNo"].tolist() == ["536365", "536366"]
    assert table["StockCode"].tolist() == ["71053", "22633"]
    assert table["Quantity"].tolist() == [1, 2]


@pytest.mark.real_data
def test_online_retail_reference_parquet_round_trips_unchanged():
    path = shared_file("online_retail.parquet")

    table = read_online_retail(path)

    pd.testing.assert_frame_equal(table, pd.read_parquet(path))
    assert len(table) == 541_909


def test_online_retail_missing_file(tmp_path):
    path = tmp_path / "nowhere" / "online_retail.parquet"
    with pytest.raises(DataValidationError, match=r"file not found: .*online_retail\.parquet"):
        read_online_retail(path)


def test_online_retail_missing_columns_are_listed(tmp_path):
    path = tmp_path / "data.csv"
    retail_frame().drop(columns=["CustomerID", "Country"]).to_csv(path, index=False)

    with pytest.raises(DataValidationError) as excinfo:
        read_online_retail(path)

    message = str(excinfo.value)
    assert str(path) in message
    assert "['CustomerID', 'Country']" in message
    assert "found ['InvoiceNo', 'StockCode', 'Description', 'Quantity', 'InvoiceDate'" in message


def test_online_retail_header_only_is_empty(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(",".join(RETAIL_DTYPES) + "\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"data\.csv is empty"):
        read_online_retail(path)


def test_online_retail_csv_named_parquet(tmp_path):
    path = write_retail("csv-utf8", tmp_path).rename(tmp_path / "online_retail.parquet")
    with pytest.raises(DataValidationError, match="could not be read as a Parquet file") as excinfo:
        read_online_retail(path)
    assert str(path) in str(excinfo.value)
    assert excinfo.value.__cause__ is not None


def test_online_retail_text_named_xlsx(tmp_path):
    path = tmp_path / "Online Retail.xlsx"
    path.write_text("InvoiceNo,StockCode\n1,2\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"could not be read as an Excel \.xlsx workbook"):
        read_online_retail(path)


def test_online_retail_parquet_named_csv(tmp_path):
    path = write_retail("parquet", tmp_path).rename(tmp_path / "data.csv")
    with pytest.raises(DataValidationError, match="looks like a Parquet file, not a CSV text file"):
        read_online_retail(path)


def test_online_retail_unsupported_suffix(tmp_path):
    path = tmp_path / "online_retail.json"
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"unsupported suffix '\.json'.*'\.xlsx'"):
        read_online_retail(path)


def test_online_retail_bad_quantity_names_the_column(tmp_path):
    path = write_retail("csv-utf8", tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace(",56,", ",lots,"), encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"Column 'Quantity' .* e\.g\. 'lots'"):
        read_online_retail(path)


def test_online_retail_bad_date_names_the_column_and_value(tmp_path):
    path = write_retail("csv-utf8", tmp_path)
    text = path.read_text(encoding="utf-8").replace("1/13/2011 15:07", "someday")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"Column 'InvoiceDate' .*found 'someday'"):
        read_online_retail(path)


# ---------------------------------------------------------------- RecSys15 clicks


def test_recsys15_clicks_known_table(tmp_path):
    path = tmp_path / "yoochoose-clicks.dat"
    path.write_text(CLICKS_TEXT, encoding="utf-8")

    clicks = read_recsys15_clicks(path)

    pd.testing.assert_frame_equal(clicks, clicks_frame())
    assert clicks["Timestamp"].dt.tz is None
    assert clicks["Category"].tolist() == ["0", "0", "2053", "S"]


def test_recsys15_clicks_with_header_is_rejected(tmp_path):
    path = tmp_path / "yoochoose-clicks.dat"
    path.write_text("sessionID,timestamp,itemID,category\n" + CLICKS_TEXT, encoding="utf-8")
    with pytest.raises(DataValidationError, match="headerless CSV") as excinfo:
        read_recsys15_clicks(path)
    assert "sessionID" in str(excinfo.value) and str(path) in str(excinfo.value)


def test_recsys15_clicks_wrong_column_count(tmp_path):
    path = tmp_path / "yoochoose-clicks.dat"
    path.write_text(CLICKS_TEXT + "4,2014-04-07T10:51:09.277Z,1\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match="Expected 4 columns, got 3"):
        read_recsys15_clicks(path)


def test_recsys15_clicks_empty_and_missing(tmp_path):
    empty = tmp_path / "empty.dat"
    empty.write_bytes(b"")
    with pytest.raises(DataValidationError, match="empty"):
        read_recsys15_clicks(empty)
    with pytest.raises(DataValidationError, match="RecSys15 clicks file not found"):
        read_recsys15_clicks(tmp_path / "absent.dat")


# ---------------------------------------------------------------- Art of the Mix


def test_aotm_known_table(tmp_path):
    path = tmp_path / "aotm_list_ids.txt"
    path.write_text(AOTM_TEXT, encoding="utf-8")

    playlists = read_aotm(path)

    pd.testing.assert_frame_equal(playlists, aotm_frame())


def test_aotm_malformed_line_names_its_number_and_format(tmp_path):
    path = tmp_path / "aotm_list_ids.txt"
    path.write_text(AOTM_TEXT + "#11# 1:2 3-4\n#12# ok\n", encoding="utf-8")

    with pytest.raises(DataValidationError) as excinfo:
        read_aotm(path)

    message = str(excinfo.value)
    assert f"{path}, line 6: '#11# 1:2 3-4'" in message
    assert "'#<playlist># <artist>:<song> <artist>:<song> ...'" in message
    assert "(2 malformed line(s))" in message


@pytest.mark.parametrize("line", ["#1# 1:23:4", "1: 2 3: 4", "#x# 1:2", "#1# 1:2 3"])
def test_aotm_rejects_near_misses(tmp_path, line):
    path = tmp_path / "aotm_list_ids.txt"
    path.write_text(f"#0# 5:6\n{line}\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match=f"line 2: {re.escape(repr(line))}"):
        read_aotm(path)


def test_aotm_ids_up_to_18_digits_may_be_negative(tmp_path):
    path = tmp_path / "aotm_list_ids.txt"
    path.write_text(f"#4# -1:5 {10**17}:7\n#5# 1:{'9' * 19}\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match="line 2: '#5# 1:9999"):
        read_aotm(path)
    path.write_text(f"#4# -1:5 {10**17}:7\n", encoding="utf-8")
    playlists = read_aotm(path)
    assert playlists.to_numpy().tolist() == [[4, 0, -1, 5], [4, 1, 10**17, 7]]


def test_aotm_blank_file_is_empty(tmp_path):
    path = tmp_path / "aotm_list_ids.txt"
    path.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(DataValidationError, match="is empty"):
        read_aotm(path)


def test_aotm_not_utf8(tmp_path):
    path = tmp_path / "aotm_list_ids.txt"
    path.write_bytes(b"#1# 1:2\n#2# \xff\xfe\n")
    with pytest.raises(DataValidationError, match="is not UTF-8 text"):
        read_aotm(path)


# ---------------------------------------------------------------- generic tables


def test_interactions_tsv_like_rsc15(tmp_path):
    table = read_table(rsc15_train(tmp_path / "train_full.tsv"))

    assert table.columns.tolist() == ["SessionId", "ItemId", "Time"]
    assert table.dtypes.astype(str).tolist() == ["int64", "int64", "float64"]
    assert table["SessionId"].tolist() == [3, 3, 9]
    assert table["Time"].tolist() == [1396437466.94, 1396438212.318, 1.5]


@pytest.mark.parametrize(
    ("name", "text", "kwargs"),
    [
        ("t.csv", "a,b\n1,x\n2,y\n", {}),
        ("t.txt", "a\tb\n1\tx\n2\ty\n", {}),
        ("t.txt", "a;b\n1;x\n2;y\n", {}),
        ("t.csv", "a|b\n1|x\n2|y\n", {"sep": "|"}),
        # The content decides, not the name: tab- and semicolon-separated files named .csv.
        ("t.csv", "a\tb\n1\tx\n2\ty\n", {}),
        ("t.csv", "a;b\n1;x\n2;y\n", {}),
        ("t.tsv", '"a";"b"\n1;"x, with a comma"\n2;y\n', {}),
    ],
)
def test_interactions_csv_separators(tmp_path, name, text, kwargs):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")

    table = read_table(path, **kwargs)

    expected = ["x", "y"] if "comma" not in text else ["x, with a comma", "y"]
    assert table.to_dict("list") == {"a": [1, 2], "b": expected}


def test_a_delimiter_nothing_splits_is_named_in_the_error(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a:b\n1:x\n2:y\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"single column 'a:b'.*load_args: \{sep"):
        read_table(path)
    assert read_table(path, sep=":").to_dict("list") == {"a": [1, 2], "b": ["x", "y"]}


def test_interactions_parquet(tmp_path):
    frame = pd.DataFrame({"s": [1, 2], "i": ["a", "b"]})
    frame.to_parquet(tmp_path / "t.pq")
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.pq"), frame)
    with pytest.raises(ConfigError, match="apply to text tables"):
        read_table(tmp_path / "t.pq", sep=",")
    # A Parquet file named .csv is still Parquet.
    (tmp_path / "t.csv").write_bytes((tmp_path / "t.pq").read_bytes())
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.csv"), frame)


def test_interactions_declared_encoding(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("item,name\n1,CAFÉ\n".encode("latin-1"))

    assert read_table(path, encoding="ISO-8859-1")["name"].tolist() == ["CAFÉ"]
    assert read_table(path)["name"].tolist() == ["CAFÉ"]  # sniffed: not UTF-8, so Latin-1
    with pytest.raises(DataValidationError, match=r"t\.csv is not valid utf-8 text") as excinfo:
        read_table(path, encoding="utf-8")
    assert "encoding" in str(excinfo.value)
    assert isinstance(excinfo.value.__cause__, UnicodeDecodeError)


def test_interactions_binary_file_as_csv(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"\x00\x01\x02garbage\x00" * 10)
    with pytest.raises(DataValidationError, match=r"t\.csv is a binary file, not a CSV text file"):
        read_table(path)


def test_interactions_csv_named_parquet(tmp_path):
    path = tmp_path / "t.parquet"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    assert read_table(path).to_dict("list") == {"a": [1], "b": [2]}  # sniffed: text
    with pytest.raises(DataValidationError, match=r"t\.parquet could not be read as a Parquet"):
        read_table(path, file_format="parquet")


def test_interactions_empty_tables(tmp_path):
    (tmp_path / "zero.csv").write_bytes(b"")
    (tmp_path / "header.tsv").write_text("SessionId\tItemId\tTime\n", encoding="utf-8")
    pd.DataFrame({"a": pd.Series([], dtype="int64")}).to_parquet(tmp_path / "none.parquet")
    for name in ("zero.csv", "header.tsv", "none.parquet"):
        with pytest.raises(DataValidationError, match=f"{re.escape(name)} is empty"):
            read_table(tmp_path / name)


def test_interactions_missing_file_folder_and_unknown_format(tmp_path):
    with pytest.raises(DataValidationError, match=r"Interactions table file not found: .*t\.tsv"):
        read_table(tmp_path / "t.tsv")
    with pytest.raises(DataValidationError, match=r"is a folder; expected a file"):
        read_table(tmp_path)
    (tmp_path / "t.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"format: 'json' .* is not one of"):
        read_table(tmp_path / "t.csv", file_format="json")
