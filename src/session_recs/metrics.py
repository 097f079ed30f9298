"""Per-query metrics from ranks, and bootstrap intervals of their means.

Below the models: the evaluator and a model's own training monitor (Word2Vec's
per-epoch validation) compute metrics the same way from the same functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def target_ranks(recommended: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1-based rank of each target in its row of ``recommended``; 0 when absent."""
    hits = recommended == targets[:, None]
    return np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, 0)


def per_query_metrics(ranks: np.ndarray, ks: Sequence[int]) -> dict[tuple[str, int], np.ndarray]:
    """Recall, MRR and NDCG of every query at every K."""
    hit = ranks > 0
    reciprocal = np.where(hit, 1.0 / np.maximum(ranks, 1), 0.0)
    gain = np.where(hit, 1.0 / np.log2(np.maximum(ranks, 1) + 1.0), 0.0)
    out = {}
    for k in ks:
        within = hit & (ranks <= k)
        out["recall", k] = within.astype(np.float64)
        out["mrr", k] = np.where(within, reciprocal, 0.0)
        out["ndcg", k] = np.where(within, gain, 0.0)
    return out


def bootstrap_intervals(
    values: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of the mean of each row of ``values`` (metrics x queries).

    Resamples are multinomial count vectors, so all metrics share the same resamples and
    the means come from one matrix product.
    """
    n = values.shape[1]
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float32)
    means = (counts @ values.T.astype(np.float32)) / n
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail], axis=0)
    return low, high
