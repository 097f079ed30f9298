"""HitRate@20 / MRR@20 and predictions/s on rsc15_100k, next to session-rec's numbers.

The data is session-rec's RecSys 2015 sample (../shared/data/rsc15_100k, or --data):
``train_full.tsv`` and ``test.tsv``, read and sessionized with the project's own library
(sessions of a SessionId, clicks in time order) and evaluated under session-rec's
"iterative revealing" protocol: every click of a test session after the first is predicted
from the clicks before it, all training items ranked.

As in session-rec's ``evaluation.evaluate_sessions``, the current item is not excluded
(``exclude_query=False``; a quarter of rsc15's next clicks repeat it) and test items unseen
in training count as misses (there are none in this sample). Two training sets:

- ``full``: every training session, as session-rec trains (the reference setting);
- ``split``: the project's predefined split, which holds out the last click of the latest
  5% of training sessions for validation.

session_knn, STAN and VSTAN order candidate sessions by their last click time (STAN and
VSTAN also weigh them by recency): both training tables keep the ``timestamp`` column.

Usage: python benchmarks/bench_rsc15.py [--data DIR] [--models session_knn markov ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from session_recs.data.interactions import to_interactions
from session_recs.data.readers import read_table
from session_recs.data.sessionize import SessionizeConfig, sessionize
from session_recs.data.split import SplitConfig, split_sessions
from session_recs.evaluation.next_event import only_last_item, revealing_set, summarize
from session_recs.models import Recommender, build_model

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "rsc15_100k"
COLUMNS = {"session_key": "SessionId", "item_id": "ItemId", "timestamp": "Time"}
K = 20

#: session-rec on exactly these files (../shared/data/README.md): HitRate@20, MRR@20.
SESSION_REC = {
    "AR": (0.633, 0.326),
    "Markov": (0.580, 0.345),
    "SR": (0.618, 0.352),
    "SKNN": (0.643, 0.320),
    "V-SKNN": (0.688, 0.367),
    "STAN": (0.687, 0.367),
    "VSTAN": (0.685, 0.375),
}
#: Our model -> (model kind, options, session-rec counterpart or None).
MODELS = {
    "session_knn": ("session_knn", {}, "V-SKNN"),
    "stan": ("stan", {}, "STAN"),
    "vstan": ("vstan", {}, "VSTAN"),
    "item_knn": ("item_knn", {}, None),
    "sequential_rules": ("sequential_rules", {}, "SR"),
    "markov": ("markov", {}, "Markov"),
}


def load_sessions(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(full training table with timestamps, split training table, test sessions)."""
    parts = []
    for split, name in (("train", "train_full.tsv"), ("test", "test.tsv")):
        raw = read_table(folder / name)
        parts.append(raw.assign(split=split))
    interactions = to_interactions(pd.concat(parts, ignore_index=True), COLUMNS, "s")
    sessions = sessionize(interactions, SessionizeConfig(order="time", min_session_length=2))
    split = split_sessions(sessions, SplitConfig(strategy="predefined", validation_fraction=0.05))
    full = sessions[sessions["split"] == "train"]
    return full, split.train_sessions, split.test_sessions


def measure(
    model: Recommender, train: pd.DataFrame, test: pd.DataFrame, exclude: bool, last_item: bool
) -> dict:
    """Fit, then HitRate/MRR@K (the evaluator's summarize) and predictions/s of one timed
    recommend()."""
    start = time.perf_counter()
    model.fit(train)
    fit_seconds = time.perf_counter() - start
    queries = revealing_set(test, model.index)
    if last_item:
        queries = only_last_item(queries)
    recs = model.recommend(queries.queries, K, exclude_query=exclude)
    table = summarize(recs.items, queries.targets, (K,), model.popularity, n_boot=200)
    # Timed after a first recommend(), so caches are warm.
    start = time.perf_counter()
    model.recommend(queries.queries, K, exclude_query=exclude)
    seconds = time.perf_counter() - start
    value = table.set_index("metric")["value"]
    return {
        "hr": float(value["recall"]),
        "mrr": float(value["mrr"]),
        "n": len(queries.targets),
        "unknown_targets": int((queries.targets < 0).sum()),
        "per_s": len(queries.targets) / seconds,
        "fit_s": fit_seconds,
    }


def show(label: str, name: str, reference: str | None, result: dict) -> None:
    ref = ""
    if reference:
        hr, mrr = SESSION_REC[reference]
        ref = (
            f"{reference:>7} {hr:.3f}  {mrr:.3f}  "
            f"{result['hr'] - hr:+.3f}  {result['mrr'] - mrr:+.3f}"
        )
    print(
        f"{label:<14} {name:<17} {result['hr']:.4f}  {result['mrr']:.4f}  "
        f"{result['per_s']:>8,.0f}  {result['fit_s']:>5.2f}   {ref}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args()
    if not (args.data / "train_full.tsv").exists():
        print(f"rsc15_100k not found at {args.data}; pass --data")
        return 1

    full, held_out, test = load_sessions(args.data)
    print(
        f"train_full: {full['session_id'].nunique():,} sessions, {len(full):,} clicks; "
        f"split train: {len(held_out):,} clicks; test: {test['session_id'].nunique():,} "
        f"sessions, {len(test) - test['session_id'].nunique():,} predictions\n"
    )
    print(
        f"{'training':<14} {'model':<17} {'HR@20':>6}  {'MRR@20':>6}  {'pred/s':>8}  "
        f"{'fit s':>5}   {'session-rec':>7} HR     MRR    dHR     dMRR"
    )
    cases = [
        ("full", full, False, False),
        ("split", held_out, False, False),
        ("full, excl.", full, True, False),
        ("full, last", full, False, True),
    ]
    for label, train, exclude, last_item in cases:
        for name in args.models:
            kind, options, reference = MODELS[name]
            model = build_model(kind, options)
            if last_item and not model.uses_context:
                continue
            result = measure(model, train, test, exclude, last_item)
            show(label, name, None if exclude or last_item else reference, result)
        print()
    if result["unknown_targets"]:
        print(f"{result['unknown_targets']:,} test targets are unknown to the models (misses).")
    print("session-rec, same files (HR@20 / MRR@20):")
    print("  " + ", ".join(f"{k} {hr:.3f}/{mrr:.3f}" for k, (hr, mrr) in SESSION_REC.items()))
    print("'excl.': recommend(exclude_query=True), the current item never recommended.")
    print("'last': context = the current item only (evaluation context 'last_item').")
    return 0


if __name__ == "__main__":
    sys.exit(main())
