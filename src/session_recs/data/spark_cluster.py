"""A Spark standalone cluster on this machine, from PySpark's own wheel: a master and its
workers on 127.0.0.1, for trying ``kedro run --env=spark`` before a real cluster, and for
the tests and benchmarks that run the data layer on one.

::

    with local_cluster(workers=2) as cluster:
        print(cluster.master)          # spark://127.0.0.1:<port>

Each process is Spark's own (``spark-class ...deploy.master.Master`` and ``...Worker``),
started as ``sbin/start-*.sh`` would start it (the wheel ships ``bin/`` only); leaving the
block stops them all, also on an error or a signal.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from session_recs.core.errors import ConfigError


@dataclass
class LocalCluster:
    """A running standalone cluster: its master URL, processes and log folder."""

    master: str
    web: str
    folder: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    def workers_alive(self) -> int:
        """Workers the master counts as alive (from its status page)."""
        with urllib.request.urlopen(f"{self.web}/json/", timeout=5) as answer:
            return int(json.load(answer).get("aliveworkers", 0))

    def stop(self, grace: float = 15.0) -> None:
        """Stop the workers, then the master (SIGTERM, then SIGKILL after ``grace``)."""
        for process in reversed(self.processes):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def spark_home() -> Path:
    """PySpark's installation (its ``bin/spark-class`` starts the cluster's processes)."""
    try:
        import pyspark
    except ImportError:
        raise ConfigError(
            'A local Spark cluster needs PySpark: pip install -e ".[spark]" (and Java 17).'
        ) from None
    return Path(pyspark.__file__).parent


def java() -> str:
    """The ``java`` Spark will run (JAVA_HOME's, else the PATH's); one line if none."""
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not found or not Path(found).exists():
        raise ConfigError(
            "Spark needs Java 17 (java on PATH or JAVA_HOME): on Debian, apt-get install "
            "openjdk-17-jre-headless."
        )
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(spark_home() / "bin" / "spark-class"), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own group: stopped whole
        )


@contextlib.contextmanager
def local_cluster(
    workers: int = 2,
    cores: int = 1,
    memory: str = "1g",
    folder: str | Path | None = None,
    timeout: float = 120.0,
) -> Iterator[LocalCluster]:
    """A master and ``workers`` workers (``cores`` and ``memory`` each) on 127.0.0.1,
    their logs and work folders under ``folder`` (default: a temporary one); stopped when
    the block is left."""
    java()
    made = folder is None
    root = Path(tempfile.mkdtemp(prefix="spark-cluster-")) if made else Path(folder)  # type: ignore[arg-type]
    root.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(root),
        "SPARK_WORKER_DIR": str(root / "work"),
    }
    port, web = free_port(), free_port()
    cluster = LocalCluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{web}", root)
    try:
        master_args = ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
        master_args += ["--port", str(port), "--webui-port", str(web)]
        cluster.processes.append(_start(master_args, root / "master.log", env))
        for index in range(workers):
            worker_args = ["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1"]
            worker_args += ["--cores", str(cores), "--memory", memory]
            worker_args += ["--webui-port", str(free_port())]
            worker_args += ["--work-dir", str(root / f"worker{index}"), cluster.master]
            cluster.processes.append(_start(worker_args, root / f"worker{index}.log", env))
        _wait(cluster, workers, timeout)
        yield cluster
    finally:
        cluster.stop()
        if made:
            shutil.rmtree(root, ignore_errors=True)


def _wait(cluster: LocalCluster, workers: int, timeout: float) -> None:
    """Until the master counts ``workers`` alive workers; one line naming the logs if a
    process dies or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [p for p in cluster.processes if p.poll() is not None]
        if dead:
            break
        with contextlib.suppress(OSError, ValueError):
            if cluster.workers_alive() >= workers:
                return
        time.sleep(0.5)
    raise ConfigError(
        f"The local Spark cluster did not come up with {workers} worker(s) within "
        f"{timeout:.0f} s: see the logs in {cluster.folder}."
    )
