"""Searches of any model through `kedro run --pipelines=tune`, on the demo data and a
local Ray: several models in one run with their `<model>_tuned` refits in the report; a
search stopped by SIGINT or SIGTERM (saved as incomplete, nothing refitted, no Ray
process left, resumed by the printed command); a local Ray listening on loopback only;
the faults that must be one line within their timeout."""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import signal
import threading

import pandas as pd
import psutil
import pytest

from ..conftest import latest_version, output, run_cli, run_in_process
from .conftest import kill, ray_processes, start_driver, wait_until

pytestmark = pytest.mark.slow

MODELS = ("session_knn", "sequential_rules", "word2vec_ff19_default")


def newest(project, layer, name):
    return latest_version(project / "data" / layer / "demo" / name)


def versions(project, layer, name) -> list[str]:
    folder = project / "data" / layer / "demo" / name
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_several_models_in_one_run_refit_as_tuned_rows_of_the_report(demo_project):
    before = ray_processes()
    result = run_cli(
        demo_project,
        "run",
        "--pipelines=tune",
        f"--params=tune.smoke=true,tune.models={'+'.join(MODELS)}",
        timeout=600,
    )
    log = output(result)
    assert result.returncode == 0, log[-4000:]
    assert f"Searching {', '.join(MODELS)}" in log
    for model in MODELS:
        table = pd.read_parquet(newest(demo_project, "06_models", f"{model}_tune_results.parquet"))
        assert len(table) == 4 and (table["status"] == "TERMINATED").all(), model
        assert table["search_complete"].all()
        best = json.loads(
            newest(demo_project, "06_models", f"{model}_best_params.json").read_text()
        )
        assert best["search"]["complete"] and best["search"]["trials"] == 4
        assert best["search"]["value"] == pytest.approx(table["last_val_recall_at_10"].max())
        metrics = pd.read_parquet(
            newest(demo_project, "07_model_output", f"{model}_tuned_metrics.parquet")
        )
        assert (metrics["value"].between(0, 1)).all() and len(metrics) > 0
        for plot in ("tune_curves.png", "tune_parameters.png"):
            assert newest(demo_project, "08_reporting", f"{model}_{plot}").stat().st_size > 1000
    knn = pd.read_parquet(newest(demo_project, "06_models", "session_knn_tune_results.parquet"))
    # One-shot trials: one report each; the first is the namespace's own configuration.
    assert (knn["epochs_run"] == 1).all()
    default = knn[(knn["config/k"] == 100) & (knn["config/sample_size"] == 1000)]
    assert len(default) == 1
    w2v = pd.read_parquet(
        newest(demo_project, "06_models", "word2vec_ff19_default_tune_results.parquet")
    )
    assert set(w2v["config/epochs"]) <= {2, 3}  # Word2Vec keeps epochs as ASHA's resource
    # The run-wide smoke budget (300 s) is shared: a third each.
    assert "budget 100s" in log
    assert "Token authentication" not in log and "A new study created" not in log
    wait_until(lambda: not (ray_processes() - before), 30, "the search's Ray to stop")

    # The tune pipeline ends with the report over every model, the tuned refits included.
    assert "compile_model_comparison" in log and "render_model_comparison" in log, log[-3000:]
    report = newest(demo_project, "08_reporting", "model_comparison.md").read_text()
    section = report.split("## Tuned models", 1)[1]
    for model in MODELS:
        assert f"| {model}_tuned " in report
        assert re.search(rf"\| {model} +\| 4 +\|", section), section
    assert "session_knn_tuned" not in report.split("Not run yet", 1)[-1].split("\n")[0]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_search_is_saved_incomplete_refits_nothing_and_resumes(
    demo_project, tmp_path, stop
):
    before = ray_processes()
    tuned_before = versions(demo_project, "07_model_output", "item_knn_tuned_metrics.parquet")
    params = "tune.model=item_knn,tune.num_samples=400,tune.max_concurrent_trials=1"
    args = ["run", "--pipelines=tune", f"--params={params}"]
    log = tmp_path / "search.log"
    driver = start_driver(demo_project, log, *args)
    try:
        wait_until(lambda: "done (3/400)" in log.read_text(), 180, "three finished trials")
        if stop == signal.SIGINT:
            os.killpg(driver.pid, stop)  # as a terminal's Ctrl-C reaches the whole group
        else:
            os.kill(driver.pid, stop)  # as `kill <pid>` or a job scheduler stops the driver
        code = driver.wait(timeout=120)
    finally:
        if driver.poll() is None:
            kill(driver)
    text = log.read_text()
    assert code == 1, text[-4000:]
    assert "Traceback" not in text
    (line,) = [line for line in text.splitlines() if line.startswith("Error: SearchInterrupted")]
    # One way to resume: not Kedro's --from-nodes advice (a new search), not Tune's own.
    assert "nodes that have not run" not in text and "Tuner.restore" not in text
    assert "saved as incomplete in item_knn.tune_results and item_knn.best_params" in line
    command = line.split("Resume it with: ", 1)[1].strip()
    assert command == f"kedro {' '.join(args[:-1])} --params={params},tune.resume=true"

    table = pd.read_parquet(newest(demo_project, "06_models", "item_knn_tune_results.parquet"))
    assert not table["search_complete"].any()
    assert 3 <= (table["status"] == "TERMINATED").sum() < 400
    best = json.loads(newest(demo_project, "06_models", "item_knn_best_params.json").read_text())
    assert best["search"]["complete"] is False
    # Nothing refitted from it, and Ray is gone.
    after = versions(demo_project, "07_model_output", "item_knn_tuned_metrics.parquet")
    assert after == tuned_before
    wait_until(lambda: not (ray_processes() - before), 30, "the search's Ray to stop")
    if stop == signal.SIGTERM:
        return

    # The printed command resumes the search (fewer samples, so it ends soon).
    resume = shlex.split(command)[1:]
    resume[-1] = resume[-1].replace("tune.num_samples=400", "tune.num_samples=8")
    result = run_cli(demo_project, *resume, timeout=600)
    assert result.returncode == 0, output(result)[-4000:]
    assert "Resuming the search in" in output(result)
    resumed = pd.read_parquet(newest(demo_project, "06_models", "item_knn_tune_results.parquet"))
    assert resumed["search_complete"].all()
    finished = set(table.loc[table["status"] == "TERMINATED", "trial_id"])
    assert finished <= set(resumed.loc[resumed["status"] == "TERMINATED", "trial_id"])
    assert len(versions(demo_project, "07_model_output", "item_knn_tuned_metrics.parquet")) == (
        len(tuned_before) + 1
    )


def test_a_local_ray_listens_on_loopback_only():
    import ray

    from session_recs.tuning.ray_runtime import ray_session
    from session_recs.tuning.search_settings import RaySettings

    before = ray_processes()
    with ray_session(RaySettings(num_cpus=2)):

        @ray.remote
        def ping() -> int:
            return 1

        assert sum(ray.get([ping.remote() for _ in range(2)])) == 2
        started = ray_processes() - before
        assert started, "no Ray process found"
        listening = {
            (pid, connection.laddr.ip)
            for pid in started | {os.getpid()}
            for connection in psutil.Process(pid).net_connections(kind="inet")
            if connection.status == psutil.CONN_LISTEN
        }
    assert listening
    outside = {(pid, ip) for pid, ip in listening if ip not in ("127.0.0.1", "::ffff:127.0.0.1")}
    assert not outside
    wait_until(lambda: not (ray_processes() - before), 30, "Ray to stop")


@pytest.mark.timeout(300)
def test_faults_are_one_line_within_their_timeout(demo_project, tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stale_dir = tmp_path / "ray_tmp"
    stale_dir.mkdir()
    (stale_dir / "ray_current_cluster").write_text("127.0.0.1:9")
    cases = [
        (
            "tune.cpus_per_trial=64",
            {},
            f"tune.cpus_per_trial = 64: a local Ray with {os.cpu_count()} CPUs",
        ),
        (
            f"ray.address=127.0.0.1:{server.server_address[1]},ray.connect_timeout_s=5",
            {},
            f"The server at 127.0.0.1:{server.server_address[1]} (from ray.address) is not a "
            "Ray head",
        ),
        (
            "ray.address=auto,ray.connect_timeout_s=5",
            {"RAY_TMPDIR": str(stale_dir), "RAY_ADDRESS": ""},
            f"ray.address=auto: {stale_dir / 'ray_current_cluster'} names 127.0.0.1:9",
        ),
        (
            "ray.address=ray://127.0.0.1:10001",
            {},
            "is a Ray Client address, which a search cannot use",
        ),
    ]
    try:
        for i, (params, env, message) in enumerate(cases):
            with pytest.MonkeyPatch.context() as patch:
                for key, value in env.items():
                    patch.setenv(key, value)
                # In this process; a fault that hung would overrun the test's timeout.
                result = run_in_process(
                    demo_project, "run", "--pipelines=tune", f"--params={params}"
                )
            assert result.exception is None, (i, result.exception, result.output[-3000:])
            assert result.exit_code == 1, result.output[-3000:]
            assert len(result.error_lines) == 1, result.output[-3000:]
            assert message in result.error_lines[0], (i, result.error_lines)
            assert "Searching on" not in result.output + result.log
    finally:
        server.shutdown()
        server.server_close()
