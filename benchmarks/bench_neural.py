"""GRU4Rec and SASRec (the neural extra) on rsc15_100k and Online Retail, next to the
published and our own session-kNN / rules figures.

- rsc15_100k (../shared/data/rsc15_100k): trained on every training session, as
  session-rec trains, and measured under its iterative revealing protocol at 20 (all
  items ranked, the current item allowed), as benchmarks/bench_rsc15.py does; with the
  options the rsc15_100k block of parameters_datasets.yml gives (GRU4Rec's
  ``yoochoose_xe`` preset, SASRec's ``paper``).
- Online Retail (../shared/data/online_retail.parquet): FF19's split and 1,000 test pairs,
  ``session`` context, Recall@10 / MRR@10, with the project's online_retail options,
  next to sequential_rules_plus on the same pairs.

Each model trains in a fresh process: fit seconds, seconds per epoch (training only; the
per-epoch validation is timed apart), predictions/s of one timed ``recommend`` over every
query, and the process's peak resident memory. ``--threads`` sets torch's threads
(``workers``; 1 is the reproducible setting).

Usage: python benchmarks/bench_neural.py [--datasets rsc15_100k online_retail]
                                         [--models gru4rec sasrec] [--threads 2]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="register_new_resolver")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))

#: session-rec on rsc15_100k (../shared/data/README.md), HR@20 / MRR@20.
RSC15_REFERENCES = {"V-SKNN": (0.688, 0.367), "VSTAN": (0.685, 0.375)}


def peak_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def model_options(dataset: str, model: str, threads: int) -> tuple[str, dict]:
    from session_recs.framework.project import load_parameters

    spec = load_parameters(ROOT / "conf", dataset)[model]["model"]
    options = dict(spec.get("options") or {})
    if spec["kind"] in ("gru4rec", "sasrec"):
        options.update(workers=threads, progress=False)
    return spec["kind"], options


def rsc15(model: str, threads: int, queue: mp.Queue) -> None:
    from bench_rsc15 import load_sessions
    from session_recs.evaluation.next_event import revealing_set, summarize
    from session_recs.models import build_model

    full, _, test = load_sessions(SHARED / "rsc15_100k")
    kind, options = model_options("rsc15_100k", model, threads)
    start = time.perf_counter()
    fitted = build_model(kind, options).fit(full)
    fit_s = time.perf_counter() - start
    queries = revealing_set(test, fitted.index)
    start = time.perf_counter()
    recs = fitted.recommend(queries.queries, 20, exclude_query=False)
    per_s = len(queries.targets) / (time.perf_counter() - start)
    table = summarize(recs.items, queries.targets, (20,), fitted.popularity, n_boot=200)
    value = table.set_index("metric")
    queue.put(
        {
            "hr": value.loc["recall", "value"],
            "mrr": value.loc["mrr", "value"],
            "mrr_ci": (value.loc["mrr", "ci_low"], value.loc["mrr", "ci_high"]),
            "fit_s": fit_s,
            "epoch_s": fitted.history["seconds"].mean(),
            "epochs": len(fitted.history),
            "per_s": per_s,
            "peak_mb": peak_mb(),
            "n": len(queries.targets),
        }
    )


def online_retail(model: str, threads: int, queue: mp.Queue) -> None:
    from bench_models import prepare
    from session_recs.evaluation.next_event import EvaluationConfig, evaluate_model
    from session_recs.models import build_model

    params, split = prepare(SHARED / "online_retail.parquet")
    train, validation, test_pairs, test_sessions = split
    kind, options = model_options("online_retail", model, threads)
    start = time.perf_counter()
    fitted = build_model(kind, options).fit(train, validation)
    fit_s = time.perf_counter() - start
    config = EvaluationConfig.model_validate(
        {**params["evaluation"], "contexts": ["session"], "n_boot": 200}
    )
    metrics = evaluate_model(fitted, train, test_pairs, test_sessions, config)
    at10 = metrics[metrics["k"] == 10].set_index("metric")
    history = getattr(fitted, "history", None)
    queue.put(
        {
            "recall": at10.loc["recall", "value"],
            "mrr": at10.loc["mrr", "value"],
            "recall_ci": (at10.loc["recall", "ci_low"], at10.loc["recall", "ci_high"]),
            "fit_s": fit_s,
            "epoch_s": history["seconds"].mean() if history is not None else float("nan"),
            "epochs": len(history) if history is not None else 0,
            "per_s": at10.loc["recall", "predictions_per_s"],
            "peak_mb": peak_mb(),
            "val_recall": history["recall@10"].iloc[-1] if history is not None else float("nan"),
        }
    )


def in_child(target, *args) -> dict:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=["rsc15_100k", "online_retail"],
        choices=["rsc15_100k", "online_retail"],
    )  # fmt: skip
    parser.add_argument("--models", nargs="+", default=["gru4rec", "sasrec"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if "rsc15_100k" in args.datasets:
        if not (SHARED / "rsc15_100k" / "train_full.tsv").exists():
            print(f"rsc15_100k not found under {SHARED}")
            return 1
        print("rsc15_100k, iterative revealing @20, trained on train_full")
        print(
            f"{'model':<10} {'HR@20':>6} {'MRR@20':>6} {'MRR 95% CI':>15} {'fit s':>6} "
            f"{'epochs':>6} {'s/epoch':>7} {'pred/s':>8} {'peak MB':>8}"
        )
        for model in args.models:
            r = in_child(rsc15, model, args.threads)
            low, high = r["mrr_ci"]
            print(
                f"{model:<10} {r['hr']:.4f} {r['mrr']:.4f} {low:.3f}-{high:.3f}"
                f"   {r['fit_s']:>6.0f} {r['epochs']:>6} {r['epoch_s']:>7.1f} "
                f"{r['per_s']:>8,.0f} {r['peak_mb']:>8,.0f}"
            )
        published = (f"{name} {hr:.3f}/{mrr:.3f}" for name, (hr, mrr) in RSC15_REFERENCES.items())
        print("session-rec: " + ", ".join(published))
        print()
    if "online_retail" in args.datasets:
        if not (SHARED / "online_retail.parquet").exists():
            print(f"online_retail.parquet not found under {SHARED}")
            return 1
        print("Online Retail, FF19's 1,000 test pairs, session context @10")
        print(
            f"{'model':<22} {'R@10':>6} {'MRR@10':>6} {'R@10 95% CI':>13} {'fit s':>6} "
            f"{'epochs':>6} {'s/epoch':>7} {'pred/s':>8} {'peak MB':>8} {'val R@10':>8}"
        )
        for model in [*args.models, "sequential_rules_plus"]:
            r = in_child(online_retail, model, args.threads)
            print(
                f"{model:<22} {r['recall']:.4f} {r['mrr']:.4f} "
                f"{r['recall_ci'][0]:.3f}-{r['recall_ci'][1]:.3f}   {r['fit_s']:>6.0f} "
                f"{r['epochs']:>6} {r['epoch_s']:>7.1f} {r['per_s']:>8,.0f} "
                f"{r['peak_mb']:>8,.0f} {r['val_recall']:>8.4f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
