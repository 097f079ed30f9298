"""The interaction schema: column mapping, type coercion and boundary errors."""

import numpy as np
import pandas as pd
import pytest

from session_recs.core.errors import ConfigError, DataValidationError
from session_recs.data.interactions import to_interactions, validate_interactions
from session_recs.framework.datasets import OnlineRetailDataset

RETAIL_COLUMNS = OnlineRetailDataset.COLUMNS


def retail_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "InvoiceNo": ["536365", "536365", "C536379"],
            "StockCode": ["85123A", "71053", "22423"],
            "Description": ["WHITE HANGING HEART", None, "REGENCY CAKESTAND"],
            "Quantity": [6, 6, -1],
            "InvoiceDate": pd.to_datetime(
                ["2010-12-01 08:26", "2010-12-01 08:26", "2010-12-01 09:41"]
            ),
            "UnitPrice": [2.55, 3.39, 12.75],
            "CustomerID": [17850.0, np.nan, 14527.0],
            "Country": ["United Kingdom"] * 3,
        },
        index=[10, 11, 12],
    )


def test_online_retail_mapping_types_and_order():
    out = to_interactions(retail_rows(), RETAIL_COLUMNS)
    assert list(out.columns) == list(RETAIL_COLUMNS)
    assert out["session_key"].dtype == "Int64"
    assert out["session_key"].tolist()[0] == 17850 and pd.isna(out["session_key"][1])
    assert out["item_id"].tolist() == ["85123A", "71053", "22423"]
    assert out["invoice"].tolist() == ["536365", "536365", "C536379"]
    assert out["quantity"].tolist() == [6, 6, -1]
    assert pd.isna(out["description"][1]) and out["description"][2] == "REGENCY CAKESTAND"
    assert str(out["timestamp"].dtype) == "datetime64[ns]"
    assert out.index.tolist() == [0, 1, 2]


def test_numeric_ids_become_strings_and_epoch_seconds_parse():
    raw = pd.DataFrame(
        {"s": [3, 3, 10], "i": [214716935, 214832672, 5], "t": [1396437466.94, 1396438212.3, 0.0]}
    )
    out = to_interactions(raw, {"session_key": "s", "item_id": "i", "timestamp": "t"}, "s")
    assert out["item_id"].tolist() == ["214716935", "214832672", "5"]
    assert out["session_key"].tolist() == [3, 3, 10]
    assert out["timestamp"][2] == pd.Timestamp("1970-01-01")
    assert out["timestamp"][0] == pd.Timestamp("2014-04-02 11:17:46.940")


def test_split_column_is_carried_over():
    raw = pd.DataFrame({"s": [1, 2], "i": ["a", "b"], "split": ["train", "test"]})
    out = to_interactions(raw, {"session_key": "s", "item_id": "i"})
    assert out["split"].tolist() == ["train", "test"]


def test_missing_raw_column_names_it_and_lists_found():
    raw = retail_rows().drop(columns=["StockCode"])
    with pytest.raises(DataValidationError, match=r"no column\(s\) \['StockCode'\].*InvoiceNo"):
        to_interactions(raw, RETAIL_COLUMNS)


def test_mapping_errors_name_the_parameter():
    with pytest.raises(ConfigError, match="item_id"):
        to_interactions(retail_rows(), {"session_key": "CustomerID"})
    with pytest.raises(ConfigError, match="Unknown interaction field.*'price'"):
        to_interactions(retail_rows(), {**RETAIL_COLUMNS, "price": "UnitPrice"})
    raw = pd.DataFrame({"s": [1, 1], "i": ["a", "b"], "t": [1.7e12, 1.7e12 + 60_000]})
    columns = {"session_key": "s", "item_id": "i", "timestamp": "t"}
    # Milliseconds inferred from the magnitude; declared as seconds they are implausible.
    assert str(to_interactions(raw, columns)["timestamp"].iloc[1]) == "2023-11-14 22:14:20"
    with pytest.raises(DataValidationError, match=r"'t' \(timestamp\) read as epoch s.*ms"):
        to_interactions(raw, columns, timestamp_unit="s")
    with pytest.raises(ConfigError, match="timestamp_unit must be one of"):
        to_interactions(raw, columns, timestamp_unit="minutes")


def test_mixed_utc_offsets_become_naive_utc():
    raw = pd.DataFrame(
        {
            "s": [1, 1, 1],
            "i": ["a", "b", "c"],
            "t": ["2020-03-29T01:30:00+01:00", "2020-03-29T03:10:00+02:00", "2020-03-29T01:20:00Z"],
        }
    )
    out = to_interactions(raw, {"session_key": "s", "item_id": "i", "timestamp": "t"})
    assert out["timestamp"].astype(str).tolist() == [
        "2020-03-29 00:30:00",
        "2020-03-29 01:10:00",
        "2020-03-29 01:20:00",
    ]


def test_an_order_column_reads_numbers_times_of_day_and_dates():
    raw = pd.DataFrame({"s": [1, 1], "i": ["a", "b"], "n": ["2", "10"], "h": ["9:05", "10:00"]})
    by_number = to_interactions(raw, {"session_key": "s", "item_id": "i", "order": "n"})
    assert by_number["order"].tolist() == [2.0, 10.0]  # as numbers, not as text ("10" < "2")
    by_time = to_interactions(raw, {"session_key": "s", "item_id": "i", "order": "h"})
    assert by_time["order"].is_monotonic_increasing  # 9:05 before 10:00, not as text


def test_empty_table_and_bad_dates_are_rejected():
    with pytest.raises(DataValidationError, match="empty"):
        to_interactions(retail_rows().iloc[:0], RETAIL_COLUMNS)
    raw = pd.DataFrame({"s": [1], "i": ["a"], "t": ["not a date"]})
    with pytest.raises(DataValidationError, match="'t' \\(timestamp\\)"):
        to_interactions(raw, {"session_key": "s", "item_id": "i", "timestamp": "t"})


def test_validate_interactions_rejects_bad_split_values():
    table = pd.DataFrame({"session_key": [1], "item_id": ["a"], "split": ["later"]})
    with pytest.raises(DataValidationError, match="'split'.*later"):
        validate_interactions(table)
