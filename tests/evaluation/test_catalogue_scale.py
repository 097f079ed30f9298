"""An evaluation at 200,000 items allocates memory by its queries and evidence, not by
(queries x items).

Generated sessions (the project's generator at ``--items 200000``, plus one pass over a
catalogue of 200,000 more items so that the model's index holds at least that many) are
small in events; every model of the
baseline pipeline and a small Word2Vec are fitted and evaluated as the pipeline does (both
protocols, both contexts, K up to 20; Word2Vec, which scores every item, the FF19 pairs
only). Python's allocation
tracer (numpy reports its arrays to it) bounds the peak of each evaluation. One dense
float64 block of the former 1,024 queries would be 1.6 GB: sparse models must stay under a
tenth of that, Word2Vec's dense blocks under their memory budget (256 MB) plus 64 MB.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest

from session_recs.data.synthetic import generate_transactions
from session_recs.evaluation.next_event import EvaluationConfig, evaluate_model
from session_recs.models import build_model
from session_recs.models.base import DENSE_MEMORY_MB

N_ITEMS = 200_000
pytestmark = pytest.mark.slow  # about a minute: ten models at 200,000 items, traced

#: What one dense block of the former fixed 1,024 queries took per item (float64 scores).
OLD_BLOCK_BYTES_PER_ITEM = 1024 * 8
MODELS = {
    "most_popular": ("most_popular", {}),
    "association_rules_ff19": ("association_rules", {"mode": "ff19"}),
    "association_rules": ("association_rules", {}),
    "markov": ("markov", {}),
    "sequential_rules": ("sequential_rules", {"steps": 20, "pruning": 0, "history_weight": 0.1}),
    "item_knn": ("item_knn", {}),
    "session_knn": ("session_knn", {}),
    "stan": ("stan", {}),
    "vstan": ("vstan", {}),
    "word2vec": (
        "word2vec",
        {"vector_size": 8, "epochs": 1, "min_count": 1, "workers": 1, "progress": False},
    ),
}


@pytest.fixture(scope="module")
def catalogue() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train sessions, test pairs, test sessions) over 200,000 items."""
    raw = generate_transactions(120_000, n_items=N_ITEMS, seed=5, p_guest=0.0, p_cancel=0.0)
    raw = raw[raw["StockCode"].str.fullmatch(r"\d+[A-E]?")]
    generated = pd.DataFrame(
        {"session_id": raw["InvoiceNo"].to_numpy(), "item_id": raw["StockCode"].to_numpy()}
    )
    # A 200,000-item catalogue, each item once in sessions of 4, so that the model's index
    # (the items seen in training) holds at least that many.
    rest = [f"catalogue-{i}" for i in range(N_ITEMS)]
    sweep = pd.DataFrame(
        {"session_id": [f"sweep-{i // 4}" for i in range(len(rest))], "item_id": rest}
    )
    rng = np.random.default_rng(0)
    sessions = pd.concat([sweep, generated], ignore_index=True)
    sessions["position"] = sessions.groupby("session_id", sort=False).cumcount()
    lengths = sessions.groupby("session_id", sort=False)["item_id"].transform("size")
    sessions = sessions[lengths >= 2]
    ids = pd.unique(generated["session_id"])
    test_ids = rng.choice(ids[pd.Index(ids).isin(sessions["session_id"])], 300, replace=False)
    is_test = sessions["session_id"].isin(test_ids)
    train, test = sessions[~is_test], sessions[is_test]
    last = test.groupby("session_id").tail(2)
    pairs = pd.DataFrame(
        {
            "session_id": last["session_id"].to_numpy()[1::2],
            "query_item": last["item_id"].to_numpy()[0::2],
            "target_item": last["item_id"].to_numpy()[1::2],
        }
    )
    return train.reset_index(drop=True), pairs, test.reset_index(drop=True)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_an_evaluation_at_200000_items_allocates_a_bounded_peak(name, catalogue):
    train, pairs, test = catalogue
    kind, options = MODELS[name]
    model = build_model(kind, options).fit(train)
    assert len(model.index) >= N_ITEMS
    # Word2Vec scores every item of every query (its cost is queries x items by nature):
    # the FF19 pairs only. The intervals' resamples are fewer than the pipeline's 1,000.
    protocols = ("last_pair",) if kind == "word2vec" else ("last_pair", "iterative_revealing")
    config = EvaluationConfig(protocols=protocols, n_boot=200)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        metrics = evaluate_model(model, train, pairs, test, config)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    n_queries = int(metrics["n_queries"].max())
    assert n_queries >= 300
    print(f"{name}: peak {peak / 2**20:.0f} MB over {n_queries} queries")
    if model.dense_scores:  # blocks sized to the memory budget, plus the ranking's lists
        assert peak < (DENSE_MEMORY_MB + 64) * 2**20, f"{name}: {peak / 2**20:.0f} MB"
    else:  # a tenth of one former dense block (1.6 GB at this catalogue)
        old_block = OLD_BLOCK_BYTES_PER_ITEM * len(model.index)
        assert peak < old_block / 10, f"{name}: {peak / 2**20:.0f} MB"
    recall = metrics.query("metric == 'recall' and k == 20")["value"]
    assert recall.between(0, 1).all()
    coverage = metrics.query("metric == 'coverage' and k == 20")["value"]
    assert (coverage > 0).all() and (coverage < 0.5).all()
