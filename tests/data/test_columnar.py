"""The columnar data layer (session_recs.data.columnar, DuckDB) gives the pandas path's
outputs: the same sessions, log, item catalog, split and interactions, on tables built
to hit every tie and rule (text keys, equal times, order-column ties, cancellations,
repeats, rare items, a source split), and on the real Online Retail table (FF19's
sessions sha256 and split)."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from session_recs.core.errors import DataValidationError
from session_recs.data import columnar, engine
from session_recs.data.interactions import to_interactions, validate_interactions
from session_recs.data.sessionize import (
    SessionizeConfig,
    item_catalog,
    sessionize_with_log,
    sessions_as_lists,
)
from session_recs.data.split import SplitConfig, split_sessions
from session_recs.data.synthetic_logs import LogShape, write_log

from ..conftest import shared_file


@pytest.fixture(scope="module")
def con():
    return engine.connect(memory_limit="1GB", threads=2)


def tricky_interactions(text_keys: bool, seed: int = 0, n: int = 3000) -> pd.DataFrame:
    """Interactions whose every tie and rule matters: keys such as 007, 7, 10, 9 and a1;
    times on a coarse grid (equal times); an order column with ties and gaps; invoices
    with cancellations; quantities at or below 0; non-product codes; repeats; a split."""
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 60, n)
    if text_keys:
        names = np.array(
            ["007", "7", "10", "9", "a1", "B", "0", "00", "x7"] + [str(k) for k in range(51)]
        )
        session_key = pd.Series(names[keys], dtype="str")
    else:
        session_key = pd.Series(keys, dtype="Int64")
    items = np.array([f"{i:05d}" for i in range(40)] + ["POST", "D", "M"])
    item_id = items[np.minimum(rng.zipf(1.6, n) - 1, len(items) - 1)]
    repeat = rng.random(n) < 0.1
    item_id[1:][repeat[1:]] = item_id[:-1][repeat[1:]]
    order = rng.integers(0, 15, n).astype("float64")
    order[rng.random(n) < 0.02] = np.nan
    frame = pd.DataFrame(
        {
            "session_key": session_key,
            "item_id": pd.Series(item_id, dtype="str"),
            "timestamp": pd.Timestamp("2021-01-01")
            + pd.to_timedelta(rng.integers(0, 400, n) * 600, unit="s"),
            "order": order,
            "invoice": pd.Series(
                [
                    ("C" if c else "") + str(i)
                    for c, i in zip(rng.random(n) < 0.05, rng.integers(0, 300, n), strict=True)
                ],
                dtype="str",
            ),
            "quantity": pd.array(rng.integers(-2, 6, n), dtype="Int64"),
            "description": pd.Series(
                [f"item {i}" if i != "M" else None for i in item_id], dtype="str"
            ),
            "split": pd.Series(np.where(keys % 5 == 0, "test", "train"), dtype="str"),
        }
    )
    frame.loc[rng.random(n) < 0.01, "item_id"] = None
    return validate_interactions(frame)


def as_table(con, frame: pd.DataFrame, tmp_path, name: str):
    """``frame`` written as Parquet and read back in its row order (``_row``)."""
    path = tmp_path / f"{name}.parquet"
    frame.to_parquet(path)
    return engine.read_interactions(con, path)


def written(table) -> pd.DataFrame:
    """A table as the pipelines save it (engine.write_parquet), read back by pandas: on
    Spark, whose DataFrames come back through pandas, the file is what the contract is."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "table.parquet"
        engine.write_parquet(table, path)
        return pd.read_parquet(path)


def same_frames(expected: pd.DataFrame, got) -> None:
    """Equal values, column names and order; a numeric session_key may come back int64."""
    if not isinstance(got, pd.DataFrame):
        got = written(got) if engine.is_spark(got._find_backend()) else got.execute()
    if "session_key" in got and pd.api.types.is_integer_dtype(expected.get("session_key")):
        got = got.astype({"session_key": expected["session_key"].dtype})
    pd.testing.assert_frame_equal(
        expected.reset_index(drop=True), got.reset_index(drop=True), check_dtype=True
    )


SESSIONIZE = {
    "customer, file order, FF19's filters": dict(min_session_length=3, dropna_all_columns=True),
    "customer, time order": dict(order="time"),
    "customer, order column, repeats, rare items": dict(
        order="column", collapse_repeats=True, min_item_support=4
    ),
    "invoice, cancellations and non-products": dict(
        strategy="invoice", drop_cancellations=True, drop_non_products=True
    ),
    "time_gap of 30 minutes, repeats": dict(
        strategy="time_gap", gap_minutes=30, collapse_repeats=True
    ),
    "time_gap of 2 hours, time order, long sessions": dict(
        strategy="time_gap", gap_minutes=120, order="time", min_session_length=4
    ),
}


@pytest.mark.parametrize("text_keys", [True, False], ids=["text keys", "numeric keys"])
@pytest.mark.parametrize("settings", list(SESSIONIZE.values()), ids=list(SESSIONIZE))
def test_sessionize_gives_the_pandas_sessions_and_log(con, tmp_path, settings, text_keys):
    interactions = tricky_interactions(text_keys)
    config = SessionizeConfig(**settings)
    expected, expected_log = sessionize_with_log(interactions, config)
    got, log = columnar.sessionize_table(as_table(con, interactions, tmp_path, "i"), config)
    same_frames(expected, got)
    assert log == expected_log
    assert len(expected) > 500 and expected_log["dropped"]  # the rules did something


def test_the_item_catalog_is_the_pandas_one(con, tmp_path):
    interactions = tricky_interactions(text_keys=True)
    sessions = sessionize_with_log(interactions, SessionizeConfig())[0]
    sessions.to_parquet(tmp_path / "s.parquet")
    got = columnar.item_catalog_table(
        as_table(con, interactions, tmp_path, "i"), engine.read_table(con, tmp_path / "s.parquet")
    )
    same_frames(item_catalog(interactions, sessions), got)


SPLITS = {
    "ff19": dict(test_size=40),
    "ff19, every final pair": dict(test_size=40, all_final_pairs=True, seed=7),
    "temporal": dict(strategy="temporal"),
    "temporal, no validation, prefixes kept out": dict(
        strategy="temporal", validation_fraction=0, validation_prefix_in_train=False
    ),
    "temporal at a cutoff": dict(strategy="temporal", cutoff="2021-01-03 12:00"),
    "predefined": dict(strategy="predefined", validation_fraction=0.2),
}


@pytest.mark.parametrize("settings", list(SPLITS.values()), ids=list(SPLITS))
def test_split_gives_the_pandas_train_pairs_and_test_sessions(con, tmp_path, settings):
    interactions = tricky_interactions(text_keys=True, seed=1)
    # About 470 sessions (two hours apart), their times on a grid: ties everywhere.
    config = SessionizeConfig(strategy="time_gap", gap_minutes=120, order="time")
    sessions = sessionize_with_log(interactions, config)[0]
    sessions.to_parquet(tmp_path / "s.parquet")
    config = SplitConfig(**settings)
    expected = split_sessions(sessions, config)
    got = columnar.split_table(engine.read_table(con, tmp_path / "s.parquet"), config)
    for want, have in zip(expected, got, strict=True):
        same_frames(want, have)
    assert len(expected.test_pairs) >= 40


def test_an_otto_shaped_log_reads_as_the_pandas_interactions(con, tmp_path):
    path, events, _ = write_log(
        LogShape(events=20_000, items=500, seed=3), tmp_path / "otto.parquet"
    )
    columns = {"session_key": "session", "item_id": "aid", "timestamp": "ts"}
    expected = to_interactions(pd.read_parquet(path), columns)
    got = engine.interactions_from_parquet(con, path, columns).execute()
    assert len(got) == events == 20_000
    assert got["_row"].tolist() == list(range(events))
    same_frames(expected, got.drop(columns="_row"))


def test_a_column_the_columnar_reader_cannot_take_is_named(con, tmp_path):
    pd.DataFrame({"s": [1, 2], "i": [1.5, 2.0], "t": [1, 2]}).to_parquet(tmp_path / "f.parquet")
    with pytest.raises(
        DataValidationError, match=r"Column 'i' \(item_id\) of .*f.parquet is float64"
    ):
        engine.interactions_from_parquet(
            con, tmp_path / "f.parquet", {"session_key": "s", "item_id": "i", "timestamp": "t"}
        )


@pytest.mark.real_data
def test_online_retail_gives_ff19s_sessions_and_split(con, tmp_path):
    """FF19's recipe on the real table: the sessions' sha256 and pairs the pandas path is
    held to (tests/apps/test_project_runs.py), through the columnar engine."""
    from session_recs.data.readers import read_online_retail
    from session_recs.framework.datasets import OnlineRetailDataset

    raw = read_online_retail(shared_file("online_retail.parquet"))
    interactions = validate_interactions(to_interactions(raw, OnlineRetailDataset.COLUMNS))
    table = as_table(con, interactions, tmp_path, "retail")
    config = SessionizeConfig(min_session_length=3, dropna_all_columns=True)
    sessions, _ = columnar.sessionize_table(table, config)
    engine.write_parquet(sessions, tmp_path / "sessions.parquet")
    frame = pd.read_parquet(tmp_path / "sessions.parquet")
    lists = sessions_as_lists(frame)
    assert len(lists) == 4234 and len(frame) == 406_632
    digest = hashlib.sha256(json.dumps(lists).encode()).hexdigest()
    assert digest == "68e97dabab9db689b46d521f811ae00885629b1a9ad28571718beb65a5320e77"
    split = columnar.split_table(
        engine.read_table(con, tmp_path / "sessions.parquet"), SplitConfig()
    )
    index = np.random.default_rng(123).choice(range(len(lists)), 2000, replace=False)
    assert split.test_pairs["session_id"].tolist() == index[:1000].tolist()
    expected = [(lists[i][-2], lists[i][-1]) for i in index[:1000]]
    assert (
        list(zip(split.test_pairs.query_item, split.test_pairs.target_item, strict=True))
        == expected
    )
    assert split.train_sessions.count().execute() == 406_632 - 4234
