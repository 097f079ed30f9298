"""RecSys15's clicks file read two ways, each in a fresh process: the pandas reader
(``read_recsys15_clicks``, the whole file in memory) and the columnar engine's path
(streamed into Parquet block by block, then counted by DuckDB), with wall time and the
process's peak memory. The file is generated in yoochoose-clicks.dat's layout.

Usage: python benchmarks/bench_recsys15_stream.py [--events 10000000 33000000]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv


def write_clicks(path: Path, events: int, seed: int = 0) -> None:
    """A headerless clicks file: session, ISO-8601 UTC time (ms), item, category."""
    rng = np.random.default_rng(seed)
    chunk = 5_000_000
    with path.open("wb") as out:
        for start in range(0, events, chunk):
            n = min(chunk, events - start)
            sessions = np.sort(rng.integers(start // 4, (start + n) // 4 + 1, n))
            millis = 1_396_310_400_000 + rng.integers(0, 15_552_000_000, n)
            text = pc.strftime(pa.array(millis, pa.timestamp("ms")), "%Y-%m-%dT%H:%M:%S")
            table = pa.table(
                {
                    "s": pa.array(sessions),
                    # %S of a millisecond timestamp writes 09.277: ISO-8601 with a Z
                    "t": pc.binary_join_element_wise(text, pa.scalar("Z"), ""),
                    "i": pa.array(214_500_000 + rng.zipf(1.3, n) % 60_000),
                    "c": pa.array(rng.choice(["0", "S", "2"], n)),
                }
            )
            pa_csv.write_csv(
                table, out, pa_csv.WriteOptions(include_header=False, quoting_style="none")
            )


def measure(way: str, path: Path, spill: Path, queue: mp.Queue) -> None:
    started = time.perf_counter()
    if way == "pandas":
        from session_recs.framework.datasets import RecSys15ClicksDataset

        rows = len(RecSys15ClicksDataset(str(path)).load())
    else:
        from session_recs.framework.datasets import RecSys15ClicksDataset

        engine = {"min_rows": 0, "spill": str(spill), "memory_limit": "4GB"}
        rows = int(RecSys15ClicksDataset(str(path), engine=engine).load().count().execute())
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    queue.put((rows, seconds, peak))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[10_000_000, 33_000_000])
    args = parser.parse_args()
    context = mp.get_context("spawn")
    print("| clicks | file | pandas reader | peak | streamed + engine | peak |")
    print("| --- | --- | --- | --- | --- | --- |")
    for events in args.events:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "yoochoose-clicks.dat"
            write_clicks(path, events)
            results = {}
            for way in ("pandas", "streamed"):
                queue: mp.Queue = context.Queue()
                process = context.Process(
                    target=measure, args=(way, path, Path(folder) / "spill", queue)
                )
                process.start()
                process.join()
                if process.exitcode:
                    results[way] = None
                    continue
                results[way] = queue.get()
            size = path.stat().st_size / 1e9
            cells = []
            for way in ("pandas", "streamed"):
                if results[way] is None:
                    cells += ["failed", "-"]
                else:
                    rows, seconds, peak = results[way]
                    assert rows == events, (way, rows)
                    cells += [f"{seconds:.1f} s", f"{peak:.2f} GB"]
            print(f"| {events:,} | {size:.2f} GB | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
