"""Sessions in Redis (serve --redis): two replicas continue each other's sessions and
answer as one replica does; a Redis that goes down gets one log line and 503s with the
reason, and the service recovers when it is back. A real ``redis-server`` (Debian's
package, installed by .ci/run) on a free loopback port, stopped by each test."""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from session_recs.apps.service.redis_store import RedisStore
from session_recs.apps.service.store import MemoryStore, StoreBounds

from ..conftest import free_port
from .test_service import KINDS, call, click, holder_of, models, running  # noqa: F401

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None,
    reason="redis-server is not installed (Debian's redis-server package; .ci/run installs it)",
)


@contextlib.contextmanager
def redis_server(port: int, folder: Path) -> Iterator[str]:
    """``redis-server`` on 127.0.0.1:``port``, persisting nothing; stopped on exit."""
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(folder)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    client = redis.Redis(port=port, socket_connect_timeout=1)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    break
            assert server.poll() is None and time.monotonic() < deadline, "redis did not start"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        server.terminate()
        server.wait(20)


@pytest.fixture
def redis_url(tmp_path) -> Iterator[str]:
    with redis_server(free_port(), tmp_path) as url:
        yield url


def test_two_replicas_sharing_redis_answer_as_one_replica(models, tmp_path, redis_url):  # noqa: F811
    model = models["session_knn"]
    folder = tmp_path / "m"
    sessions = [["b2", "a1", "zz", "b1", "a7"], ["a3", "b3", "a3", "b9", "a4", "b4"]]
    one = []
    with running(holder_of(folder, model)) as url:
        for number, items in enumerate(sessions):
            one += [click(url, f"s{number}", item)[1] for item in items]
    bounds = StoreBounds(max_items=50)
    both = []
    with (
        running(holder_of(tmp_path / "a", model), RedisStore(redis_url, bounds)) as left,
        running(holder_of(tmp_path / "b", model), RedisStore(redis_url, bounds)) as right,
    ):
        for number, items in enumerate(sessions):
            for at, item in enumerate(items):  # every click to the other replica
                both.append(click((left, right)[at % 2], f"s{number}", item)[1])
        status, health = call(left, "/healthz")
    assert [answer["items"] for answer in both] == [answer["items"] for answer in one]
    assert [answer["scores"] for answer in both] == [answer["scores"] for answer in one]
    assert [answer["ignored"] for answer in both] == [answer["ignored"] for answer in one]
    assert (status, health["store"], health["sessions"]) == (200, "redis", 2)


def test_redis_bounds_each_session_and_expires_idle_ones(models, tmp_path, redis_url):  # noqa: F811
    store = RedisStore(redis_url, StoreBounds(ttl_s=0.3, max_items=3))
    memory = MemoryStore(StoreBounds(max_items=3))
    items = ["b3", "b4", "a1", "b1", "a2"]
    with running(holder_of(tmp_path / "m", models["sequential_rules"]), memory) as url:
        expected = [click(url, "long", item)[1]["items"] for item in items]
    with running(holder_of(tmp_path / "r", models["sequential_rules"]), store) as url:
        got = [click(url, "long", item)[1]["items"] for item in items]
        time.sleep(0.5)
        status, body = click(url, "long", "a5")  # expired: a session of one click
        metrics = call(url, "/metrics")[1]
    assert got == expected
    assert status == 200 and body["items"][0] == "b5"
    assert "session_recs_session_items_trimmed_total 2.0" in metrics
    assert 'session_recs_session_evictions_total{reason="ttl"} 1.0' in metrics


def test_a_redis_that_goes_down_gets_503s_and_one_log_line_then_recovers(
    models,  # noqa: F811
    tmp_path,
    caplog,
):
    port = free_port()
    store = RedisStore(f"redis://127.0.0.1:{port}/0", StoreBounds(), timeout_s=0.5)
    with contextlib.ExitStack() as first_redis:
        first_redis.enter_context(redis_server(port, tmp_path))
        with (
            running(holder_of(tmp_path / "m", models["sequential_rules"]), store) as url,
            caplog.at_level(logging.WARNING, logger="session_recs.apps.service.redis_store"),
        ):
            assert click(url, "s", "a1")[0] == 200
            first_redis.close()  # Redis goes down under the running service
            answers = [click(url, "s", "a2") for _ in range(20)]
            health = call(url, "/healthz")
            assert call(url, "/metrics")[0] == 200  # metrics still answer
            with redis_server(port, tmp_path):
                status, body = click(url, "s", "a3")
    assert {status for status, _ in answers} == {503}
    error = answers[0][1]["error"]
    assert error.startswith(f"session store unavailable: Redis at 127.0.0.1:{port}: "), error
    assert health[0] == 503 and health[1]["status"] == "unavailable"
    messages = [record.getMessage() for record in caplog.records]
    assert len([m for m in messages if "unavailable" in m]) == 1, messages
    assert messages[-1] == f"Session store 127.0.0.1:{port} is back", messages
    assert status == 200 and body["items"][0] == "b3", body  # a new Redis: a new session


@pytest.mark.slow
def test_a_redis_url_that_is_not_one_is_refused_in_one_line(demo_run, tmp_path):
    from ..conftest import run_in_process

    project = demo_run.copy_to(tmp_path / "p")
    port = str(free_port())
    result = run_in_process(project, "serve", "--redis", "http://127.0.0.1:1", "--port", port)
    assert result.exception is None and result.exit_code == 1, result.output[-2000:]
    [line] = result.error_lines
    assert "--redis http://127.0.0.1:1: Redis URL must specify one of" in line, line
