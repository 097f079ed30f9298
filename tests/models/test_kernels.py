"""The compiled loops of one session's answer (session_recs.models.kernels), against
numpy on hand-built and random arrays: the same keys, and sums added in the same order
(terms chosen so that another order gives other bits)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from session_recs.models import kernels


def postings(rows: list[list[int]], n_columns: int) -> sp.csr_matrix:
    """A CSR matrix of 1.0 at each row's (ascending) columns."""
    indptr = np.r_[0, np.cumsum([len(row) for row in rows])].astype(np.int32)
    indices = np.array([c for row in rows for c in row], dtype=np.int32)
    return sp.csr_matrix((np.ones(len(indices)), indices, indptr), shape=(len(rows), n_columns))


def test_lowest_columns_sums_each_column_in_row_order_up_to_the_limit():
    matrix = postings([[0, 2, 5, 9], [2, 3, 9], [1, 2, 4, 9]], 10)
    rows = np.array([0, 1, 2], dtype=np.int64)
    # 1e16 + 1.0 - 1e16 is 0.0 in this order, 1.0 in others: column 2's sum shows the order.
    weights = np.array([1e16, 1.0, -1e16])
    columns, sums = kernels.lowest_columns(matrix.indptr, matrix.indices, rows, weights, 4)
    assert columns.tolist() == [0, 1, 2, 3]
    assert sums.tolist() == [1e16, -1e16, 0.0, 1.0]
    reference = np.bincount(
        matrix.indices, np.repeat(weights, np.diff(matrix.indptr)), minlength=10
    )
    everything = kernels.lowest_columns(matrix.indptr, matrix.indices, rows, weights, 100)
    assert everything[0].tolist() == [0, 1, 2, 3, 4, 5, 9]
    assert everything[1].tobytes() == reference[everything[0]].tobytes()
    # Rows asked in another order (and a row twice): the sums follow that order.
    again = kernels.lowest_columns(
        matrix.indptr, matrix.indices, np.array([2, 0, 0]), np.array([-1e16, 1e16, 1.0]), 3
    )
    assert again[0].tolist() == [0, 1, 2] and again[1].tolist() == [1e16 + 1.0, -1e16, 1.0]


def test_shared_positions_finds_the_latest_shared_position_and_the_nearest_step():
    # Sessions as item -> last position: items ascending in each row.
    indptr = np.array([0, 3, 5, 7], dtype=np.int32)
    indices = np.array([1, 4, 7, 2, 3, 4, 8], dtype=np.int32)
    positions = np.array([5, 2, 3, 1, 2, 4, 9], dtype=np.int32)
    items = np.array([1, 4, 8], dtype=np.int64)
    steps = np.array([3.0, 1.0, 2.0])
    anchor, nearest = kernels.shared_positions(
        indptr, indices, positions, np.array([0, 1, 2]), items, steps
    )
    assert anchor.tolist() == [5, 0, 9]
    assert nearest.tolist() == [1.0, np.inf, 1.0]


def test_votes_sum_each_item_in_row_order_then_weigh_it():
    indptr = np.array([0, 2, 4], dtype=np.int32)
    indices = np.array([1, 3, 1, 2], dtype=np.int32)
    positions = np.array([1, 2, 1, 2], dtype=np.int32)
    item_weight = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    decay = np.array([0.5, 1.0, 0.25, 0.125])
    items, sums = kernels.votes(
        indptr, indices, positions, np.array([1, 0]), np.array([1e16, -1e16]),
        np.array([0, 1]), decay, item_weight,
    )  # fmt: skip
    # Row 1 first: item 1 gets 1e16 * decay[1], item 2 1e16 * decay[2]; then row 0, whose
    # offset 1 moves its positions one cell along the decay.
    assert items.tolist() == [1, 2, 3]
    assert sums.tolist() == [(1e16 - 1e16 * 0.25) * 2.0, 1e16 * 0.25 * 3.0, -1e16 * 0.125 * 4.0]
    plain = kernels.votes(
        indptr, indices, positions, np.array([0, 1]), np.array([2.0, 3.0]),
        np.array([0, 0]), np.zeros(0), item_weight,
    )  # fmt: skip
    assert plain[0].tolist() == [1, 3, 2] and plain[1].tolist() == [10.0, 8.0, 9.0]


def test_votes_of_many_rows_equal_numpy_whatever_the_items_collide_on():
    """Thousands of entries over item codes up to 10^6, and codes that share their low
    bits (multiples of 2^16), so that many share a cell of the hash table: the items come
    out in first-seen order with numpy's sums, added in row order."""
    rng = np.random.default_rng(3)
    for codes in (rng.integers(0, 10**6, 500), np.arange(1, 400) * 2**16, np.arange(300)):
        rows = [np.unique(rng.choice(codes, int(rng.integers(1, 60)))) for _ in range(80)]
        matrix = postings([row.tolist() for row in rows], int(codes.max()) + 1)
        positions = rng.integers(1, 40, matrix.nnz).astype(np.int32)
        chosen = rng.permutation(80)[:50]
        weights = rng.choice([1e16, -1e16, 1.0, 0.5], 50)
        offsets = rng.integers(0, 5, 50)
        decay = rng.random(50)
        item_weight = rng.random(matrix.shape[1])
        items, sums = kernels.votes(
            matrix.indptr, matrix.indices, positions, chosen, weights, offsets, decay,
            item_weight,
        )  # fmt: skip
        entries = np.concatenate([np.arange(*matrix.indptr[r : r + 2]) for r in chosen])
        terms = np.repeat(weights, np.diff(matrix.indptr)[chosen])
        terms = (
            terms * decay[positions[entries] + np.repeat(offsets, np.diff(matrix.indptr)[chosen])]
        )
        keys = matrix.indices[entries]
        first_seen = keys[np.sort(np.unique(keys, return_index=True)[1])]
        want = np.zeros(matrix.shape[1])
        for key, term in zip(keys, terms, strict=True):  # one by one, in row order
            want[key] += term
        assert items.tolist() == first_seen.tolist()
        assert sums.tobytes() == (want[first_seen] * item_weight[first_seen]).tobytes()


def test_best_keys_keeps_the_k_largest_keys_with_every_tie_at_the_cut():
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(0, 60))
        items = rng.permutation(100)[:n].astype(np.int64)
        scores = rng.integers(-2, 6, n) / 4.0  # many ties, some not positive
        k, exclude = int(rng.integers(1, 12)), int(rng.choice([-1, *items[:1]]))
        got = kernels.best_keys(items, scores, k, exclude)
        keep = (scores > 0) & (items != exclude)
        want_items, want_scores = items[keep], scores[keep]
        keys = want_scores + 1.0
        if len(keys) > k:
            chosen = keys >= np.sort(keys)[::-1][k - 1]
            want_items, want_scores, keys = want_items[chosen], want_scores[chosen], keys[chosen]
        assert got[0].tolist() == want_items.tolist()
        assert got[1].tolist() == want_scores.tolist() and got[2].tolist() == keys.tolist()
    empty = kernels.best_keys(np.array([1, 2]), np.array([1.0, 2.0]), 0, -1)
    assert [len(part) for part in empty] == [0, 0, 0]


def test_largest_keeps_a_row_as_prune_rows_does():
    from session_recs.models.sparse import prune_rows

    rng = np.random.default_rng(11)
    for _ in range(200):
        n = int(rng.integers(0, 40))
        columns = np.sort(rng.permutation(1000)[:n]).astype(np.int64)
        values = rng.integers(1, 6, n) / 8.0  # ties at every cut
        keep = int(rng.integers(1, 12))
        row = sp.csr_matrix((values, columns, [0, n]), shape=(1, 1000))
        want = prune_rows(row, keep)
        got = kernels.largest(columns, values, keep)
        assert got[0].tolist() == want.indices.tolist()
        assert got[1].tolist() == want.data.tolist()


def test_latest_distinct_gives_each_known_item_its_latest_click():
    context = np.array([5, -1, 3, 5, 7, 3, 9], dtype=np.int64)
    weight = np.array([0.1, 0.2, 0.3, 0.4, 0.0, 0.6, 0.7])
    items, weights, steps = kernels.latest_distinct(context, weight)
    # 7's only click weighs 0: left out; 5 and 3 take their later clicks.
    assert items.tolist() == [3, 5, 9]
    assert weights.tolist() == [0.6, 0.4, 0.7]
    assert steps.tolist() == [2.0, 4.0, 1.0]
    assert [len(part) for part in kernels.latest_distinct(context[1:2], weight[1:2])] == [0] * 3
