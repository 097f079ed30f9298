"""Predictions/s and peak memory of every sparse model as the catalogue grows (10^4-10^6).

For each catalogue size, ``python -m session_recs make-demo --events N --items I`` writes a
generated Online-Retail-schema table (Zipf popularity over the I items, product lines of
20), cached under ``--cache``. Its baskets are the sessions (``InvoiceNo``, rows in file
order, cancellations and non-product rows dropped, sessions of at least 2 items); the
latest sessions in time holding about ``--queries`` next-item predictions are the test
sessions, every earlier one trains.

Each model then runs in a fresh process (so peaks do not mix): fit on the training
sessions (its options from conf/base/parameters_baseline.yml); ``evaluate_model`` under
iterative revealing in the ``session`` context, K =
5/10/20 with 1,000 bootstrap resamples, as the pipeline evaluates. Printed per model:
fit seconds, predictions/s of ``recommend`` over the test queries (timed on its own),
evaluation seconds, the evaluation's peak memory above the fitted model (the process's
peak resident memory, reset before the evaluation through /proc/self/clear_refs) and the
process's peak. Targets on a 2-core machine: every sparse model >= 10,000 predictions/s
at 10^5 items and >= 5,000 at 10^6; evaluation peak <= 4 GB at 10^6 items.

Usage: python benchmarks/bench_catalogue.py [--events 10000000] [--items 10000 100000
1000000] [--queries 10000] [--models sequential_rules session_knn ...] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from session_recs.pipelines.namespaces import BASELINE_MODELS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = Path("/tmp/session_recs_catalogue")
#: The models of the baseline pipeline (all sparse), with their conf/base options.
MODELS = BASELINE_MODELS


def table_path(cache: Path, events: int, items: int) -> Path:
    """The generated table for (events, items), written once with the project's CLI."""
    path = cache / f"events{events}_items{items}.parquet"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "session_recs", "make-demo", "--events", str(events),
             "--items", str(items), "--output", str(path), "--force"],
            check=True, cwd=ROOT, capture_output=True,
        )  # fmt: skip
        print(f"  generated {path.name} in {time.perf_counter() - start:.0f} s", flush=True)
    return path


def sessions_of(path: Path, queries: int):
    """(train, test) long session tables: baskets as sessions, the latest as test."""
    import numpy as np
    import pandas as pd

    raw = pd.read_parquet(path, columns=["InvoiceNo", "StockCode", "InvoiceDate"])
    keep = ~raw["InvoiceNo"].str.startswith("C") & raw["StockCode"].str.fullmatch(r"\d+[A-E]?")
    raw = raw[keep]
    table = pd.DataFrame(
        {
            "session_id": raw["InvoiceNo"].to_numpy(),
            "item_id": raw["StockCode"].to_numpy(),
            "timestamp": raw["InvoiceDate"].to_numpy(),
        }
    )
    size = table.groupby("session_id", sort=False)["item_id"].transform("size")
    table = table[size >= 2].reset_index(drop=True)
    table["position"] = table.groupby("session_id", sort=False).cumcount()
    # Invoices are numbered in time order: the last ones holding `queries` predictions test.
    lengths = table.groupby("session_id", sort=False).size()
    predictions = np.cumsum((lengths - 1).to_numpy()[::-1])
    n_test = int(np.searchsorted(predictions, queries)) + 1
    test_ids = lengths.index[-n_test:]
    is_test = table["session_id"].isin(test_ids)
    return table[~is_test].reset_index(drop=True), table[is_test].reset_index(drop=True)


def _rss_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(path: Path, model_name: str, queries: int) -> dict:
    """In this process: fit one model, time its recommend, evaluate it; memory figures."""
    import logging
    import warnings

    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    import yaml

    from session_recs.evaluation.next_event import EvaluationConfig, evaluate_model, revealing_set
    from session_recs.pipelines.modeling import fit_recommender

    train, test = sessions_of(path, queries)
    # The namespace's options in conf/base (no dataset block: these are generated baskets).
    base = yaml.safe_load((ROOT / "conf" / "base" / "parameters_baseline.yml").read_text())
    spec = base[model_name]["model"]
    start = time.perf_counter()
    model = fit_recommender(train, None, spec)
    fit_s = time.perf_counter() - start
    evaluation = revealing_set(test, model.fitted_index())
    model.recommend(evaluation.queries.take(slice(0, 200)), 20)  # warm caches and imports
    start = time.perf_counter()
    model.recommend(evaluation.queries, 20)
    recommend_s = time.perf_counter() - start
    config = EvaluationConfig(
        protocols=("iterative_revealing",), contexts=("session",), exclude_query=True
    )
    fitted_mb = _rss_mb("VmRSS:")
    with open("/proc/self/clear_refs", "w") as refs:  # resets the peak (VmHWM) to VmRSS
        refs.write("5")
    start = time.perf_counter()
    metrics = evaluate_model(model, train, test, test, config)
    evaluate_s = time.perf_counter() - start
    recall = metrics.query("metric == 'recall' and k == 20")["value"].iloc[0]
    return {
        "items": len(model.fitted_index()),
        "train_events": len(train),
        "queries": len(evaluation.targets),
        "fit_s": fit_s,
        "per_s": len(evaluation.targets) / recommend_s,
        "evaluate_s": evaluate_s,
        "eval_peak_mb": _rss_mb("VmHWM:") - fitted_mb,
        "recall_at_20": float(recall),
        "peak_mb": _rss_mb("VmPeak:"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--items", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--one", nargs=2, metavar=("TABLE", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(Path(args.one[0]), args.one[1], args.queries)))
        return 0

    print(
        f"{args.events:,} generated events per table; test = the latest baskets holding "
        f"~{args.queries:,} predictions (iterative revealing, session context, K=20)\n"
    )
    header = (
        f"{'items':>9} {'model':<22} {'in index':>9} {'fit s':>7} {'pred/s':>9} "
        f"{'eval s':>7} {'eval peak MB':>12} {'HR@20':>6}"
    )
    print(header)
    for items in args.items:
        path = table_path(args.cache, args.events, items)
        for name in args.models:
            one = ["--queries", str(args.queries), "--one", str(path), name]
            done = subprocess.run(
                [sys.executable, __file__, *one], check=False, capture_output=True, text=True
            )
            if done.returncode:
                print(f"{items:>9,} {name:<22} failed: {done.stderr.strip().splitlines()[-1]}")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"{items:>9,} {name:<22} {r['items']:>9,} {r['fit_s']:>7.1f} {r['per_s']:>9,.0f} "
                f"{r['evaluate_s']:>7.1f} {r['eval_peak_mb']:>12,.0f} {r['recall_at_20']:>6.3f}",
                flush=True,
            )
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
