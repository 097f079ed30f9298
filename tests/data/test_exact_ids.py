"""Ids are what the source says: never parsed as numbers and merged, on every reader path.

``0123``, ``123``, ``00123``, ``123.0`` and ``1e5`` are one number but five ids; a text
file keeps all five, a typed column (Parquet, xlsx) gives integers as integer text and
refuses what is not one id per row.
"""

from __future__ import annotations

import numpy as np
import openpyxl
import pandas as pd
import pytest
from kedro.io import DatasetError

from session_recs.apps.user_errors import user_error
from session_recs.core.errors import DataValidationError
from session_recs.data.sessionize import SessionizeConfig, sessionize
from session_recs.framework.datasets import InteractionsDataset, OnlineRetailDataset

from .conftest import retail_frame, write_retail_csv

COLUMNS = {"session_key": "s", "item_id": "i"}
# One number each under numeric parsing (123 or 100000 or 1.2e24), every one a distinct id.
COLLIDING = ["0123", "123", "00123", "123.0", "1e5", "100000", "1234567890123456789012345"]
LONG = "1234567890123456789012345"


def load(path, columns=COLUMNS, **kwargs) -> pd.DataFrame:
    return InteractionsDataset(filepath=str(path), columns=columns, **kwargs).load()


def loading_error(dataset) -> str:
    """The one-line user error behind a dataset's load (Kedro may wrap it)."""
    with pytest.raises((DatasetError, DataValidationError)) as excinfo:
        dataset.load()
    error = user_error(excinfo.value)
    assert error is not None
    assert "\n" not in str(error)
    return str(error)


def test_the_issue_example_keeps_five_items(tmp_path):
    path = tmp_path / "lead.csv"
    path.write_text("s,i\n1,0123\n1,123\n1,00123\n2,0123\n2,123.0\n2,5\n")
    table = load(path)
    assert set(table["item_id"]) == {"0123", "123", "00123", "123.0", "5"}
    assert table["item_id"].value_counts().to_dict() == {
        "0123": 2,
        "123": 1,
        "00123": 1,
        "123.0": 1,
        "5": 1,
    }
    assert table["session_key"].tolist() == ["1", "1", "1", "2", "2", "2"]


@pytest.mark.parametrize(("sep", "encoding"), [(",", "utf-8"), ("\t", "utf-16"), (";", "latin-1")])
def test_text_tables_keep_ids_and_other_columns_as_before(tmp_path, sep, encoding):
    rows = [
        ("007", item, f"INV{n:03d}", 1_700_000_000 + 60 * n, f"2024-01-0{n % 9 + 1} 10:00")
        for n, item in enumerate([*COLLIDING, " 0123 ", "CAFÉ"])
    ]
    rows += [("7", "0123", "0042", 1_700_000_000, "2024-01-01 10:00")]
    lines = [sep.join(["s", "i", "inv", "epoch", "date", "qty"])]
    lines += [sep.join([*map(str, row), "2"]) for row in rows]
    path = tmp_path / "clicks.csv"
    path.write_text("\n".join(lines) + "\n", encoding=encoding)

    by_epoch = load(path, {**COLUMNS, "invoice": "inv", "timestamp": "epoch", "quantity": "qty"})
    assert by_epoch["item_id"].tolist() == [*COLLIDING, " 0123 ", "CAFÉ", "0123"]
    assert by_epoch["item_id"].nunique() == 9
    assert by_epoch["session_key"].value_counts().to_dict() == {"007": 9, "7": 1}
    assert by_epoch["invoice"].tolist()[-2:] == ["INV008", "0042"]
    assert str(by_epoch["timestamp"].iloc[1]) == "2023-11-14 22:14:20"
    assert by_epoch["quantity"].tolist() == [2] * 10
    by_date = load(path, {**COLUMNS, "timestamp": "date"})
    assert str(by_date["timestamp"].iloc[0]) == "2024-01-01 10:00:00"


def test_keys_equal_as_numbers_stay_sessions_ordered_digits_by_value(tmp_path):
    path = tmp_path / "keys.csv"
    keys = ["10", "b", "7", "2", "007", "a", "10", "b", "7", "2", "007", "a"]
    path.write_text("s,i\n" + "".join(f"{k},x{n}\n" for n, k in enumerate(keys)))
    sessions = sessionize(load(path), SessionizeConfig(min_session_length=2))
    # all-digit keys by value ("007" before "7" as text), then the others as text
    order = sessions.drop_duplicates("session_id")["session_key"].tolist()
    assert order == ["2", "007", "7", "10", "a", "b"]
    assert sessions.groupby("session_id").size().tolist() == [2] * 6


def test_a_train_and_test_pair_keeps_ids_as_written(tmp_path):
    (tmp_path / "train.tsv").write_text("s\ti\n01\t0123\n01\t123\n1\t00123\n")
    (tmp_path / "test.csv").write_text("s,i\n001,123.0\n001,0123\n")
    table = InteractionsDataset(
        train=str(tmp_path / "train.tsv"), test=str(tmp_path / "test.csv"), columns=COLUMNS
    ).load()
    assert table["item_id"].tolist() == ["0123", "123", "00123", "123.0", "0123"]
    assert table["session_key"].tolist() == ["01", "01", "1", "001", "001"]
    assert table["split"].tolist() == ["train"] * 3 + ["test"] * 2


def test_a_pair_of_a_parquet_and_a_text_file_compares_keys_as_text(tmp_path):
    pd.DataFrame({"s": [7, 7], "i": [1, 2]}).to_parquet(tmp_path / "train.parquet")
    (tmp_path / "test.csv").write_text("s,i\n007,1\n007,2\n")
    table = InteractionsDataset(
        train=str(tmp_path / "train.parquet"), test=str(tmp_path / "test.csv"), columns=COLUMNS
    ).load()
    assert table["session_key"].tolist() == ["7", "7", "007", "007"]


def test_parquet_integers_whole_floats_and_text_become_exact_ids(tmp_path):
    path = tmp_path / "typed.parquet"
    pd.DataFrame(
        {
            "s": [10, 9, 10, 9],
            "whole": [17850.0, np.nan, 17850.0, 123.0],
            "ints": pd.array([123, 9007199254740993, None, 5], dtype="Int64"),
            "text": ["0123", "123", "123.0", LONG],
        }
    ).to_parquet(path)
    whole = load(path, {"session_key": "s", "item_id": "whole"})
    assert whole["item_id"].tolist()[::2] == ["17850", "17850"]
    assert pd.isna(whole["item_id"][1]) and whole["item_id"][3] == "123"
    # a numeric key column stays numeric, so keys sort by value (9 before 10)
    assert whole["session_key"].dtype == "Int64"
    sessions = sessionize(whole, SessionizeConfig(min_session_length=1))
    assert sessions.drop_duplicates("session_id")["session_key"].tolist() == [9, 10]
    ints = load(path, {"session_key": "s", "item_id": "ints"})
    assert ints["item_id"].tolist()[:2] == ["123", "9007199254740993"]
    assert pd.isna(ints["item_id"][2])
    text = load(path, {"session_key": "s", "item_id": "text"})
    assert text["item_id"].tolist() == ["0123", "123", "123.0", LONG]


@pytest.mark.parametrize(
    ("values", "field", "found"),
    [
        ([1.5, 2.0], "item_id", "numbers that are not whole (1 value(s), e.g. 1.5)"),
        ([1.5, 2.0], "session_key", "numbers that are not whole"),
        ([[1, 2], [3]], "item_id", "lists or dicts (e.g. [1 2])"),
        ([{"a": 1}, {"a": 2}], "session_key", "lists or dicts"),
        ([True, False], "item_id", "booleans"),
        ([1e300, 2.0], "item_id", "numbers too large for a float to hold exactly"),
    ],
)
def test_parquet_columns_that_are_not_one_id_per_row_are_refused(tmp_path, values, field, found):
    path = tmp_path / "bad.parquet"
    pd.DataFrame({"bad": values, "ok": ["a", "b"]}).to_parquet(path)
    other = "item_id" if field == "session_key" else "session_key"
    message = loading_error(InteractionsDataset(str(path), columns={field: "bad", other: "ok"}))
    assert message.startswith(f"Column 'bad' ({field}) of {path} holds {found}")
    assert "expected one id (text or a whole number) per row" in message


def write_xlsx(path, rows) -> None:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)


def test_xlsx_cells_become_exact_ids(tmp_path):
    path = tmp_path / "book.xlsx"
    write_xlsx(
        path,
        [
            ["s", "i", "n"],
            [10, "0123", 1],
            [9, 123, 2.0],
            [10, "123.0", 3],
            [9, 85123, 4],
            [9, "85123A", None],
        ],
    )
    table = load(path)
    assert table["item_id"].tolist() == ["0123", "123", "123.0", "85123", "85123A"]
    assert table["session_key"].dtype == "Int64"
    numbers = load(path, {"session_key": "s", "item_id": "n"})
    assert numbers["item_id"].tolist()[:4] == ["1", "2", "3", "4"]
    write_xlsx(path, [["s", "i"], [1, "0123"], [1, 2.5]])
    message = loading_error(InteractionsDataset(str(path), columns=COLUMNS))
    assert message.startswith(f"Column 'i' (item_id) of {path} holds numbers that are not whole")


def test_online_retail_csv_keeps_leading_zero_codes(tmp_path):
    frame = retail_frame()
    frame.loc[0, "StockCode"] = "085123"
    frame.loc[1, "StockCode"] = "85123"
    path = write_retail_csv(frame, tmp_path / "data.csv")
    items = OnlineRetailDataset(str(path)).load()["item_id"]
    assert items.tolist()[:2] == ["085123", "85123"]
