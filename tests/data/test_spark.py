"""The data layer on a real Spark standalone cluster (a master and 2 workers on 127.0.0.1,
started from PySpark's wheel, Java from Debian's packages): the same expressions as on
DuckDB give the pandas path's outputs, case for case (the parity tests of
test_columnar.py, run again here on the cluster), FF19's Online Retail sessions, the
rule and item-kNN models counted on the cluster equal to the bit to their in-memory fits (those of
test_pair_counts.py), and ``kedro run --env=spark`` writes the same files and scores every
model as the default run.

The driver tells the executors to run Python at a path that does not exist
(``spark.pyspark.python``): every test passing proves the workers need no Python and no
copy of this package (SQL only; tables from the driver travel as Arrow).

Marker ``spark``: .ci/run installs the spark extra and runs ``pytest -m spark``; without
PySpark or Java the tests are skipped, saying why.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from session_recs.data import engine

from ..conftest import latest_version, run_cli
from .test_columnar import (
    test_a_column_the_columnar_reader_cannot_take_is_named,
    test_an_otto_shaped_log_reads_as_the_pandas_interactions,
    test_online_retail_gives_ff19s_sessions_and_split,
    test_sessionize_gives_the_pandas_sessions_and_log,
    test_split_gives_the_pandas_train_pairs_and_test_sessions,
    test_the_item_catalog_is_the_pandas_one,
)
from .test_pair_counts import (
    test_a_counting_model_fitted_on_the_engine_is_the_in_memory_one,
    test_a_model_that_fits_in_memory_reads_the_table_into_the_same_frame,
    test_pruning_keeps_the_lower_item_number_among_equal_rules,
)

__all__ = [  # collected here again, with this module's `con` (the cluster)
    "test_a_column_the_columnar_reader_cannot_take_is_named",
    "test_a_counting_model_fitted_on_the_engine_is_the_in_memory_one",
    "test_a_model_that_fits_in_memory_reads_the_table_into_the_same_frame",
    "test_an_otto_shaped_log_reads_as_the_pandas_interactions",
    "test_online_retail_gives_ff19s_sessions_and_split",
    "test_pruning_keeps_the_lower_item_number_among_equal_rules",
    "test_sessionize_gives_the_pandas_sessions_and_log",
    "test_split_gives_the_pandas_train_pairs_and_test_sessions",
    "test_the_item_catalog_is_the_pandas_one",
]

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("pyspark") is None,
        reason='needs PySpark: pip install -e ".[spark]" (docs/scale.md, "On a Spark cluster")',
    ),
    pytest.mark.skipif(
        shutil.which("java") is None, reason="needs Java 17 (Debian: openjdk-17-jre-headless)"
    ),
    pytest.mark.timeout(600),
]

#: The executors are told to run a Python that does not exist: nothing may need one.
NO_PYTHON = "/nonexistent/python3"
#: One executor of one core on each worker, for every application.
PER_APPLICATION = {
    "spark.cores.max": "2",
    "spark.executor.cores": "1",
    "spark.executor.memory": "1g",
}


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    from session_recs.data.spark_cluster import local_cluster

    folder = tmp_path_factory.mktemp("spark")
    # Two workers of 2 cores: each application takes one core on each (below), so a
    # `kedro run` in a subprocess runs beside this process's own session.
    with local_cluster(workers=2, cores=2, memory="2g", folder=folder) as c:
        assert c.workers_alive() == 2
        yield c


def spark_settings(master: str) -> dict:
    return {
        "backend": "spark",
        "master": master,
        "conf": {
            **PER_APPLICATION,
            "spark.driver.host": "127.0.0.1",
            "spark.pyspark.python": NO_PYTHON,
        },
    }


def executors(context) -> int:
    """The executors registered with a SparkContext (its block managers but the driver's)."""
    return int(context._jsc.sc().getExecutorMemoryStatus().size()) - 1


@pytest.fixture(scope="module")
def con(cluster):
    connection = engine.connection(spark_settings(cluster.master))
    context = connection._session.sparkContext
    assert context.master == cluster.master
    # Executors register after the session starts: one on each worker, within a minute.
    deadline = time.monotonic() + 60
    while executors(context) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert executors(context) == 2
    return connection


# --- kedro run --env=spark ---------------------------------------------------------------

TABLES = {
    "02_intermediate": ["interactions"],
    "03_primary": ["sessions", "item_catalog"],
    "05_model_input": ["train_sessions", "validation_pairs", "test_pairs", "test_sessions"],
}


def outputs(project: Path) -> dict[str, pd.DataFrame]:
    return {
        name: pd.read_parquet(latest_version(project / "data" / layer / "demo" / f"{name}.parquet"))
        for layer, names in TABLES.items()
        for name in names
    }


def kedro(project: Path, *args: str) -> subprocess.CompletedProcess:
    """``kedro run ARGS`` in ``project`` (the project's CLI, as the installed package)."""
    return run_cli(project, "run", *args, timeout=540)


def point_at(project: Path, master: str) -> None:
    """conf/spark/globals.yml (the shipped file) aimed at ``master``, executors told to run
    a Python that does not exist."""
    globals_yml = project / "conf" / "spark" / "globals.yml"
    text = globals_yml.read_text()
    assert "master: spark://127.0.0.1:7077" in text
    text = text.replace("spark://127.0.0.1:7077", master)
    text = text.replace("    spark.executor.memory: 2g\n", "")
    added = {**PER_APPLICATION, "spark.pyspark.python": NO_PYTHON}
    globals_yml.write_text(text + "".join(f"    {k}: {v}\n" for k, v in added.items()))


def test_kedro_run_env_spark_writes_the_default_runs_files(cluster, project):
    data = ("--pipelines=ingest,sessionize,split",)
    default = kedro(project, *data)
    assert default.returncode == 0, default.stderr[-2000:]
    expected = outputs(project)
    point_at(project, cluster.master)
    on_spark = kedro(project, "--env=spark", *data)
    assert on_spark.returncode == 0, on_spark.stderr[-3000:]
    assert "Traceback" not in on_spark.stderr
    got = outputs(project)
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(frame, got[name], check_dtype=True, obj=name)
    assert len(got["sessions"]) > 40_000 and len(got["test_pairs"]) > 100
    # Two versions of each table, both whole; the second one Spark's.
    versions = list((project / "data/03_primary/demo/sessions.parquet").iterdir())
    assert len(versions) == 2
    assert not [p for p in project.rglob(".*parts-*")]  # Spark's part files are gathered


def test_a_spark_master_nobody_answers_is_one_line_and_nothing_is_written(project):
    first = kedro(project, "--pipelines=ingest,sessionize")
    assert first.returncode == 0, first.stderr[-2000:]
    before = sorted(str(p) for p in (project / "data").rglob("*"))
    point_at(project, "spark://127.0.0.1:9")  # the discard port: nothing listens
    run = kedro(project, "--env=spark", "--pipelines=sessionize")
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, run.stderr[-2000:]
    assert re.search(r"engine.master = 'spark://127.0.0.1:9': no Spark master answers", errors[0])
    assert "conf/spark/globals.yml" in errors[0]
    assert "Traceback" not in run.stderr
    assert sorted(str(p) for p in (project / "data").rglob("*")) == before


def test_the_sessionize_log_on_spark_is_the_default_runs(cluster, project):
    """The log of what each filter dropped is counted by the engine too."""
    default = kedro(project, "--pipelines=ingest,sessionize")
    assert default.returncode == 0, default.stderr[-2000:]
    point_at(project, cluster.master)
    on_spark = kedro(project, "--env=spark", "--pipelines=sessionize")
    assert on_spark.returncode == 0, on_spark.stderr[-2000:]
    logs = sorted((project / "data/03_primary/demo/sessionize_log.json").glob("*/*.json"))
    assert len(logs) == 2
    first, second = (json.loads(path.read_text()) for path in logs)
    assert first == second and first["dropped"]


def test_ctrl_c_during_a_spark_query_stops_the_run_and_leaves_the_data_as_it_was(cluster, project):
    first = kedro(project, "--pipelines=ingest")
    assert first.returncode == 0, first.stderr[-2000:]
    before = sorted(str(p) for p in (project / "data").rglob("*"))
    point_at(project, cluster.master)
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "200"}
    run = subprocess.Popen(
        [sys.executable, "-m", "session_recs", "run", "--env=spark", "--pipelines=sessionize"],
        cwd=project,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    lines = []
    try:
        assert run.stderr is not None
        for line in run.stderr:  # the first count is answered: Spark's queries are running
            lines.append(line)
            if "rows with a missing value" in line:
                run.send_signal(signal.SIGINT)
                break
        lines += run.stderr.readlines()
        assert run.wait(timeout=120) == 1, "".join(lines)[-2000:]
    finally:
        if run.poll() is None:
            run.kill()
    errors = [line for line in lines if line.startswith("Error:")]
    assert errors == [
        "Error: Stopped by SIGINT: the outputs saved before are whole and kept; run the "
        "command again to go on.\n"
    ], "".join(lines)[-2000:]
    assert not any("Traceback" in line for line in lines)
    assert sorted(str(p) for p in (project / "data").rglob("*")) == before


def test_the_default_pipeline_on_spark_scores_every_model_as_the_default_run(cluster, project):
    """`kedro run --env=spark`, the whole default pipeline: the models fit on the tables
    Spark wrote (on the driver, as on DuckDB) and score exactly as in the default run."""
    default = kedro(project)
    assert default.returncode == 0, default.stderr[-2000:]
    point_at(project, cluster.master)
    on_spark = kedro(project, "--env=spark")
    assert on_spark.returncode == 0, on_spark.stderr[-3000:]
    folder = project / "data/07_model_output/demo"
    metrics = sorted(folder.glob("*_metrics.parquet"))
    assert len(metrics) >= 5
    for path in metrics:
        versions = sorted(p for p in path.iterdir() if p.is_dir())
        assert len(versions) == 2, path
        # Everything but the measured speed: scores, intervals, the splits' fingerprints.
        first, second = (
            pd.read_parquet(v / path.name).drop(columns="predictions_per_s") for v in versions
        )
        assert len(first) > 0 and first["value"].gt(0).any()
        pd.testing.assert_frame_equal(first, second, obj=path.name)


def test_spark_without_java_is_one_line_naming_what_it_needs(project):
    first = kedro(project, "--pipelines=ingest")
    assert first.returncode == 0, first.stderr[-2000:]
    before = sorted(str(p) for p in (project / "data").rglob("*"))
    point_at(project, "local[1]")  # Spark in the driver: no cluster, Java all the same
    run = run_cli(
        project, "run", "--env=spark", "--pipelines=sessionize", env={"JAVA_HOME": "/nonexistent"}
    )
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert "Spark could not start its driver (engine.master = 'local[1]')" in errors[0]
    assert "Spark needs Java 17" in errors[0] and "found: /nonexistent" in errors[0]
    assert sorted(str(p) for p in (project / "data").rglob("*")) == before


def test_a_second_master_in_a_process_whose_session_runs_on_another_is_refused(con, cluster):
    """Spark keeps one session per process: a different master would be ignored."""
    from session_recs.core.errors import ConfigError
    from session_recs.data import spark

    with pytest.raises(ConfigError, match=r"already runs a Spark session on 'spark://127"):
        spark.connect("local[2]")
    assert con._session.sparkContext.master == cluster.master  # still there, unchanged


def test_a_setting_the_driver_jvm_refuses_is_one_line_pointing_at_engine_conf(project):
    point_at(project, "local[1]")
    globals_yml = project / "conf" / "spark" / "globals.yml"
    globals_yml.write_text(globals_yml.read_text() + "    spark.driver.memory: lots\n")
    run = kedro(project, "--env=spark", "--pipelines=ingest,sessionize")
    assert run.returncode == 1
    # Java prints its own "Error: Could not create the Java Virtual Machine." before ours.
    errors = [line for line in run.stderr.splitlines() if line.startswith("Error: ConfigError")]
    assert len(errors) == 1 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert "did not start with the settings given" in errors[0]
    assert "check engine.conf (e.g. spark.driver.memory)" in errors[0]
    assert "Invalid maximum heap size: -Xmxlots" in run.stderr  # Java's own reason, above


def test_times_finer_than_a_microsecond_are_named_on_spark(con, tmp_path, caplog):
    """Spark's timestamps stop at the microsecond: a log that has finer ones is told."""
    frame = pd.DataFrame(
        {
            "session_key": [1, 1],
            "item_id": ["a", "b"],
            "timestamp": pd.to_datetime([0, 1_000_000_123], unit="ns"),
        }
    )
    frame.to_parquet(tmp_path / "fine.parquet")
    frame.assign(timestamp=pd.to_datetime([0, 1_000_000_000], unit="ns")).to_parquet(
        tmp_path / "plain.parquet"
    )
    with caplog.at_level("WARNING", logger="session_recs.data.spark"):
        engine.read_interactions(con, tmp_path / "plain.parquet")
        assert not caplog.records
        table = engine.read_interactions(con, tmp_path / "fine.parquet")
    (record,) = caplog.records
    assert "fine.parquet: column 'timestamp' holds times finer than a microsecond" in (
        record.getMessage()
    )
    assert table.count().execute() == 2
