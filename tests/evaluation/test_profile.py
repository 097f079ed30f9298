"""The dataset profile's unseen shares: exact text ids (look-alikes stay apart), whatever
pandas dtype the ids come in."""

from __future__ import annotations

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
