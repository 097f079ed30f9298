"""What the report's words mean, one line each: the single source of the report's
glossary and of docs/metrics.md (``python -m session_recs.evaluation.glossary`` writes it)."""

from __future__ import annotations

import sys

#: (group, term, definition), in the order shown.
GLOSSARY: tuple[tuple[str, str, str], ...] = (
    ("Metrics", "Recall@K", "Share of test queries whose target item is among the K "
     "recommended items (session-rec's HitRate@K)."),
    ("Metrics", "MRR@K", "Mean reciprocal rank: 1/rank of the target when it is in the top K, "
     "else 0, averaged over test queries."),
    ("Metrics", "NDCG@K", "1/log2(rank + 1) of the target when it is in the top K, else 0, "
     "averaged over test queries (one relevant item, so the ideal DCG is 1)."),
    ("Metrics", "coverage@K", "Share of the training catalogue that appears in at least one "
     "top-K list: how much of the catalogue a model ever recommends."),
    ("Metrics", "popularity@K", "Mean training popularity of the recommended items, as a "
     "share of the most popular item's count: near 1 recommends the bestsellers."),
    ("Contexts", "last_item", "The model sees only the query item (the last item viewed)."),
    ("Contexts", "session", "The model sees the session so far, ending with the query item."),
    ("Protocols", "last_pair", "FF19's protocol: each test session asks once, its "
     "second-to-last item predicting its last one."),
    ("Protocols", "iterative_revealing", "session-rec's protocol: every test session is "
     "revealed one item at a time, each prefix predicting the next item."),
    ("Statistics", "95% interval", "Bootstrap confidence interval: the metric recomputed on "
     "test queries resampled with replacement (evaluation.n_boot times)."),
    ("Statistics", "paired test", "Two-sided paired permutation test of a model against the "
     "best on the same test queries (2,000 random sign flips of the per-query differences)."),
    ("Statistics", "Holm p", "The paired tests' p-values corrected by Holm's step-down method "
     "for the number of models compared with the best in the same table."),
)  # fmt: skip


def glossary_markdown() -> str:
    """The glossary as Markdown: a bullet per term under a heading per group."""
    lines: list[str] = []
    group = ""
    for where, term, definition in GLOSSARY:
        if where != group:
            lines += ([""] if lines else []) + [f"### {where}", ""]
            group = where
        lines.append(f"- **{term}**: {definition}")
    return "\n".join(lines) + "\n"


DOC_HEADER = (
    "# Metrics, contexts and protocols\n\n"
    "The report's glossary, generated from `session_recs/evaluation/glossary.py` by\n"
    "`python -m session_recs.evaluation.glossary docs/metrics.md` (a test checks they agree).\n\n"
)


def metrics_doc() -> str:
    """docs/metrics.md's text."""
    return DOC_HEADER + glossary_markdown()


if __name__ == "__main__":  # pragma: no cover - writes the doc page
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        out.write(metrics_doc())
