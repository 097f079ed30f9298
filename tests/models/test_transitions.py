"""Pair-counting models and the shared recommend() on hand-built sessions."""

import collections
import itertools

import numpy as np
import pandas as pd
import pytest

from session_recs.core.errors import ConfigError, DataValidationError
from session_recs.evaluation.next_event import pair_set
from session_recs.models import build_model
from session_recs.models.transitions import (
    AssociationRules,
    MarkovChain,
    MostPopular,
    SequentialRules,
)

from ..conftest import long_sessions


def queries(model, items: list[str]):
    pairs = pd.DataFrame(
        {"session_id": range(len(items)), "query_item": items, "target_item": items}
    )
    return pair_set(pairs, model.index).queries


def top(model, item: str, k: int, **kwargs) -> list[str]:
    recs = model.recommend(queries(model, [item]), k, **kwargs)
    return model.index.decode(recs.items[0]).tolist()


TRAIN = [["a", "b", "c"], ["a", "b", "d"], ["b", "c"], ["a", "c", "b"], ["e", "a"]]


def test_markov_counts_direct_successors():
    model = MarkovChain().fit(long_sessions(TRAIN))
    assert top(model, "a", 2) == ["b", "c"]  # a→b twice, a→c once
    scores = model.recommend(queries(model, ["a"]), 2).scores[0]
    assert scores.tolist() == [2.0, 1.0]


def test_sequential_rules_weight_by_inverse_distance():
    model = SequentialRules(steps=2, pruning=0).fit(long_sessions([["a", "b", "c"], ["a", "c"]]))
    recs = model.recommend(queries(model, ["a"]), 2)
    # a→b: 1 (distance 1); a→c: 1/2 (distance 2) + 1 (distance 1) = 1.5
    assert model.index.decode(recs.items[0]).tolist() == ["c", "b"]
    assert recs.scores[0].tolist() == [1.5, 1.0]


def test_pruning_keeps_the_strongest_rules():
    model = SequentialRules(steps=1, pruning=1).fit(
        long_sessions([["a", "b"], ["a", "b"], ["a", "c"]])
    )
    assert model.matrix[model.index.encode(["a"])[0]].nnz == 1


def ff19_reference(train: list[list[str]], query: str, k: int) -> list[str]:
    """FF19's own algorithm (permutations + Counter.most_common), for comparison."""
    pairs = collections.defaultdict(list)
    for session in train:
        for x, y in itertools.permutations(session, 2):
            pairs[x].append(y)
    return [item for item, _ in collections.Counter(pairs[query]).most_common(k)]


def test_association_rules_ff19_mode_matches_ff19_exactly_with_ties_and_self_pairs():
    rng = np.random.default_rng(5)
    train = [list(rng.choice(list("abcdefgh"), size=rng.integers(2, 9))) for _ in range(40)]
    model = AssociationRules(mode="ff19").fit(long_sessions(train))
    for query in "abcdefgh":
        k = min(5, len(ff19_reference(train, query, 99)))
        assert top(model, query, k) == ff19_reference(train, query, k), query


def test_association_rules_clean_mode_drops_self_pairs():
    train = [["a", "a", "b"], ["a", "c"]]
    ff19 = AssociationRules(mode="ff19").fit(long_sessions(train))
    clean = AssociationRules(mode="clean").fit(long_sessions(train))
    assert top(ff19, "a", 3) == ["a", "b", "c"]  # a co-occurs with itself twice
    assert top(clean, "a", 2) == ["b", "c"]
    assert "a" not in top(clean, "a", 3, exclude_query=False)[:2]


def test_pruned_and_lazy_association_rules_agree():
    rng = np.random.default_rng(1)
    train = [list(rng.choice(list("abcdefghij"), size=6)) for _ in range(30)]
    lazy = AssociationRules(pruning=0).fit(long_sessions(train))
    full = AssociationRules(pruning=100).fit(long_sessions(train))
    q = queries(lazy, list("abcdefghij"))
    np.testing.assert_allclose(lazy.score(q), full.score(q))


def test_unknown_query_gets_most_popular_items_and_query_is_excluded():
    model = MarkovChain().fit(long_sessions(TRAIN))
    assert top(model, "zzz", 3) == ["a", "b", "c"]  # counts a=4, b=4, c=3: popularity
    popular = MostPopular().fit(long_sessions(TRAIN))
    assert top(popular, "a", 2) == ["b", "c"]
    assert top(popular, "a", 2, exclude_query=False) == ["a", "b"]


def test_rows_without_enough_evidence_are_backfilled_by_popularity():
    model = MarkovChain().fit(long_sessions(TRAIN))
    # e→a only; then the most popular remaining items
    assert top(model, "e", 3) == ["a", "b", "c"]


def test_session_context_adds_earlier_items_with_decay():
    model = MarkovChain(context_window=2, decay=0.5).fit(
        long_sessions([["x", "p"], ["y", "q"], ["y", "q"]])
    )
    pairs = pd.DataFrame({"session_id": [0], "query_item": ["y"], "target_item": ["?"]})
    context = pd.DataFrame({"session_id": [0, 0], "position": [0, 1], "item_id": ["x", "y"]})
    q = pair_set(pairs, model.index, context).queries
    scores = model.score(q)[0]
    assert scores[model.index.encode(["q"])[0]] == 2.0
    assert scores[model.index.encode(["p"])[0]] == 0.5


def test_empty_training_set_and_bad_options_are_clear_errors():
    with pytest.raises(DataValidationError, match="training sessions are empty"):
        MarkovChain().fit(long_sessions([]))
    with pytest.raises(
        ConfigError, match="sequential_rules.steps = 0: expected greater than or equal to 1"
    ):
        SequentialRules(steps=0)
    with pytest.raises(
        ConfigError, match="association_rules.mode = '.*': expected 'clean' or 'ff19'"
    ):
        AssociationRules(mode="fast")
    with pytest.raises(ConfigError, match=r"Unknown option\(s\) \['window'\]"):
        build_model("markov", {"window": 3})
    with pytest.raises(ConfigError, match="Unknown model kind 'narm'"):
        build_model("narm")
    with pytest.raises(ConfigError, match="not fitted"):
        MarkovChain().recommend(None, 3)
    model = MarkovChain().fit(long_sessions(TRAIN))
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        model.recommend(queries(model, ["a"]), 0)


def test_backward_rules_count_at_a_fraction_of_the_weight():
    model = SequentialRules(steps=1, pruning=0, backward_weight=0.25).fit(
        long_sessions([["a", "b"]])
    )
    b_scores = model.score(queries(model, ["b"]))[0]
    assert b_scores[model.index.encode(["a"])[0]] == 0.25


def test_history_weight_favours_items_already_in_the_session():
    model = MarkovChain(history_weight=0.5, history_decay=1.0).fit(
        long_sessions([["y", "p"], ["y", "p"], ["y", "h"]])
    )
    pairs = pd.DataFrame({"session_id": [0], "query_item": ["y"], "target_item": ["?"]})
    context = pd.DataFrame({"session_id": [0, 0], "position": [0, 1], "item_id": ["h", "y"]})
    with_history = pair_set(pairs, model.index, context).queries
    without = pair_set(pairs, model.index).queries
    # rules alone: p (2) > h (1); scaled to p=1, h=0.5, plus 0.5 for h in the session
    assert model.index.decode(model.recommend(without, 1).items[0]).tolist() == ["p"]
    scores = model.score(with_history)[0]
    assert scores[model.index.encode(["h"])[0]] == pytest.approx(1.0)
    assert scores[model.index.encode(["p"])[0]] == pytest.approx(1.0)
