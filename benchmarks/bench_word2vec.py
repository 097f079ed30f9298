"""Word2Vec on the real Online Retail FF19 split: accuracy against FF19, and training speed.

Prints:

(a) ``ff19_default`` test Recall@10 / MRR@10 for each seed and their mean (FF19: 0.197 /
    0.108; the 3-seed mean should land in [0.19, 0.215]);
(b) ``ff19_tuned`` (100 epochs) test Recall@10 / MRR@10 (FF19: Recall@10 0.252 ± 0.003);
(c) training words/s of a bare gensim run against ours (same parameters, with the
    per-epoch monitor and loss), and the monitor's validation overhead per epoch;
(d) the ``session`` context variant on the same vectors as (a).

Usage: python benchmarks/bench_word2vec.py [--seeds 0 1 2] [--workers 2] [--skip-tuned]
"""

from __future__ import annotations

import argparse
import copy
import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd
from gensim.models import Word2Vec

from bench_data_layer import RETAIL_COLUMNS, SHARED_TABLE
from session_recs.data.interactions import to_interactions
from session_recs.data.readers import read_online_retail
from session_recs.data.sessionize import SessionizeConfig, sessionize
from session_recs.data.split import Split, SplitConfig, split_sessions
from session_recs.evaluation.next_event import pair_set, summarize, without_last_item
from session_recs.models.word2vec import PRESETS, Word2VecRecommender

TARGET_RANGE = (0.19, 0.215)


def ff19_split(path: Path) -> Split:
    """FF19's sessions and split, built with the library."""
    interactions = to_interactions(read_online_retail(path), RETAIL_COLUMNS)
    sessions = sessionize(
        interactions, SessionizeConfig(min_session_length=3, dropna_all_columns=True)
    )
    return split_sessions(sessions, SplitConfig())


def test_metrics(model: Word2VecRecommender, evaluation) -> tuple[float, float]:
    """Recall@10 and MRR@10 of ``model`` on an evaluation set."""
    recs = model.recommend(evaluation.queries, 10)
    table = summarize(recs.items, evaluation.targets, (10,), model.popularity, n_boot=10)
    table = table.set_index("metric")["value"]
    return float(table["recall"]), float(table["mrr"])


def fit(split: Split, preset: str, seed: int, workers: int, **options) -> Word2VecRecommender:
    model = Word2VecRecommender(preset, seed=seed, workers=workers, progress=False, **options)
    return model.fit(split.train_sessions, split.validation_pairs)


def bare_gensim_words_per_s(split: Split, preset: str, seed: int, workers: int) -> float:
    """Raw training words per second of plain gensim (no callbacks, no loss), same corpus."""
    train = split.train_sessions
    ids = train["session_id"].to_numpy()
    bounds = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1], True])
    items = train["item_id"].astype(str).to_numpy(dtype=object)
    corpus = [items[a:b].tolist() for a, b in itertools.pairwise(bounds)]
    model = Word2Vec(**PRESETS[preset], seed=seed, workers=workers)
    model.build_vocab(corpus)
    started = time.perf_counter()
    _, raw_words = model.train(corpus, total_examples=model.corpus_count, epochs=model.epochs)
    return raw_words / (time.perf_counter() - started)


def overhead(history: pd.DataFrame) -> str:
    share = history["eval_seconds"] / history["seconds"]
    return (
        f"validation {1000 * history['eval_seconds'].mean():.0f} ms/epoch vs training "
        f"{history['seconds'].mean():.2f} s/epoch: {100 * share.mean():.1f}% mean, "
        f"{100 * share.max():.1f}% max"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--online-retail", type=Path, default=SHARED_TABLE)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tuned-seed", type=int, default=0)
    parser.add_argument("--skip-tuned", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="runs per throughput case")
    args = parser.parse_args()

    split = ff19_split(args.online_retail)
    print(
        f"FF19 split: {split.train_sessions['session_id'].nunique():,} training sessions, "
        f"{len(split.train_sessions):,} events, {len(split.test_pairs):,} test and "
        f"{len(split.validation_pairs):,} validation pairs; workers={args.workers}"
    )
    last_item_set = None
    session_set = None

    print("\n(a) ff19_default, test Recall@10 / MRR@10 (FF19: 0.197 / 0.108)")
    models, results = [], []
    for seed in args.seeds:
        model = fit(split, "ff19_default", seed, args.workers)
        if last_item_set is None:
            last_item_set = pair_set(split.test_pairs, model.index)
            session_set = pair_set(
                split.test_pairs,
                model.index,
                without_last_item(split.test_sessions),
                split.train_sessions,
            )
        recall, mrr = test_metrics(model, last_item_set)
        models.append(model)
        results.append((recall, mrr))
        print(
            f"  seed {seed}: Recall@10 {recall:.3f}  MRR@10 {mrr:.4f}  "
            f"(fit {model.train_seconds:.1f} s; validation Recall@10 at the last epoch "
            f"{model.history['recall@10'].iloc[-1]:.3f})"
        )
    recall, mrr = np.mean(results, axis=0)
    low, high = TARGET_RANGE
    verdict = "inside" if low <= recall <= high else "OUTSIDE"
    print(
        f"  mean of {len(args.seeds)}: Recall@10 {recall:.4f}  MRR@10 {mrr:.4f}  "
        f"({verdict} the target range [{low}, {high}])"
    )

    if not args.skip_tuned:
        print("\n(b) ff19_tuned (100 epochs), test Recall@10 (FF19: 0.252 ± 0.003)")
        tuned = fit(split, "ff19_tuned", args.tuned_seed, args.workers)
        recall, mrr = test_metrics(tuned, last_item_set)
        best = tuned.history.loc[tuned.history["recall@10"].idxmax()]
        print(
            f"  seed {args.tuned_seed}: Recall@10 {recall:.3f}  MRR@10 {mrr:.4f}  "
            f"(fit {tuned.train_seconds:.0f} s; best validation Recall@10 "
            f"{best['recall@10']:.3f} at epoch {int(best['epoch'])})"
        )
        print(f"  monitor: {overhead(tuned.history)}")

    print(f"\n(c) training throughput, ff19_default, seed 0 ({args.repeats} interleaved runs each)")
    bare, ours_runs = [], []
    for _ in range(args.repeats):
        bare.append(bare_gensim_words_per_s(split, "ff19_default", 0, args.workers))
        ours_runs.append(fit(split, "ff19_default", 0, args.workers))
    ours = [m.raw_word_count / m.train_seconds for m in ours_runs]
    for label, rates in (
        ("bare gensim (no callback, no loss)", bare),
        ("ours (monitor + loss)", ours),
    ):
        print(
            f"  {label:<35} median {np.median(rates):,.0f} words/s "
            f"(min {min(rates):,.0f}, max {max(rates):,.0f})"
        )
    print(f"  ratio of medians: {np.median(ours) / np.median(bare):.2f}")
    history = pd.concat([m.history for m in [*models, *ours_runs]])
    print(f"  monitor: {overhead(history)}")

    print("\n(d) session context on the vectors of (a), test Recall@10 / MRR@10")
    for window, decay in ((1, 1.0), (2, 0.25), (3, 0.25), (3, 0.5), (5, 0.5), (10, 0.8)):
        scores = []
        for model in models:
            variant = copy.copy(model)
            variant.context, variant.context_window, variant.decay = "session", window, decay
            scores.append(test_metrics(variant, session_set))
        recall, mrr = np.mean(scores, axis=0)
        note = " (= last_item)" if window == 1 else ""
        print(
            f"  context_window={window:<2} decay={decay}: Recall@10 {recall:.4f}  "
            f"MRR@10 {mrr:.4f}  (mean of {len(models)} seeds){note}"
        )


if __name__ == "__main__":
    main()
