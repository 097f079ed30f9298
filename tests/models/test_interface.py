"""What every registered model owes the interface: unseen query items answered by
popularity, an empty training set refused clearly, exactly k distinct known items."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from session_recs.core.errors import DataValidationError
from session_recs.evaluation.next_event import pair_set
from session_recs.models import MODEL_KINDS, build_model

from ..conftest import model_kinds

#: Small, fast options where a model's defaults would be slow on a toy table.
OPTIONS = {
    "word2vec": {"vector_size": 8, "epochs": 2, "workers": 1, "progress": False},
    "association_rules": {"mode": "ff19"},
    "gru4rec": {"layers": 8, "epochs": 1, "n_sample": 8, "progress": False},
    "sasrec": {"hidden_units": 8, "epochs": 1, "n_sample": 8, "progress": False},
}


def train_table() -> pd.DataFrame:
    """40 sessions over items i0..i9: i0 in every session, i1 in half, i9 once."""
    rng = np.random.default_rng(7)
    rows = []
    for s in range(40):
        items = ["i0", *(f"i{j}" for j in rng.choice(np.arange(1, 9), 3, replace=False))]
        if s % 2 == 0 and "i1" not in items:
            items.append("i1")
        if s == 0:
            items.append("i9")
        rows += [(s, p, item) for p, item in enumerate(items)]
    return pd.DataFrame(rows, columns=["session_id", "position", "item_id"])


@pytest.mark.parametrize("kind", model_kinds(sorted(MODEL_KINDS)))
def test_unseen_query_items_get_the_most_popular_items(kind):
    train = train_table()
    model = build_model(kind, OPTIONS.get(kind, {})).fit(train)
    pairs = pd.DataFrame(
        {"session_id": [0, 1], "query_item": ["never-seen", "i3"], "target_item": ["i0", "i0"]}
    )
    context = pd.DataFrame(
        {"session_id": [0, 1], "position": [0, 0], "item_id": ["never-seen", "i3"]}
    )
    queries = pair_set(pairs, model.index, context).queries
    recs = model.recommend(queries, 3)
    popularity = train["item_id"].value_counts()
    expected = popularity.index[:3].tolist()  # i0, then i1, then the next most frequent
    assert model.index.decode(recs.items[0]).tolist() == expected
    # A known query: k distinct known items, never the query item itself.
    known = model.index.decode(recs.items[1]).tolist()
    assert len(set(known)) == 3 and "i3" not in known


@pytest.mark.parametrize("kind", model_kinds(sorted(MODEL_KINDS)))
def test_an_empty_training_set_is_refused_clearly(kind):
    empty = pd.DataFrame({"session_id": [], "position": [], "item_id": []})
    with pytest.raises(DataValidationError, match="training sessions are empty"):
        build_model(kind, OPTIONS.get(kind, {})).fit(empty)
