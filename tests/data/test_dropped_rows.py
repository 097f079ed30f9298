"""Nothing is dropped silently: every sessionize filter logs one line and records its
counts (``sessionize_log``), which the dataset profile lists; exact counts on hand-made
interactions."""

from __future__ import annotations

import logging

import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from session_recs.data.sessionize import SessionizeConfig, sessionize_with_log
from session_recs.evaluation.profile import profile_lines
from session_recs.pipelines import sessionize as sessionize_pipeline
from session_recs.pipelines import split as split_pipeline

from .test_sessionize import TABLE


def table(keys: list[int], items: list[str], **columns) -> pd.DataFrame:
    return pd.DataFrame({"session_key": pd.array(keys, dtype="Int64"), "item_id": items, **columns})


def logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "session_recs.data.sessionize"]


def test_every_filter_says_what_it_dropped_and_the_counts_add_up(caplog):
    config = SessionizeConfig(
        drop_cancellations=True, collapse_repeats=True, min_item_support=2, min_session_length=3
    )
    with caplog.at_level(logging.INFO, logger="session_recs.data.sessionize"):
        sessions, log = sessionize_with_log(TABLE, config)
    assert sessions["item_id"].tolist() == ["a", "b", "c"]  # customer 20 alone is left
    assert log["input_rows"] == 9
    assert log["dropped"] == [
        {"step": "rows without a session_key, item_id or timestamp", "rows": 1},
        {"step": "cancellations", "rows": 1},
        {"step": "items seen fewer than 2 times", "items": 0, "rows": 0},
        {"step": "repeats collapsed (an item right after itself)", "rows": 1},
        {"step": "sessions shorter than 3 events", "sessions": 2, "rows": 3},
    ]
    assert log["output"] == {"sessions": 1, "events": 3, "items": 3}
    assert sum(entry["rows"] for entry in log["dropped"]) == 9 - 3
    assert logged(caplog) == [
        "rows without a session_key, item_id or timestamp: 1 row dropped",
        "cancellations: 1 row dropped",
        "items seen fewer than 2 times: 0 items, 0 rows dropped",
        "repeats collapsed (an item right after itself): 1 row dropped",
        "sessions shorter than 3 events: 2 sessions, 3 rows dropped",
        "Sessionized 9 interactions into 1 session, 3 events, 3 items",
    ]


def test_single_event_sessions_are_counted_not_silently_dropped(caplog):
    data = table([1, 1, 2, 3, 3, 4, 5, 5, 5], list("abcdefghi"))
    with caplog.at_level(logging.INFO, logger="session_recs.data.sessionize"):
        sessions, log = sessionize_with_log(data, SessionizeConfig())
    assert sessions["session_id"].nunique() == 3
    assert log["dropped"][-1] == {"step": "single-event sessions", "sessions": 2, "rows": 2}
    assert "single-event sessions: 2 sessions, 2 rows dropped" in logged(caplog)


def test_rare_items_and_non_products_count_items_and_rows(caplog):
    data = table(
        [1, 1, 1, 2, 2, 2, 3, 3], ["10001", "POST", "10002", "10001", "M", "M", "10001", "10003"]
    )
    config = SessionizeConfig(drop_non_products=True, min_item_support=2, min_session_length=1)
    with caplog.at_level(logging.INFO, logger="session_recs.data.sessionize"):
        _, log = sessionize_with_log(data, config)
    assert log["dropped"][1:] == [
        {"step": "non-product codes (not matching '^\\\\d{5}')", "items": 2, "rows": 3},
        {"step": "items seen fewer than 2 times", "items": 2, "rows": 2},
    ]
    assert "items seen fewer than 2 times: 2 items, 2 rows dropped" in logged(caplog)


def test_missing_values_say_rows_dropped_not_rows_left(caplog):
    data = table([1, 1, 2, 2, None], ["a", "b", "c", None, "e"], note=["x", None, "y", "z", "w"])
    with caplog.at_level(logging.INFO, logger="session_recs.data.sessionize"):
        _, log = sessionize_with_log(
            data, SessionizeConfig(dropna_all_columns=True, min_session_length=1)
        )
    assert log["dropped"][0] == {"step": "rows with a missing value", "rows": 3}
    assert logged(caplog)[0] == "rows with a missing value: 3 rows dropped"
    _, log = sessionize_with_log(data, SessionizeConfig(min_session_length=1))
    assert log["dropped"][0] == {"step": "rows without a session_key or item_id", "rows": 2}


def test_ties_in_the_order_column_are_counted_and_keep_file_order(caplog):
    data = table(
        [1, 1, 1, 2, 2, 3, 3, 3, 3],
        list("xyzuvabcd"),
        order=[2, 1, 1, 1, 2, 5, 5, 5, 1],
    )
    with caplog.at_level(logging.INFO, logger="session_recs.data.sessionize"):
        sessions, log = sessionize_with_log(data, SessionizeConfig(order="column"))
    assert sessions.groupby("session_id")["item_id"].apply(list).tolist() == [
        ["y", "z", "x"],
        ["u", "v"],
        ["d", "a", "b", "c"],
    ]
    assert log["order_ties"] == {"sessions": 2, "rows": 5}
    assert (
        "order column ties: 2 sessions (5 rows) share an order value with another event of "
        "their session; tied events keep their file order"
    ) in logged(caplog)
    _, untied = sessionize_with_log(data.assign(order=range(9)), SessionizeConfig(order="column"))
    assert untied["order_ties"] == {"sessions": 0, "rows": 0}


def test_the_dataset_profile_lists_what_sessionize_dropped():
    """sessionize → split through the catalog: the counts reach the profile and its lines."""
    data = table([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, None, 6], list("abcabcabcabcaxb"))
    catalog = DataCatalog(
        {
            "interactions": MemoryDataset(data),
            "params:sessionize": MemoryDataset({}),
            "params:split": MemoryDataset({"strategy": "ff19", "test_size": 1}),
            "params:evaluation.exclude_query": MemoryDataset("auto"),
        }
    )
    pipeline = sessionize_pipeline.create_pipeline() + split_pipeline.create_pipeline()
    SequentialRunner().run(pipeline, catalog)
    profile = catalog["dataset_profile"].load()
    assert profile["sessionize"] == {
        "input_rows": 15,
        "dropped": [
            {"step": "rows without a session_key or item_id", "rows": 1},
            {"step": "single-event sessions", "sessions": 2, "rows": 2},
        ],
    }
    assert profile["events"] == 12
    lines = dict(profile_lines(profile))
    assert lines["interactions read"] == "15 rows"
    assert lines["dropped: rows without a session_key or item_id"] == "1 row"
    assert lines["dropped: single-event sessions"] == "2 sessions, 2 rows"
    ties = {
        **profile,
        "sessionize": {**profile["sessionize"], "order_ties": {"sessions": 1, "rows": 2}},
    }
    assert dict(profile_lines(ties))["order column ties"] == (
        "1 session (2 rows) share an order value; tied events keep their file order"
    )
