"""The counting models fitted from the columnar engine's table against the same fit in
memory, on the training sessions of a generated OTTO-shaped log: seconds and the
process's peak memory (each fit in a fresh process), and whether the matrices are equal.

1. The log (bench_otto_e2e.py's, cached by size and seed) goes through ``python -m
   session_recs run --pipelines=ingest,sessionize,split`` in a fresh project copy.
2. For each model: ``fit`` on the DataFrame pandas loads, then on the DuckDB table (with
   the catalog's engine settings: 4 GB, spilling), each in its own process; item_knn's
   engine path is forced on DuckDB (it counts on Spark only by default).

Usage: python benchmarks/bench_engine_fits.py [--events 10000000] [--items 1800000]
       [--models markov sequential_rules item_knn association_rules]
       [--cache /tmp/session_recs_logs]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_fresh_clone import timed_command
from bench_otto_e2e import log_file

ROOT = Path(__file__).resolve().parents[1]

FIT = """
import hashlib, json, resource, sys, time
import pandas as pd
from session_recs.data import engine
from session_recs.models import build_model
from session_recs.models.knn import ItemKNN

path, kind, mode, spill = sys.argv[1:5]
ItemKNN.counts_on_engines = ("duckdb", "pyspark")
if mode == "memory":
    train = pd.read_parquet(path)
else:
    con = engine.connection({"memory_limit": "4GB", "spill": spill})
    train = engine.read_interactions(con, path)
start = time.perf_counter()
model = build_model(kind, {}).fit(train)
seconds = time.perf_counter() - start
m = (model.matrix if model.matrix is not None else model._counts).tocsr()  # AR: its counts
m.sort_indices()
digest = hashlib.sha256(m.indptr.tobytes() + m.indices.tobytes() + m.data.tobytes()).hexdigest()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "peak": peak, "nnz": int(m.nnz), "sha256": digest}))
"""


def fit(path: Path, kind: str, mode: str, spill: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", FIT, str(path), kind, mode, str(spill)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{kind} ({mode}) failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--items", type=int, default=1_800_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--models",
        nargs="+",
        default=["markov", "sequential_rules", "item_knn", "association_rules"],
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/session_recs_logs"))
    args = parser.parse_args()
    from session_recs.framework.project import copy_project

    source = log_file(args.cache, args.events, args.items, args.seed)
    with tempfile.TemporaryDirectory() as folder:
        project = copy_project(ROOT, Path(folder) / "project")
        shutil.copy(source, project / "data/01_raw/otto_synthetic.parquet")
        timed_command(
            project,
            ["run", "--pipelines=ingest,sessionize,split", "--params=dataset=otto_synthetic"],
        )
        (train,) = (project / "data/05_model_input/otto_synthetic").glob(
            "train_sessions.parquet/*/train_sessions.parquet"
        )
        spill = project / "data/.spill"
        size = train.stat().st_size / 1e6
        print(f"{args.events:,} events, {args.items:,} items: train_sessions {size:.0f} MB")
        print("| model | in memory | peak | on DuckDB | peak | equal |")
        print("| --- | --- | --- | --- | --- | --- |")
        for kind in args.models:
            memory, table = fit(train, kind, "memory", spill), fit(train, kind, "engine", spill)
            equal = "yes" if memory["sha256"] == table["sha256"] else "NO"
            print(
                f"| {kind} | {memory['seconds']:.1f} s | {memory['peak'] / 1e9:.2f} GB "
                f"| {table['seconds']:.1f} s | {table['peak'] / 1e9:.2f} GB "
                f"| {equal} ({memory['nnz']:,} entries) |"
            )


if __name__ == "__main__":
    main()
