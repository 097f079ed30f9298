"""The report's charts and the numbers they draw, on hand-built tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from session_recs.evaluation import breakdown, charts, compare, search_results


def metrics(values: dict[str, dict[int, float]], context: str = "session") -> pd.DataFrame:
    """A metrics table: ``values[metric][k]``; intervals +-0.01."""
    rows = [
        {"protocol": "last_pair", "context": context, "metric": metric, "k": k,
         "value": value, "ci_low": value - 0.01, "ci_high": value + 0.01, "n_queries": 100,
         "predictions_per_s": 10.0}
        for metric, by_k in values.items()
        for k, value in by_k.items()
    ]  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture
def comparison() -> pd.DataFrame:
    return compare.compile_comparison(
        {
            "popular": metrics(
                {"recall": {5: 0.1, 10: 0.2, 20: 0.3}, "mrr": {5: 0.05, 10: 0.06, 20: 0.07},
                 "ndcg": {5: 0.07, 10: 0.1, 20: 0.12}, "coverage": {5: 0.01, 10: 0.02, 20: 0.03},
                 "popularity": {5: 0.9, 10: 0.8, 20: 0.7}}
            ),
            "rules": metrics(
                {"recall": {5: 0.3, 10: 0.4, 20: 0.5}, "mrr": {5: 0.2, 10: 0.21, 20: 0.22},
                 "ndcg": {5: 0.25, 10: 0.28, 20: 0.3}, "coverage": {5: 0.4, 10: 0.5, 20: 0.6},
                 "popularity": {5: 0.1, 10: 0.09, 20: 0.08}}
            ),
            "gru4rec": None,
        }
    )  # fmt: skip


def test_metrics_across_k_draw_every_k_per_metric_and_model(comparison):
    figure = charts.metrics_by_k_chart(comparison)
    traces = {(t.name, t.yaxis): t for t in figure.data}
    assert len(figure.data) == 6  # 2 models x recall, MRR, NDCG (one context)
    rules_recall = traces["rules", "y"]
    assert list(rules_recall.x) == [5, 10, 20]
    assert list(rules_recall.y) == pytest.approx([0.3, 0.4, 0.5])
    assert list(rules_recall.error_y.array) == pytest.approx([0.01] * 3)
    assert list(traces["popular", "y3"].y) == pytest.approx([0.07, 0.1, 0.12])  # NDCG row
    assert [t.showlegend is not False for t in figure.data].count(True) == 2  # one a model
    assert figure.layout.yaxis3.title.text == "NDCG@K"


def test_accuracy_against_coverage_and_popularity_is_one_point_per_model(comparison):
    figure = charts.tradeoff_chart(comparison, 10)
    points = {(t.name, t.xaxis): (t.x[0], t.y[0]) for t in figure.data}
    assert points == {
        ("popular", "x"): (0.02, 0.2), ("rules", "x"): (0.5, 0.4),
        ("popular", "x2"): (0.8, 0.2), ("rules", "x2"): (0.09, 0.4),
    }  # fmt: skip
    assert figure.layout.xaxis.title.text == "coverage@10"
    assert figure.layout.xaxis2.title.text == "popularity@10"
    symbols = {t.name: (t.marker.color, t.marker.symbol) for t in figure.data}
    assert len(set(symbols.values())) == 2


def ranks(rank: list[int], seen: list[int], protocol: str = "iterative_revealing") -> pd.DataFrame:
    return pd.DataFrame(
        {"protocol": protocol, "context": "session", "query": range(len(rank)), "rank": rank,
         "seen": seen}
    )  # fmt: skip


def test_accuracy_by_items_seen_buckets_the_queries_by_position():
    assert breakdown.bucket_labels() == [
        "1", "2", "3", "4", "5-6", "7-9", "10-14", "15-19", "20-29", "30-49", "50+"
    ]  # fmt: skip
    table = breakdown.by_items_seen(
        {
            # positions 1, 1, 2, 5, 6, 60: hits at rank 1, 4, miss, 2, rank 11 (> k), 5
            "a": ranks([1, 4, 0, 2, 11, 5], [1, 1, 2, 5, 6, 60]),
            "old": ranks([1], [1]).drop(columns="seen"),  # saved before positions were
            "none": None,
        },
        k=10,
    )
    assert set(table["model"]) == {"a"}
    rows = table.set_index("seen")
    assert rows["n_queries"].to_dict() == {"1": 2, "2": 1, "5-6": 2, "50+": 1}
    assert rows.loc["1", "recall"] == 1.0 and rows.loc["1", "mrr"] == pytest.approx(0.625)
    assert rows.loc["2", "recall"] == 0.0
    assert rows.loc["5-6", "recall"] == 0.5 and rows.loc["5-6", "mrr"] == 0.25
    assert rows.loc["50+", "mrr"] == pytest.approx(0.2)
    figure = charts.by_items_seen_chart(table)
    recall = figure.data[0]
    assert list(recall.x) == ["1", "2", "5-6", "50+"]
    assert list(recall.y) == pytest.approx([1.0, 0.0, 0.5, 1.0])
    assert list(recall.customdata) == [2, 1, 2, 1]
    assert figure.layout.xaxis.title.text == "position in the session (items seen)"
    assert figure.layout.annotations[1].text == "iterative_revealing, session context: MRR@10"
    last_pair = breakdown.by_items_seen({"a": ranks([1], [3], "last_pair")}, k=10)
    axis = charts.by_items_seen_chart(last_pair).layout.xaxis.title.text
    assert axis == "test session length (items before the last one)"
    assert charts.by_items_seen_chart(None).layout.annotations[0].text.startswith("No per-query")


def test_the_report_charts_name_the_models_evaluated_before_positions_were_saved(comparison):
    table = breakdown.by_items_seen({"rules": ranks([1], [1], "last_pair")}, k=10)
    shown = charts.report_charts(comparison, 10, {}, table)
    assert [c.key for c in shown] == ["recall", "by-k", "tradeoff", "by-seen"]
    assert shown[-1].caption.endswith("re-run them): popular.")
    assert shown[1].caption.startswith("Every K measured (5, 10, 20);")


def trials(window: list[int], complete: bool = True) -> pd.DataFrame:
    return pd.DataFrame(
        {"trial_id": [f"t{i}" for i in range(len(window))], "status": "TERMINATED",
         "config/window": window, "config/alpha": [0.025] * len(window),
         "last_val_recall_at_10": np.linspace(0.1, 0.2, len(window)),
         "wall_s": 60.0, "search_complete": complete}
    )  # fmt: skip


def with_options(options: str) -> pd.DataFrame:
    return compare.compile_comparison(
        {"word2vec_search": metrics({"recall": {10: 0.3}}).assign(model_options=options)}
    )


def test_the_report_claims_a_refit_only_when_its_metrics_come_from_the_search():
    refitted = with_options('{"alpha": 0.025, "window": 7, "workers": 1}')
    text, _ = search_results.search_lines(trials([3, 7]), refitted)
    assert "The best configuration is trained and tested as `word2vec_search` above." in text
    # Metrics of another configuration (an earlier search's, or model.options'): no claim.
    other = with_options('{"alpha": 0.025, "window": 5, "workers": 1}')
    text, _ = search_results.search_lines(trials([3, 7]), other)
    assert "trained and tested as" not in text
    assert "has not been trained and tested yet" in text
    assert "--namespaces=word2vec_search" in text
    # No metrics at all; or a search stopped before the end, which nothing refits.
    assert "trained and tested as" not in search_results.search_lines(trials([3, 7]))[0]
    stopped, _ = search_results.search_lines(trials([3, 7], complete=False), refitted)
    assert "trained and tested as" not in stopped
    assert "nothing was refitted from it" in stopped


def test_presets_ending_in_tuned_are_named_as_not_run():
    comparison = compare.compile_comparison(
        {
            "word2vec_ff19_tuned": None,
            "markov_tuned": None,
            "markov": metrics({"recall": {10: 0.2}}),
        }
    )
    # word2vec_ff19_tuned is FF19's preset (trained by train_w2v), markov_tuned a refit
    # that only a search of markov makes.
    assert compare.not_run(comparison) == ["word2vec_ff19_tuned"]


def test_a_report_of_every_model_under_both_protocols_stays_one_file_under_5_mb():
    from session_recs.evaluation import reporting
    from session_recs.pipelines.namespaces import MODEL_NAMESPACES

    rng = np.random.default_rng(0)
    tables, ranked = {}, {}
    for name in MODEL_NAMESPACES:  # every namespace (27), measured at 3 Ks in 4 settings
        values = {m: {k: float(rng.random()) for k in (5, 10, 20)} for m in
                  ("recall", "mrr", "ndcg", "coverage", "popularity")}  # fmt: skip
        tables[name] = pd.concat(
            metrics(values, context).assign(protocol=protocol)
            for protocol in ("last_pair", "iterative_revealing")
            for context in ("last_item", "session")
        )
        ranked[name] = pd.concat(
            ranks(list(rng.integers(0, 20, 500)), list(rng.integers(1, 80, 500)), protocol).assign(
                context=context
            )
            for protocol in ("last_pair", "iterative_revealing")
            for context in ("last_item", "session")
        )
    comparison = compare.compile_comparison(tables)
    shown = charts.report_charts(comparison, 10, {}, breakdown.by_items_seen(ranked, 10))
    page = reporting.comparison_html(comparison, 10, {}, "t", charts=shown)
    size = len(page.encode("utf-8"))
    assert 4_000_000 < size < 5_000_000, size  # plotly.js (about 4.6 MB) once, and the charts
    assert page.count("<script") == 5 and "<script src" not in page
    assert len(shown[1].figure.data) == len(MODEL_NAMESPACES) * 3 * 4  # model x metric x setting


def test_a_refit_of_a_trial_stopped_early_keeps_the_epochs_it_ran():
    table = trials([3, 7]).assign(**{"config/epochs": 10, "epochs_planned": 10, "epochs_run": 4})
    refit = with_options('{"alpha": 0.025, "window": 7, "epochs": 4}')
    assert search_results.refit_of_search(table, refit, "word2vec_search")
    other = with_options('{"alpha": 0.025, "window": 7, "epochs": 6}')
    assert not search_results.refit_of_search(table, other, "word2vec_search")
