"""Entries that would mix ids are refused at the boundary, in one line each."""

from __future__ import annotations

import pandas as pd
import pytest

from session_recs.data.datasets import InteractionsDataset
from session_recs.errors import ConfigError
from session_recs.interactions import to_interactions

from .test_exact_ids import COLUMNS


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
