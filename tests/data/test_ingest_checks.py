"""Entries that would mix ids or times are refused at the boundary, in one line each."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from kedro.io import DataCatalog

from session_recs.core.errors import ConfigError
from session_recs.data.interactions import to_interactions
from session_recs.data.sessionize import SessionizeConfig, sessionize
from session_recs.framework.datasets import InteractionsDataset

from .test_exact_ids import COLUMNS, load, loading_error


def test_one_column_for_two_fields_is_refused_at_the_entry(tmp_path):
    path = tmp_path / "t.csv"
    with pytest.raises(ConfigError) as excinfo:
        InteractionsDataset(str(path), columns={"session_key": "s", "item_id": "s"})
    assert str(excinfo.value) == (
        "'columns' maps session_key and item_id to the same column 's'; "
        "each field needs a column of its own."
    )
    raw = pd.DataFrame({"s": [1], "t": [1.7e9]})
    with pytest.raises(ConfigError, match="maps timestamp and order to the same column 't'"):
        to_interactions(raw, {"session_key": "s", "item_id": "i", "timestamp": "t", "order": "t"})


def test_the_same_file_as_train_and_test_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clicks.tsv").write_text("s\ti\n1\t2\n")
    with pytest.raises(ConfigError, match=r"'train' and 'test' are the same file \(clicks.tsv\)"):
        InteractionsDataset(train="clicks.tsv", test=str(tmp_path / "clicks.tsv"), columns=COLUMNS)
    with pytest.raises(ConfigError, match="same file"):
        InteractionsDataset(train="./clicks.tsv", test={"filepath": "clicks.tsv"}, columns=COLUMNS)


def test_an_empty_timestamp_column_is_refused_in_one_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("s,i,t\n1,a,\n1,b,\n2,c,\n")
    catalog = DataCatalog.from_config(
        {
            "raw": {
                "type": "session_recs.framework.datasets.InteractionsDataset",
                "filepath": str(path),
                "columns": {**COLUMNS, "timestamp": "t"},
            }
        }
    )
    message = loading_error(catalog["raw"])
    assert message == (
        f"Column 't' (timestamp) of {path} has no value in any of its 3 rows; remove "
        "timestamp from the entry's columns (the source then gets file order and a random "
        "split)."
    )
    path.write_text('s,i,t\n1,a," "\n1,b,\n')  # blanks are no value either
    assert "no value in any of its 2 rows" in loading_error(
        InteractionsDataset(str(path), columns={**COLUMNS, "timestamp": "t"})
    )


def test_missing_timestamps_are_counted_and_their_rows_dropped_by_sessionize(tmp_path, caplog):
    path = tmp_path / "t.csv"
    path.write_text(
        "s,i,t\n1,a,2024-01-01 10:02\n1,b,\n1,c,2024-01-01 10:01\n2,d,\n2,e,2024-01-01 11:00\n"
        "2,f,2024-01-01 11:05\n"
    )
    with caplog.at_level(logging.WARNING, logger="session_recs.data.interactions"):
        table = load(path, {**COLUMNS, "timestamp": "t"})
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"Column 't' (timestamp) of {path}: 2 of 6 rows have no timestamp; sessionize drops them."
    ]
    assert table["timestamp"].isna().sum() == 2
    sessions = sessionize(table, SessionizeConfig(order="time", min_session_length=1))
    # no event without a time is placed anywhere (e.g. last, as the target)
    assert sessions.groupby("session_id")["item_id"].apply(list).tolist() == [
        ["c", "a"],
        ["e", "f"],
    ]
    assert sessions["timestamp"].notna().all()
    # nor split off, or glued on, by time gaps (a missing time has no gap to measure)
    gaps = sessionize(table, SessionizeConfig(strategy="time_gap", gap_minutes=30))
    assert gaps.groupby("session_id")["item_id"].apply(list).tolist() == [["c", "a"], ["e", "f"]]
