"""Sessionize strategies and filters on hand-made interactions with known answers."""

import numpy as np
import pandas as pd
import pytest

from session_recs.core.errors import ConfigError, DataValidationError
from session_recs.data.sessionize import (
    SessionizeConfig,
    item_catalog,
    sessionize,
    sessions_as_lists,
)


def events(rows) -> pd.DataFrame:
    """rows: (session_key, item_id, minute, invoice, quantity)."""
    frame = pd.DataFrame(rows, columns=["session_key", "item_id", "minute", "invoice", "quantity"])
    frame["timestamp"] = pd.Timestamp("2011-01-01") + pd.to_timedelta(frame.pop("minute"), unit="m")
    frame["session_key"] = frame["session_key"].astype("Int64")
    frame["quantity"] = frame["quantity"].astype("Int64")
    frame["description"] = frame["item_id"].str.upper()
    return frame


TABLE = events(
    [
        (20, "a", 0, "1", 1),
        (10, "b", 1, "2", 1),
        (20, "b", 2, "1", 1),
        (None, "z", 3, "3", 1),
        (10, "c", 100, "4", 1),
        (20, "c", 200, "5", 2),
        (10, "c", 101, "4", 1),
        (30, "d", 300, "C6", -1),
        (30, "a", 301, "7", 1),
    ]
)


def lists(config: SessionizeConfig, table: pd.DataFrame = TABLE) -> list[list[str]]:
    return sessions_as_lists(sessionize(table, config))


def test_customer_strategy_orders_keys_ascending_and_items_by_file_order():
    out = sessionize(TABLE, SessionizeConfig(min_session_length=1))
    assert sessions_as_lists(out) == [["b", "c", "c"], ["a", "b", "c"], ["d", "a"]]
    assert out["session_id"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2]
    assert out["position"].tolist() == [0, 1, 2, 0, 1, 2, 0, 1]
    assert out["session_key"].tolist() == [10, 10, 10, 20, 20, 20, 30, 30]


def test_min_session_length_and_dropna_all_columns():
    table = TABLE.copy()
    table.loc[4, "description"] = None  # drops key 10's "c" at minute 100
    assert lists(SessionizeConfig(min_session_length=3, dropna_all_columns=True), table) == [
        ["a", "b", "c"]
    ]
    assert lists(SessionizeConfig(min_session_length=3), table) == [
        ["b", "c", "c"],
        ["a", "b", "c"],
    ]


def test_order_by_time_sorts_within_session_stably():
    table = TABLE.copy()
    table.loc[0, "timestamp"] = pd.Timestamp("2011-02-01")  # key 20's "a" becomes last
    assert lists(SessionizeConfig(order="time", min_session_length=3), table)[1] == ["b", "c", "a"]


def test_invoice_strategy_one_session_per_basket_in_first_seen_order():
    out = lists(SessionizeConfig(strategy="invoice", min_session_length=1))
    assert out == [["a", "b"], ["b"], ["z"], ["c", "c"], ["c"], ["d"], ["a"]]


def test_time_gap_strategy_splits_at_idle_gaps():
    out = lists(SessionizeConfig(strategy="time_gap", gap_minutes=30, min_session_length=1))
    # key 10: b@1 | c@100 c@101; key 20: a@0 b@2 | c@200; key 30: d@300 a@301
    assert out == [["b"], ["c", "c"], ["a", "b"], ["c"], ["d", "a"]]
    assert lists(SessionizeConfig(strategy="time_gap", gap_minutes=1000, min_session_length=1)) == [
        ["b", "c", "c"],
        ["a", "b", "c"],
        ["d", "a"],
    ]


def test_cancellations_repeats_and_item_support():
    assert lists(SessionizeConfig(drop_cancellations=True, min_session_length=1))[2] == ["a"]
    assert lists(SessionizeConfig(collapse_repeats=True, min_session_length=1))[0] == ["b", "c"]
    # support counts rows after the missing-key filter: a=2, b=2, c=3, d=1
    assert lists(SessionizeConfig(min_item_support=3, min_session_length=1)) == [
        ["c", "c"],
        ["c"],
    ]


def test_non_product_codes_are_dropped_by_pattern():
    table = events([(1, "85123A", 0, "1", 1), (1, "POST", 1, "1", 1), (1, "22423", 2, "1", 1)])
    assert lists(SessionizeConfig(drop_non_products=True, min_session_length=1), table) == [
        ["85123A", "22423"]
    ]


def test_predefined_split_column_keeps_train_and_test_sessions_apart():
    table = TABLE.dropna(subset=["session_key"]).assign(split="train")
    table.loc[table["session_key"] == 10, "split"] = "test"
    out = sessionize(table, SessionizeConfig(min_session_length=1))
    assert out.groupby("session_id")["split"].first().tolist() == ["test", "train", "train"]


def test_nothing_left_is_a_clear_error():
    with pytest.raises(DataValidationError, match="No session is left.*min_session_length=50"):
        sessionize(TABLE, SessionizeConfig(min_session_length=50))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        (
            {"strategy": "weekly"},
            "sessionize.strategy = 'weekly': expected 'customer', 'invoice' or 'time_gap'",
        ),
        ({"min_session_length": 0}, "sessionize.min_session_length = 0: expected greater than"),
        ({"gap_minutes": -5}, "sessionize.gap_minutes = -5: expected greater than 0"),
        ({"gap_minutes": "abc"}, "sessionize.gap_minutes = 'abc': expected a number"),
        ({"gap_minutes": 1e30}, "sessionize.gap_minutes = 1e[+]?30: expected less than"),
        ({"product_pattern": "(abc"}, "sessionize.product_pattern = '\\(abc': expected a regular"),
        ({"window": 3}, r"sessionize.window: unknown setting"),
    ],
)
def test_bad_parameters_name_the_parameter(params, match):
    with pytest.raises(ConfigError, match=match):
        SessionizeConfig.model_validate(params)


def test_an_order_column_orders_each_session():
    table = TABLE.assign(order=-np.arange(len(TABLE), dtype=float))
    by_column = lists(SessionizeConfig(order="column", min_session_length=1), table)
    by_file = lists(SessionizeConfig(order="file", min_session_length=1), table)
    assert by_column == [list(reversed(items)) for items in by_file]


def test_strategy_needing_a_missing_column_says_which():
    with pytest.raises(ConfigError, match="needs the interaction column 'timestamp'"):
        sessionize(TABLE.drop(columns=["timestamp"]), SessionizeConfig(strategy="time_gap"))


def test_item_catalog_counts_and_descriptions():
    sessions = sessionize(TABLE, SessionizeConfig(min_session_length=1))
    catalog = item_catalog(TABLE, sessions).set_index("item_id")
    assert catalog.loc["c", "n_events"] == 3 and catalog.loc["c", "n_sessions"] == 2
    assert catalog.loc["a", "description"] == "A"
    assert "z" not in catalog.index
