"""Item and session nearest-neighbour models on hand-built sessions."""

import math

import numpy as np
import pandas as pd
import pytest

from session_recs.core.errors import ConfigError
from session_recs.evaluation.next_event import only_last_item, revealing_set
from session_recs.models import build_model
from session_recs.models.base import QueryBatch, SessionData
from session_recs.models.knn import POSITION_WEIGHTS, ItemKNN, SessionKNN
from session_recs.models.transitions import STEP_WEIGHTS


def table(sessions: list[list[str]], last_seen: list[int] | None = None) -> pd.DataFrame:
    """Long session table; session s's last click is at ``last_seen[s]`` minutes if given."""
    rows = [
        (s, p, item, p - len(items) + 1)
        for s, items in enumerate(sessions)
        for p, item in enumerate(items)
    ]
    out = pd.DataFrame(rows, columns=["session_id", "position", "item_id", "offset"])
    if last_seen is not None:
        seconds = np.asarray(last_seen)[out["session_id"]] * 60 + out["offset"]
        out["timestamp"] = pd.to_datetime(seconds, unit="s")
    return out.drop(columns="offset")


def session_queries(model, sessions: list[list[str]]) -> QueryBatch:
    """One query per session: its last item, with the whole session as context."""
    lengths = np.array([len(s) for s in sessions])
    items = model.index.encode([item for s in sessions for item in s])
    stops = np.cumsum(lengths)
    return QueryBatch(items[stops - 1], SessionData(items, stops - lengths, stops))


def ranked(model, session: list[str], k: int = 3) -> list[str]:
    recs = model.recommend(session_queries(model, [session]), k, exclude_query=False)
    return model.index.decode(recs.items[0]).tolist()


def item_score(model, session: list[str], item: str) -> float:
    return float(model.score(session_queries(model, [session]))[0, model.index.encode([item])[0]])


# --- SessionKNN -------------------------------------------------------------------------


def test_a_session_matching_a_training_session_ranks_its_next_item_first():
    train = [["a", "b", "c", "d"], ["a", "x"], ["b", "y"], ["c", "z"], ["x", "y", "z"]] + [
        ["z", "y"]
    ] * 3
    model = SessionKNN().fit(table(train))
    # The session's own items may come back too (session-rec's `remind`); d leads the rest.
    new_items = [item for item in ranked(model, ["a", "b", "c"], 5) if item not in "abc"]
    assert new_items[0] == "d"


def test_recency_sampling_keeps_only_the_most_recent_candidates():
    train = [["q", "old"], ["q", "new"], ["other", "old"]]
    # By timestamp, session 0 is the latest although it comes first in the table.
    stamped = SessionKNN(sample_size=1, k=5).fit(table(train, last_seen=[300, 100, 200]))
    assert item_score(stamped, ["q"], "old") > 0
    assert item_score(stamped, ["q"], "new") == 0
    # Without timestamps, later sessions in the table are the more recent ones.
    by_order = SessionKNN(sample_size=1, k=5).fit(table(train))
    assert item_score(by_order, ["q"], "new") > 0
    assert item_score(by_order, ["q"], "old") == 0
    # With room for both, both vote equally (same similarity, same positions).
    both = SessionKNN(sample_size=2, k=5, idf_weighting=0).fit(table(train))
    assert item_score(both, ["q"], "old") == pytest.approx(item_score(both, ["q"], "new"))


def test_k_keeps_the_most_similar_neighbours():
    train = [["a", "b", "n1"], ["a", "n2"], ["b", "n3"]]
    model = SessionKNN(k=1, position_lambda=None, idf_weighting=0).fit(table(train))
    scores = model.score(session_queries(model, [["a", "b"]]))[0]
    voted = set(model.index.decode(np.flatnonzero(scores > 0)).tolist())
    assert voted == {"a", "b", "n1"}  # session 0 shares two items; the others one


def test_idf_weighting_lowers_a_ubiquitous_item():
    train = [["a", "u"], ["a", "v"]] + [["u", f"w{i}"] for i in range(8)]
    plain = SessionKNN(idf_weighting=0).fit(table(train))
    assert item_score(plain, ["a"], "u") == pytest.approx(item_score(plain, ["a"], "v"))
    assert ranked(plain, ["a"], 2) == ["a", "u"]  # tie broken by popularity
    weighted = SessionKNN(idf_weighting=1).fit(table(train))
    # idf = log(10 sessions / clicks): u has 9 clicks, v 1.
    u, v = item_score(weighted, ["a"], "u"), item_score(weighted, ["a"], "v")
    assert v / u == pytest.approx((1 + math.log(10)) / (1 + math.log(10 / 9)))
    assert ranked(weighted, ["a"], 2) == ["a", "v"]


def test_weighting_score_favours_neighbours_of_the_latest_item():
    train = [["a", "from_a"], ["b", "from_b"]]
    model = SessionKNN(
        weighting="same", weighting_score="div", position_lambda=None, idf_weighting=0
    ).fit(table(train))
    # Query a, b: b is 1 click back (weight 1), a is 2 clicks back (weight 1/2).
    assert item_score(model, ["a", "b"], "from_b") == pytest.approx(1.0)
    assert item_score(model, ["a", "b"], "from_a") == pytest.approx(0.5)


def test_position_lambda_favours_items_near_the_shared_item():
    train = [["far", "mid", "a", "near"]]
    model = SessionKNN(position_lambda=1.0, idf_weighting=0).fit(table(train))
    scores = {item: item_score(model, ["a"], item) for item in ("near", "mid", "far")}
    assert scores["near"] == pytest.approx(math.exp(-1))
    assert scores["mid"] == pytest.approx(math.exp(-1))
    assert scores["far"] == pytest.approx(math.exp(-2))


def test_unknown_items_are_ignored_and_unknown_sessions_get_popular_items():
    train = [["a", "b"], ["a", "b"], ["c", "d"]]
    model = SessionKNN().fit(table(train))
    assert ranked(model, ["zzz"], 2) == ["a", "b"]  # popularity backfill
    assert item_score(model, ["c", "zzz"], "d") > 0  # the known item still finds neighbours
    assert item_score(model, ["c", "zzz"], "b") == 0


def test_last_item_context_is_the_window_of_one():
    rng = np.random.default_rng(3)
    train = [list(rng.choice(list("abcdefgh"), size=rng.integers(2, 6))) for _ in range(40)]
    test = [list(rng.choice(list("abcdefgh"), size=4)) for _ in range(10)]
    model = SessionKNN().fit(table(train))
    last_only = only_last_item(revealing_set(table(test), model.index)).queries
    window_one = SessionKNN(m=1).fit(table(train))
    full = revealing_set(table(test), model.index).queries
    np.testing.assert_allclose(model.score(last_only), window_one.score(full))


def reference_scores(model: SessionKNN, train, last_seen, session: list[str]) -> dict:
    """V-SKNN for one query, written per query with sets and dicts (for comparison)."""
    window = session if model.m is None else session[-model.m :]
    weight, step = {}, {}
    for i, item in enumerate(window, start=1):
        w = float(POSITION_WEIGHTS[model.weighting](np.array(i), np.array(len(window))))
        if item in model.index.ids and w > 0:
            weight[item], step[item] = w, len(window) - i + 1
    recency = sorted(range(len(train)), key=lambda s: (last_seen[s], s), reverse=True)
    candidates = [s for s in recency if weight.keys() & set(train[s])][: model.sample_size]
    similar = []
    for s in candidates:
        sim = sum(weight[i] for i in weight.keys() & set(train[s]))
        if model.similarity == "cosine":
            norm = math.sqrt(sum(w * w for w in weight.values())) * math.sqrt(len(set(train[s])))
            sim /= norm
        similar.append((s, sim))
    neighbours = sorted(similar, key=lambda pair: -pair[1])[: model.k]  # stable: recency
    n_clicks = pd.Series([i for s in train for i in s]).value_counts()
    scores: dict[str, float] = {}
    for s, sim in neighbours:
        items = train[s]
        last_pos = {item: p for p, item in enumerate(items, start=1)}
        nearest = min(step[i] for i in weight.keys() & set(items))
        anchor = max(last_pos[i] for i in weight.keys() & set(items))
        for item, p in last_pos.items():
            value = sim * float(STEP_WEIGHTS[model.weighting_score](np.array(float(nearest))))
            if model.position_lambda is not None:
                value *= math.exp(-abs(p - anchor) / model.position_lambda)
            idf = max(math.log(len(train) / n_clicks[item]), 0.0)
            value *= 1 + model.idf_weighting * idf
            scores[item] = scores.get(item, 0.0) + value
    return scores


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"k": 3, "sample_size": 6, "m": 3},
        {"similarity": "cosine", "weighting": "quadratic", "weighting_score": "div"},
        {"weighting": "linear", "weighting_score": "log", "position_lambda": None},
        {"weighting": "log", "weighting_score": "linear", "idf_weighting": 2.5, "m": 12},
        {"weighting": "same", "weighting_score": "same", "k": 1, "sample_size": 1},
    ],
)
def test_block_scores_match_a_per_query_reference(options):
    rng = np.random.default_rng(7)
    alphabet = list("abcdefghijkl")
    train = [list(rng.choice(alphabet, size=rng.integers(2, 7))) for _ in range(60)]
    last_seen = rng.permutation(60).tolist()
    queries = [list(rng.choice([*alphabet, "new"], size=rng.integers(1, 14))) for _ in range(25)]
    queries = [q if q[-1] != "new" else [*q, "a"] for q in queries]
    model = SessionKNN(**options).fit(table(train, last_seen))
    scores = model.score(session_queries(model, queries))
    for row, query in enumerate(queries):
        expected = np.zeros(len(model.index))
        for item, value in reference_scores(model, train, last_seen, query).items():
            expected[model.index.encode([item])[0]] = value
        np.testing.assert_allclose(scores[row], expected, rtol=1e-9, atol=1e-12, err_msg=query)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"k": 0}, "session_knn.k = 0: expected greater than or equal to 1"),
        ({"sample_size": 2.5}, "session_knn.sample_size = 2.5: expected a whole number"),
        ({"m": 0}, "session_knn.m = 0: expected greater than or equal to 1"),
        ({"weighting": "exp"}, "session_knn.weighting = 'exp': expected 'same', 'div'"),
        ({"weighting_score": "div_score"}, "session_knn.weighting_score = 'div_score'"),
        (
            {"similarity": "jaccard"},
            "session_knn.similarity = 'jaccard': expected 'dot' or 'cosine'",
        ),
        ({"position_lambda": 0}, "session_knn.position_lambda = 0: expected greater than 0"),
        (
            {"idf_weighting": -1},
            "session_knn.idf_weighting = -1: expected greater than or equal to 0",
        ),
    ],
)
def test_bad_session_knn_options_are_named(options, message):
    with pytest.raises(ConfigError, match=message):
        build_model("session_knn", options)


def test_session_knn_is_registered_and_reports_its_params():
    model = build_model("session_knn", {"k": 50, "position_lambda": None})
    assert isinstance(model, SessionKNN) and model.uses_context
    assert model.params()["k"] == 50 and model.params()["position_lambda"] is None


# --- ItemKNN ----------------------------------------------------------------------------


def test_item_knn_similarity_is_cosine_over_sessions_without_shrinkage():
    train = [["a", "b"], ["a", "b", "c"], ["a", "c"], ["b", "d"], ["a", "a"]]
    model = ItemKNN(shrinkage=0, neighbours=0).fit(table(train))
    scores = model.score(session_queries(model, [["a"]]))[0]
    code = dict(zip(model.index.ids, range(len(model.index)), strict=True))
    # a is in 4 sessions, b in 3 (2 with a), c in 2 (2 with a), d in 1 (none with a).
    assert scores[code["b"]] == pytest.approx(2 / math.sqrt(4 * 3))
    assert scores[code["c"]] == pytest.approx(2 / math.sqrt(4 * 2))
    assert scores[code["d"]] == 0 and scores[code["a"]] == 0  # never its own neighbour


def test_item_knn_alpha_shrinkage_and_pruning():
    train = [["a", "b"], ["a", "b"], ["a", "c"]]
    model = ItemKNN(alpha=1.0, shrinkage=1.0, neighbours=1).fit(table(train))
    scores = model.score(session_queries(model, [["a"]]))[0]
    b = model.index.encode(["b"])[0]
    assert scores[b] == pytest.approx(2 / (3 + 1))  # confidence with shrinkage
    assert np.count_nonzero(scores) == 1


def test_item_knn_sums_the_recent_items_with_decay_in_session_context():
    train = [["x", "p"], ["y", "q"]]
    model = ItemKNN(shrinkage=0, context_window=2, decay=0.5).fit(table(train))
    scores = model.score(session_queries(model, [["x", "y"]]))[0]
    p, q = model.index.encode(["p", "q"])
    assert scores[q] == pytest.approx(1.0) and scores[p] == pytest.approx(0.5)
    last_only = ItemKNN(shrinkage=0, context_window=1).fit(table(train))
    assert last_only.score(session_queries(last_only, [["x", "y"]]))[0, p] == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"neighbours": -1}, "item_knn.neighbours = -1: expected greater than or equal to 0"),
        ({"alpha": 1.5}, "item_knn.alpha = 1.5: expected less than or equal to 1"),
        ({"shrinkage": "big"}, "item_knn.shrinkage = 'big': expected a number"),
        ({"context_window": 0}, "item_knn.context_window = 0: expected greater than or equal to 1"),
    ],
)
def test_bad_item_knn_options_are_named(options, message):
    with pytest.raises(ConfigError, match=message):
        build_model("item_knn", options)
