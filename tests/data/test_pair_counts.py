"""The rule and item-kNN models fitted from a table of the columnar engine (their counting
run by the engine, session_recs.models.pair_counts) equal the same models fitted in memory
from the same file, to the bit: item index, popularity and every matrix entry, with ties
at the pruning cut, repeats, text ids that look alike, every weighting and norm. test_spark.py
runs these again on a Spark cluster."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from session_recs.core.errors import DataValidationError
from session_recs.data import engine
from session_recs.models import build_model, pair_counts
from session_recs.models.knn import ItemKNN
from session_recs.models.queries import pair_set
from session_recs.models.transitions import MarkovChain, SequentialRules


@pytest.fixture(scope="module")
def con():
    return engine.connect(memory_limit="1GB", threads=2)


def training_sessions(seed: int = 0, sessions: int = 400) -> pd.DataFrame:
    """Sessions of 1 to 40 events over 60 items (Zipf-like: many equal counts, so ties at
    every pruning cut), with immediate repeats and ids that differ only as text."""
    rng = np.random.default_rng(seed)
    names = np.array(["007", "7", "07", "a", "A", *[f"i{k}" for k in range(55)]])
    rows = []
    for s in range(sessions):
        length = int(min(rng.zipf(1.5), 40))
        items = names[np.minimum(rng.zipf(1.3, length) - 1, len(names) - 1)]
        repeat = rng.random(length) < 0.15
        items[1:][repeat[1:]] = items[:-1][repeat[1:]]
        rows += [(1000 + 7 * s, p, item) for p, item in enumerate(items)]
    frame = pd.DataFrame(rows, columns=["session_id", "position", "item_id"])
    frame["item_id"] = frame["item_id"].astype("str")
    frame["timestamp"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(len(frame)), "s")
    return frame


def both(con, tmp_path, frame: pd.DataFrame):
    """The frame as the split writes it: read back by pandas, and as the engine's table."""
    path = tmp_path / "train_sessions.parquet"
    frame.to_parquet(path)
    return pd.read_parquet(path), engine.read_interactions(con, path)


def learned(model) -> sp.csr_matrix:
    """What a counting model keeps: its matrix (association_rules unpruned: its session x
    item counts)."""
    return model.matrix if model.matrix is not None else model._counts


def identical(in_memory, on_engine) -> None:
    np.testing.assert_array_equal(on_engine.index.ids, in_memory.index.ids)
    np.testing.assert_array_equal(on_engine.popularity, in_memory.popularity)
    want, got = learned(in_memory).tocsr(), learned(on_engine).tocsr()
    want.sort_indices()
    got.sort_indices()
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    assert got.data.tobytes() == want.data.tobytes()  # the same floating-point sums


def same_answers(in_memory, other, frame: pd.DataFrame, *, sessions: int, k: int) -> None:
    """Both models rank the last item of the first ``sessions`` sessions alike: the same
    items, and scores with the same bits."""
    queries = frame.groupby("session_id").tail(1).head(sessions)
    pairs = queries.rename(columns={"item_id": "query_item"}).assign(target_item="?")
    batch = pair_set(pairs, in_memory.index).queries
    want, got = in_memory.recommend(batch, k), other.recommend(batch, k)
    np.testing.assert_array_equal(got.items, want.items)
    assert got.scores.tobytes() == want.scores.tobytes()


#: The models whose counting runs on the engine, with options that change what they count.
COUNTING = [
    ("markov", {}),
    ("sequential_rules", {}),
    ("sequential_rules", {"steps": 20, "pruning": 0, "backward_weight": 0.5}),
    ("sequential_rules", {"steps": 15, "pruning": 3, "weighting": "linear"}),
    ("sequential_rules", {"steps": 7, "pruning": 1, "weighting": "same"}),
    ("sequential_rules", {"steps": 12, "pruning": 5, "weighting": "log", "backward_weight": 2}),
    ("sequential_rules", {"steps": 9, "pruning": 2, "weighting": "quadratic"}),
    ("item_knn", {}),
    ("item_knn", {"neighbours": 0}),
    ("item_knn", {"alpha": 1.0, "shrinkage": 10.0, "neighbours": 5}),
    ("item_knn", {"alpha": 0.75, "shrinkage": 3.0, "neighbours": 1}),
    ("association_rules", {}),
    ("association_rules", {"pruning": 4}),
    ("association_rules", {"context_window": 3, "decay": 0.3}),
    ("association_rules", {"pruning": 2, "context_window": 2, "history_weight": 0.2}),
]


@pytest.mark.parametrize(("kind", "options"), COUNTING)
def test_a_counting_model_fitted_on_the_engine_is_the_in_memory_one(
    con, tmp_path, caplog, kind, options
):
    frame, table = both(con, tmp_path, training_sessions())
    in_memory = build_model(kind, options).fit(frame)
    assert learned(in_memory).nnz >= 50
    caplog.set_level(logging.INFO, logger="session_recs.models.base")
    on_engine = build_model(kind, options).fit(table)
    assert f"{kind}: counting on the columnar engine" in caplog.text
    identical(in_memory, on_engine)
    same_answers(in_memory, on_engine, frame, sessions=50, k=20)


def test_pruning_keeps_the_lower_item_number_among_equal_rules(con, tmp_path):
    # "x" is followed once each by b, c, d (equal rules); pruning to 2 keeps b and c,
    # the items seen first, in memory and on the engine alike.
    frame = pd.DataFrame(
        {
            "session_id": [1, 1, 2, 2, 3, 3],
            "position": [0, 1, 0, 1, 0, 1],
            "item_id": pd.Series(["x", "b", "x", "c", "x", "d"], dtype="str"),
        }
    )
    memory, table = both(con, tmp_path, frame)
    model = SequentialRules(steps=1, pruning=2).fit(table)
    row = model.matrix[model.index.encode(["x"])[0]]
    assert model.index.decode(row.indices).tolist() == ["b", "c"]
    identical(SequentialRules(steps=1, pruning=2).fit(memory), model)


def test_a_table_without_its_row_order_is_refused_naming_the_column(con, tmp_path):
    _, table = both(con, tmp_path, training_sessions(sessions=20))
    with pytest.raises(DataValidationError, match=r"no column\(s\) \['_row'\].*row_order"):
        MarkovChain().fit(table.drop("_row"))


def test_an_empty_table_has_nothing_to_learn_from(con, tmp_path):
    _, table = both(con, tmp_path, training_sessions(sessions=20))
    with pytest.raises(DataValidationError, match="markov: the training sessions are empty"):
        MarkovChain().fit(table.filter(table.item_id == "no such item"))


def test_a_model_that_fits_in_memory_reads_the_table_into_the_same_frame(con, tmp_path):
    frame, table = both(con, tmp_path, training_sessions(sessions=100))
    in_memory = build_model("session_knn", {}).fit(frame)
    from_table = build_model("session_knn", {}).fit(table)
    np.testing.assert_array_equal(from_table.index.ids, in_memory.index.ids)
    assert (from_table._sessions_of_item != in_memory._sessions_of_item).nnz == 0
    np.testing.assert_array_equal(from_table._recency, in_memory._recency)


def test_ff19_association_rules_read_the_table_into_memory_and_rank_as_there(con, tmp_path, caplog):
    """FF19's ties need every item's first positions in every session: that mode is fitted
    in memory from the table (the clean mode counts on the engine, above)."""
    frame, table = both(con, tmp_path, training_sessions(sessions=150))
    caplog.set_level(logging.INFO, logger="session_recs.models.base")
    in_memory = build_model("association_rules", {"mode": "ff19"}).fit(frame)
    from_table = build_model("association_rules", {"mode": "ff19"}).fit(table)
    assert "counting on the columnar engine" not in caplog.text
    identical(in_memory, from_table)
    same_answers(in_memory, from_table, frame, sessions=40, k=10)


def test_the_engine_failing_during_a_fit_is_one_line_naming_the_model(con, tmp_path):
    from session_recs.pipelines.modeling import fit_recommender

    frame = training_sessions(sessions=50)
    path = tmp_path / "train_sessions.parquet"
    frame.to_parquet(path)
    table = engine.read_interactions(con, path)
    path.write_bytes(b"not parquet any more")  # the file changed under the lazy table
    model = {"kind": "sequential_rules", "options": {}}
    with pytest.raises(
        DataValidationError, match="^The columnar engine .* fitting sequential_rules"
    ):
        fit_recommender(table, pd.DataFrame(), model)


@pytest.mark.parametrize(
    ("kind", "options"),
    [("sequential_rules", {"steps": 20, "pruning": 4, "backward_weight": 0.5})],
)
def test_counts_combined_in_many_blocks_of_items_equal_one(
    con, tmp_path, monkeypatch, kind, options
):
    frame, table = both(con, tmp_path, training_sessions())
    whole = build_model(kind, options).fit(table)
    monkeypatch.setattr(pair_counts, "PAIRS_PER_BLOCK", 200)  # dozens of blocks
    blocks = build_model(kind, options).fit(table)
    identical(whole, blocks)
    identical(build_model(kind, options).fit(frame), blocks)


@pytest.mark.parametrize(
    "options", [{}, {"neighbours": 0}, {"alpha": 1.0, "shrinkage": 10.0, "neighbours": 5}]
)
@pytest.mark.parametrize("pairs_per_block", [pair_counts.PAIRS_PER_BLOCK, 200])
def test_item_knn_counted_by_the_engines_self_join_is_the_in_memory_matrix(
    con, tmp_path, monkeypatch, options, pairs_per_block
):
    """On Spark item_knn counts each pair's sessions with the engine's self-join; on
    DuckDB it takes each session's distinct items instead. The self-join, run on DuckDB
    here, gives the in-memory matrix too."""
    frame, table = both(con, tmp_path, training_sessions())
    model = ItemKNN(**options).fit(frame)
    left, right = model._norm_factors(pair_counts.session_support(table, len(model.index.ids)))
    keep = model.options.neighbours
    monkeypatch.setattr(pair_counts, "PAIRS_PER_BLOCK", pairs_per_block)  # 200: many blocks
    got = pair_counts.cooccurrence_similarity(table, left, right, keep).tocsr()
    want = model.matrix.tocsr()
    got.sort_indices()
    want.sort_indices()
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    assert got.data.tobytes() == want.data.tobytes()
    assert want.nnz >= 50
