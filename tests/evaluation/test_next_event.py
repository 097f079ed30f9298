"""Metrics and query construction on hand-built cases with known answers."""

import numpy as np
import pandas as pd
import pytest

from session_recs.core.errors import ConfigError
from session_recs.core.metrics import bootstrap_intervals, per_query_metrics, target_ranks
from session_recs.evaluation.next_event import (
    EvaluationConfig,
    evaluate_model,
    pair_set,
    revealing_set,
    summarize,
)
from session_recs.models.base import ItemIndex
from session_recs.models.ranking import top_k
from session_recs.models.transitions import MarkovChain


def test_ranks_hits_at_one_at_k_and_misses():
    recommended = np.array([[3, 1, 2], [1, 2, 3], [1, 2, 3], [4, 5, 6]])
    targets = np.array([3, 3, 9, -1])  # rank 1, rank 3, miss, unknown target
    ranks = target_ranks(recommended, targets)
    assert ranks.tolist() == [1, 3, 0, 0]
    metrics = per_query_metrics(ranks, [1, 3])
    assert metrics["recall", 1].tolist() == [1, 0, 0, 0]
    assert metrics["recall", 3].tolist() == [1, 1, 0, 0]
    assert metrics["mrr", 3].tolist() == pytest.approx([1, 1 / 3, 0, 0])
    assert metrics["ndcg", 3].tolist() == pytest.approx([1, 1 / np.log2(4), 0, 0])


def test_summary_values_coverage_and_popularity():
    recommended = np.array([[0, 1], [0, 2]])
    popularity = np.array([10.0, 5.0, 5.0, 1.0])
    table = summarize(recommended, np.array([0, 2]), [1, 2], popularity, n_boot=200)
    value = table.set_index(["metric", "k"])["value"]
    assert value["recall", 1] == 0.5 and value["recall", 2] == 1.0
    assert value["mrr", 2] == pytest.approx(0.75)
    assert value["coverage", 1] == 0.25 and value["coverage", 2] == 0.75
    assert value["popularity", 1] == 1.0 and value["popularity", 2] == pytest.approx(0.75)


def test_bootstrap_interval_brackets_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small = (rng.random(100) < 0.3).astype(float)[None, :]
    large = (rng.random(10_000) < 0.3).astype(float)[None, :]
    lo_s, hi_s = bootstrap_intervals(small)
    lo_l, hi_l = bootstrap_intervals(large)
    assert lo_s[0] < small.mean() < hi_s[0]
    assert lo_l[0] < large.mean() < hi_l[0]
    assert (hi_l - lo_l)[0] < (hi_s - lo_s)[0] / 5
    # binomial standard error: 1.96 * sqrt(p(1-p)/n) ~ 0.009 for n=10,000
    assert (hi_l - lo_l)[0] == pytest.approx(2 * 1.96 * np.sqrt(0.3 * 0.7 / 10_000), rel=0.15)


def test_top_k_breaks_ties_by_rank_and_orders_best_first():
    scores = np.array([[1.0, 3.0, 3.0, 2.0, 3.0]])
    assert top_k(scores, 2, np.array([0, 4, 1, 2, 3])).tolist() == [[2, 4]]
    assert top_k(scores, 4, np.array([0, 4, 1, 2, 3])).tolist() == [[2, 4, 1, 3]]


def test_revealing_set_predicts_every_next_item_from_its_prefix():
    index = ItemIndex(np.array(["a", "b", "c"], dtype=object))
    sessions = pd.DataFrame(
        {
            "session_id": [0, 0, 0, 1, 1],
            "position": [0, 1, 2, 0, 1],
            "item_id": ["a", "b", "c", "c", "x"],
        }
    )
    evaluation = revealing_set(sessions, index)
    assert evaluation.targets.tolist() == [1, 2, -1]
    assert evaluation.queries.last_item.tolist() == [0, 1, 2]
    context = evaluation.queries.context
    assert [
        context.items[a:b].tolist() for a, b in zip(context.starts, context.stops, strict=True)
    ] == [
        [0],
        [0, 1],
        [2],
    ]


def test_pair_set_context_comes_from_the_session_prefix():
    index = ItemIndex(np.array(["a", "b", "c"], dtype=object))
    pairs = pd.DataFrame(
        {"session_id": [7, 8], "query_item": ["b", "c"], "target_item": ["c", "a"]}
    )
    prefixes = pd.DataFrame({"session_id": [7, 7], "position": [0, 1], "item_id": ["a", "b"]})
    evaluation = pair_set(pairs, index, prefixes)
    context = evaluation.queries.context
    # session 8 has no prefix: its context is just its query item
    assert [
        context.items[a:b].tolist() for a, b in zip(context.starts, context.stops, strict=True)
    ] == [
        [0, 1],
        [2],
    ]


def test_evaluate_model_end_to_end_on_a_chain():
    train = pd.DataFrame(
        {
            "session_id": np.repeat(np.arange(20), 3),
            "position": np.tile([0, 1, 2], 20),
            "item_id": list("abc") * 20,
        }
    )
    model = MarkovChain().fit(train)
    test_sessions = pd.DataFrame(
        {"session_id": [0, 0, 0], "position": [0, 1, 2], "item_id": ["a", "b", "c"]}
    )
    test_pairs = pd.DataFrame({"session_id": [0], "query_item": ["b"], "target_item": ["c"]})
    config = EvaluationConfig(ks=(1,), protocols=("last_pair", "iterative_revealing"), n_boot=50)
    table = evaluate_model(model, train, test_pairs, test_sessions, config)
    recall = table[table.metric == "recall"].set_index(["protocol", "context"])["value"]
    assert (recall == 1.0).all() and len(recall) == 4


def test_bad_evaluation_parameters_are_named():
    with pytest.raises(ConfigError, match="evaluation.ks.0 = 0: expected greater than"):
        EvaluationConfig.model_validate({"ks": [0]})
    with pytest.raises(ConfigError, match="evaluation.protocols.0 = 'leave_one_out'"):
        EvaluationConfig.model_validate({"protocols": ["leave_one_out"]})
    with pytest.raises(ConfigError, match="evaluation.n_boot = -1: expected greater than"):
        EvaluationConfig.model_validate({"n_boot": -1})
    with pytest.raises(ConfigError, match="evaluation.k: unknown setting"):
        EvaluationConfig.model_validate({"k": 10})


def test_unknown_targets_keep_counts_misses_and_drop_leaves_them_out():
    from session_recs.evaluation.next_event import evaluate_model
    from session_recs.models.transitions import MarkovChain

    train = pd.DataFrame(
        {"session_id": [0, 0, 1, 1], "position": [0, 1, 0, 1], "item_id": ["a", "b", "a", "b"]}
    )
    # Two test pairs: a→b (known target) and a→z (z never seen in training).
    pairs = pd.DataFrame(
        {"session_id": [10, 11], "query_item": ["a", "a"], "target_item": ["b", "z"]}
    )
    sessions = pd.DataFrame(
        {"session_id": [10, 10, 11, 11], "position": [0, 1, 0, 1], "item_id": ["a", "b", "a", "z"]}
    )
    model = MarkovChain().fit(train)

    def recall(unknown_targets: str) -> tuple[float, int]:
        config = EvaluationConfig(
            ks=(1,), contexts=("last_item",), unknown_targets=unknown_targets, n_boot=10
        )
        table = evaluate_model(model, train, pairs, sessions, config)
        row = table[table.metric == "recall"].iloc[0]
        return row["value"], row["n_queries"]

    assert recall("keep") == (0.5, 2)
    assert recall("drop") == (1.0, 1)


def test_each_query_rank_says_how_many_items_of_its_session_were_seen():
    from session_recs.evaluation.next_event import evaluate_with_ranks

    train = pd.DataFrame(
        {
            "session_id": np.repeat(np.arange(20), 4),
            "position": np.tile([0, 1, 2, 3], 20),
            "item_id": list("abcd") * 20,
        }
    )
    model = MarkovChain().fit(train)
    # Sessions of 3 and 4 events: revealed, they ask 2 and 3 queries after 1, 2(, 3) items;
    # their last pairs ask after 2 and 3 items (the session without its last event).
    test_sessions = pd.DataFrame(
        {
            "session_id": [7, 7, 7, 8, 8, 8, 8],
            "position": [0, 1, 2, 0, 1, 2, 3],
            "item_id": list("abc") + list("abcd"),
        }
    )
    test_pairs = pd.DataFrame(
        {"session_id": [7, 8], "query_item": ["b", "c"], "target_item": ["c", "d"]}
    )
    config = EvaluationConfig(ks=(1,), protocols=("last_pair", "iterative_revealing"), n_boot=5)
    _, ranks = evaluate_with_ranks(model, train, test_pairs, test_sessions, config)
    seen = ranks.groupby(["protocol", "context"], sort=False)["seen"].agg(list).to_dict()
    assert seen["last_pair", "session"] == seen["last_pair", "last_item"] == [2, 3]
    revealed = [1, 2, 1, 2, 3]
    assert seen["iterative_revealing", "session"] == revealed
    assert seen["iterative_revealing", "last_item"] == revealed  # the same queries, in order
    assert (ranks["rank"] == 1).all()
