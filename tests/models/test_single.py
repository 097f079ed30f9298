"""One session answered on its own (session_recs.models.single, the service's path) gives
exactly the batched path's answer: the same items in the same order and the same scores,
bit for bit, for every model and option set of the sparse-ranking cases, with and without
query exclusion, at K from 1 to the whole catalogue."""

from __future__ import annotations

import numpy as np
import pytest

from session_recs.models import build_model
from session_recs.models.base import QueryBatch, SessionData
from session_recs.models.single import recommend_one

from .test_sparse_scoring import CASES, sessions  # noqa: F401 (the fixture)

#: Session prefixes asked per case (every prefix of the first test sessions).
PREFIXES = 160


def prefixes(test, index) -> list[np.ndarray]:
    """Every prefix of the test sessions, their known items only (as the service asks)."""
    found = []
    groups = test.sort_values(["session_id", "position"], kind="stable").groupby("session_id")
    for _, session in groups:
        codes = index.encode(session["item_id"].to_numpy())
        codes = codes[codes >= 0]
        found += [codes[:at] for at in range(1, len(codes) + 1)]
    return found[:PREFIXES]


def batch(queries: list[np.ndarray]) -> QueryBatch:
    lengths = np.array([len(query) for query in queries])
    stops = np.cumsum(lengths)
    items = np.concatenate(queries)
    return QueryBatch(items[stops - 1], SessionData(items, stops - lengths, stops))


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_session_is_answered_exactly_as_in_a_batch(case, sessions):  # noqa: F811
    train, test = sessions
    kind, options = CASES[case]
    model = build_model(kind, options).fit(train)
    queries = prefixes(test, model.fitted_index())
    assert len(queries) == PREFIXES and max(map(len, queries)) > 5
    n_items = len(model.fitted_index())
    for exclude in (True, False):
        for k in (1, 10, n_items - 1):
            recs = model.recommend(batch(queries), k, exclude_query=exclude)
            for row, query in enumerate(queries):
                items, scores = recommend_one(model, query, k, exclude_query=exclude)
                message = f"{case} {k=} {exclude=} session {query.tolist()}"
                np.testing.assert_array_equal(items, recs.items[row], err_msg=message)
                np.testing.assert_array_equal(scores, recs.scores[row], err_msg=message)


def test_the_kinds_that_rank_candidates_answer_without_sparse_matrices(sessions):  # noqa: F811
    """session_knn and a one-item rule model take their own way (no scipy matrix is built
    for the query); the result is the batched one (above)."""
    import scipy.sparse as sp

    train, test = sessions
    built = []
    original = sp.csr_matrix.__init__

    def counting(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    for kind in ("session_knn", "vstan", "sequential_rules", "markov"):
        model = build_model(kind).fit(train)
        query = prefixes(test, model.fitted_index())[7]
        sp.csr_matrix.__init__ = counting
        try:
            recommend_one(model, query, 10)
        finally:
            sp.csr_matrix.__init__ = original
        assert not built, kind
