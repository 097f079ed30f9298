"""The report's parts: Holm's correction, the shared palette, the one glossary."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from session_recs.evaluation import compare, glossary, palette


def test_holm_multiplies_the_ith_smallest_by_m_minus_i_and_keeps_the_order():
    assert compare.holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    # Capped at 1; NaN (the best model itself) neither counted nor changed.
    assert compare.holm([0.5, np.nan, 0.2, 0.001]).tolist() == pytest.approx(
        [0.5, np.nan, 0.4, 0.003], nan_ok=True
    )
    assert compare.holm([0.6, 0.7]).tolist() == [1.0, 1.0]
    assert compare.holm([]).tolist() == []


def test_paired_tests_correct_each_tables_p_values_for_its_comparisons():
    rng = np.random.default_rng(3)
    best = np.where(rng.random(400) < 0.5, 1, 0)
    ranks = {"best": best}
    for name, keep in (("a", 0.9), ("b", 0.8), ("c", 0.95)):
        ranks[name] = np.where(rng.random(400) < keep, best, 0)
    tables = {
        name: pd.DataFrame(
            {"protocol": "last_pair", "context": "session", "query": range(400), "rank": r}
        )
        for name, r in ranks.items()
    }
    tests = compare.paired_tests(tables, k=10, n_permutations=500)
    recall = tests[tests.metric == "recall"].set_index("model")
    others = recall.drop(index="best")
    assert others["p_holm"].to_numpy() == pytest.approx(compare.holm(others["p_value"]))
    assert (others["p_holm"] >= others["p_value"]).all()
    assert np.isnan(recall.loc["best", "p_holm"])


def test_okabe_ito_colours_with_a_variant_per_colour_cycle():
    assert len(palette.OKABE_ITO) == 8 and "#000000" not in palette.OKABE_ITO
    styles = palette.model_styles([f"m{i:02d}" for i in range(48)])
    assert {s.colour for s in styles.values()} == set(palette.OKABE_ITO)
    assert len({(s.colour, s.variant) for s in styles.values()}) == 48
    assert styles["m00"] == palette.Style("#E69F00", 0)
    assert styles["m08"] == palette.Style("#E69F00", 1) and styles["m08"].dash == "dash"
    # By sorted name: the order models are given in does not change their colours.
    assert palette.model_colours(["b", "a"]) == {"a": "#E69F00", "b": "#56B4E9"}


def test_the_glossary_defines_every_metric_context_and_protocol_once():
    terms = [term for _, term, _ in glossary.GLOSSARY]
    for term in ("Recall@K", "MRR@K", "NDCG@K", "coverage@K", "popularity@K", "last_item",
                 "session", "last_pair", "iterative_revealing", "Holm p"):  # fmt: skip
        assert terms.count(term) == 1, term
    assert all("\n" not in definition for *_, definition in glossary.GLOSSARY)
    text = glossary.glossary_markdown()
    assert text.count("\n- **") + text.startswith("- **") == len(glossary.GLOSSARY)


def test_docs_metrics_is_the_glossary_written_out():
    doc = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
    assert doc.read_text(encoding="utf-8") == glossary.metrics_doc(), (
        "docs/metrics.md is out of date: python -m session_recs.evaluation.glossary docs/metrics.md"
    )


def test_matplotlib_gets_the_same_colour_and_variant():
    styles = palette.model_styles([f"m{i:02d}" for i in range(9)])
    assert styles["m00"].matplotlib == {"color": "#E69F00", "linestyle": "-", "marker": "o"}
    assert styles["m08"].matplotlib == {"color": "#E69F00", "linestyle": "--", "marker": "s"}
    assert styles["m08"].hatch == "//" and styles["m08"].pattern == "/"
