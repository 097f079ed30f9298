"""Item kNN's compiled co-occurrence rows against the sparse product they replace."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from session_recs.models import cooccurrence
from session_recs.models.cooccurrence import item_similarity, pruned_similarity
from session_recs.models.sparse import prune_rows


def incidence_of(rng: np.random.Generator, sessions: int, items: int) -> sp.csr_matrix:
    """Binary sessions x items, heavy-tailed lengths and popularity: counts tie often."""
    lengths = np.minimum(rng.zipf(1.6, sessions), 40)
    owner = np.repeat(np.arange(sessions), lengths)
    item = np.minimum(rng.zipf(1.3, len(owner)) - 1, items - 1)
    matrix = sp.csr_matrix((np.ones(len(owner)), (owner, item)), shape=(sessions, items))
    matrix.data[:] = 1.0
    return matrix


def product_reference(incidence, left, right, keep) -> sp.csr_matrix:
    """The sparse product, divided and pruned: what item_knn fitted before."""
    together = (incidence.T.tocsr() @ incidence).tocoo()
    off = together.row != together.col
    rows, cols = together.row[off], together.col[off]
    data = together.data[off] / np.maximum(left[rows] * right[cols], 1e-12)
    similarity = sp.csr_matrix((data, (rows, cols)), shape=together.shape)
    return prune_rows(similarity, keep)


def same_bits(got: sp.csr_matrix, want: sp.csr_matrix) -> None:
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    assert got.data.tobytes() == want.data.tobytes()


@pytest.mark.parametrize("keep", [1, 2, 7, 1000])
@pytest.mark.parametrize(("alpha", "shrinkage"), [(0.5, 0.0), (0.5, 20.0), (1.0, 3.0), (0.2, 0.0)])
def test_pruned_rows_equal_the_pruned_sparse_product_bit_for_bit(keep, alpha, shrinkage):
    rng = np.random.default_rng(keep)
    incidence = incidence_of(rng, sessions=3000, items=400)
    support = np.diff(incidence.T.tocsr().indptr).astype(np.float64)
    left = np.power(support + shrinkage, alpha)
    right = np.power(support + shrinkage, 1.0 - alpha)
    want = product_reference(incidence, left, right, keep)
    assert want.nnz > 0
    if keep < 1000:  # the cut falls among ties in many rows
        assert (np.diff(want.indptr) == keep).sum() > 10
    same_bits(pruned_similarity(incidence, left, right, keep, threads=1), want)


def test_many_tasks_on_two_threads_give_the_one_task_matrix(monkeypatch):
    rng = np.random.default_rng(5)
    incidence = incidence_of(rng, sessions=5000, items=900)
    support = np.diff(incidence.T.tocsr().indptr).astype(np.float64)
    left = right = np.sqrt(support + 20.0)
    whole = pruned_similarity(incidence, left, right, 5, threads=1)
    monkeypatch.setattr(cooccurrence, "WORK_PER_TASK", 300)  # hundreds of tasks
    same_bits(pruned_similarity(incidence, left, right, 5, threads=2), whole)
    same_bits(whole, product_reference(incidence, left, right, 5))


def test_items_in_no_session_and_an_empty_log_get_empty_rows():
    incidence = sp.csr_matrix((np.ones(3), ([0, 0, 1], [0, 2, 2])), shape=(2, 5))
    ones = np.ones(5)
    got = pruned_similarity(incidence, ones, ones, 3, threads=2)
    assert got.shape == (5, 5)
    assert np.diff(got.indptr).tolist() == [1, 0, 1, 0, 0]
    assert got.toarray()[2, 0] == 1.0 and got.toarray()[0, 2] == 1.0
    empty = pruned_similarity(sp.csr_matrix((0, 4)), np.ones(4), np.ones(4), 3, threads=2)
    assert empty.shape == (4, 4) and empty.nnz == 0


def test_keeping_every_pair_takes_the_product_in_blocks_of_rows(monkeypatch):
    rng = np.random.default_rng(9)
    incidence = incidence_of(rng, sessions=2000, items=300)
    support = np.diff(incidence.T.tocsr().indptr).astype(np.float64)
    left, right = np.power(support + 2.0, 0.7), np.power(support + 2.0, 0.3)
    want = product_reference(incidence, left, right, 0)
    monkeypatch.setattr(cooccurrence, "PAIRS_PER_BLOCK", 500)  # dozens of blocks
    same_bits(item_similarity(incidence, left, right, 0, threads=2), want)
    assert want.nnz > 20 * np.diff(want.indptr).max()  # more pairs than any cut would keep
