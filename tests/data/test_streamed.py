"""RecSys15's clicks streamed into Parquet for the columnar engine (session_recs.data.streamed):
the same interactions as the pandas reader, block after block; the copy reused until the
source changes; the pandas reader's refusals, with nothing left behind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro.io.core import DatasetError

from session_recs.core.errors import DataValidationError
from session_recs.data import streamed
from session_recs.framework.datasets import RecSys15ClicksDataset

from .test_columnar import same_frames

ROWS = 20_000


def clicks_file(path, rows: int = ROWS, seed: int = 0):
    """A yoochoose-clicks.dat: headerless, ISO-8601 UTC times to the millisecond, ids of
    up to ten digits, categories '0', 'S' and brand numbers."""
    rng = np.random.default_rng(seed)
    sessions = np.sort(rng.integers(1, rows // 4, rows))
    start = pd.Timestamp("2014-04-01")
    times = start + pd.to_timedelta(rng.integers(0, 10**9, rows), unit="ms")
    items = rng.choice([214536502, 214577561, 7, 1234567890, 214821277], rows)
    categories = rng.choice(["0", "S", "2", "1234567"], rows)
    lines = (
        f"{s},{t.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z,{i},{c}\n"
        for s, t, i, c in zip(sessions, times, items, categories, strict=True)
    )
    path.write_text("".join(lines))
    return path


def engine_load(path, spill, **engine):
    dataset = RecSys15ClicksDataset(
        str(path), engine={"min_rows": 0, "spill": str(spill), **engine}
    )
    return dataset.load()


@pytest.mark.parametrize("block", [streamed.BLOCK_BYTES, 4096], ids=["one block", "many blocks"])
def test_streamed_clicks_are_the_pandas_readers_interactions(tmp_path, monkeypatch, block):
    monkeypatch.setattr(streamed, "BLOCK_BYTES", block)
    path = clicks_file(tmp_path / "yoochoose-clicks.dat")
    expected = RecSys15ClicksDataset(str(path)).load()
    table = engine_load(path, tmp_path / "spill")
    got = table.execute()
    assert got["_row"].tolist() == list(range(ROWS))
    same_frames(expected, got.drop(columns="_row"))
    assert expected["item_id"].str.fullmatch(r"\d+").all()  # ids as text, as written
    assert got["timestamp"].dt.microsecond.ne(0).any()  # the milliseconds kept


def test_the_parquet_copy_is_reused_until_the_source_changes(tmp_path, monkeypatch):
    path = clicks_file(tmp_path / "clicks.dat")
    spill = tmp_path / "spill"
    engine_load(path, spill)
    copies = sorted(spill.glob("recsys15-*.parquet"))
    assert len(copies) == 1

    def must_not_parse(*_):
        raise AssertionError("parsed again")

    monkeypatch.setattr(streamed, "_stream", must_not_parse)
    assert engine_load(path, spill).count().execute() == ROWS
    monkeypatch.undo()
    with path.open("a") as handle:
        handle.write("999999,2014-04-09T10:00:00.000Z,214536502,0\n")
    assert engine_load(path, spill).count().execute() == ROWS + 1
    assert len(sorted(spill.glob("recsys15-*.parquet"))) == 2


def test_a_small_file_stays_with_pandas(tmp_path):
    path = clicks_file(tmp_path / "clicks.dat", rows=500)
    dataset = RecSys15ClicksDataset(str(path), engine={"min_rows": 10_000, "spill": str(tmp_path)})
    assert isinstance(dataset.load(), pd.DataFrame)
    assert not list(tmp_path.glob("recsys15-*.parquet"))


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("", "is empty"),
        (
            "1,2014-04-07T10:51:09.277Z,214536502,0\nabc,2014-04-07T10:51:09.277Z,5,0\n",
            "could not be read as headerless CSV 'sessionID,timestamp,itemID,category'",
        ),
        ("1,yesterday,214536502,0\n", "could not be read as headerless CSV"),
        (b"PAR1\x00\x00", "looks like a Parquet file"),
    ],
    ids=["empty", "text session id", "text time", "parquet"],
)
def test_a_bad_file_is_refused_as_the_pandas_reader_does_and_leaves_nothing(
    tmp_path, content, fragment
):
    path = tmp_path / "clicks.dat"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    spill = tmp_path / "spill"
    # Kedro wraps a dataset's error in DatasetError; the project's CLI prints its cause.
    with pytest.raises(DatasetError) as streamed_error:
        engine_load(path, spill)
    with pytest.raises(DatasetError) as pandas_error:
        RecSys15ClicksDataset(str(path)).load()
    assert isinstance(streamed_error.value.__cause__, DataValidationError)
    said = str(streamed_error.value.__cause__)
    assert fragment in said and said == str(pandas_error.value.__cause__)
    assert not [p for p in spill.rglob("*") if p.is_file()]
