"""Latency and throughput of `python -m session_recs serve`, sessions kept server-side.

For each model (session_knn and sequential_rules by default):

1. fit it on rsc15_100k's training sessions (../shared/data/rsc15_100k, the options of
   that dataset's block in parameters_datasets.yml), or with ``--events N`` on a
   generated OTTO-shaped log of N events over ``--items`` items (its last 2% of sessions
   are the test sessions), and save it as the catalog does;
2. time the model alone, in this process: the served model's answer to every click of
   the test sessions (each click's session so far), p50 / p90 / p99;
3. start the service on a free loopback port (``serve --model-file``) and replay the test
   sessions click by click with wrk (Debian's package; ``benchmarks/wrk_replay.lua``):
   each request sends a session id and its next item, the service keeps the session. At
   each offered rate (``--rates``, requests per second, paced on a fixed schedule) wrk
   reports the achieved rate and p50 / p90 / p99; then the largest rate whose p90 is
   under 7 ms and p99 under 20 ms is looked for between the rates tried;
4. at ``--swap-rate`` (500/s), save a newer version beside the served one halfway through
   and swap it in (``POST /v1/admin/reload``): the requests that failed, if any.

wrk and the service share this machine's cores, as the issue's numbers assume.

Usage: python benchmarks/bench_service.py [--models session_knn sequential_rules]
           [--rates 250 500 1000 1500 2000] [--seconds 15] [--connections 32]
           [--events 10000000 --items 1000000]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import warnings
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
LUA = ROOT / "benchmarks" / "wrk_replay.lua"
sys.path.insert(0, str(ROOT / "benchmarks"))

K = 20
#: Clicks the service keeps per session (serve's default --session-items).
SESSION_ITEMS = 50
#: Sessions answered click by click at once in the replay file (the interleave).
WINDOW = 512


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rsc15_sessions() -> tuple[pd.DataFrame, list[list[str]], str]:
    from bench_rsc15 import load_sessions

    full, _, test = load_sessions(SHARED / "rsc15_100k")
    return full, session_lists(test), "rsc15_100k"


def otto_sessions(
    events: int, items: int, cache: Path
) -> tuple[pd.DataFrame, list[list[str]], str]:
    """A generated OTTO-shaped log as sessions: the latest 2% of sessions are tested."""
    from bench_otto_e2e import log_file

    log = pd.read_parquet(log_file(cache, events, items, 0))
    log = log.rename(columns={"session": "session_id", "aid": "item_id", "ts": "timestamp"})
    log["item_id"] = log["item_id"].astype(str)
    if not pd.api.types.is_datetime64_any_dtype(log["timestamp"]):
        log["timestamp"] = pd.to_datetime(log["timestamp"], unit="s")
    log = log.sort_values(["session_id", "timestamp"], kind="stable")
    log["position"] = log.groupby("session_id").cumcount()
    sessions = log["session_id"].unique()
    cut = sessions[int(len(sessions) * 0.98)]
    train = log[log["session_id"] < cut][["session_id", "position", "item_id", "timestamp"]]
    test = log[log["session_id"] >= cut]
    return train.reset_index(drop=True), session_lists(test), f"otto {events:.0e} events"


def session_lists(test: pd.DataFrame) -> list[list[str]]:
    groups = test.sort_values(["session_id", "position"]).groupby("session_id")["item_id"]
    return [list(map(str, items)) for _, items in groups if len(items) > 1]


def fit(model: str, train: pd.DataFrame, folder: Path) -> Path:
    from session_recs.framework.project import load_parameters
    from session_recs.models import build_model
    from session_recs.models.state import write_model

    spec = load_parameters(ROOT / "conf", "rsc15_100k")[model]["model"]
    start = time.perf_counter()
    fitted = build_model(spec["kind"], spec.get("options") or {}).fit(train)
    print(f"{model}: fitted on {len(train):,} events in {time.perf_counter() - start:.1f} s")
    path = folder / f"{model}.npz" / FIRST / f"{model}.npz"  # as the catalog saves
    path.parent.mkdir(parents=True)
    with open(path, "wb") as file:
        write_model(fitted, file)
    return path


FIRST, SECOND = "2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z"


def swap_under_load(url: str, model_file: Path, paths: Path, args: argparse.Namespace) -> dict:
    """wrk at ``--swap-rate`` requests/s while a newer version is saved beside the served
    one and swapped in (``POST /v1/admin/reload``) halfway: the failed requests, and the
    versions served before and after."""
    newer = model_file.parents[1] / SECOND / model_file.name
    result: dict = {}

    def load() -> None:
        seconds, rate = args.seconds, args.swap_rate
        result.update(wrk(url, paths, rate, seconds, args.connections, args.threads))

    loading = threading.Thread(target=load)
    loading.start()
    time.sleep(args.seconds / 2)
    newer.parent.mkdir()
    shutil.copy(model_file, newer)
    request = urllib.request.Request(f"{url}/v1/admin/reload", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=60) as answer:
        swapped = json.load(answer)
    loading.join()
    return {**result, "swapped_to": swapped["version"], "swapped": swapped["swapped"]}


def model_times(path: Path, sessions: list[list[str]], clicks: int = 20_000) -> np.ndarray:
    """Milliseconds the served model takes for each click's session so far (its last
    ``SESSION_ITEMS`` clicks, as the service keeps them)."""
    from session_recs.apps.service.models import open_model_file

    served = open_model_file(path).current
    times = []
    for items in sessions:
        for at in range(1, len(items) + 1):
            start = time.perf_counter()
            served.answer(items[max(at - SESSION_ITEMS, 0) : at], K)
            times.append(time.perf_counter() - start)
        if len(times) >= clicks:
            break
    return np.array(times) * 1e3


def replay_file(sessions: list[list[str]], path: Path) -> int:
    """The sessions' clicks as request lines, ``WINDOW`` sessions interleaved."""
    lines = 0
    with path.open("w") as out:
        for first in range(0, len(sessions), WINDOW):
            group = sessions[first : first + WINDOW]
            for position in range(max(map(len, group))):
                for offset, items in enumerate(group):
                    if position < len(items):
                        number = first + offset
                        query = f"session_id=s{number}&item={quote(items[position])}&k={K}"
                        out.write(f"{number} /v1/recommend?{query}\n")
                        lines += 1
    return lines


@contextlib.contextmanager
def service(model_file: Path, log: Path):
    port = free_port()
    folder = model_file.parents[1]  # <model>.npz/: the service follows its newest version
    command = [sys.executable, "-m", "session_recs", "serve", "--model-file", str(folder)]
    command += ["--port", str(port), "--max-k", "100"]
    with log.open("w") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the service exited:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{url}/healthz", timeout=5)
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"the service never answered:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


#: Numbers each wrk run (its session ids' prefix).
RUNS = itertools.count()


def wrk(  # noqa: PLR0917 (wrk's own settings)
    url: str, paths: Path, rate: float, seconds: int, connections: int, threads: int
) -> dict:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s"]
    # Each run's own session ids: a run never continues the sessions of the one before.
    command += ["-s", str(LUA), url, "--", str(paths), str(rate), str(threads), f"w{next(RUNS)}-"]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    if run.returncode:
        raise SystemExit(f"wrk failed: {run.stdout[-2000:]}{run.stderr[-2000:]}")
    output = run.stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    result["rate"] = result["requests"] / result["seconds"]
    return result


def meets(result: dict) -> bool:
    return result["p90_ms"] < 7 and result["p99_ms"] < 20 and not result["failed"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["session_knn", "sequential_rules"])
    parser.add_argument("--rates", nargs="+", type=float, default=[250, 500, 1000, 1500, 2000])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--swap-rate", type=float, default=500, help="requests/s during a swap")
    parser.add_argument("--events", type=int, default=0, help="an OTTO-shaped log instead")
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/session_recs_logs"))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    if args.events:
        train, sessions, data = otto_sessions(args.events, args.items, args.cache)
    else:
        train, sessions, data = rsc15_sessions()
    print(f"{data}: {len(train):,} training events, {len(sessions):,} test sessions")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        paths = Path(folder) / "paths.txt"
        print(f"replay: {replay_file(sessions, paths):,} clicks")
        for model in args.models:
            model_file = fit(model, train, Path(folder))
            ms = np.percentile(model_times(model_file, sessions), [50, 90, 99])
            print(f"{model}: model alone p50/p90/p99 {ms[0]:.3f}/{ms[1]:.3f}/{ms[2]:.3f} ms")
            with service(model_file, Path(folder) / f"{model}.log") as url:
                wrk(url, paths, 0, 3, args.connections, args.threads)  # warm-up
                for rate in args.rates:
                    result = wrk(url, paths, rate, args.seconds, args.connections, args.threads)
                    rows.append({"model": model, "offered": rate, **result})
                    print(
                        f"  offered {rate:6.0f}/s: {result['rate']:7.1f}/s, p50/p90/p99 "
                        f"{result['p50_ms']:.2f}/{result['p90_ms']:.2f}/{result['p99_ms']:.2f} ms,"
                        f" failed {result['failed']}",
                        flush=True,
                    )
                best = max((r["rate"] for r in rows if r["model"] == model and meets(r)), default=0)
                print(f"  {model}: largest rate with p90 < 7 ms and p99 < 20 ms: {best:.0f}/s")
                swap = swap_under_load(url, model_file, paths, args)
                print(
                    f"  swap under {args.swap_rate:.0f}/s: {swap['requests']:,} requests, "
                    f"failed {swap['failed']}, non-2xx {swap['non_2xx']}, swapped "
                    f"{swap['swapped']} to {swap['swapped_to']}, p99 {swap['p99_ms']:.2f} ms",
                    flush=True,
                )
    print("\n| model | offered/s | achieved/s | p50 ms | p90 ms | p99 ms | failed |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['model']} | {r['offered']:.0f} | {r['rate']:.0f} | {r['p50_ms']:.2f} | "
            f"{r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['failed']} |"
        )


if __name__ == "__main__":
    main()
