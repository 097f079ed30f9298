"""The data pipelines on a local Spark standalone cluster against the embedded default
(issue 27): `kedro run --pipelines=ingest,sessionize,split` on the demo and on UCI Online
Retail, three ways in fresh project copies, each timed as a whole command:

- ``default``: the catalog as shipped (tables under 2,000,000 rows stay with pandas);
- ``duckdb``: every table on DuckDB (``engine.min_rows: 0``);
- ``spark``: ``--env=spark`` on a master and 2 workers on 127.0.0.1 (2 cores and 2 GB
  each; one executor of one core on each), started from PySpark's wheel and stopped.

The seven tables of each run are compared with the default's: the script fails if any
differs. Needs the spark extra and Java 17; Online Retail is read from ../shared/data
(or SESSION_RECS_SHARED_DATA) and skipped, saying so, where it is absent.

Usage: python benchmarks/bench_spark.py [--datasets demo online_retail] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import pandas as pd

from bench_fresh_clone import timed_command

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SESSION_RECS_SHARED_DATA", ROOT.parent / "shared" / "data"))
RAW = {
    "demo": ROOT / "data" / "01_raw" / "demo_online_retail.parquet",
    "online_retail": SHARED / "online_retail.parquet",
}
TABLES = {
    "02_intermediate": ["interactions"],
    "03_primary": ["sessions", "item_catalog"],
    "05_model_input": ["train_sessions", "validation_pairs", "test_pairs", "test_sessions"],
}


def outputs(project: Path, dataset: str) -> dict[str, pd.DataFrame]:
    found = {}
    for layer, names in TABLES.items():
        for name in names:
            folder = project / "data" / layer / dataset / f"{name}.parquet"
            latest = sorted(p for p in folder.iterdir() if p.is_dir())[-1]
            found[name] = pd.read_parquet(latest / f"{name}.parquet")
    return found


def project_for(way: str, dataset: str, master: str, folder: Path) -> Path:
    from session_recs.framework.project import copy_project

    project = copy_project(ROOT, folder / f"{dataset}-{way}", [RAW[dataset]])
    globals_base = project / "conf" / "base" / "globals.yml"
    if way == "duckdb":
        globals_base.write_text(
            globals_base.read_text().replace("min_rows: 2000000", "min_rows: 0")
        )
    if way == "spark":
        spark = project / "conf" / "spark" / "globals.yml"
        text = spark.read_text().replace("spark://127.0.0.1:7077", master)
        text = text.replace("    spark.executor.memory: 2g\n", "")
        extra = {"spark.cores.max": 2, "spark.executor.cores": 1, "spark.executor.memory": "1g"}
        spark.write_text(text + "".join(f"    {k}: {v}\n" for k, v in extra.items()))
    return project


def run(project: Path, dataset: str, way: str) -> float:
    """Seconds of `kedro run --pipelines=ingest,sessionize,split` one way."""
    args = ["run", "--pipelines=ingest,sessionize,split", f"--params=dataset={dataset}"]
    return timed_command(project, args + (["--env=spark"] if way == "spark" else []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["demo", "online_retail"])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    from session_recs.data.spark_cluster import local_cluster

    rows = []
    with (
        tempfile.TemporaryDirectory() as scratch,
        local_cluster(workers=2, cores=2, memory="2g", folder=Path(scratch) / "cluster") as cluster,
    ):
        print(f"cluster: {cluster.master}, {cluster.workers_alive()} workers alive")
        for dataset in args.datasets:
            if not RAW[dataset].exists():
                print(f"{dataset}: skipped ({RAW[dataset]} is absent)")
                continue
            for attempt in range(args.repeat):
                times, tables = {}, {}
                for way in ("default", "duckdb", "spark"):
                    folder = Path(scratch) / f"{attempt}"
                    project = project_for(way, dataset, cluster.master, folder)
                    times[way] = run(project, dataset, way)
                    tables[way] = outputs(project, dataset)
                for way in ("duckdb", "spark"):
                    for name, frame in tables["default"].items():
                        pd.testing.assert_frame_equal(frame, tables[way][name], obj=f"{way} {name}")
                events = len(tables["default"]["interactions"])
                rows.append((dataset, events, times))
                print(
                    f"{dataset} ({events:,} interactions): default {times['default']:.1f} s, "
                    f"duckdb {times['duckdb']:.1f} s, spark {times['spark']:.1f} s; "
                    "the seven tables identical"
                )
    print("\n| dataset | interactions | default | DuckDB (every table) | Spark (2 workers) |")
    print("| --- | --- | --- | --- | --- |")
    for dataset, events, times in rows:
        print(
            f"| {dataset} | {events:,} | {times['default']:.1f} s | {times['duckdb']:.1f} s "
            f"| {times['spark']:.1f} s |"
        )


if __name__ == "__main__":
    main()
