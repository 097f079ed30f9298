"""Serving latency and throughput of a fitted recommender under `mlflow models serve`.

The model is fitted on rsc15_100k's training sessions (../shared/data/rsc15_100k) with
the options of that dataset's block in parameters_datasets.yml, logged as the tracked
runs log it (session_recs.models.pyfunc.log_model, to a temporary MLflow store), and served by
``mlflow models serve --env-manager local`` on a free loopback port. The requests are
prefixes of rsc15_100k's test sessions, cut at random, sent as JSON over HTTP with
keep-alive connections:

- one session per request, one client, one request at a time: latency p50 / p90 / p99;
- 100 sessions per request, one client: latency p50 / p90 / p99;
- one session per request from ``--clients`` concurrent clients for ``--seconds``:
  requests per second and latency p50 / p90 / p99.

The clients run on the same two cores as the server, so the figures are this machine's
whole round trip (JSON, HTTP, MLflow's schema checks, the model), not the model alone.

Usage: python benchmarks/bench_serving.py [--model session_knn] [--clients 8]
                                          [--seconds 20] [--workers 1]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
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

import numpy as np

warnings.filterwarnings("ignore")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fitted_model(model: str, folder: Path) -> tuple[Path, list[list[str]]]:
    """The model fitted on rsc15_100k's training sessions, saved to ``folder``, and
    5,000 test-session prefixes to ask with."""
    from bench_rsc15 import load_sessions
    from session_recs.framework.project import load_parameters
    from session_recs.models import build_model
    from session_recs.models.state import write_model

    full, _, test = load_sessions(SHARED / "rsc15_100k")
    spec = load_parameters(ROOT / "conf", "rsc15_100k")[model]["model"]
    start = time.perf_counter()
    fitted = build_model(spec["kind"], spec.get("options") or {}).fit(full)
    print(f"{model}: fitted on {len(full):,} clicks in {time.perf_counter() - start:.1f} s")
    path = folder / f"{model}.npz"
    with open(path, "wb") as file:
        write_model(fitted, file)
    rng = np.random.default_rng(0)
    groups = test.sort_values(["session_id", "position"]).groupby("session_id")["item_id"]
    sessions = [list(map(str, items)) for _, items in groups]
    prefixes = []
    for at in rng.choice(len(sessions), 5000):
        items = sessions[at]
        prefixes.append(items[: rng.integers(1, len(items) + 1)])
    return path, prefixes


@contextlib.contextmanager
def server(model_uri: str, tracking_uri: str, workers: int, log: Path):
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri]
    command += ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_ALLOW_FILE_STORE": "true"}
    with log.open("w") as output:
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise SystemExit(f"mlflow models serve exited:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5)
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"the server never answered:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


class Client:
    """One keep-alive HTTP connection to the server's /invocations."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def ask(self, sessions: list[list[str]], k: int = 20) -> float:
        body = json.dumps(
            {"dataframe_records": [{"items": s} for s in sessions], "params": {"k": k}}
        )
        start = time.perf_counter()
        self.connection.request("POST", "/invocations", body, {"Content-Type": "application/json"})
        response = self.connection.getresponse()
        answer = response.read()
        elapsed = time.perf_counter() - start
        if response.status != 200:
            raise SystemExit(f"HTTP {response.status}: {answer[:500]!r}")
        return elapsed


def percentiles(seconds: list[float]) -> str:
    ms = np.asarray(seconds) * 1000
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return f"p50 {p50:.1f} ms, p90 {p90:.1f} ms, p99 {p99:.1f} ms ({len(ms):,} requests)"


def concurrent(port: int, prefixes: list[list[str]], clients: int, seconds: float) -> None:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    stop = time.perf_counter() + seconds

    def run(number: int) -> None:
        client, at = Client(port), number
        while time.perf_counter() < stop:
            latencies[number].append(client.ask([prefixes[at % len(prefixes)]]))
            at += clients

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    done = [value for values in latencies for value in values]
    print(f"{clients} concurrent clients, 1 session each: {len(done) / elapsed:,.0f} requests/s;")
    print(f"  {percentiles(done)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="session_knn")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    import mlflow

    from session_recs.models import pyfunc as serving

    folder = Path(tempfile.mkdtemp(prefix="bench_serving_"))
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    tracking_uri = f"file://{folder / 'mlruns'}"
    mlflow.set_tracking_uri(tracking_uri)
    path, prefixes = fitted_model(args.model, folder)
    with mlflow.start_run():
        logged = serving.log_model(path)
    print(f"logged as {logged.model_uri}; {args.workers} server worker(s); k = 20")
    with server(logged.model_uri, tracking_uri, args.workers, folder / "serve.log") as port:
        client = Client(port)
        for session in prefixes[:50]:  # warm-up
            client.ask([session])
        single = [client.ask([session]) for session in prefixes[:2000]]
        print(f"1 session per request: {percentiles(single)}")
        batches = [client.ask(prefixes[at : at + 100]) for at in range(0, 5000, 100)] * 1
        print(f"100 sessions per request: {percentiles(batches)}")
        concurrent(port, prefixes, args.clients, args.seconds)


if __name__ == "__main__":
    main()
