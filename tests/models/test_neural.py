"""GRU4Rec and SASRec (the neural extra): they learn planted sequences, a seed fixes them,
and they answer like every model (k bounds, query exclusion, unknown items, a saved copy)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from session_recs.core.errors import ConfigError, DataValidationError
from session_recs.evaluation.next_event import hit_metrics, pair_set, validation_set
from session_recs.models import build_model
from session_recs.models.state import read_model, write_model

from ..conftest import needs_torch

pytestmark = [pytest.mark.neural, needs_torch]

N_ITEMS = 60

#: Small networks that learn the planted data in a few seconds.
SMALL = {
    "gru4rec": {"layers": 32, "batch_size": 32, "epochs": 4, "n_sample": 32, "learning_rate": 0.1},
    "sasrec": {
        "hidden_units": 32,
        "num_blocks": 1,
        "max_len": 10,
        "batch_size": 32,
        "epochs": 12,
        "learning_rate": 0.01,
        "n_sample": 32,
    },
}


def planted(n_sessions: int, seed: int) -> pd.DataFrame:
    """Sessions of 4-9 items where each item is followed by its own successor 90% of the
    time (a fixed random permutation of 60 items), otherwise by any item."""
    rng = np.random.default_rng(seed)
    successor = np.random.default_rng(99).permutation(N_ITEMS)
    rows = []
    for session in range(n_sessions):
        item = int(rng.integers(N_ITEMS))
        for position in range(int(rng.integers(4, 10))):
            rows.append((session, position, f"p{item}"))
            item = int(successor[item]) if rng.random() < 0.9 else int(rng.integers(N_ITEMS))
    return pd.DataFrame(rows, columns=["session_id", "position", "item_id"])


def last_pairs(sessions: pd.DataFrame) -> pd.DataFrame:
    """The last two items of every session as (query, target)."""
    tail = sessions.groupby("session_id").tail(2)
    query = tail.groupby("session_id")["item_id"].first()
    target = tail.groupby("session_id")["item_id"].last()
    return pd.DataFrame(
        {"session_id": query.index, "query_item": query.values, "target_item": target.values}
    )


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    train = planted(600, seed=1)
    validation = last_pairs(planted(150, seed=2).assign(session_id=lambda t: t.session_id + 10**6))
    return train, validation


def fit(kind: str, train: pd.DataFrame, validation: pd.DataFrame | None = None, **options):
    return build_model(kind, {**SMALL[kind], "progress": False, **options}).fit(train, validation)


@pytest.mark.parametrize("kind", ["gru4rec", "sasrec"])
def test_learns_planted_sequences_well_above_most_popular(kind, data):
    train, validation = data
    model = fit(kind, train, validation)
    popular = build_model("most_popular").fit(train)
    floor = hit_metrics(popular, validation_set(popular.index, validation, train), 10)["recall"]
    history = model.history
    assert list(history["epoch"]) == list(range(1, SMALL[kind]["epochs"] + 1))
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    # 90% of next items are the planted successor: a model that learns it is near 0.9.
    assert history["recall@10"].iloc[-1] > 0.7 > floor + 0.4
    assert history["mrr@10"].iloc[-1] > 0.4
    final = hit_metrics(model, validation_set(model.index, validation, train), 10)
    assert final["recall"] == pytest.approx(history["recall@10"].iloc[-1])


@pytest.mark.parametrize("kind", ["gru4rec", "sasrec"])
def test_the_same_seed_gives_the_same_metrics_and_scores(kind, data):
    train, validation = data
    options = {"epochs": 2, "workers": 1, "seed": 3}
    first, second = (fit(kind, train, validation, **options) for _ in range(2))
    pd.testing.assert_frame_equal(
        first.history.drop(columns=["seconds", "eval_seconds"]),
        second.history.drop(columns=["seconds", "eval_seconds"]),
    )
    queries = validation_set(first.index, validation, train).queries
    np.testing.assert_array_equal(first.score(queries), second.score(queries))
    other = fit(kind, train, validation, **{**options, "seed": 4})
    assert not np.array_equal(first.score(queries), other.score(queries))


@pytest.mark.parametrize("kind", ["gru4rec", "sasrec"])
def test_k_bounds_exclusion_unknown_items_and_a_saved_copy(kind, data):
    train, validation = data
    model = fit(kind, train, epochs=1)
    n = len(model.index)
    evaluation = pair_set(validation.head(20), model.index, train)
    queries = evaluation.queries
    for k in (1, 7, n - 1, n + 5):
        recs = model.recommend(queries, k)
        assert recs.items.shape == (20, min(k, n - 1))
        assert all(len(set(row)) == len(row) for row in recs.items)
        assert not (recs.items == queries.last_item[:, None]).any()
        assert (np.diff(recs.scores, axis=1) <= 0).all()
    assert model.recommend(queries, n, exclude_query=False).items.shape == (20, n)
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        model.recommend(queries, 0)
    # A session of unknown items is answered by popularity, like every model.
    unknown = pd.DataFrame({"session_id": [7], "query_item": ["nope"], "target_item": ["p1"]})
    context = pd.DataFrame({"session_id": [7, 7], "position": [0, 1], "item_id": ["x", "nope"]})
    recs = model.recommend(pair_set(unknown, model.index, context).queries, 3)
    expected = train["item_id"].value_counts().index[:3].tolist()
    assert model.index.decode(recs.items[0]).tolist() == expected
    # A saved copy (the network's weights as arrays) scores the same.
    saved = io.BytesIO()
    write_model(model, saved)
    saved.seek(0)
    restored = read_model(saved, f"{kind}.npz")
    np.testing.assert_array_equal(restored.score(queries), model.score(queries))


def test_gru4rec_reads_the_whole_session_so_far(data):
    train, _ = data
    model = fit("gru4rec", train, epochs=1)
    pairs = pd.DataFrame({"session_id": [1, 2], "query_item": ["p5", "p5"], "target_item": "p1"})
    context = pd.DataFrame(
        {"session_id": [1, 2, 2, 2], "position": [0, 0, 1, 2], "item_id": ["p5", "p9", "p3", "p5"]}
    )
    scores = model.score(pair_set(pairs, model.index, context).queries)
    assert not np.allclose(scores[0], scores[1])
    # Only the last max_len known items count.
    short = fit("gru4rec", train, epochs=1, max_len=1)
    scores = short.score(pair_set(pairs, short.index, context).queries)
    np.testing.assert_allclose(scores[0], scores[1], rtol=1e-6)


def test_bad_options_are_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"gru4rec\.dropout_p_hidden = 1\.5"):
        build_model("gru4rec", {"dropout_p_hidden": 1.5})
    with pytest.raises(ConfigError, match=r"sasrec\.num_heads = 3: expected a divisor of hidden"):
        build_model("sasrec", {"num_heads": 3})  # refused before any data is read
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        build_model("sasrec", {"preset": "nope"})
    with pytest.raises(ConfigError, match=r"\['loss'\] for model kind 'sasrec'"):
        build_model("sasrec", {"hidden_units": 32, "loss": "bpr"})
    with pytest.raises(DataValidationError, match="no training session has two or more items"):
        build_model("gru4rec", {"progress": False}).fit(
            pd.DataFrame({"session_id": [1, 2], "position": [0, 0], "item_id": ["a", "b"]})
        )


@pytest.mark.parametrize("n_sample", [32, 0])
def test_bpr_max_loss_also_learns_with_or_without_sampled_negatives(data, n_sample):
    """Without samples the last steps of an epoch run on one session: nothing to rank its
    target against, so no update (not a NaN that would spread to every weight)."""
    train, validation = data
    model = fit(
        "gru4rec", train, validation, loss="bpr-max", epochs=3, bpreg=0.5, n_sample=n_sample
    )
    assert np.isfinite(model.history["loss"]).all()
    assert model.history["recall@10"].iloc[-1] > 0.6


@pytest.mark.parametrize("kind", ["gru4rec", "sasrec"])
def test_a_fit_says_its_size_what_the_models_are_meant_for_and_how_long_it_will_take(
    kind, data, caplog
):
    """No silent hours-long run: one line before training (events, sessions, items,
    epochs, the size the CPU models are meant for), one after the first epoch (its time,
    and all epochs' at that rate)."""
    import logging

    train, _ = data
    with caplog.at_level(logging.INFO, logger="session_recs.models.neural.training"):
        fit(kind, train, epochs=2)
    lines = [r.getMessage() for r in caplog.records if r.name.endswith("neural.training")]
    assert len(lines) == 2, lines
    events = int((train.groupby("session_id").size()).sum())
    assert lines[0].startswith(f"{kind} trains on CPU: {events:,} events of 600 sessions")
    assert "meant for up to about 1,000,000 training events" in lines[0]
    assert "expect hours" not in lines[0]
    assert lines[1].startswith(f"{kind}: epoch 1 of 2 took ")
    took = float(lines[1].split(" took ")[1].split(" s;")[0])
    estimate = float(lines[1].split("take about ")[1].split(" s")[0])
    assert estimate == pytest.approx(2 * took, abs=1)
