"""What fitting costs in memory per training event, measured with tracemalloc (which
counts Python objects and NumPy's arrays, not Arrow's buffers): item ids read from
Parquet are an Arrow-backed text column, and hashing it must not make a Python string
per event (about 60 bytes each), which at 2.2e8 events is 13 GB."""

from __future__ import annotations

import hashlib
import json
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from session_recs.evaluation.provenance import RepeatEvidence, fingerprint
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


def test_the_training_fingerprint_hashes_each_distinct_item_once(train):
    digest = None

    def hashed():
        nonlocal digest
        digest = fingerprint((train, ("session_id", "item_id")))

    assert peak_bytes_per_event(hashed) < 20  # 8-byte hashes; per row, 36
    # The same digest as hashing every row's text (what earlier runs recorded).
    reference = hashlib.sha256()
    reference.update(json.dumps([["session_id", "item_id"], EVENTS]).encode())
    for column in ("session_id", "item_id"):
        rows = pd.util.hash_pandas_object(train[column], index=False).to_numpy()
        reference.update(np.ascontiguousarray(rows).tobytes())
    assert digest == reference.hexdigest()[:16]
    with_missing = train.head(100).assign(item_id=lambda f: f["item_id"].where(f.index != 3))
    assert fingerprint((with_missing, ("item_id",))) != fingerprint((train.head(100), ("item_id",)))
