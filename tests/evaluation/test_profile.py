"""The dataset profile's unseen shares: exact text ids (look-alikes stay apart), whatever
pandas dtype the ids come in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from session_recs.evaluation.profile import dataset_profile


@pytest.mark.parametrize("dtype", ["str", "object"])
def test_unseen_shares_count_text_ids_exactly(dtype):
    train = pd.DataFrame(
        {
            "session_id": [0, 0, 1, 1],
            "position": [0, 1, 0, 1],
            "item_id": pd.array(["007", "7", "a", "7"], dtype=dtype),
        }
    )
    pairs = pd.DataFrame(
        {
            "session_id": [5, 6, 7, 8],
            "query_item": pd.array(["7", "a", "07", "a"], dtype=dtype),
            "target_item": pd.array(["7", "07", "b", "007"], dtype=dtype),
        }
    )
    test = pd.DataFrame(
        {
            "session_id": [5, 5, 6, 6, 6],
            "position": [0, 1, 0, 1, 2],
            "item_id": pd.array(["7", "x", "a", "07", "007"], dtype=dtype),
        }
    )
    profile = dataset_profile({"events": 4}, train, pairs, test)
    assert profile["train"]["items"] == 3
    assert profile["test"]["unseen_target_share"] == 0.5  # "07" and "b"
    assert profile["test"]["unseen_query_share"] == 0.25  # "07"
    assert profile["test"]["revealed_targets"] == 3
    assert profile["test"]["unseen_revealed_target_share"] == round(2 / 3, 4)  # "x", "07"


def long_sessions(seed: int) -> pd.DataFrame:
    """Sessions of 1 to 30 events over look-alike text ids, immediate repeats common (so
    repeats fall across every batch seam too), with one missing item."""
    rng = np.random.default_rng(seed)
    names = np.array(["007", "7", "07", "a", "A", "b"])
    rows = []
    for session in range(300):
        items = names[rng.integers(0, len(names), int(rng.integers(1, 31)))]
        rows += [(session * 3, position, item) for position, item in enumerate(items)]
    frame = pd.DataFrame(rows, columns=["session_id", "position", "item_id"])
    frame["item_id"] = frame["item_id"].astype("str")
    frame.loc[17, "item_id"] = None
    return frame


@pytest.mark.slow  # the engine's table streamed in batches of 7 rows: a few seconds
@pytest.mark.parametrize("batch_rows", [1_000_000, 7])
def test_a_table_of_training_sessions_profiles_as_its_frame_a_batch_at_a_time(
    tmp_path, monkeypatch, batch_rows
):
    """The profile of the engine's table (counted there, fingerprinted and its repeats
    counted a batch of rows at a time) is the profile of the same rows in memory: every
    number and both fingerprints, whatever the batches' size."""
    from session_recs.data import engine
    from session_recs.evaluation import provenance

    train = long_sessions(3)
    path = tmp_path / "train_sessions.parquet"
    train.to_parquet(path)
    table = engine.read_interactions(engine.connect(memory_limit="1GB", threads=2), path)
    test = pd.DataFrame(
        {"session_id": [9, 9], "position": [0, 1], "item_id": pd.array(["7", "x"], dtype="str")}
    )
    pairs = pd.DataFrame({"session_id": [9], "query_item": ["7"], "target_item": ["x"]})
    frame = pd.read_parquet(path)
    want = dataset_profile({"events": 1}, frame, pairs, test)
    monkeypatch.setattr(provenance, "BATCH_ROWS", batch_rows)
    got = dataset_profile({"events": 1}, table, pairs, test)
    assert got == want
    assert want["train"]["repeated_transitions"] > 50
    assert want["train"]["transitions"] == len(train) - 300
    assert provenance.RepeatEvidence.of(table) == provenance.RepeatEvidence.of(train)


@pytest.mark.slow  # the engine's table streamed in batches of 11 rows: a few seconds
def test_a_table_of_training_sessions_evaluates_as_its_frame(tmp_path, monkeypatch):
    """evaluate_with_ranks given the engine's table (fingerprint and repeats a batch at a
    time, only the pairs' sessions read for their contexts) gives the tables the frame
    gives: every metric, rank and provenance column."""
    from session_recs.data import engine
    from session_recs.evaluation import provenance
    from session_recs.evaluation.next_event import EvaluationConfig, evaluate_with_ranks
    from session_recs.models import build_model

    train = long_sessions(4).dropna()
    path = tmp_path / "train_sessions.parquet"
    train.to_parquet(path)
    table = engine.read_interactions(engine.connect(memory_limit="1GB", threads=2), path)
    frame = pd.read_parquet(path)
    # Pairs whose context is a training session's prefix (split's prefix sessions).
    ends = frame.groupby("session_id").tail(2).groupby("session_id")["item_id"]
    pairs = pd.DataFrame({"query_item": ends.first(), "target_item": ends.last()})
    pairs = pairs.reset_index().head(120)
    test = frame.iloc[:0]
    model = build_model("session_knn", {}).fit(frame)
    config = EvaluationConfig(
        ks=[1, 3, 5], contexts=["last_item", "session"], exclude_query="auto", n_boot=50
    )
    want = evaluate_with_ranks(model, frame, pairs, test, config, dataset="d")
    monkeypatch.setattr(provenance, "BATCH_ROWS", 11)
    got = evaluate_with_ranks(model, table, pairs, test, config, dataset="d")
    timing = ["predictions_per_s"]
    for one, other in zip(got, want, strict=True):
        pd.testing.assert_frame_equal(
            one.drop(columns=timing, errors="ignore"), other.drop(columns=timing, errors="ignore")
        )
    assert want[0]["n_queries"].min() == 120
    assert (want[1]["seen"] > 1).any()  # contexts of more than the query item were read
