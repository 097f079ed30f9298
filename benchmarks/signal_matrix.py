"""Issue 24's signal matrix: Ctrl-C (SIGINT to the process group) and SIGTERM (to the
process) at five moments of the default run and of a served model, and at three of
``kedro viz run``; a Markdown table of command x moment x signal -> exit code, seconds
from the signal to the exit, the one line printed, and the state after.

Everything runs through the public commands, on a copy of the demo project in a temporary
folder:

- ``run``: ``python -m session_recs run`` (and ``kedro run`` for one moment), in order in
  one project, each run the "next run" of the one before; then a run to the end. The
  save is made slow (a Parquet dataset of the copy's own, set for ``train_sessions`` in
  its conf/local, writes half the file and waits) so the signal lands inside it. State:
  every saved version of every dataset reads whole, no half-written file is left.
- ``serve-mlflow``: ``python -m session_recs serve-mlflow`` on the run's sequential_rules
  model (saved as an MLflow model folder), on a loopback port. State: nothing answers on
  the port after the exit; then the model serves a request again.
- ``kedro viz run`` on the project. State: no saved file changed.

Usage: python benchmarks/signal_matrix.py [--both] [--only run|serve|viz]
(``--both``: every moment with both signals; the whole matrix takes ~15 minutes here.)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd

from session_recs.models.state import read_model
from session_recs.project import copy_project

ROOT = Path(__file__).resolve().parents[1]
DEMO_TABLE = ROOT / "data" / "01_raw" / "demo_online_retail.parquet"
PY = [sys.executable, "-m", "session_recs"]
KEDRO = [sys.executable, "-m", "kedro"]
ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "RAY_USAGE_STATS_ENABLED": "0"}
#: Seconds a command may take to stop before it counts as hung (the issue's bound is 10).
HANG_S = 60

SLOW_SAVE = """
import io, os, sys, time
from kedro_datasets.pandas import ParquetDataset

class SlowParquetDataset(ParquetDataset):
    def save(self, data):
        if not os.environ.get("SLOW_SAVE"):
            return super().save(data)
        buffer = io.BytesIO()
        data.to_parquet(buffer, index=False)
        payload = buffer.getvalue()
        with self._fs.open(str(self._get_save_path()), mode="wb") as file:
            file.write(payload[: len(payload) // 2])
            file.flush()
            print("slow save: half written", file=sys.stderr, flush=True)
            time.sleep(60)
            file.write(payload[len(payload) // 2 :])
        self._invalidate_cache()
"""
SLOW_CATALOG = """
train_sessions:
  type: slow_save.SlowParquetDataset
  filepath: data/05_model_input/${runtime_params:dataset,demo}/train_sessions.parquet
  versioned: true
"""

#: (program, moment, output marker, settle seconds, first signal)
RUN_MOMENTS = [
    (PY, "ingest", "Dataset demo: report.k", 0.3, signal.SIGINT),
    (PY, "while saving", "slow save: half written", 0.5, signal.SIGTERM),
    (PY, "model fit (word2vec)", "word2vec:", 1.0, signal.SIGINT),
    (KEDRO, "evaluation", "Completed 19 out of", 0.2, signal.SIGTERM),
    (PY, "report", "Completed 36 out of", 0.3, signal.SIGINT),
]


def free_port() -> int:
    """A free loopback port below 49152 (kedro-viz refuses higher ones)."""
    for port in random.sample(range(20000, 40000), 200):
        with socket.socket() as probe, contextlib.suppress(OSError):
            probe.bind(("127.0.0.1", port))
            return port
    raise OSError("no free TCP port between 20000 and 40000")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def post_until_refused(url: str, body: bytes | None) -> None:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    while True:
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
        except urllib.error.HTTPError:
            continue
        except OSError:
            return


def interrupt(
    command,
    cwd,
    log: Path,
    *,
    marker=None,
    ready=None,
    load=None,
    settle=0.0,
    signum=signal.SIGINT,
    env=None,
):
    """Start ``command``; at ``marker`` in its output (or once ``ready`` answers, then
    with ``load(url)`` running in 8 threads) plus ``settle`` s, send ``signum`` (SIGINT:
    to the group). Exit code (None: hung), seconds to exit, output."""
    with log.open("w") as sink:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env or ENV,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 300
        while not (marker and marker in log.read_text()) and not (ready and answers(ready)):
            if process.poll() is not None or time.monotonic() > deadline:
                return process.poll(), float("nan"), log.read_text()
            time.sleep(0.05)
        for _ in range(8 if load else 0):
            threading.Thread(target=load, daemon=True).start()
        time.sleep(settle)
        (os.killpg if signum == signal.SIGINT else os.kill)(process.pid, signum)
        sent = time.monotonic()
        try:
            code = process.wait(HANG_S)
        except subprocess.TimeoutExpired:
            code = None
        return code, time.monotonic() - sent, log.read_text()
    finally:
        # SIGTERM first: serve-mlflow then stops the server it started in a session of its own.
        if process.poll() is None:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(HANG_S)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("Error:")]
    noise = " + traceback" if "Traceback" in output else ""
    if len(lines) != 1:
        return f"{len(lines)} error lines{noise}"
    return lines[0][: lines[0].find(":", len("Error: Stopped by ")) + 1] + " …" + noise


def whole_versions(project: Path) -> str:
    """ "N whole" when every saved version reads whole, else what is wrong."""
    data = project / "data"
    count = 0
    for saved in sorted(p for p in data.glob("0[2-8]_*/**/*") if p.is_file()):
        if saved.name.endswith(".partial") or saved.parent.parent.name != saved.name:
            return f"stray file {saved.name}"
        try:
            if saved.suffix == ".parquet":
                pd.read_parquet(saved)
            elif saved.suffix == ".json":
                json.loads(saved.read_text())
            elif saved.suffix == ".npz":
                with saved.open("rb") as file:
                    read_model(file, str(saved))
            elif saved.suffix == ".html":
                assert saved.read_text().rstrip().endswith("</html>")
            elif saved.suffix == ".png":
                assert saved.read_bytes()[-12:-4] == b"\x00\x00\x00\x00IEND"
        except Exception as error:  # the table says what broke
            return f"torn {saved.name}: {type(error).__name__}"
        count += 1
    return f"{count} versions whole"


def signals_for(first: signal.Signals, both: bool) -> list[signal.Signals]:
    other = signal.SIGTERM if first == signal.SIGINT else signal.SIGINT
    return [first, other] if both else [first]


def run_rows(work: Path, both: bool) -> tuple[list[dict], Path]:
    project = copy_project(ROOT, work / "project", [DEMO_TABLE])
    (project / "src").mkdir()  # kedro's own CLI wants the project's source folder
    (project / "slow_save.py").write_text(SLOW_SAVE)
    (project / "conf" / "local" / "catalog.yml").write_text(SLOW_CATALOG)
    rows = []
    for program, moment, marker, settle, first in RUN_MOMENTS:
        for signum in signals_for(first, both):
            env = {**ENV, "SLOW_SAVE": "1"} if "saving" in moment else ENV
            code, seconds, output = interrupt(
                [*program, "run"],
                project,
                work / "run.log",
                marker=marker,
                settle=settle,
                signum=signum,
                env=env,
            )
            name = "kedro run" if program is KEDRO else "python -m session_recs run"
            rows.append(
                dict(
                    command=name,
                    moment=moment,
                    signal=signum.name,
                    exit=code,
                    seconds=seconds,
                    line=one_line(output),
                    state=whole_versions(project),
                )
            )
            print(rows[-1], file=sys.stderr)
    final = subprocess.run([*PY, "run"], cwd=project, env=ENV, capture_output=True, check=False)
    for row in rows:
        row["next run"] = f"exit {final.returncode}"
    return rows, project


def serve_rows(work: Path, project: Path, both: bool) -> list[dict]:
    from session_recs import serving

    model_file = sorted((project / "data/06_models/demo/sequential_rules.npz").glob("*/*"))[-1]
    folder = work / "served"
    serving.save_model(model_file, folder)
    with model_file.open("rb") as file:
        first, second = (
            str(item) for item in read_model(file, str(model_file)).fitted_index().ids[:2]
        )
    good = json.dumps({"dataframe_records": [{"items": [first]}] * 200}).encode()
    large = json.dumps({"dataframe_records": [{"items": [first, second]}] * 20_000})
    moments = [
        ("loading", "Selected backend for flavor", None, 0.5, signal.SIGINT),
        ("idle", None, None, 0.5, signal.SIGTERM),
        ("during a request", None, large.encode(), 0.5, signal.SIGINT),
        ("request flood", None, good, 1.0, signal.SIGTERM),
        ("malformed flood", None, b"[" * 100_000, 1.0, signal.SIGINT),
    ]
    rows = []
    for moment, marker, body, settle, first in moments:
        for signum in signals_for(first, both):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            command = [*PY, "serve-mlflow", str(folder), "--port", str(port)]
            code, seconds, output = interrupt(
                command,
                work,
                work / "serve.log",
                marker=marker,
                ready=None if marker else f"{url}/ping",
                settle=settle,
                signum=signum,
                load=(lambda u=url, b=body: post_until_refused(f"{u}/invocations", b))
                if body
                else None,
            )
            state = "port still answers" if answers(f"{url}/ping") else "server gone"
            rows.append(
                dict(
                    command="python -m session_recs serve-mlflow",
                    moment=moment,
                    signal=signum.name,
                    exit=code,
                    seconds=seconds,
                    line=one_line(output),
                    state=state,
                )
            )
            print(rows[-1], file=sys.stderr)
    port = free_port()
    again = subprocess.Popen(
        [*PY, "serve-mlflow", str(folder), "--port", str(port)],
        cwd=work,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not answers(f"http://127.0.0.1:{port}/ping") and time.monotonic() < deadline:
            time.sleep(0.3)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=good,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            served = f"serves: HTTP {response.status}"
    except OSError as error:
        served = f"serves: {error}"
    finally:
        # SIGTERM: serve-mlflow stops the server it started in a session of its own
        # (a SIGKILL would leave that server running).
        again.terminate()
        again.wait(HANG_S)
    for row in rows:
        row["next run"] = served
    return rows


def viz_rows(work: Path, project: Path, both: bool) -> list[dict]:
    def saved() -> dict:
        return {p: p.stat().st_mtime_ns for p in (project / "data").rglob("*") if p.is_file()}

    moments = [
        ("building", "Starting Kedro Viz", False, 1.0, signal.SIGINT),
        ("idle", None, False, 0.5, signal.SIGTERM),
        ("requests", None, True, 1.0, signal.SIGINT),
    ]
    rows = []
    for moment, marker, load, settle, first in moments:
        for signum in signals_for(first, both):
            before = saved()
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            command = [
                *KEDRO,
                "viz",
                "run",
                "--no-browser",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ]
            code, seconds, output = interrupt(
                command,
                project,
                work / "viz.log",
                marker=marker,
                ready=None if marker else f"{url}/api/main",
                settle=settle,
                signum=signum,
                load=(lambda u=url: post_until_refused(f"{u}/api/main", None)) if load else None,
            )
            state = "saved files unchanged" if saved() == before else "saved files changed"
            if answers(f"{url}/api/main"):
                state += "; port still answers"
            rows.append(
                dict(
                    command="kedro viz run",
                    moment=moment,
                    signal=signum.name,
                    exit=code,
                    seconds=seconds,
                    line=one_line(output),
                    state=state,
                    **{"next run": "-"},
                )
            )
            print(rows[-1], file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--both", action="store_true", help="every moment with both signals")
    parser.add_argument("--only", choices=("run", "serve", "viz"), help="one command only")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="signal_matrix_") as tmp:
        work = Path(tmp)
        # serve and viz use the run's project and model.
        rows, project = run_rows(work, args.both)
        if args.only not in (None, "run"):
            rows = []
        if args.only in (None, "serve"):
            rows += serve_rows(work, project, args.both)
        if args.only in (None, "viz"):
            rows += viz_rows(work, project, args.both)
    print("| command | moment | signal | exit | s to exit | line | state | next run |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        exit_code = "hung" if row["exit"] is None else row["exit"]
        print(
            f"| {row['command']} | {row['moment']} | {row['signal']} | {exit_code} | "
            f"{row['seconds']:.1f} | {row['line']} | {row['state']} | {row['next run']} |"
        )
    print(f"\n{len(rows)} cases in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
