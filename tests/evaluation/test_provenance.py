"""Every result carries what it was measured on, and the report compares like with like."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from session_recs.evaluation import compare, reporting
from session_recs.evaluation.next_event import EvaluationConfig, evaluate_with_ranks
from session_recs.evaluation.provenance import (
    PROVENANCE_COLUMNS,
    RepeatEvidence,
    decide_exclude_query,
    differences,
    fingerprint,
    provenance_of,
    split_fingerprints,
)
from session_recs.models import build_model

from ..conftest import latest_version, long_sessions, run_in_process


def pairs(sessions: pd.DataFrame) -> pd.DataFrame:
    """Each session's last pair (query, target)."""
    last = sessions.groupby("session_id").tail(2)
    grouped = last.groupby("session_id")["item_id"]
    return pd.DataFrame(
        {"query_item": grouped.first(), "target_item": grouped.last()}
    ).reset_index()


TRAIN = long_sessions([["a", "b", "c"], ["a", "c", "d"], ["b", "c", "d"], ["a", "b", "d"]])
TEST = long_sessions([["a", "b", "c"], ["b", "c", "d"]])


def test_a_fingerprint_follows_the_content_and_only_the_content():
    same = TRAIN.copy()
    assert fingerprint((TRAIN, ("session_id", "item_id"))) == fingerprint(
        (same, ("session_id", "item_id"))
    )
    other = TRAIN.assign(item_id=TRAIN["item_id"].replace({"d": "e"}))
    reordered = TRAIN.iloc[::-1]
    ids_as_numbers = TRAIN.assign(item_id=TRAIN["item_id"].map({"a": 1, "b": 2, "c": 3, "d": 4}))
    prints = {
        fingerprint((frame, ("session_id", "item_id")))
        for frame in (TRAIN, other, reordered, ids_as_numbers)
    }
    assert len(prints) == 4
    assert len(fingerprint((TRAIN, ("session_id", "item_id")))) == 16


def test_split_fingerprints_tell_train_and_test_apart():
    base = split_fingerprints(TRAIN, pairs(TEST), TEST)
    other_test = long_sessions([["a", "b", "c"], ["b", "c", "a"]])
    moved = split_fingerprints(TRAIN, pairs(other_test), other_test)
    assert moved["train"] == base["train"] and moved["test"] != base["test"]


def test_repeat_evidence_counts_transitions_within_sessions_only():
    sessions = long_sessions([["a", "a", "b"], ["b", "c"], ["c"]])  # "b" ends one, starts the next
    evidence = RepeatEvidence.of(sessions)
    assert (evidence.transitions, evidence.repeats) == (3, 1)
    assert evidence.share == pytest.approx(1 / 3)
    assert decide_exclude_query("auto", sessions) == (
        False,
        "1 of 3 training transitions (33.3%) repeat the previous item, at least 1%",
    )
    never = long_sessions([["a", "b", "c"]] * 50)
    assert decide_exclude_query("auto", never) == (
        True,
        "0 of 100 training transitions (0.0%) repeat the previous item, under 1%",
    )
    assert decide_exclude_query(False, never) == (False, "set in the configuration")


def test_auto_excludes_the_query_item_where_sessions_never_repeat_it():
    """On sessions without repeats the query item is never the target: allowing it back
    costs a slot (here the most popular item's, the first), so `auto` excludes it and
    MRR doubles."""
    train = long_sessions([["a", "b"], ["a", "b"], ["b", "a"], ["a", "c"]])  # a 4, b 3, c 1
    test = long_sessions([["c", "a", "b"]])  # a -> b
    model = build_model("most_popular").fit(train)
    scores = {}
    for setting in ("auto", False):
        config = EvaluationConfig(ks=(1, 2), exclude_query=setting, n_boot=10)
        metrics, ranks = evaluate_with_ranks(model, train, pairs(test), test, config)
        mrr = metrics[(metrics["metric"] == "mrr") & (metrics["k"] == 2)]
        scores[setting] = mrr.set_index("context")["value"]
        assert set(metrics["exclude_query"]) == {setting == "auto"}
        assert set(ranks["exclude_query"]) == {setting == "auto"}
    assert scores["auto"]["last_item"] == 1.0
    assert scores[False]["last_item"] == 0.5


def test_metrics_and_ranks_carry_what_they_were_measured_on():
    model = build_model("session_knn", {"k": 3}).fit(TRAIN)
    config = EvaluationConfig(ks=(3, 2), exclude_query=True, n_boot=10)
    metrics, ranks = evaluate_with_ranks(model, TRAIN, pairs(TEST), TEST, config, dataset="mine")
    for table in (metrics, ranks):
        assert set(PROVENANCE_COLUMNS) <= set(table.columns)
        measured = provenance_of(table)
        assert measured["dataset"] == "mine"
        assert measured["ks"] == "2,3"
        assert measured["unknown_targets"] == "keep"
        assert measured["model_kind"] == "session_knn"
        options = json.loads(measured["model_options"])
        assert options["k"] == 3 and options["sample_size"] == 1000  # defaults included
        fingerprints = split_fingerprints(TRAIN, pairs(TEST), TEST)
        assert measured["train_fingerprint"] == fingerprints["train"]
        assert measured["test_fingerprint"] == fingerprints["test"]


def test_unknown_targets_drop_removes_unknown_test_items_as_session_rec_does():
    """session-rec's loader removes test events of items never seen in training, then
    reveals what is left: [a, X, b] asks a -> b once; `keep` asks a -> X and [a, X] -> b."""
    test = long_sessions([["a", "x", "b"], ["c", "d"]])
    model = build_model("markov").fit(TRAIN)
    counts = {}
    for setting in ("keep", "drop"):
        config = EvaluationConfig(
            ks=(3,), protocols=("iterative_revealing",), contexts=("session",),
            unknown_targets=setting, n_boot=10,
        )  # fmt: skip
        metrics, _ = evaluate_with_ranks(model, TRAIN, pairs(test), test, config)
        counts[setting] = int(metrics["n_queries"].iloc[0])
    assert counts == {"keep": 3, "drop": 2}


def _metrics_of(name: str, value: float, test_fingerprint: str, exclude: bool = True):
    rows = pd.DataFrame(
        {
            "protocol": "last_pair",
            "context": "session",
            "metric": ["recall", "mrr"],
            "k": 10,
            "value": [value, value / 2],
            "ci_low": [value - 0.1, value / 2 - 0.1],
            "ci_high": [value + 0.1, value / 2 + 0.1],
            "n_queries": 4,
            "predictions_per_s": 100.0,
        }
    )
    provenance = {
        "dataset": "demo",
        "train_fingerprint": "t" * 16,
        "test_fingerprint": test_fingerprint,
        "ks": "10",
        "exclude_query": exclude,
        "unknown_targets": "keep",
        "model_kind": name,
        "model_options": "{}",
    }
    ranks = pd.DataFrame(
        {"protocol": "last_pair", "context": "session", "query": np.arange(4),
         "rank": [1, 0, 2, 0]}
    ).assign(**provenance)  # fmt: skip
    return rows.assign(**provenance), ranks


CURRENT = compare.report_conditions("demo", {"train": "t" * 16, "test": "A" * 16}, True, "keep")


def test_the_report_never_puts_a_model_measured_elsewhere_in_the_same_table():
    here, here_ranks = _metrics_of("markov", 0.5, "A" * 16)
    other, other_ranks = _metrics_of("item_knn", 0.9, "B" * 16)
    setting, setting_ranks = _metrics_of("stan", 0.8, "A" * 16, exclude=False)
    comparison = compare.compile_comparison(
        {"markov": here, "item_knn": other, "stan": setting, "old": here.drop(
            columns=list(PROVENANCE_COLUMNS))},
        CURRENT,
    )  # fmt: skip
    tables = compare.comparison_tables(comparison, 10)
    assert list(tables["last_pair", "session"].index) == ["markov"]
    assert compare.measured_elsewhere(comparison) == {
        "item_knn": "test queries of another split",
        "stan": "exclude_query false (now true)",
        "old": "no record of what it was measured on (saved by an older session-recs)",
    }
    tests = compare.paired_tests(
        {"markov": here_ranks, "item_knn": other_ranks, "stan": setting_ranks}, 10,
        conditions=CURRENT,
    )  # fmt: skip
    assert set(tests["model"]) == {"markov"}
    text = reporting.comparison_markdown(
        comparison, 10, {}, "t", commands={"item_knn": "kedro run --namespaces=item_knn"}
    )
    assert "## Measured on other data or settings (not compared)" in text
    assert "| item_knn | test queries of another split | `kedro run --namespaces=item_knn` |" in (
        re.sub(" +", " ", text)
    )
    assert compare.leaders(comparison, 10)[1].startswith("  1. markov")


def test_without_conditions_nothing_is_set_apart():
    here, _ = _metrics_of("markov", 0.5, "A" * 16)
    comparison = compare.compile_comparison({"markov": here, "x": None})
    assert compare.measured_elsewhere(comparison) == {}
    assert differences(provenance_of(here), CURRENT) == []


@pytest.mark.slow
def test_a_model_scored_on_another_split_leaves_the_reports_tables(project):
    """The issue's sequence: a run, a one-off split, one model on it, then the report."""
    first = run_in_process(
        project, "run", "--pipelines=baseline", "--namespaces=most_popular,markov"
    )
    assert first.exit_code == 0, first.output
    for args in (
        ("run", "--pipelines=split", "--params=split.seed=5"),
        ("run", "--pipelines=baseline", "--namespaces=markov"),
        ("run", "--pipelines=report"),
    ):
        result = run_in_process(project, *args)
        assert result.exit_code == 0, result.output
    reports = project / "data/08_reporting/demo"
    text = latest_version(reports / "model_comparison.md").read_text()
    tables, _, apart = text.partition("## Measured on other data or settings")
    assert "| markov " in tables and "| most_popular " not in tables
    assert "| most_popular | test queries of another split |" in re.sub(" +", " ", apart)
    assert "seed 5" in text and "exclude_query true (set in the configuration)" in text
    significance = pd.read_parquet(latest_version(reports / "model_significance.parquet"))
    assert set(significance["model"]) == {"markov"}


def test_the_report_says_when_its_profile_describes_another_split():
    """A run killed between the split's saves and the profile's: the header says so."""
    from session_recs.pipelines.report.nodes import run_metadata

    conditions = {**CURRENT, "settings": "last_pair protocol"}
    profile = {
        "split": {"strategy": "ff19", "test_size": 150, "seed": 5, "all_final_pairs": False},
        "train": {"sessions": 901},
        "test": {"pairs": 150, "sessions": 150},
        "fingerprints": {"train": "t" * 16, "test": "A" * 16},
    }
    header = run_metadata("demo", None, conditions, profile)
    assert header["split"].startswith(
        "ff19 (test_size 150, seed 5, all_final_pairs false); 901 training sessions, "
        "150 test pairs from 150 sessions"
    )
    stale = {**profile, "fingerprints": {"train": "t" * 16, "test": "B" * 16}}
    assert (
        "the dataset profile below describes another split"
        in (run_metadata("demo", None, conditions, stale)["split"])
    )


def test_a_model_not_measured_at_the_reports_k_is_listed_not_dropped():
    here, _ = _metrics_of("markov", 0.5, "A" * 16)
    other, _ = _metrics_of("stan", 0.6, "A" * 16)
    comparison = compare.compile_comparison({"markov": here, "stan": other.assign(k=5)}, CURRENT)
    assert list(compare.comparison_tables(comparison, 10)["last_pair", "session"].index) == [
        "markov"
    ]
    apart = compare.elsewhere_table(comparison, {"stan": "kedro run ..."}, 10)
    assert apart.loc["stan", "what differs"] == "not measured at K=10 (evaluation.ks was [5])"
    assert "not measured at K=10" in reporting.comparison_markdown(comparison, 10, {}, "t")
