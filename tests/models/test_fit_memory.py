"""What fitting costs in memory per training event, measured with tracemalloc (which
counts Python objects and NumPy's arrays, not Arrow's buffers): item ids read from
Parquet are an Arrow-backed text column, and hashing it must not make a Python string
per event (about 60 bytes each), which at 2.2e8 events is 13 GB."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest

from session_recs.evaluation.provenance import RepeatEvidence
from session_recs.models import ModelSpec

EVENTS = 200_000


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    """Sessions of 10 events over 5,000 items, ids as the Parquet reader gives them."""
    rng = np.random.default_rng(0)
    items = [f"item-{i:06d}" for i in rng.integers(0, 5000, EVENTS)]
    return pd.DataFrame(
        {
            "session_id": np.repeat(np.arange(EVENTS // 10), 10).astype(np.int64),
            "position": np.tile(np.arange(10), EVENTS // 10).astype(np.int32),
            "item_id": pd.Series(items, dtype="str"),
        }
    )


def peak_bytes_per_event(work) -> float:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1] / EVENTS
    finally:
        tracemalloc.stop()


def test_the_item_index_of_a_fit_costs_no_python_string_per_event(train):
    assert str(train["item_id"].dtype) == "str"
    model = ModelSpec.model_validate({"kind": "markov"}).build()
    # Codes, sessions and transitions: 53 bytes an event measured; with a Python string
    # per event (the ids' to_numpy()), 117.
    assert peak_bytes_per_event(lambda: model.fit(train)) < 80
    first_seen = pd.unique(train["item_id"].to_numpy(dtype=object))
    assert list(model.index.ids) == list(first_seen)  # the same index, in first-seen order
    assert model.popularity.sum() == EVENTS


def test_counting_repeated_items_costs_no_python_string_per_event(train):
    evidence = None

    def count():
        nonlocal evidence
        evidence = RepeatEvidence.of(train)

    assert peak_bytes_per_event(count) < 30  # 8-byte codes and a few masks; before, 70
    ids, items = train["session_id"].to_numpy(), train["item_id"].to_numpy(dtype=object)
    same = ids[1:] == ids[:-1]
    assert evidence.transitions == int(same.sum()) == EVENTS - EVENTS // 10
    assert evidence.repeats == int((same & (items[1:] == items[:-1])).sum()) > 0
