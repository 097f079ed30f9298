"""OTTO-shaped logs: exact sizes, heavy tails, learnable sequences, chunked and repeatable."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from session_recs.core.config import OptionError
from session_recs.data.synthetic_logs import COLUMNS, TYPES, LogShape, generate_chunks, write_log

from ..conftest import copy_project, run_in_process

SMALL = LogShape(events=120_000, items=8_000, chunk_events=25_000, seed=5)


@pytest.fixture(scope="module")
def log(tmp_path_factory) -> pd.DataFrame:
    path, events, sessions = write_log(SMALL, tmp_path_factory.mktemp("otto") / "log.parquet")
    frame = pd.read_parquet(path)
    assert (events, sessions) == (len(frame), frame["session"].nunique())
    return frame


def test_the_log_has_otto_columns_the_asked_size_and_ids_in_range(log):
    assert tuple(log.columns) == COLUMNS
    assert len(log) == SMALL.events
    assert log["aid"].between(0, SMALL.items - 1).all()
    sessions = log["session"].to_numpy()
    # Ids count up from 0, each session's rows together and in time order.
    assert sessions[0] == 0 and (np.diff(sessions) >= 0).all()
    assert sessions[-1] == log["session"].nunique() - 1
    assert log.groupby("session")["ts"].apply(lambda ts: ts.is_monotonic_increasing).all()
    start = pd.Timestamp(SMALL.start, tz="UTC").timestamp()
    assert log["ts"].min() >= start and log["ts"].max() < start + (SMALL.days + 1) * 86_400
    shares = log["type"].value_counts(normalize=True)
    assert set(shares.index) == set(TYPES)
    for kind, share in zip(TYPES, SMALL.type_shares, strict=True):
        assert abs(shares[kind] - share) < 0.01, shares


def test_session_lengths_and_popularity_are_heavy_tailed(log):
    lengths = log.groupby("session").size()
    assert lengths.mean() == pytest.approx(SMALL.mean_session_length, rel=0.1)
    assert lengths.median() <= lengths.mean() / 1.5  # most sessions are short...
    assert lengths.max() >= 15 * lengths.median()  # ...a few run long
    counts = log["aid"].value_counts()
    top = int(SMALL.items * 0.01)
    assert counts.iloc[:top].sum() / len(log) > 0.2  # 1% of the items, over a fifth of events
    assert (counts <= 3).sum() > 0.1 * len(counts)  # and a long tail of rare ones


def test_sessions_repeat_transitions_a_model_can_learn(log):
    """Under ``p_sequential`` each next event follows the hidden order from the last fresh
    draw, so the most frequent successor of an item is a strong predictor."""
    same = log["session"].to_numpy()[1:] == log["session"].to_numpy()[:-1]
    pairs = pd.DataFrame(
        {"a": log["aid"].to_numpy()[:-1][same], "b": log["aid"].to_numpy()[1:][same]}
    )
    top = pairs.groupby(["a", "b"]).size().groupby(level="a").max()
    hit = top.sum() / len(pairs)
    assert hit > SMALL.p_sequential * 0.8, hit
    shuffled = pairs.assign(b=np.random.default_rng(0).permutation(pairs["b"].to_numpy()))
    assert shuffled.groupby(["a", "b"]).size().groupby(level="a").max().sum() / len(pairs) < hit / 2


def test_chunks_bound_the_rows_held_and_the_same_settings_give_the_same_file(tmp_path):
    chunks = list(generate_chunks(SMALL))
    assert [len(c) for c in chunks] == [25_000] * 4 + [20_000]
    # No session spans two chunks: ids go on from one chunk to the next.
    for before, after in itertools.pairwise(chunks):
        assert after["session"].iat[0] == before["session"].iat[-1] + 1
    first, _, _ = write_log(SMALL, tmp_path / "a.parquet")
    again, _, _ = write_log(SMALL, tmp_path / "b.parquet")
    other, _, _ = write_log(SMALL.model_copy(update={"seed": 6}), tmp_path / "c.parquet")
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (first, again, other)]
    assert digest[0] == digest[1] != digest[2]
    assert pq.ParquetFile(first).num_row_groups == 5


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"events": 0}, "events"),
        ({"items": 1}, "items"),
        ({"p_sequential": 1.5}, "p_sequential"),
        ({"seed": -1}, "seed"),
        ({"items": 10**9}, "items"),
        ({"type_shares": (0, 0, 0)}, "type_shares"),
        ({"type_shares": (1, -1, 0)}, "type_shares.1"),
    ],
)
def test_a_bad_setting_is_named(values, key):
    with pytest.raises(OptionError) as caught:
        LogShape.check("make-demo", **values)
    assert caught.value.key == key


def test_make_demo_writes_an_otto_log_that_the_pipelines_read(tmp_path):
    project = copy_project(tmp_path / "project")
    made = run_in_process(
        project, "make-demo", "--shape", "otto", "--events", "20000", "--items", "2000"
    )
    assert made.exit_code == 0 and made.exception is None, made.output[-3000:]
    assert "Wrote 20,000 events of" in made.output
    assert (project / "data/01_raw/otto_synthetic.parquet").exists()
    again = run_in_process(project, "make-demo", "--shape", "otto", "--events", "0", "--force")
    assert again.exit_code == 1 and again.error_lines == [
        "Error: OptionError: --events = 0: expected greater than or equal to 1"
    ]
    ran = run_in_process(project, "run", "--pipelines=split", "--params=dataset=otto_synthetic")
    assert ran.exit_code == 0 and ran.exception is None, ran.output[-3000:]
    assert "Ingested 20,000 interactions (session_key, item_id, timestamp)" in ran.log
    assert "split.strategy = temporal" in ran.log
