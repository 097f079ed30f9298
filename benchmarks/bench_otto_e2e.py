"""Issue 27's end-to-end run on an OTTO-shaped log: ingest → sessionize → split, then fit
and evaluate sequential_rules, markov, item_knn, session_knn and vstan, as one
`kedro run`, with the wall time and peak memory of every node.

1. ``python -m session_recs make-demo --shape otto --events N --items I`` writes the log
   into a fresh copy of the project (kept in --cache between runs: the same log for the
   same size and seed).
2. ``python -m session_recs run --pipelines=ingest,sessionize,split,baseline
   --namespaces=<the five> --params=dataset=otto_synthetic,split.test_fraction=F`` under
   ``/usr/bin/time -v``, F chosen so the temporal split tests about --predictions
   sessions (one last-pair query each); the resident memory of the process tree is
   sampled every 0.2 s and each node's share is read from Kedro's log (bench_scale.py's
   method).

Usage: python benchmarks/bench_otto_e2e.py [--events 10000000] [--items 1800000]
       [--predictions 100000] [--cache /tmp/session_recs_logs]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_scale import run_pipeline

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("sequential_rules", "markov", "item_knn", "session_knn", "vstan")
#: OTTO's mean session length (make-demo's default shape): sessions = events / this.
MEAN_LENGTH = 16.8


def log_file(cache: Path, events: int, items: int, seed: int) -> Path:
    """The generated log, made once per size and seed."""
    path = cache / f"otto-{events}-{items}-{seed}.parquet"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "session_recs", "make-demo", "--shape", "otto"]
        command += ["--events", str(events), "--items", str(items), "--seed", str(seed)]
        command += ["--output", str(path)]
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--items", type=int, default=1_800_000)
    parser.add_argument("--predictions", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/session_recs_logs"))
    args = parser.parse_args()
    from session_recs.framework.project import copy_project

    source = log_file(args.cache, args.events, args.items, args.seed)
    sessions = args.events / MEAN_LENGTH
    fraction = min(0.49, max(1e-6, args.predictions / sessions))
    with tempfile.TemporaryDirectory() as folder:
        project = copy_project(ROOT, Path(folder) / "project")
        shutil.copy(source, project / "data/01_raw/otto_synthetic.parquet")
        run = ("--pipelines=ingest,sessionize,split,baseline", f"--namespaces={','.join(MODELS)}")
        run += (f"--params=dataset=otto_synthetic,split.test_fraction={fraction:.6f}",)
        result = run_pipeline(project, Path(folder) / "kedro.log", run)
    peak = max(result["tree_peak"], result["main_max_rss"]) / 1e9
    print(
        f"{args.events:,} events, {args.items:,} items, test_fraction {fraction:.6f}: "
        f"{result['wall_s']:.0f} s, peak {peak:.2f} GB"
    )
    print("| node | seconds | peak memory |\n| --- | --- | --- |")
    for name, seconds, peak in result["nodes"]:
        print(f"| {name} | {seconds:.1f} | {peak / 1e9:.2f} GB |")


if __name__ == "__main__":
    main()
