"""Split strategies on hand-built sessions with known answers."""

import numpy as np
import pandas as pd
import pytest

from session_recs.core.errors import ConfigError, DataValidationError
from session_recs.data.split import SplitConfig, split_sessions


def session_table(lengths, *, start="2011-01-01", split=None) -> pd.DataFrame:
    """Session i has items f"{i}-0" ... and ends at day i (so later ids end later)."""
    ids = np.repeat(np.arange(len(lengths)), lengths)
    position = np.concatenate([np.arange(n) for n in lengths])
    frame = pd.DataFrame(
        {
            "session_id": ids,
            "position": position.astype(np.int32),
            "item_id": [f"{i}-{p}" for i, p in zip(ids, position, strict=True)],
            "timestamp": pd.Timestamp(start) + pd.to_timedelta(ids * 24 * 60 + position, unit="m"),
        }
    )
    if split is not None:
        frame["split"] = np.asarray(split)[ids]
    return frame


def test_ff19_draw_matches_the_reference_recipe():
    lengths = [3, 2, 4, 2, 5, 3, 2, 2, 3, 4]
    sessions = session_table(lengths)
    out = split_sessions(sessions, SplitConfig(strategy="ff19", test_size=3, seed=123))
    index = np.random.default_rng(123).choice(range(10), 6, replace=False)
    lists = [[f"{i}-{p}" for p in range(n)] for i, n in enumerate(lengths)]
    expected_test = [(lists[i][-2], lists[i][-1]) for i in index[:3]]
    expected_val = [(lists[i][-2], lists[i][-1]) for i in index[3:]]
    assert (
        list(zip(out.test_pairs.query_item, out.test_pairs.target_item, strict=True))
        == expected_test
    )
    assert (
        list(zip(out.validation_pairs.query_item, out.validation_pairs.target_item, strict=True))
        == expected_val
    )
    assert out.test_pairs["session_id"].tolist() == index[:3].tolist()
    # train: every session without its last item
    assert len(out.train_sessions) == sum(lengths) - len(lengths)
    assert "4-4" not in set(out.train_sessions.item_id) and "4-3" in set(out.train_sessions.item_id)
    assert sorted(out.test_sessions["session_id"].unique()) == sorted(index[:3].tolist())
    assert len(out.test_sessions) == sum(lengths[i] for i in index[:3])


def test_ff19_all_final_pairs_adds_every_other_session_outside_validation():
    lengths = [3, 2, 4, 2, 5, 3, 2, 2, 3, 4]
    sessions = session_table(lengths)
    sampled = split_sessions(sessions, SplitConfig(test_size=3, seed=123))
    out = split_sessions(sessions, SplitConfig(test_size=3, seed=123, all_final_pairs=True))
    index = np.random.default_rng(123).choice(range(10), 6, replace=False)
    rest = sorted(set(range(10)) - set(index.tolist()))
    # FF19's pairs first and unchanged, then the 4 sessions in neither test nor validation.
    assert out.test_pairs["session_id"].tolist() == [*index[:3].tolist(), *rest]
    pd.testing.assert_frame_equal(out.test_pairs.head(3), sampled.test_pairs)
    assert out.test_pairs.loc[3, "target_item"] == f"{rest[0]}-{lengths[rest[0]] - 1}"
    pd.testing.assert_frame_equal(out.validation_pairs, sampled.validation_pairs)
    pd.testing.assert_frame_equal(out.train_sessions, sampled.train_sessions)
    assert out.test_sessions["session_id"].nunique() == 7
    # No tested target is ever trained on.
    assert not set(out.test_pairs.target_item) & set(out.train_sessions.item_id)


def test_ff19_test_size_over_half_is_rejected():
    with pytest.raises(
        ConfigError, match=r"test_size=3 is too large.*only 5 sessions \(at most 2\)"
    ):
        split_sessions(session_table([2] * 5), SplitConfig(test_size=3))


def test_temporal_split_holds_out_the_latest_sessions():
    sessions = session_table([2, 3, 2, 4, 2, 2, 3, 2, 2, 3])
    out = split_sessions(
        sessions, SplitConfig(strategy="temporal", test_fraction=0.2, validation_fraction=0.125)
    )
    assert out.test_pairs["session_id"].tolist() == [8, 9]
    assert out.validation_pairs["session_id"].tolist() == [7]
    assert out.test_pairs.target_item.tolist() == ["8-1", "9-2"]
    train_ids = set(out.train_sessions.session_id)
    assert train_ids == set(range(8))  # validation prefix included, no test session
    assert "7-1" not in set(out.train_sessions.item_id) and "7-0" in set(out.train_sessions.item_id)
    assert out.test_sessions["item_id"].tolist() == ["8-0", "8-1", "9-0", "9-1", "9-2"]


def test_temporal_cutoff_date():
    sessions = session_table([2] * 10)
    out = split_sessions(
        sessions,
        SplitConfig(strategy="temporal", cutoff="2011-01-07 12:00", validation_fraction=0.3),
    )
    assert out.test_pairs["session_id"].tolist() == [7, 8, 9]
    assert out.validation_pairs["session_id"].tolist() == [4, 5, 6]


def test_predefined_split_uses_the_split_column():
    flags = ["train"] * 8 + ["test"] * 2
    sessions = session_table([2, 3, 2, 4, 2, 2, 3, 2, 4, 3], split=flags)
    out = split_sessions(
        sessions,
        SplitConfig(
            strategy="predefined", validation_fraction=0.25, validation_prefix_in_train=False
        ),
    )
    assert out.test_pairs["session_id"].tolist() == [8, 9]
    assert out.validation_pairs["session_id"].tolist() == [6, 7]
    assert set(out.train_sessions.session_id) == set(range(6))
    assert out.test_sessions.groupby("session_id").size().tolist() == [4, 3]


def test_predefined_without_split_column_explains_how_to_get_one():
    with pytest.raises(ConfigError, match="InteractionsDataset"):
        split_sessions(session_table([2] * 4), SplitConfig(strategy="predefined"))


def test_single_item_sessions_and_bad_parameters():
    with pytest.raises(ConfigError, match="1 session\\(s\\) have a single item"):
        split_sessions(session_table([2, 1, 2, 2]), SplitConfig(test_size=1))
    with pytest.raises(ConfigError, match="split.test_sizes: unknown setting"):
        SplitConfig.model_validate({"test_sizes": 5})
    with pytest.raises(ConfigError, match="split.strategy = 'random': expected 'ff19'"):
        SplitConfig.model_validate({"strategy": "random"})
    with pytest.raises(ConfigError, match="split.cutoff = 'yesterday-ish': expected a date"):
        SplitConfig.model_validate({"cutoff": "yesterday-ish"})
    with pytest.raises(DataValidationError, match="no sessions"):
        split_sessions(session_table([2]).iloc[:0], SplitConfig())


def test_auto_test_size_is_a_quarter_of_the_sessions_at_most_1000():
    sessions = session_table([2] * 40)
    out = split_sessions(sessions, SplitConfig(test_size="auto"))
    assert len(out.test_pairs) == len(out.validation_pairs) == 10
    big = split_sessions(session_table([2] * 4234), SplitConfig(test_size="auto"))
    assert len(big.test_pairs) == 1000  # FF19's, on Online Retail's 4,234 sessions
    with pytest.raises(ConfigError, match=r"split.test_size=30 is too large.*--params=split"):
        split_sessions(sessions, SplitConfig(test_size=30))
