"""``split.validation_fraction: 0``: training takes every session that is not tested, the
validation pairs are empty (same columns and types), models that monitor training train
without a validation metric, and the tune search stops in one line."""

from __future__ import annotations

import logging
import types

import numpy as np
import pandas as pd
import pytest

from session_recs.core.errors import ConfigError
from session_recs.data.split import SplitConfig, split_sessions
from session_recs.models import build_model
from session_recs.pipelines.tune.nodes import run_model_search

from ..conftest import needs_torch
from ..data.test_split import session_table

LENGTHS = [2, 3, 2, 4, 2, 2, 3, 2, 2, 3]


def assert_same_schema(empty: pd.DataFrame, full: pd.DataFrame) -> None:
    assert empty.empty and not full.empty
    assert list(empty.columns) == list(full.columns) == ["session_id", "query_item", "target_item"]
    assert empty.dtypes.to_dict() == full.dtypes.to_dict()


def test_temporal_without_validation_trains_every_untested_session_whole(caplog):
    sessions = session_table(LENGTHS)
    with caplog.at_level(logging.INFO, logger="session_recs.data.split"):
        out = split_sessions(
            sessions, SplitConfig(strategy="temporal", test_fraction=0.2, validation_fraction=0)
        )
    with_validation = split_sessions(
        sessions, SplitConfig(strategy="temporal", test_fraction=0.2, validation_fraction=0.125)
    )
    assert_same_schema(out.validation_pairs, with_validation.validation_pairs)
    assert out.test_pairs["session_id"].tolist() == [8, 9]
    pd.testing.assert_frame_equal(out.test_pairs, with_validation.test_pairs)
    # Sessions 0-7 whole (session 7's last item too): 20 events, one more than with validation.
    assert set(out.train_sessions.session_id) == set(range(8))
    assert len(out.train_sessions) == sum(LENGTHS[:8]) == 20
    assert len(with_validation.train_sessions) == 19
    assert "7-1" in set(out.train_sessions.item_id)
    assert (
        "split.validation_fraction = 0: no validation pairs; all 8 non-test sessions train. "
        "Models that monitor training record no validation metric; the tune pipeline needs "
        "validation pairs."
    ) in caplog.messages


def test_predefined_without_validation_and_its_empty_pairs_survive_parquet(tmp_path):
    flags = ["train"] * 8 + ["test"] * 2
    sessions = session_table(LENGTHS, split=flags)
    out = split_sessions(sessions, SplitConfig(strategy="predefined", validation_fraction=0))
    full = split_sessions(sessions, SplitConfig(strategy="predefined", validation_fraction=0.25))
    assert out.test_pairs["session_id"].tolist() == [8, 9]
    assert set(out.train_sessions.session_id) == set(range(8))
    assert len(out.train_sessions) == 20
    assert_same_schema(out.validation_pairs, full.validation_pairs)
    out.validation_pairs.to_parquet(tmp_path / "validation_pairs.parquet")
    saved = pd.read_parquet(tmp_path / "validation_pairs.parquet")
    assert_same_schema(saved, full.validation_pairs)


def test_what_zero_means_for_each_strategy():
    """ff19 draws test_size validation sessions whatever validation_fraction says, so 0 is
    refused there; no strategy takes a test of 0 (a run needs a test)."""
    with pytest.raises(ConfigError) as refused:
        SplitConfig(strategy="ff19", validation_fraction=0)
    assert str(refused.value) == (
        "split.validation_fraction = 0: the ff19 split draws test_size validation sessions "
        "(FF19's protocol) and does not read validation_fraction; to train without "
        "validation use split.strategy=temporal or predefined"
    )
    assert SplitConfig(strategy="temporal", validation_fraction=0).validation_fraction == 0
    with pytest.raises(ConfigError, match=r"^split.test_size = 0: expected a whole number >= 1"):
        SplitConfig(test_size=0)
    with pytest.raises(ConfigError, match=r"^split.test_fraction = 0: expected .*greater than 0"):
        SplitConfig(strategy="temporal", test_fraction=0)
    with pytest.raises(ConfigError, match=r"^split.validation_fraction = -0.1: expected"):
        SplitConfig(strategy="temporal", validation_fraction=-0.1)


def test_a_positive_fraction_of_an_empty_pool_is_still_an_error():
    sessions = session_table([2] * 4, split=["test"] * 4)
    with pytest.raises(Exception, match="left an empty part: 0 training, 0 validation"):
        split_sessions(sessions, SplitConfig(strategy="predefined", validation_fraction=0.1))


def empty_pairs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "session_id": np.zeros(0, np.int64),
            "query_item": pd.Series([], dtype="str"),
            "target_item": pd.Series([], dtype="str"),
        }
    )


def groups(n_sessions: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [
        (s, p, item)
        for s in range(n_sessions)
        for p, item in enumerate(rng.permutation([f"{'ab'[s % 2]}{i}" for i in range(5)]))
    ]
    return pd.DataFrame(rows, columns=["session_id", "position", "item_id"])


def test_word2vec_trains_without_validation_pairs_and_says_so(caplog):
    options = {"vector_size": 8, "epochs": 3, "workers": 1, "seed": 0, "progress": False}
    with caplog.at_level(logging.INFO, logger="session_recs.models.base"):
        model = build_model("word2vec", options).fit(groups(), empty_pairs())
    assert model.history["epoch"].tolist() == [1, 2, 3]
    assert (model.history["loss"] > 0).all()
    assert model.history["recall@10"].isna().all()
    assert caplog.messages == [
        "word2vec: no validation pairs (split.validation_fraction = 0): trains without "
        "per-epoch validation; its history records no validation metric"
    ]
    # A model that monitors nothing says nothing.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="session_recs.models.base"):
        build_model("markov").fit(groups(), empty_pairs())
    assert caplog.messages == []


@pytest.mark.neural
@needs_torch
def test_gru4rec_trains_without_validation_pairs_and_says_so(caplog):
    options = {"layers": 8, "batch_size": 16, "epochs": 2, "n_sample": 8, "progress": False}
    with caplog.at_level(logging.INFO, logger="session_recs.models.base"):
        model = build_model("gru4rec", options).fit(groups(), empty_pairs())
    assert model.history["epoch"].tolist() == [1, 2]
    assert model.history["recall@10"].isna().all()
    assert caplog.messages[0].startswith("gru4rec: no validation pairs")


def test_the_tune_search_stops_in_one_line_without_validation_pairs():
    settings = types.SimpleNamespace(model="word2vec_search")
    with pytest.raises(ConfigError) as stopped:
        run_model_search(settings, groups(), empty_pairs(), "demo")
    assert str(stopped.value) == (
        "The search of word2vec_search scores its trials on the validation pairs, and the "
        "split it reads has none (made with split.validation_fraction = 0): split with "
        "validation first, e.g. `kedro run --pipelines=split "
        "--params=dataset=demo,split.validation_fraction=0.1`, then search."
    )
