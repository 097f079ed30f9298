"""The same seed gives the same numbers: the project's Word2Vec models, as configured in
conf/base, fitted twice on data large enough for gensim to split an epoch between threads
(over its 10,000 words per job), give identical vectors, losses and validation metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from session_recs.framework.project import load_parameters
from session_recs.models import build_model

from ..conftest import ROOT, long_sessions


@pytest.fixture(scope="module")
def corpus() -> tuple[pd.DataFrame, pd.DataFrame]:
    """3,000 sessions of 8 items from 300 (24,000 events), and 200 validation pairs."""
    rng = np.random.default_rng(0)
    sessions = [[f"i{item}" for item in rng.integers(0, 300, size=8)] for _ in range(3000)]
    pairs = pd.DataFrame(
        {
            "session_id": np.arange(200),
            "query_item": [f"i{item}" for item in rng.integers(0, 300, size=200)],
            "target_item": [f"i{item}" for item in rng.integers(0, 300, size=200)],
        }
    )
    return long_sessions(sessions), pairs


@pytest.mark.parametrize("namespace", ["word2vec_ff19_default", "word2vec_ff19_tuned"])
def test_a_configured_word2vec_fitted_twice_gives_the_same_numbers(corpus, namespace):
    spec = load_parameters(ROOT / "conf", "demo")[namespace]["model"]
    options = {**spec["options"], "epochs": 3, "vector_size": 16, "progress": False}
    train, validation = corpus
    first, second = (build_model(spec["kind"], options).fit(train, validation) for _ in range(2))
    assert first.params()["seed"] == 0 and first.params()["workers"] == 1
    np.testing.assert_array_equal(first.wv.vectors, second.wv.vectors)
    numbers = ["loss", "recall@10", "mrr@10"]
    pd.testing.assert_frame_equal(first.history[numbers], second.history[numbers])
    assert first.history["loss"].gt(0).all()
