"""The tune pipeline on UCI Online Retail: FF19's own search through it, and a budgeted search.

Runs ``python -m session_recs`` in a throw-away project (this repository's ``conf`` and
``pyproject.toml``, the real table copied to its ``data/01_raw``; nothing is written here),
after the data pipelines, on a local Ray sized to this machine:

- ``ff19_negative``: the search FF19's repository runs (a grid over 7 ``negative``
  values, 10 epochs each, no early stopping), ``--to-nodes=run_word2vec_search``. Prints
  the search's wall time, its best validation Recall@10 and the ratio to FF19's script
  (``--ff19-seconds``: about 200 s on this machine for a best validation Recall@10 of 0.226).
- ``budget``: the default ``efficient`` search (Optuna TPE + ASHA) under a wall-clock
  budget (``--budget-minutes``), then the whole tune pipeline: the best configuration is
  retrained (``word2vec_search``) and tested with FF19's protocol (last pair, last item),
  next to FF19's test Recall@10 of 0.252 from 539 full trials.

- ``models``: one run searching ``session_knn``, ``sequential_rules_plus`` and
  ``word2vec_ff19_default`` under one budget (``--budget-minutes``, shared), after their
  default versions ran: per model, trials per hour, validation and test Recall@10 /
  MRR@10 (95% intervals) before and after in ``last_item`` and ``session`` context, and
  the share of trial CPU time spent fitting and scoring.
- ``rsc15_knn``: ``session_knn`` on rsc15_100k (``--rsc15``), maximising validation
  MRR@20, tested under iterative revealing @20 (session-rec's best: VSTAN MRR@20 0.375).

The Word2Vec cases print trials per hour and the share of the run's CPU time spent in
gensim training epochs: the trials' own epoch CPU time (``train_cpu_s``, all gensim
threads, evaluation excluded) over the CPU time of the run's whole process tree (Kedro
driver, Ray's daemons, trial processes), sampled from /proc, so other work on a shared
machine does not count.

Usage: python benchmarks/bench_tune.py [--cases ff19_negative budget models rsc15_knn]
                                       [--budget-minutes 60]
                                       [--params tune.cpus_per_trial=2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

from bench_data_layer import SHARED_TABLE

ROOT = Path(__file__).resolve().parents[1]
FF19_SECONDS = 200.0
FF19_NEGATIVE_BEST = 0.226
FF19_TUNED_TEST = 0.252
DATASET = "online_retail"
PR_SET_CHILD_SUBREAPER = 36


def make_project(folder: Path, table: Path) -> Path:
    """A project copy with the real table in ``data/01_raw``, data pipelines already run."""
    from session_recs.framework.project import copy_project

    project = copy_project(ROOT, folder / "project", [table])
    kedro(project, "--pipelines=ingest,sessionize,split", f"--params=dataset={DATASET}")
    return project


class TreeCpu:
    """CPU seconds of every process below this one, sampled from /proc while a run lasts.

    This process adopts orphans (``PR_SET_CHILD_SUBREAPER``), so Ray's workers stay in the
    tree when their raylet goes first. A process is counted at its last sample: one that
    lives less than ``every_s`` is missed, which trial processes and Ray's daemons never do.
    """

    def __init__(self, every_s: float = 0.5) -> None:
        self.every_s = every_s
        self.seen: dict[tuple[int, int], float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.tick = os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> TreeCpu:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self._sample()

    @property
    def seconds(self) -> float:
        return sum(self.seen.values())

    def _loop(self) -> None:
        while not self.stop.wait(self.every_s):
            self._sample()

    def _sample(self) -> None:
        stats = {}
        for path in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = path.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # After the command name: state, ppid, ..., utime (12), stime (13), starttime (20).
            stats[int(path.parent.name)] = (int(fields[1]), fields[11], fields[12], fields[19])
        tree, grew = {os.getpid()}, True
        while grew:
            below = {pid for pid, (ppid, *_) in stats.items() if ppid in tree} - tree
            tree |= below
            grew = bool(below)
        for pid in tree - {os.getpid()}:
            _, utime, stime, start = stats[pid]
            self.seen[pid, int(start)] = (int(utime) + int(stime)) / self.tick


def kedro(project: Path, *args: str) -> dict:
    """``python -m session_recs run ARGS`` in ``project``: wall time, CPU time of its whole
    process tree, and its log. Raises with the log's end if the run fails."""
    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "true",
        "RAY_USAGE_STATS_ENABLED": "0",
        "COLUMNS": "200",
    }
    with TreeCpu() as cpu:
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "session_recs", "run", *args],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - start
        # Ray's workers outlive the driver by a moment: let them end inside the tree.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    time.sleep(0.2)
            except ChildProcessError:
                break
    log = result.stdout + result.stderr
    if result.returncode != 0:
        raise SystemExit(f"run {' '.join(args)} failed:\n{log[-5000:]}")
    return {"wall_s": wall, "cpu_s": cpu.seconds, "log": log}


def newest(project: Path, layer: str, name: str, dataset: str = DATASET) -> Path:
    folder = project / "data" / layer / dataset / name
    return sorted(p for p in folder.iterdir() if p.is_dir())[-1] / name


def search_figures(project: Path, run: dict) -> dict:
    """Figures of the search the run just made, from tune_results and tune_history."""
    table = pd.read_parquet(newest(project, "06_models", "tune_results.parquet"))
    history = pd.read_parquet(newest(project, "07_model_output", "tune_history.parquet"))
    found = re.search(r"Search finished in (\d+)s", run["log"])
    search_s = float(found.group(1)) if found else run["wall_s"]
    return {
        "search_s": search_s,
        "run_s": run["wall_s"],
        "trials": len(table),
        "trials_per_hour": len(table) / search_s * 3600,
        "epochs": int(table["epochs_run"].sum()),
        "best_last": float(table["last_val_recall_at_10"].max()),
        "best_any_epoch": float(table["best_val_recall_at_10"].max()),
        "gensim_cpu_s": float(history["train_cpu_s"].sum()),
        "eval_s": float(history["eval_s"].sum()),
        "run_cpu_s": run["cpu_s"],
        "gensim_share": float(history["train_cpu_s"].sum()) / run["cpu_s"],
    }


def show(name: str, figures: dict) -> None:
    print(
        f"{name}: {figures['trials']} trials ({figures['epochs']} epochs) in "
        f"{figures['search_s']:.0f}s of search ({figures['run_s']:.0f}s for the whole run) "
        f"= {figures['trials_per_hour']:.0f} trials/hour; best validation Recall@10 "
        f"{figures['best_last']:.3f} at a trial's last epoch ({figures['best_any_epoch']:.3f} "
        f"at any epoch); gensim training {figures['gensim_cpu_s']:.0f} of the run's "
        f"{figures['run_cpu_s']:.0f} CPU seconds = {figures['gensim_share']:.0%} "
        f"(validation inside trials: {figures['eval_s']:.0f}s)",
        flush=True,
    )


def ff19_negative(project: Path, ff19_seconds: float, extra: str) -> None:
    run = kedro(
        project,
        "--pipelines=tune",
        "--to-nodes=run_word2vec_search",
        f"--params=dataset={DATASET},tune.preset=ff19_negative{extra}",
    )
    figures = search_figures(project, run)
    show("ff19_negative", figures)
    print(
        f"ff19_negative: {figures['search_s']:.0f}s against FF19's script {ff19_seconds:.0f}s "
        f"= {ff19_seconds / figures['search_s']:.2f}x as fast; best validation Recall@10 "
        f"{figures['best_last']:.3f} (FF19 {FF19_NEGATIVE_BEST})",
        flush=True,
    )


def budget(project: Path, minutes: float, extra: str) -> None:
    run = kedro(
        project,
        "--pipelines=tune",
        f"--params=dataset={DATASET},tune.time_budget_s={minutes * 60:g}{extra}",
    )
    figures = search_figures(project, run)
    show(f"efficient ({minutes:g} min budget)", figures)
    best = json.loads(newest(project, "06_models", "best_w2v_params.json").read_text())
    history = pd.read_parquet(
        newest(project, "07_model_output", "word2vec_search_training_history.parquet")
    )
    metrics = pd.read_parquet(newest(project, "07_model_output", "word2vec_search_metrics.parquet"))
    ff19 = metrics[
        (metrics["protocol"] == "last_pair")
        & (metrics["context"] == "last_item")
        & (metrics["k"] == 10)
    ].set_index("metric")
    recall = ff19.loc["recall"]
    print(
        f"best configuration (trial {best['search']['trial_id']}, "
        f"{best['search']['epochs_run']} epochs run): {best['model']['options']}\n"
        f"  search validation Recall@10 {best['search']['value']:.3f}; retrained: validation "
        f"{history['recall@10'].iloc[-1]:.3f}, test Recall@10 {recall['value']:.3f} "
        f"[{recall['ci_low']:.3f}, {recall['ci_high']:.3f}], MRR@10 "
        f"{ff19.loc['mrr', 'value']:.3f}; FF19's 539-trial grid: test {FF19_TUNED_TEST}",
        flush=True,
    )


MODELS = ("session_knn", "sequential_rules_plus", "word2vec_ff19_default")


def _cell(metrics: pd.DataFrame, context: str, metric: str, k: int, protocol="last_pair") -> str:
    row = metrics[
        (metrics["protocol"] == protocol)
        & (metrics["context"] == context)
        & (metrics["metric"] == metric)
        & (metrics["k"] == k)
    ].iloc[0]
    return f"{row['value']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def trial_shares(table: pd.DataFrame, history: pd.DataFrame | None) -> tuple[float, float]:
    """Fitting and fitting+scoring CPU seconds of a search's trials."""
    fit = float(table["train_cpu_s"].sum())
    score = float(history["eval_s"].sum()) if history is not None else 0.0
    return fit, fit + score


def models(project: Path, minutes: float, extra: str) -> None:
    names = ",".join(MODELS)
    kedro(project, f"--namespaces={names}", f"--params=dataset={DATASET}")
    run = kedro(
        project,
        "--pipelines=tune",
        f"--params=dataset={DATASET},tune.models={'+'.join(MODELS)},"
        f"tune.time_budget_s={minutes * 60:g}{extra}",
    )
    print(
        f"models ({minutes:g} min budget, shared): run {run['wall_s']:.0f}s, "
        f"{run['cpu_s']:.0f} CPU s for the whole process tree",
        flush=True,
    )
    searched = re.findall(r"Search finished in (\d+)s", run["log"])
    busy = 0.0
    for i, model in enumerate(MODELS):
        table = pd.read_parquet(newest(project, "06_models", f"{model}_tune_results.parquet"))
        history = pd.read_parquet(
            newest(project, "07_model_output", f"{model}_tune_history.parquet")
        )
        default = pd.read_parquet(newest(project, "07_model_output", f"{model}_metrics.parquet"))
        tuned = pd.read_parquet(
            newest(project, "07_model_output", f"{model}_tuned_metrics.parquet")
        )
        best = json.loads(newest(project, "06_models", f"{model}_best_params.json").read_text())
        seconds = float(searched[i]) if i < len(searched) else float("nan")
        fit, work = trial_shares(table, history)
        busy += work
        print(
            f"  {model}: {len(table)} trials in {seconds:.0f}s = {len(table) / seconds * 3600:.0f}"
            f" trials/hour; validation Recall@10 (session) best {best['search']['value']:.3f}; "
            f"trial CPU {work:.0f}s ({fit:.0f}s fitting)\n"
            f"    test Recall@10 last_item: default {_cell(default, 'last_item', 'recall', 10)}"
            f" -> tuned {_cell(tuned, 'last_item', 'recall', 10)}\n"
            f"    test Recall@10 session:   default {_cell(default, 'session', 'recall', 10)}"
            f" -> tuned {_cell(tuned, 'session', 'recall', 10)}\n"
            f"    test MRR@10 session:      default {_cell(default, 'session', 'mrr', 10)}"
            f" -> tuned {_cell(tuned, 'session', 'mrr', 10)}\n"
            f"    best options: {best['model']['options']}",
            flush=True,
        )
    print(
        f"  trials' fitting+scoring CPU: {busy:.0f} of the run's {run['cpu_s']:.0f} CPU s = "
        f"{busy / run['cpu_s']:.0%}",
        flush=True,
    )


def rsc15_knn(folder: Path, rsc15: Path, minutes: float, extra: str) -> None:
    from session_recs.framework.project import copy_project

    if not rsc15.exists():
        print(f"rsc15_knn skipped: {rsc15} not found", flush=True)
        return
    project = copy_project(ROOT, folder / "rsc15", [])
    raw = project / "data/01_raw/rsc15_100k"
    raw.mkdir(parents=True, exist_ok=True)
    for name in ("train_full.tsv", "test.tsv"):
        (raw / name).symlink_to(rsc15 / name)
    data = "dataset=rsc15_100k"
    kedro(project, "--namespaces=session_knn", f"--params={data}")
    run = kedro(
        project,
        "--pipelines=tune",
        f"--params={data},tune.model=session_knn,tune.metric=mrr,tune.k=20,"
        f"tune.time_budget_s={minutes * 60:g}{extra}",
    )
    table = pd.read_parquet(
        newest(project, "06_models", "session_knn_tune_results.parquet", "rsc15_100k")
    )
    default, tuned = (
        pd.read_parquet(newest(project, "07_model_output", f"{name}.parquet", "rsc15_100k"))
        for name in ("session_knn_metrics", "session_knn_tuned_metrics")
    )
    revealing = {"protocol": "iterative_revealing"}
    print(
        f"rsc15_knn ({minutes:g} min): {len(table)} trials in {run['wall_s']:.0f}s; test "
        f"iterative revealing @20, session context: HR default "
        f"{_cell(default, 'session', 'recall', 20, **revealing)} -> tuned "
        f"{_cell(tuned, 'session', 'recall', 20, **revealing)}; MRR default "
        f"{_cell(default, 'session', 'mrr', 20, **revealing)} -> tuned "
        f"{_cell(tuned, 'session', 'mrr', 20, **revealing)} (session-rec VSTAN 0.375)",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["ff19_negative"])
    parser.add_argument("--budget-minutes", type=float, default=60.0)
    parser.add_argument("--ff19-seconds", type=float, default=FF19_SECONDS)
    parser.add_argument("--online-retail", type=Path, default=SHARED_TABLE)
    parser.add_argument("--rsc15", type=Path, default=SHARED_TABLE.parent / "rsc15_100k")
    parser.add_argument("--keep", type=Path, default=None, help="Build the project here, keep it.")
    parser.add_argument(
        "--params", default="", help="More --params for the searches, e.g. tune.cpus_per_trial=2"
    )
    args = parser.parse_args()
    if not args.online_retail.exists():
        print(f"skipped: {args.online_retail} not found")
        return 0
    # Ray's workers outlive their raylet by a moment; adopting them counts their CPU time.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    extra = f",{args.params}" if args.params else ""
    with tempfile.TemporaryDirectory() as folder:
        where = args.keep or Path(folder)
        where.mkdir(parents=True, exist_ok=True)
        project = make_project(where, args.online_retail)
        print(f"project: {project}", flush=True)
        if "ff19_negative" in args.cases:
            ff19_negative(project, args.ff19_seconds, extra)
        if "budget" in args.cases:
            budget(project, args.budget_minutes, extra)
        if "models" in args.cases:
            models(project, args.budget_minutes, extra)
        if "rsc15_knn" in args.cases:
            rsc15_knn(where, args.rsc15, args.budget_minutes, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
