"""The Spark engine's pieces that need no cluster (tests/data/test_spark.py runs one): the
master check, the gathering of Spark's part files into the file the other engines write,
and the engine settings each backend takes."""

from __future__ import annotations

import re
import socket
import sys

import ibis
import ibis.expr.datatypes as dt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from session_recs.core.errors import ConfigError
from session_recs.data.spark import check_master, gather
from session_recs.framework.tables import checked_engine


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # free again once closed: nothing listens


def test_a_master_nobody_answers_is_refused_in_one_line_naming_it():
    port = closed_port()
    with pytest.raises(ConfigError) as refused:
        check_master(f"spark://127.0.0.1:{port}", timeout=2)
    message = str(refused.value)
    assert message.startswith(f"engine.master = 'spark://127.0.0.1:{port}': no Spark master")
    assert "refused" in message.lower() and "\n" not in message


def test_a_master_that_answers_passes_and_other_masters_are_sparks_to_check():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        check_master(f"spark://127.0.0.1:{closed_port()},127.0.0.1:{port}")  # one of two
    for master in ("local[*]", "local[2]", "yarn", "k8s://https://127.0.0.1:6443"):
        check_master(master)


@pytest.mark.parametrize("master", ["spark://", "spark://127.0.0.1", "spark://host:port"])
def test_a_malformed_master_url_is_refused(master):
    with pytest.raises(ConfigError, match=r"expected spark://HOST:PORT"):
        check_master(master)


def test_parts_are_gathered_in_order_with_the_tables_timestamp_unit(tmp_path):
    """Spark writes microsecond UTC timestamps in part files; the gathered file has them
    in the table's unit without a zone, the parts' rows in name order."""
    parts = []
    for index, (start, count) in enumerate([(0, 3), (3, 0), (3, 4)]):
        stamps = pd.date_range("2021-01-01", periods=7, freq="37s", tz="UTC")[start : start + count]
        part = pa.table(
            {
                "session_id": pa.array(range(start, start + count), pa.int64()),
                "position": pa.array([0] * count, pa.int32()),
                "timestamp": pa.array(stamps, pa.timestamp("us", tz="UTC")),
            }
        )
        path = tmp_path / f"part-{index:05d}-x.snappy.parquet"
        pq.write_table(part, path)
        parts.append(path)
    schema = ibis.schema(
        {"session_id": "int64", "position": "int32", "timestamp": dt.Timestamp(scale=9)}
    )
    gather(parts, tmp_path / "out.parquet", schema)
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.schema.field("timestamp").type == pa.timestamp("ns")
    assert table.column("session_id").to_pylist() == list(range(7))
    frame = table.to_pandas()
    expected = pd.date_range("2021-01-01", periods=7, freq="37s").as_unit("ns")
    assert list(frame["timestamp"]) == list(expected)
    micro = ibis.schema({"session_id": "int64", "position": "int32", "timestamp": "timestamp(6)"})
    gather(parts, tmp_path / "us.parquet", micro)
    assert pq.read_schema(tmp_path / "us.parquet").field("timestamp").type == pa.timestamp("us")


def test_no_part_file_gathers_an_empty_table_with_its_columns(tmp_path):
    gather([], tmp_path / "empty.parquet", ibis.schema({"item_id": "string", "n": "int64"}))
    table = pq.read_table(tmp_path / "empty.parquet")
    assert table.num_rows == 0 and table.column_names == ["item_id", "n"]


@pytest.mark.parametrize(
    ("engine", "fragment"),
    [
        (
            {"backend": "spark", "memory_limit": "4GB"},
            "engine.memory_limit is a setting of backend duckdb",
        ),
        (
            {"backend": "spark", "spill": "data/.spill"},
            "engine.spill is a setting of backend duckdb",
        ),
        ({"master": "spark://127.0.0.1:7077"}, "engine.master is a setting of backend spark"),
        (
            {"backend": "duckdb", "conf": {"spark.a": 1}},
            "engine.conf is a setting of backend spark",
        ),
        ({"backend": "polars"}, "engine.backend = 'polars': expected one of duckdb, spark"),
        ({"backend": "spark", "conf": {"executor.memory": "2g"}}, "engine.conf must map Spark"),
        ({"backend": "spark", "conf": ["spark.a"]}, "engine.conf must map Spark"),
        ({"backend": "spark", "master": ""}, "engine.master = '': expected a Spark master URL"),
    ],
)
def test_each_backend_takes_its_own_settings(engine, fragment):
    with pytest.raises(ConfigError, match=r"^E\(x\): " + re.escape(fragment)):
        checked_engine(engine, "E(x)")


def test_a_spark_engine_keeps_its_settings_as_given():
    engine = {"backend": "spark", "master": "local[2]", "min_rows": 0, "conf": {"spark.x": 1}}
    assert checked_engine(engine, "E") == engine | {"conf": {"spark.x": 1}}
    assert checked_engine({}, "E") == {}


def test_spark_without_pyspark_says_which_extra_to_install(monkeypatch):
    from session_recs.data import spark

    monkeypatch.setitem(sys.modules, "pyspark", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(ConfigError, match=r'needs PySpark: pip install -e "\.\[spark\]"'):
        spark.connect("local[1]")


def test_a_full_disk_under_spark_names_spark_local_dir():
    from session_recs.data.spark import failure

    error = RuntimeError("Job aborted: java.io.IOException: No space left on device")
    said = failure("writing sessions.parquet", error)
    assert said.startswith("The disk filled up while Spark was writing sessions.parquet")
    assert "spark.local.dir" in said and "\n" not in said
    other = failure("splitting", RuntimeError("[TABLE_OR_VIEW_NOT_FOUND] x\n  at line 2"))
    assert other.startswith("Spark failed while splitting: [TABLE_OR_VIEW_NOT_FOUND] x (")
