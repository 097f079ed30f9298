"""Fit and evaluation time of every baseline model on Online Retail (issue #3's targets).

For each model of the baseline pipeline (options from conf/base/parameters_baseline.yml),
on FF19's split of the real table:

- ``fit s``: ``Recommender.fit`` on the training sessions;
- ``eval s``: ``evaluate_model`` as the pipeline runs it (FF19's 1,000 test pairs, both
  contexts, K = 5/10/20, 1,000 bootstrap resamples);
- ``all pairs s`` and ``pred/s``: the evaluator over every evaluation pair there is (the
  final pair of every session outside validation, ``split.all_final_pairs``), both contexts;
- ``recall@10``: on FF19's test pairs, last_item context.

Then ``association_rules`` in ``ff19`` mode alone in a fresh process: fit + evaluation
wall time and peak memory (FF19's own implementation: about 41 s and 2.6 GB here; target
<= 0.5 s and <= 300 MB), with the process's memory after loading the data for reference.

Usage: python benchmarks/bench_models.py [--data ../shared/data/online_retail.parquet]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="register_new_resolver")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "online_retail.parquet"
REPEATS = 7  # runs of association_rules (ff19) fit + evaluation, in one fresh process


def prepare(path: Path, all_final_pairs: bool = False):
    """FF19's split of the table at ``path``, as the pipelines make it."""
    from session_recs.framework.datasets import OnlineRetailDataset
    from session_recs.framework.project import load_parameters, prepare_split

    params = load_parameters(ROOT / "conf", "online_retail")
    params["split"] = {**params["split"], "all_final_pairs": all_final_pairs}
    raw = OnlineRetailDataset(filepath=str(path)).load()
    return params, prepare_split(raw, params)


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM; unlike ru_maxrss, not inherited from
    the parent that started it)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def ar_ff19_alone(path: Path, queue: mp.Queue) -> None:
    """Fit + evaluate association_rules (ff19) once; the process's memory before and after."""
    from session_recs.pipelines.modeling import evaluate_recommender, fit_recommender

    params, (train, validation, test_pairs, test_sessions) = prepare(path)
    before = current_mb()
    loaded_peak = peak_mb()
    model_params = params["association_rules_ff19"]["model"]
    # FF19's protocol: fit, then Recall/MRR@K of the 1,000 test pairs from the last item.
    ff19_protocol = {**params["evaluation"], "contexts": ["last_item"]}
    fits, totals = [], []
    for _ in range(REPEATS):  # the first run includes one-off imports and allocations
        start = time.perf_counter()
        model = fit_recommender(train, validation, model_params)
        fits.append(time.perf_counter() - start)
        evaluate_recommender(model, train, test_pairs, test_sessions, ff19_protocol)
        totals.append(time.perf_counter() - start)
    start = time.perf_counter()
    model = fit_recommender(train, validation, model_params)
    metrics, _ = evaluate_recommender(model, train, test_pairs, test_sessions, params["evaluation"])
    total = time.perf_counter() - start
    recall = metrics[
        (metrics.metric == "recall") & (metrics.k == 10) & (metrics.context == "last_item")
    ]["value"].iloc[0]
    queue.put(
        {
            "fit": statistics.median(fits),
            "ff19_total": statistics.median(totals),
            "ff19_first": totals[0],
            "ff19_best": min(totals),
            "total": total,
            "before": before,
            "loaded_peak": loaded_peak,
            "peak": peak_mb(),
            "recall": recall,
        }
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED)
    args = parser.parse_args()
    if not args.data.exists():
        print(f"Online Retail not found at {args.data}; pass --data")
        return 1

    from session_recs.evaluation.next_event import EvaluationConfig, evaluate_model
    from session_recs.pipelines.modeling import fit_recommender
    from session_recs.pipelines.namespaces import BASELINE_MODELS

    params, (train, validation, test_pairs, test_sessions) = prepare(args.data)
    _, (all_train, _, all_pairs, all_sessions) = prepare(args.data, all_final_pairs=True)
    config = EvaluationConfig.model_validate(params["evaluation"])
    print(
        f"Online Retail, FF19 split: {train['session_id'].nunique():,} training sessions, "
        f"{len(test_pairs):,} test pairs; all final pairs outside validation: "
        f"{len(all_pairs):,}\n"
    )
    print(
        f"{'model':<24} {'fit s':>6} {'eval s':>7} {'all pairs s':>11} {'pred/s':>9} "
        f"{'recall@10':>9}"
    )
    for name in BASELINE_MODELS:
        model_params = params[name]["model"]
        start = time.perf_counter()
        model = fit_recommender(train, validation, model_params)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        metrics = evaluate_model(model, train, test_pairs, test_sessions, config)
        eval_s = time.perf_counter() - start
        start = time.perf_counter()
        evaluate_model(model, all_train, all_pairs, all_sessions, config)
        all_s = time.perf_counter() - start
        per_s = 2 * len(all_pairs) / all_s
        recall = metrics[
            (metrics.metric == "recall") & (metrics.k == 10) & (metrics.context == "last_item")
        ]["value"].iloc[0]
        print(
            f"{name:<24} {fit_s:>6.2f} {eval_s:>7.2f} {all_s:>11.2f} {per_s:>9,.0f} {recall:>9.4f}"
        )

    queue: mp.Queue = mp.get_context("spawn").Queue()
    worker = mp.get_context("spawn").Process(target=ar_ff19_alone, args=(args.data, queue))
    worker.start()
    result = queue.get()
    worker.join()
    print(
        f"\nassociation_rules (ff19) in a fresh process (targets: <= 0.5 s, <= 300 MB; "
        f"FF19's code ~41 s, ~2.6 GB):\n"
        f"  fit {result['fit']:.2f} s; fit + FF19's evaluation (1,000 pairs, last item, "
        f"K 5/10/20, 1,000 bootstrap resamples): median of {REPEATS} "
        f"{result['ff19_total']:.2f} s (first {result['ff19_first']:.2f} s, best "
        f"{result['ff19_best']:.2f} s); fit + the "
        f"pipeline's evaluation (both contexts) {result['total']:.2f} s\n"
        f"  memory: {result['before']:.0f} MB after loading the data (peak while loading "
        f"{result['loaded_peak']:.0f} MB); peak of the whole process {result['peak']:.0f} MB "
        f"(model + evaluation: +{max(result['peak'] - result['loaded_peak'], 0):.0f} MB); "
        f"Recall@10 {result['recall']:.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
