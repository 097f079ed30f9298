"""The data layer at OTTO's scale on the columnar engine (issue 27): ingest, sessionize and
split of generated OTTO-shaped logs, each size in a fresh process, with the time of each
step, events per second and the process's peak memory (DuckDB's included).

Each log is written by the project's own generator (``make-demo --shape otto``; 1.8 M
items at every size, as OTTO) and kept in --cache between runs. Every step reads the
step before's Parquet and writes its own, as the pipelines do; DuckDB gets at most
--memory-limit and spills the rest to a folder beside the outputs.

Usage: python benchmarks/bench_data_scale.py [--events 10000000 100000000 220000000]
       [--items 1800000] [--memory-limit 6GB] [--cache /tmp/session_recs_logs]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

OTTO = {"session_key": "session", "item_id": "aid", "timestamp": "ts"}


def data_layer(log: Path, folder: Path, memory_limit: str, queue: mp.Queue) -> None:
    """Ingest, sessionize (OTTO's sessions as they are, in time order) and split
    (temporal: the latest tenth tested) one log; put the report on ``queue``."""
    from session_recs.data import columnar, engine
    from session_recs.data.sessionize import SessionizeConfig
    from session_recs.data.split import SplitConfig

    con = engine.connect(memory_limit=memory_limit, threads=2, spill=folder / "spill")
    laps: dict[str, float] = {}
    start = time.perf_counter()
    interactions = engine.interactions_from_parquet(con, log, OTTO)
    # Written in its row order, which read_interactions numbers again.
    con.to_parquet(interactions.drop("_row"), folder / "interactions.parquet")
    laps["ingest"] = time.perf_counter() - start
    lap = time.perf_counter()
    sessions, log_ = columnar.sessionize_table(
        engine.read_interactions(con, folder / "interactions.parquet"),
        SessionizeConfig(strategy="customer", order="time", min_session_length=2),
    )
    con.to_parquet(sessions, folder / "sessions.parquet")
    laps["sessionize"] = time.perf_counter() - lap
    lap = time.perf_counter()
    split = columnar.split_table(
        con.read_parquet(folder / "sessions.parquet"),
        SplitConfig(strategy="temporal", test_fraction=0.1, validation_fraction=0.1),
    )
    con.to_parquet(split.train_sessions, folder / "train_sessions.parquet")
    con.to_parquet(split.test_sessions, folder / "test_sessions.parquet")
    split.test_pairs.to_parquet(folder / "test_pairs.parquet")
    split.validation_pairs.to_parquet(folder / "validation_pairs.parquet")
    laps["split"] = time.perf_counter() - lap
    laps["total"] = time.perf_counter() - start
    queue.put(
        {
            "events": log_["input_rows"],
            "sessions": log_["output"]["sessions"],
            "items": log_["output"]["items"],
            "test_pairs": len(split.test_pairs),
            "laps": laps,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


def measure(log: Path, memory_limit: str) -> dict:
    """:func:`data_layer` in a fresh process (its own peak memory) and a fresh folder."""
    context = mp.get_context("spawn")
    queue = context.Queue()
    with tempfile.TemporaryDirectory(dir=log.parent) as folder:
        process = context.Process(target=data_layer, args=(log, Path(folder), memory_limit, queue))
        process.start()
        result = queue.get()
        process.join()
    return result


def generated(events: int, items: int, cache: Path) -> Path:
    """The OTTO-shaped log of ``events`` over ``items`` (seed 0), written once."""
    from session_recs.data.synthetic_logs import LogShape, write_log

    path = cache / f"otto_{events}_{items}.parquet"
    if not path.exists():
        start = time.perf_counter()
        write_log(LogShape(events=events, items=items), path)
        print(f"generated {path.name} in {time.perf_counter() - start:.0f}s", flush=True)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[10**7, 10**8, 22 * 10**7])
    parser.add_argument("--items", type=int, default=1_800_000)
    parser.add_argument("--memory-limit", default="6GB")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "session_recs_logs"
    )
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    print(
        "events | sessions | ingest s | sessionize s | split s | total s | events/s | "
        "peak RSS | ns/event"
    )
    first = None
    for events in args.events:
        result = measure(generated(events, args.items, args.cache), args.memory_limit)
        laps = result["laps"]
        per_event = laps["total"] / result["events"] * 1e9
        first = first or per_event
        print(
            f"{result['events']:,} | {result['sessions']:,} | {laps['ingest']:.1f} | "
            f"{laps['sessionize']:.1f} | {laps['split']:.1f} | {laps['total']:.1f} | "
            f"{result['events'] / laps['total']:,.0f} | {result['peak_mb'] / 1024:.2f} GB | "
            f"{per_event:.0f} ({per_event / first:.2f}x the first size)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
