"""Sparse candidates and dense blocks rank the same: every model, every ranking rule.

Sparse models rank only the items they have evidence for and fill the rest of the list
from a popularity order; the dense path ranks every item. On generated sessions with
planted structure, both give the same top-K items and scores for every model and options
that change which items have evidence (context windows, history priors, backward rules,
FF19's tie order, cosine neighbours), with and without query exclusion, at K from 1 to
the whole catalogue.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from session_recs.data.synthetic import generate_transactions
from session_recs.evaluation.next_event import revealing_set
from session_recs.models import build_model
from session_recs.models.ranking import backfill, popularity_order, sparse_top_k, top_k
from session_recs.models.sparse import prune_rows

CASES = {
    "most_popular": ("most_popular", {}),
    "markov": ("markov", {}),
    "sequential_rules": ("sequential_rules", {}),
    "sequential_rules_plus": (
        "sequential_rules",
        {"steps": 20, "pruning": 0, "backward_weight": 0.5, "history_weight": 0.1},
    ),
    "rules_window": ("sequential_rules", {"context_window": 3, "weighting": "same"}),
    "association_rules": ("association_rules", {}),
    "association_rules_ff19": ("association_rules", {"mode": "ff19"}),
    "association_rules_pruned": ("association_rules", {"pruning": 5, "context_window": 2}),
    "item_knn": ("item_knn", {"neighbours": 10}),
    "session_knn": ("session_knn", {"k": 20, "sample_size": 200}),
    # A sample smaller than the union of a session's items' recent sessions: the cut counts.
    "session_knn_small_sample": ("session_knn", {"k": 8, "sample_size": 15, "m": 4}),
    "session_knn_cosine": (
        "session_knn",
        {"k": 50, "similarity": "cosine", "position_lambda": None, "weighting": "same"},
    ),
    "stan": ("stan", {"k": 50, "sample_size": 300}),
    "vstan": ("vstan", {"k": 50, "sample_size": 300, "lambda_idf": 2.0}),
}


@pytest.fixture(scope="module")
def sessions() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generated baskets as sessions: 150 items, ties in popularity, sessions of 1-40."""
    raw = generate_transactions(6_000, n_items=150, n_groups=10, seed=3)
    raw = raw[raw["CustomerID"].notna() & ~raw["InvoiceNo"].str.startswith("C")]
    table = pd.DataFrame(
        {
            "session_id": raw["InvoiceNo"].to_numpy(),
            "item_id": raw["StockCode"].to_numpy(),
            "timestamp": raw["InvoiceDate"].to_numpy(),
        }
    )
    table["position"] = table.groupby("session_id").cumcount()
    ids = table["session_id"].unique()
    test = table[table["session_id"].isin(ids[-60:])]
    known = test["item_id"].iloc[:2].tolist()
    unseen = pd.DataFrame(  # a session mixing items never seen in training with known ones
        {
            "session_id": "unseen",
            "item_id": ["never-seen", known[0], "never-seen-2", known[1], "never-seen"],
            "timestamp": test["timestamp"].max(),
            "position": range(5),
        }
    )
    return table[~table["session_id"].isin(ids[-60:])], pd.concat([test, unseen])


@pytest.mark.parametrize("case", sorted(CASES))
def test_sparse_and_dense_ranking_agree_exactly(case, sessions):
    train, test = sessions
    kind, options = CASES[case]
    model = build_model(kind, options).fit(train)
    queries = revealing_set(test, model.index).queries
    assert len(queries) > 200 and (queries.last_item < 0).any()  # unknown items included
    n_items = len(model.index)
    for exclude in (True, False):
        for k in (1, 10, n_items - 1):
            sparse = model.recommend(queries, k, exclude_query=exclude)
            dense = model.recommend(queries, k, exclude_query=exclude, dense=True)
            np.testing.assert_array_equal(sparse.items, dense.items, err_msg=f"{k=} {exclude=}")
            np.testing.assert_array_equal(sparse.scores, dense.scores, err_msg=f"{k=} {exclude=}")
            assert (sparse.items >= 0).all()
            # Every list holds distinct items.
            ordered = np.sort(sparse.items, axis=1)
            assert not (ordered[:, 1:] == ordered[:, :-1]).any()
    # The candidates are sparse: far fewer than every (query, item) cell.
    if kind != "most_popular":
        stored = model.candidates(queries).nnz
        assert 0 < stored < 0.9 * len(queries) * n_items


def test_dense_blocks_follow_the_memory_budget(sessions):
    """A tiny budget means one-query blocks; the lists do not change with it."""
    train, test = sessions
    model = build_model("item_knn", {}).fit(train)
    queries = revealing_set(test, model.index).queries
    wide = model.recommend(queries, 10, dense=True)
    narrow = model.recommend(queries, 10, dense=True, memory_mb=1e-6)
    np.testing.assert_array_equal(wide.items, narrow.items)


def test_sparse_top_k_orders_by_score_then_tie_rank_then_index():
    # Row 0: items 1, 3, 4 tie at 2.0; item 4 wins the tie rank, then 1 before 3.
    candidates = sp.csr_matrix(
        np.array([[0.0, 2.0, 0.5, 2.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, -1.0]])
    )
    rank = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 0.0])
    items, scores = sparse_top_k(candidates, 4, lambda r, c: rank[c])
    assert items.tolist() == [[4, 1, 3, 2], [-1, -1, -1, -1]]  # -1.0 is no evidence
    assert scores[0].tolist() == [2.0, 2.0, 2.0, 0.5]
    # Excluding the query item (item 4 for row 0) and completing from popularity.
    items, scores = sparse_top_k(candidates, 4, lambda r, c: rank[c], np.array([4, 5]))
    order = popularity_order(np.array([5.0, 1.0, 1.0, 3.0, 9.0, 9.0]))
    assert order.tolist() == [4, 5, 0, 3, 1, 2]
    backfill(items, scores, order, np.array([4, 5]))
    assert items.tolist() == [[1, 3, 2, 5], [4, 0, 3, 1]]
    assert scores[1].tolist() == [0.0] * 4


def test_thresholds_agree_between_the_padded_and_the_sorted_way():
    """One very long row among short ones takes the sorted way; the lists match dense."""
    rng = np.random.default_rng(0)
    n_rows, n_items = 50, 200_000
    lengths = np.r_[rng.integers(1, 40, n_rows - 1), 150_000]
    rows = np.repeat(np.arange(n_rows), lengths)
    cols = np.concatenate([rng.choice(n_items, n, replace=False) for n in lengths])
    values = rng.integers(1, 30, len(rows)).astype(np.float64)  # many ties
    candidates = sp.csr_matrix((values, (rows, cols)), shape=(n_rows, n_items))
    rank = rng.random(n_items)
    items, _ = sparse_top_k(candidates, 20, lambda r, c: rank[c])
    dense = candidates.toarray()
    dense[dense <= 0] = -np.inf
    expected = top_k(dense + 1.0, 20, rank)
    has = items >= 0
    np.testing.assert_array_equal(items[has], expected[has])


def test_prune_rows_keeps_the_largest_entries_then_the_leftmost_at_the_cut():
    rng = np.random.default_rng(1)
    matrix = sp.random(300, 400, density=0.1, random_state=2, format="csr")
    matrix.data = rng.integers(1, 6, matrix.nnz).astype(np.float64)  # ties at every cut
    pruned = prune_rows(matrix, 7)
    for row in range(matrix.shape[0]):
        lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
        cols, values = matrix.indices[lo:hi], matrix.data[lo:hi]
        best = np.lexsort((cols, -values))[:7]  # largest, then leftmost
        kept = pruned.indices[pruned.indptr[row] : pruned.indptr[row + 1]]
        assert sorted(kept.tolist()) == sorted(cols[best].tolist())


@pytest.mark.parametrize("case", ["session_knn", "sequential_rules_plus", "association_rules_ff19"])
def test_ranking_blocks_in_threads_gives_the_same_lists(case, sessions):
    train, test = sessions
    kind, options = CASES[case]
    model = build_model(kind, options).fit(train)
    model.query_block = 50  # several blocks
    queries = revealing_set(test, model.index).queries
    one = model.recommend(queries, 10, threads=1)
    two = model.recommend(queries, 10, threads=2)
    np.testing.assert_array_equal(one.items, two.items)
    np.testing.assert_array_equal(one.scores, two.scores)
