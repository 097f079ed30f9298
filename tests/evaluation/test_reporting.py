"""The report's tables: comparison, published numbers next to ours, search summary."""

from __future__ import annotations

import pandas as pd
import pytest

from session_recs.evaluation import compare, plotly_theme, reporting, search_results


def metrics_table(recall: float, mrr: float, protocol="last_pair", context="last_item"):
    rows = []
    for metric, value in (("recall", recall), ("mrr", mrr), ("ndcg", (recall + mrr) / 2)):
        rows.append(
            {
                "protocol": protocol,
                "context": context,
                "metric": metric,
                "k": 10,
                "value": value,
                "ci_low": value - 0.01,
                "ci_high": value + 0.01,
                "n_queries": 1000,
                "predictions_per_s": 12345.0,
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture
def comparison() -> pd.DataFrame:
    return compare.compile_comparison(
        {
            "association_rules_ff19": metrics_table(0.146, 0.0683),
            "sequential_rules": metrics_table(0.275, 0.156),
            "word2vec_search": None,
        }
    )


def test_models_without_metrics_are_listed_as_not_run(comparison):
    measured = compare.measured(comparison)
    assert set(measured["model"]) == {"association_rules_ff19", "sequential_rules"}
    assert compare.not_run(comparison) == ["word2vec_search"]
    assert list(comparison.columns[:3]) == ["model", "protocol", "context"]
    nothing = compare.compile_comparison({"word2vec_search": None, "markov": None})
    markdown = reporting.comparison_markdown(nothing, 10, {}, "t")
    assert "No model has metrics" in markdown
    assert "Not run yet: word2vec_search, markov." in markdown
    assert reporting.comparison_figure(nothing, 10, {}) is not None


def test_tables_rank_models_by_recall_with_intervals(comparison):
    (key, table), *_ = compare.comparison_tables(comparison, 10).items()
    assert key == ("last_pair", "last_item")
    assert list(table.index) == ["sequential_rules", "association_rules_ff19"]
    assert table.loc["sequential_rules", "recall@10"] == "0.275 [0.265, 0.285]"
    assert table.loc["association_rules_ff19", "mrr@10"] == "0.068 [0.058, 0.078]"
    assert table.loc["sequential_rules", "predictions/s"] == "12,345"


def test_published_numbers_sit_next_to_ours_under_the_same_protocol(comparison):
    references = {
        "protocol": "last_pair",
        "context": "last_item",
        "models": {
            "AR (FF19)": {"recall": 0.142, "ours": "association_rules_ff19"},
            "w2v tuned (FF19)": {"recall": 0.252, "ours": "word2vec_search"},
            "GRU4Rec": {"recall": 0.3, "mrr": 0.2},
        },
    }
    table = compare.reference_table(comparison, references, 10)
    assert table.loc["AR (FF19)", "published recall@10"] == "0.142"
    assert table.loc["AR (FF19)", "ours recall@10"] == "0.146 [0.136, 0.156]"
    # Not trained yet, or no model of ours: an empty cell, never a made-up number.
    assert table.loc["w2v tuned (FF19)", "ours recall@10"] == ""
    assert table.loc["GRU4Rec", "our model"] == ""
    assert table.loc["GRU4Rec", "published mrr@10"] == "0.200"
    # Under another protocol we have no number to show.
    other = compare.reference_table(comparison, {**references, "context": "session"}, 10)
    assert other.loc["AR (FF19)", "ours recall@10"] == ""


def test_the_search_section_shows_the_best_finished_trials(comparison):
    tune_results = pd.DataFrame(
        {
            "trial_id": ["a", "b", "c", "d"],
            "status": ["TERMINATED", "TERMINATED", "ERROR", "TERMINATED"],
            "config/window": [3, 7, 9, 5],
            "config/negative": [5, 10, 15, 2],
            "epochs_run": [10, 3, 1, 10],
            "stopped_early": [False, True, True, False],
            "last_val_recall_at_10": [0.21, 0.18, 0.5, 0.24],
            "wall_s": [1800.0, 600.0, 60.0, 1800.0],
        }
    )
    summary = search_results.search_summary(tune_results)
    assert summary["trial_id"].tolist() == ["d", "a", "b"]  # the failed trial is not ranked
    assert summary.loc[0, "window"] == 5 and summary.loc[0, "negative"] == 2
    markdown = reporting.comparison_markdown(comparison, 10, {}, "t", tune_results)
    assert "## Hyperparameter search (validation pairs)" in markdown
    assert "4 trials (2 stopped early by the scheduler), 1.18 trial-hours" in markdown
    assert search_results.search_summary(None) is None
    assert "Hyperparameter search" not in reporting.comparison_markdown(comparison, 10, {}, "t")
    html = reporting.comparison_html(comparison, 10, {}, "t", tune_results)
    assert "<h2>Hyperparameter search (validation pairs)</h2>" in html


def test_each_search_shows_its_cost_and_the_model_before_and_after():
    comparison = compare.compile_comparison(
        {
            "session_knn": metrics_table(0.300, 0.150),
            "session_knn_tuned": metrics_table(0.331, 0.171),
            "item_knn": metrics_table(0.2, 0.1),
            "item_knn_tuned": None,
        }
    )
    trials = pd.DataFrame(
        {
            "trial_id": ["a", "b", "c"],
            "status": ["TERMINATED", "TERMINATED", "INTERRUPTED"],
            "last_val_recall_at_10": [0.41, 0.44, float("nan")],
            "wall_s": [1800.0, 1800.0, 3600.0],
            "search_complete": [False, False, False],
        }
    )
    searches = {
        "session_knn": search_results.Search(trials, "session_knn", "session_knn_tuned"),
        "item_knn": search_results.Search(None, "item_knn", "item_knn_tuned"),
    }
    table = search_results.search_table(comparison, searches, 10)
    assert list(table.index) == ["session_knn"]  # a model never searched has no row
    row = table.loc["session_knn"]
    assert (row["trials"], row["trial-hours"], row["best validation"]) == ("3", "2", "0.440")
    assert row["complete"] == "no (interrupted)"
    assert row["default recall@10 (last_item)"] == "0.300 [0.290, 0.310]"
    assert row["tuned recall@10 (last_item)"] == "0.331 [0.321, 0.341]"
    markdown = reporting.comparison_markdown(comparison, 10, {}, "t", searches)
    assert "## Tuned models (test recall@10 before and after each search)" in markdown
    # Refits of searches not run are not "not run yet" models: only a search makes them.
    assert "item_knn_tuned" not in markdown
    assert "Tuned models" in reporting.comparison_html(comparison, 10, {}, "t", searches)


def ranks_table(ranks, protocol="last_pair", context="last_item") -> pd.DataFrame:
    return pd.DataFrame(
        {"protocol": protocol, "context": context, "query": range(len(ranks)), "rank": ranks}
    )


def test_each_model_is_tested_against_the_best_on_the_same_queries():
    import numpy as np

    rng = np.random.default_rng(0)
    strong = np.where(rng.random(1000) < 0.30, rng.integers(1, 11, 1000), 0)
    # The same hits but a fifth of them lost: clearly worse; a near-copy: no difference.
    weak = np.where(rng.random(1000) < 0.8, strong, 0)
    twin = strong.copy()
    twin[:3] = 0
    tests = compare.paired_tests(
        {"strong": ranks_table(strong), "weak": ranks_table(weak), "twin": ranks_table(twin),
         "not_run": None},
        k=10,
    )  # fmt: skip
    recall = tests[tests.metric == "recall"].set_index("model")
    assert (recall["best"] == "strong").all() and set(recall.index) == {"strong", "weak", "twin"}
    assert np.isnan(recall.loc["strong", "p_value"]) and recall.loc["strong", "difference"] == 0
    hits = (strong > 0).mean()
    assert recall.loc["weak", "difference"] == pytest.approx((weak > 0).mean() - hits)
    assert recall.loc["weak", "p_value"] < 0.001
    assert recall.loc["twin", "p_value"] > 0.05
    # Another number of queries (another evaluation set): no paired test.
    other = compare.paired_tests({"a": ranks_table(strong), "b": ranks_table(weak[:10])}, 10)
    assert other.loc[other.model == "b", "p_value"].isna().all()


def test_the_html_report_is_self_contained_with_marks_tests_and_metadata(comparison):
    tests = compare.paired_tests(
        {
            "sequential_rules": ranks_table([1, 2, 0, 3] * 50),
            "association_rules_ff19": ranks_table([0, 2, 0, 0] * 50),
        },
        k=10,
    )
    metadata = {"generated": "2026-12-01 10:00 UTC", "git commit": "abc1234"}
    figure = reporting.comparison_figure(comparison, 10, {})
    page = reporting.comparison_html(
        comparison, 10, {}, "t", tests=tests, metadata=metadata, figure=figure
    )
    assert "src='data:image/png;base64," in page
    for external in ("http://", "https://", "<link", "<script"):
        assert external not in page, external
    assert "git commit: abc1234" in page and "(1,000 test queries)" in page
    assert "<strong>0.275 [0.265, 0.285]</strong>" in page  # the best recall@10
    assert "recall@10 vs best (paired test)" in page and "(p &lt; 0.001)" in page
    assert "`" not in page and "<th>metric</th>" not in page
    markdown = reporting.comparison_markdown(comparison, 10, {}, "t", tests=tests)
    import re

    assert "**0.275 [0.265, 0.285]**" in markdown and re.search(r"\| best +\|", markdown)
    assert "-0.500 (p < 0.001)" in markdown
    assert "paired permutation test" in markdown


def many_models(n: int = 13) -> pd.DataFrame:
    """``n`` models measured in two contexts, recall rising with the model's number."""
    tables = {}
    for i in range(n):
        tables[f"model_{i:02d}"] = pd.concat(
            [
                metrics_table(0.1 + 0.02 * i, 0.05 + 0.01 * i, context="last_item"),
                metrics_table(0.2 + 0.02 * i, 0.1 + 0.01 * i, context="session"),
            ]
        )
    return compare.compile_comparison(tables)


def test_every_model_keeps_one_distinct_colour_in_every_panel_and_chart():
    comparison = many_models(13)
    chart = reporting.comparison_chart(comparison, 10, {})
    assert [trace.type for trace in chart.data] == ["bar", "bar"]
    looks = [
        dict(zip(t.y, zip(t.marker.color, t.marker.pattern.shape, strict=True), strict=True))
        for t in chart.data
    ]
    assert looks[0] == looks[1]  # a model's colour and hatching are the same in both panels
    assert len(set(looks[0].values())) == 13  # and no two models share both
    # Okabe-Ito's eight colours (no black): the ninth model on repeats a colour, hatched.
    assert {colour for colour, _ in looks[0].values()} == set(plotly_theme.OKABE_ITO)
    assert sorted(shape for _, shape in looks[0].values()).count("") == 8
    figure = reporting.comparison_figure(comparison, 10, {})
    png_colours = {
        bar.get_facecolor() for axes in figure.axes for bar in axes.patches
    }  # 13 models x 2 panels, 13 colours
    assert len(png_colours) == 13
    assert len(set(reporting.model_colours([f"m{i}" for i in range(48)]).values())) == 48


def test_the_interactive_chart_shows_each_panels_recall_and_interval(comparison):
    chart = reporting.comparison_chart(comparison, 10, {})
    (bars,) = chart.data
    assert list(bars.y) == ["association_rules_ff19", "sequential_rules"]  # best at the top
    assert list(bars.x) == pytest.approx([0.146, 0.275])
    assert list(bars.error_x.array) == pytest.approx([0.01, 0.01])
    assert list(bars.customdata[:, 2]) == [1000, 1000]  # test queries, on hover
    assert chart.layout.annotations[0].text == "last_item context"  # one protocol: in the title
    assert chart.layout.title.text == "Recall@10 with 95% intervals, last_pair protocol"
    empty = reporting.comparison_chart(comparison.iloc[:0], 10, {})
    assert empty.layout.annotations[0].text == "No model has metrics yet"


def test_input_versions_are_grouped_newest_first():
    from session_recs.pipelines.report.nodes import versions_line

    versions = {f"m{i}_metrics": "2026-12-01T10.00.00.000Z" for i in range(6)}
    versions["tune_results"] = "2026-11-30T09.00.00.000Z"
    assert versions_line(versions) == (
        "2026-12-01T10.00.00.000Z: 6 datasets (m0_metrics, m1_metrics, m2_metrics, "
        "m3_metrics, ...); 2026-11-30T09.00.00.000Z: 1 dataset (tune_results)"
    )
    assert versions_line({}) == ""
