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


#: Resample count cells (resamples x queries) drawn at once: bounds the intervals' memory.
BOOTSTRAP_CELLS = 1 << 23


def bootstrap_intervals(
    values: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of the mean of each row of ``values`` (metrics x queries).

    Resamples are multinomial count vectors, so all metrics share the same resamples and
    the means come from one matrix product per batch of resamples; batches hold about
    :data:`BOOTSTRAP_CELLS` counts, so memory does not grow with ``n_boot x queries``
    (the draws are the same as in one batch). Nothing here depends on the catalogue.
    """
    n = values.shape[1]
    rng = np.random.default_rng(seed)
    per_batch = max(1, BOOTSTRAP_CELLS // max(n, 1))
    rows = values.T.astype(np.float32)
    means = np.empty((n_boot, values.shape[0]), dtype=np.float32)
    for start in range(0, n_boot, per_batch):
        stop = min(start + per_batch, n_boot)
        counts = _resample_counts(rng, n, stop - start)
        means[start:stop] = (counts @ rows) / n
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail], axis=0)
    return low, high


def _resample_counts(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """``size`` bootstrap resamples of n queries, as how often each query is drawn."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(np.float32)


#: Sign flips (permutations x queries) drawn at once: bounds the paired test's memory.
PERMUTATION_CELLS = 1 << 22


def paired_permutation_p(
    differences: np.ndarray, n_permutations: int = 2000, seed: int = 0
) -> float:
    """Two-sided p-value of a zero mean of per-query ``differences`` (model minus model on
    the same queries): the share of random sign flips whose mean is at least as far from
    zero as the observed one (with the observed one counted, so never 0)."""
    differences = np.asarray(differences, dtype=np.float64)
    observed = abs(differences.mean()) if len(differences) else 0.0
    if not len(differences) or not np.any(differences):
        return 1.0
    rng = np.random.default_rng(seed)
    step = max(1, PERMUTATION_CELLS // len(differences))
    extreme = 0
    for start in range(0, n_permutations, step):
        rows = min(step, n_permutations - start)
        signs = rng.integers(0, 2, size=(rows, len(differences)), dtype=np.int8) * 2 - 1
        means = np.abs(signs @ differences) / len(differences)
        extreme += int((means >= observed - 1e-12).sum())
    return (extreme + 1) / (n_permutations + 1)
