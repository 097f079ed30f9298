"""Time and peak memory of ingest + sessionize + split (issue #2's data-layer targets).

Cases, each in a fresh process so peak RSS is its own:

- ``online_retail``: the real UCI table (../shared/data/online_retail.parquet or --online-retail),
  FF19 parity settings. Target: under 5 s.
- ``synthetic``: a generated Online-Retail-schema table of --events rows (default 10 M).
  Target: under 3 minutes and under 8 GB.

Usage: python benchmarks/bench_data_layer.py [--events 10000000] [--cases online_retail synthetic]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

from session_recs.framework.datasets import OnlineRetailDataset

ROOT = Path(__file__).resolve().parents[1]
SHARED_TABLE = ROOT.parent / "shared" / "data" / "online_retail.parquet"
# The columns the project's Online Retail source maps (its catalog entry's dataset type).
RETAIL_COLUMNS = OnlineRetailDataset.COLUMNS


def data_layer(path: Path, queue: mp.Queue) -> None:
    """Read, ingest, sessionize (FF19 recipe) and split one table; report timings."""
    from session_recs.data.interactions import to_interactions, validate_interactions
    from session_recs.data.readers import read_online_retail
    from session_recs.data.sessionize import SessionizeConfig, item_catalog, sessionize
    from session_recs.data.split import SplitConfig, split_sessions

    laps = {}
    start = time.perf_counter()
    raw = read_online_retail(path)
    laps["read"] = time.perf_counter() - start
    interactions = validate_interactions(to_interactions(raw, RETAIL_COLUMNS))
    laps["ingest"] = time.perf_counter() - start - sum(laps.values())
    sessions = sessionize(
        interactions, SessionizeConfig(min_session_length=3, dropna_all_columns=True)
    )
    item_catalog(interactions, sessions)
    laps["sessionize"] = time.perf_counter() - start - sum(laps.values())
    split = split_sessions(sessions, SplitConfig(strategy="ff19", test_size=1000, seed=123))
    laps["split"] = time.perf_counter() - start - sum(laps.values())
    laps["total"] = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(
        {
            "rows": len(raw),
            "events": len(sessions),
            "sessions": int(sessions["session_id"].iloc[-1]) + 1,
            "train_events": len(split.train_sessions),
            "laps": laps,
            "peak_mb": peak_mb,
        }
    )


def measure(path: Path) -> dict:
    """Run :func:`data_layer` in a fresh process and return its report."""
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=data_layer, args=(path, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def show(name: str, result: dict) -> None:
    laps = ", ".join(f"{k} {v:.2f}s" for k, v in result["laps"].items())
    print(
        f"{name}: {result['rows']:,} rows -> {result['sessions']:,} sessions, "
        f"{result['events']:,} events; {laps}; peak RSS {result['peak_mb']:,.0f} MB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--online-retail", type=Path, default=SHARED_TABLE)
    parser.add_argument("--cases", nargs="+", default=["online_retail", "synthetic"])
    args = parser.parse_args()

    if "online_retail" in args.cases:
        if args.online_retail.exists():
            show("online_retail", measure(args.online_retail))
        else:
            print(f"online_retail: skipped, {args.online_retail} not found")
    if "synthetic" in args.cases:
        from session_recs.data.synthetic import generate_transactions, write_transactions

        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            path = write_transactions(
                generate_transactions(args.events, seed=7), Path(folder) / "synthetic.parquet"
            )
            print(f"generated {args.events:,}-event table in {time.perf_counter() - start:.1f}s")
            show(f"synthetic_{args.events}", measure(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
