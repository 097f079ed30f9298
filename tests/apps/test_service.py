"""The recommendation service (session_recs.apps.service): sessions kept server-side, the
answers of the batched path, bad requests refused in one line, metrics, model swaps.

The app runs on a real uvicorn in a thread of this process, on a free loopback port;
each test stops the server it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn

from session_recs.apps.service.app import MAX_ITEM_ID, MAX_SESSION_ID, build_app
from session_recs.apps.service.models import ModelHolder, open_model_file
from session_recs.apps.service.store import MemoryStore, StoreBounds
from session_recs.models import build_model
from session_recs.models import pyfunc as serving
from session_recs.models.state import write_model

from ..conftest import free_port
from .test_serving import PAIRS, planted_sessions

KINDS = ["sequential_rules", "session_knn", "most_popular"]


def save(model: Any, folder: Path, version: str, name: str = "model") -> Path:
    """``model`` saved as the catalog saves versions: <name>.npz/<version>/<name>.npz."""
    path = folder / f"{name}.npz" / version / f"{name}.npz"
    path.parent.mkdir(parents=True)
    with open(path, "wb") as file:
        write_model(model, file)
    return path


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    return {kind: build_model(kind).fit(planted_sessions()) for kind in KINDS}


@contextlib.contextmanager
def running(
    holder: ModelHolder,
    store: MemoryStore | None = None,
    *,
    routes_only: bool = False,
    **options: Any,
) -> Iterator[str]:
    """The app on uvicorn in a thread (``routes_only``: its Starlette routes for every
    request, the click's path included); yields its base URL; stops it."""
    app: Any = build_app(holder, store, **options)
    if routes_only:
        app = app.app
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the service did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        assert not thread.is_alive()


def call(url: str, path: str, body: bytes | dict | None = None) -> tuple[int, Any]:
    data = body if isinstance(body, bytes | None) else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}{path}", data=data)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    text = raw.decode()
    return status, (json.loads(text) if text.startswith("{") else text)


def click(url: str, session: str, item: str, k: int = 5) -> tuple[int, Any]:
    query = urllib.parse.urlencode({"session_id": session, "item": item, "k": k})
    return call(url, f"/v1/recommend?{query}")


def holder_of(folder: Path, model: Any, version: str = "2026-01-01T00.00.00.000Z") -> ModelHolder:
    return open_model_file(save(model, folder, version))


# --- the store --------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_store_keeps_the_last_clicks_and_forgets_idle_and_least_used_sessions():
    clock = Clock()
    store = MemoryStore(StoreBounds(ttl_s=10, max_sessions=3, max_items=4), clock=clock)

    async def scenario() -> None:
        for item in "abcdef":
            items = await store.append("s", item)
        assert items == ["c", "d", "e", "f"]
        assert store.trimmed == 2
        clock.now = 5
        await store.append("t", "x")
        await store.append("u", "y")
        await store.append("s", "g")  # s is the most recently used now
        await store.append("v", "z")  # full: t (least recently used) goes
        assert await store.get("t") is None
        assert store.evictions == {"ttl": 0, "capacity": 1}
        assert await store.get("s") == ["d", "e", "f", "g"]
        clock.now = 15.5  # u and v idle for 10.5 s, s for 10.5 s too
        assert await store.append("w", "q") == ["q"]
        assert store.evictions == {"ttl": 3, "capacity": 1}
        assert await store.size() == 1
        clock.now = 30
        assert await store.append("w", "r") == ["r"]  # expired: a new session
        assert store.evictions["ttl"] == 4

    asyncio.run(scenario())


@pytest.mark.parametrize("bounds", [{"ttl_s": 0}, {"max_sessions": 0}, {"max_items": -1}])
def test_store_bounds_below_their_least_are_refused(bounds):
    with pytest.raises(ValueError, match=next(iter(bounds))):
        StoreBounds(**bounds)


# --- answers ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_each_click_is_answered_as_the_batched_path_answers_the_session_so_far(
    models, tmp_path, kind
):
    model = models[kind]
    rng = np.random.default_rng(1)
    known = [item for pair in PAIRS for item in pair]
    sessions = [[*rng.choice(known, rng.integers(1, 8)).tolist(), "unknown-1"] for _ in range(20)]
    with running(holder_of(tmp_path, model)) as url:
        for number, items in enumerate(sessions):
            for at, item in enumerate(items):
                status, body = click(url, f"s{number}", item, k=7)
                assert status == 200, body
                expected = serving.predict(model, [items[: at + 1]], k=7)
                assert body["items"] == expected["items"][0]
                np.testing.assert_allclose(body["scores"], expected["scores"][0], rtol=1e-12)
                assert body["ignored"] == expected["ignored"][0]
                assert (body["session_id"], body["model"]) == (f"s{number}", "model")
                assert body["version"] == "2026-01-01T00.00.00.000Z"
        status, posted = call(url, "/v1/recommend", {"items": sessions[0], "k": 7})
        assert status == 200, posted
        assert posted["items"] == serving.predict(model, [sessions[0]], k=7)["items"][0]
        assert posted["truncated"] == 0


def test_a_session_of_unknown_items_gets_the_most_popular_with_score_zero(models, tmp_path):
    model = models["sequential_rules"]
    popular = np.argsort(-model.fitted_popularity(), kind="stable")[:4]
    with running(holder_of(tmp_path, model)) as url:
        status, body = click(url, "new", "never-seen", k=4)
    assert status == 200, body
    assert body["items"] == list(model.fitted_index().decode(popular))
    assert body["scores"] == [0.0] * 4
    assert body["ignored"] == ["never-seen"]


def test_the_session_is_bounded_and_a_longer_posted_session_says_what_it_left_out(models, tmp_path):
    model = models["session_knn"]
    store = MemoryStore(StoreBounds(max_items=3))
    items = ["b3", "b4", "a1", "b1", "a2"]
    with running(holder_of(tmp_path, model), store) as url:
        for item in items:
            status, body = click(url, "long", item)
        posted_status, posted = call(url, "/v1/recommend", {"items": items, "k": 5})
        metrics = call(url, "/metrics")[1]
    assert (status, posted_status) == (200, 200), (body, posted)
    expected = serving.predict(model, [items[-3:]], k=5)["items"][0]
    assert body["items"] == expected
    assert expected != serving.predict(model, [items], k=5)["items"][0]
    assert (posted["items"], posted["truncated"]) == (expected, 2)
    assert "session_recs_session_items_trimmed_total 2.0" in metrics


# --- bad requests -----------------------------------------------------------------------

LONG_ID = "s" * (MAX_SESSION_ID + 1)
#: (method path or body, status, fragment of the one-line error)
BAD = [
    ("/v1/recommend?session_id=&item=a1", 400, "session_id: expected a non-empty string"),
    ("/v1/recommend?item=a1", 400, "session_id: expected a non-empty string, got None"),
    (f"/v1/recommend?session_id={LONG_ID}&item=a1", 400, f"at most {MAX_SESSION_ID} characters"),
    (f"/v1/recommend?session_id=s&item={'i' * (MAX_ITEM_ID + 1)}", 400, "item: at most"),
    ("/v1/recommend?session_id=s%00x&item=a1", 400, "session_id: expected printable"),
    ("/v1/recommend?session_id=s", 400, "item: expected a non-empty string"),
    ("/v1/recommend?session_id=s&item=a1&k=0", 400, "k: expected a whole number from 1 to 29"),
    ("/v1/recommend?session_id=s&item=a1&k=30", 400, "k: expected a whole number from 1 to 29"),
    ("/v1/recommend?session_id=s&item=a1&k=abc", 400, "k: expected a whole number"),
    ("/v1/recommend?session_id=s&item=a1&k=-3", 400, "k: expected a whole number"),
    ("/v1/recommend?session_id=s&item=a1&kk=3", 400, "unknown parameter 'kk'; expected"),
    ("/v1/recommend?session_id=s&item=a1&item=a2", 400, "item: give it once per request"),
    (b"{not json", 400, "malformed JSON"),
    (b"\xff\xfe", 400, "malformed JSON"),
    (b"[1, 2]", 400, "expected a JSON object with items and k, got list"),
    ({"items": []}, 400, "items: expected a non-empty list"),
    ({"items": "a1"}, 400, "items: expected a non-empty list"),
    ({"items": ["a1", 7]}, 400, "items[1]: expected a non-empty string, got 7"),
    ({"items": ["a1"], "k": True}, 400, "k: expected a whole number"),
    ({"items": ["a1"], "k": 2.5}, 400, "k: expected a whole number"),
    ({"items": ["a1"], "kk": 2}, 400, "unknown field 'kk'; expected items, k"),
    ({"items": ["a1"] * 1001}, 400, "items: at most 1,000 item ids"),
    (b"[" * 70_000, 413, "at most 65,536"),
    ("/v2/recommend", 404, "GET /v2/recommend: Not Found; known:"),
]


def _send(url: str, request: Any) -> tuple[int, Any]:
    return call(url, request) if isinstance(request, str) else call(url, "/v1/recommend", request)


def test_every_bad_request_gets_a_4xx_in_one_line_and_the_service_stays_up(models, tmp_path):
    with running(holder_of(tmp_path, models["sequential_rules"])) as url:
        for request, status, fragment in BAD:
            got, body = _send(url, request)
            assert got == status, (request, body)
            assert fragment in body["error"], (request, body)
            assert "\n" not in body["error"]
        # A bounded flood of them, from 8 clients at once, then the service answers.
        flood = [BAD[i % len(BAD)][0] for i in range(800)]
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda request: _send(url, request)[0], flood))
        assert set(statuses) <= {400, 404, 413}
        status, body = click(url, "after", "a3")
        assert status == 200 and body["items"][0] == "b3", body
        metrics = call(url, "/metrics")[1]
    assert 'session_recs_requests_total{endpoint="recommend",status="200"} 1.0' in metrics
    refused = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("session_recs_requests_total") and 'status="200"' not in line
    )
    assert refused == len(BAD) + len(flood)


#: Query strings whose reading differs between parsers: encoded UTF-8 and spaces, a
#: repeated k (the last counts), blank values, a name without '=', empty pairs.
QUERIES = [
    "session_id=s1&item=a1&k=5",
    "session_id=s1&item=b1&k=3&k=4",
    "session_id=caf%C3%A9+1&item=a2",
    "session_id=caf%C3%A9+1&item=a%2B3&k=2",
    "session_id=s1&item=a1&k=",
    "session_id=s2&&item=a3&k=2",
    "session_id=s2&item=a1&flag",
    "item=a1&session_id=s2&session_id=s3",
    "session_id=s%FF&item=a1",
    "session_id=s3;item=a1",
    "",
]


def test_the_click_path_answers_byte_for_byte_as_the_starlette_route(models, tmp_path):
    """GET /v1/recommend is answered straight from the HTTP scope (the hot path); the
    same requests sent through Starlette's route, to a twin service, get the same
    status, headers and body."""
    answers = []
    for routes_only in (False, True):
        holder = holder_of(tmp_path / str(routes_only), models["session_knn"])
        with running(holder, routes_only=routes_only) as url:
            got = []
            for query in QUERIES:
                try:
                    with urllib.request.urlopen(f"{url}/v1/recommend?{query}") as response:
                        status, headers, body = response.status, response.headers, response.read()
                except urllib.error.HTTPError as error:
                    status, headers, body = error.code, error.headers, error.read()
                got.append((status, headers["content-type"], headers["content-length"], body))
            answers.append(got)
    statuses = [200, 200, 200, 200, 400, 200, 400, 400, 200, 400, 400]
    assert [status for status, *_ in answers[0]] == statuses
    for query, fast, routed in zip(QUERIES, *answers, strict=True):
        assert fast == routed, query
    encoded = json.loads(answers[0][3][3])
    assert (encoded["session_id"], encoded["ignored"]) == ("café 1", ["a+3"])
    assert json.loads(answers[0][1][3])["items"][0] == "a1"  # k=3&k=4: 4 items
    assert len(json.loads(answers[0][1][3])["items"]) == 4


def test_health_and_metrics_say_what_is_served_and_how_many_sessions(models, tmp_path):
    store = MemoryStore(StoreBounds(max_sessions=2))
    with running(holder_of(tmp_path, models["session_knn"]), store) as url:
        for session in ("x", "y", "z"):
            assert click(url, session, "a1")[0] == 200
        status, health = call(url, "/healthz")
        metrics = call(url, "/metrics")[1]
    assert status == 200
    assert health == {
        "status": "ok",
        "model": "model",
        "version": "2026-01-01T00.00.00.000Z",
        "dataset": tmp_path.name,  # the folder of <model>.npz/, as the catalog saves
        "sessions": 2,
        "store": "memory",
    }
    assert "session_recs_sessions 2.0" in metrics
    assert 'session_recs_session_evictions_total{reason="capacity"} 1.0' in metrics
    assert (
        f'session_recs_model_info{{dataset="{tmp_path.name}",model="model",'
        'version="2026-01-01T00.00.00.000Z"} 1.0' in metrics
    )
    assert 'session_recs_request_seconds_count{endpoint="recommend"} 3.0' in metrics
    assert "session_recs_model_seconds_count 3.0" in metrics


# --- swapping versions ------------------------------------------------------------------


def test_a_newer_version_is_swapped_in_without_a_failed_request_and_a_bad_one_is_not(
    models, tmp_path, caplog
):
    """Under 8 clients' load: the reload swaps the model between two requests; a
    newer file that cannot be read keeps the old model serving, says so in one log line,
    and is answered 500 on the reload endpoint only."""
    folder = tmp_path / "models"
    save(models["sequential_rules"], folder, "2026-01-01T00.00.00.000Z")
    holder = open_model_file(folder / "model.npz")  # follows the folder's newest version
    stop = threading.Event()
    answers: list[tuple[float, int, str]] = []

    def load(number: int) -> None:
        at = 0
        while not stop.is_set():
            started = time.monotonic()
            status, body = click(url, f"load{number}-{at // 6}", PAIRS[at % 15][0])
            answers.append((started, status, body.get("version", body.get("error"))))
            at += 1

    with running(holder) as url, ThreadPoolExecutor(8) as pool:
        for number in range(8):
            pool.submit(load, number)
        time.sleep(0.5)
        status, body = call(url, "/v1/admin/reload", b"")
        assert (status, body["swapped"]) == (200, False), body  # nothing newer yet
        save(models["session_knn"], folder, "2026-02-01T00.00.00.000Z")
        time.sleep(0.3)
        asked_at = time.monotonic()
        status, body = call(url, "/v1/admin/reload", b"")
        swapped_at = time.monotonic()
        assert (status, body["swapped"], body["version"]) == (200, True, "2026-02-01T00.00.00.000Z")
        time.sleep(0.3)
        bad = folder / "model.npz" / "2026-03-01T00.00.00.000Z" / "model.npz"
        bad.parent.mkdir()
        bad.write_bytes(b"not a model")
        with caplog.at_level(logging.ERROR, logger="session_recs.apps.service.models"):
            status, body = call(url, "/v1/admin/reload", b"")
        assert status == 500
        assert body["version"] == "2026-02-01T00.00.00.000Z"
        assert "version 2026-03-01T00.00.00.000Z cannot be loaded" in body["error"]
        time.sleep(0.3)
        stop.set()
        status, after = click(url, "after", "a2")
        metrics = call(url, "/metrics")[1]
    assert (status, after["version"], after["model"]) == (200, "2026-02-01T00.00.00.000Z", "model")
    assert [record.getMessage() for record in caplog.records if "Kept" in record.getMessage()] == [
        body["error"]
    ]
    assert answers and all(status == 200 for _, status, _ in answers), answers[:5]
    before = {version for started, _, version in answers if started < asked_at}
    after = {version for started, _, version in answers if started > swapped_at}
    assert before == {"2026-01-01T00.00.00.000Z"}
    assert after == {"2026-02-01T00.00.00.000Z"}  # the bad version never answered
    assert 'session_recs_model_swaps_total{outcome="swapped"} 1.0' in metrics
    assert 'session_recs_model_swaps_total{outcome="failed"} 1.0' in metrics


def test_polling_swaps_in_a_replaced_file(models, tmp_path):
    path = tmp_path / "plain.npz"
    with open(path, "wb") as file:
        write_model(models["sequential_rules"], file)
    holder = open_model_file(path)
    first = holder.current.version
    assert first.startswith("modified ")
    with running(holder, poll_s=0.05) as url:
        replacement = tmp_path / "new.npz"
        with open(replacement, "wb") as file:
            write_model(models["session_knn"], file)
        time.sleep(0.02)
        shutil.move(replacement, path)  # as an atomic save replaces the file
        deadline = time.monotonic() + 10
        while holder.current.version == first:
            assert time.monotonic() < deadline, "never swapped"
            time.sleep(0.02)
        status, body = click(url, "s", "a4")
    assert status == 200 and body["version"] != first
    assert body["items"] == serving.predict(models["session_knn"], [["a4"]], k=5)["items"][0]


def test_a_head_of_a_click_is_refused_and_appends_nothing(models, tmp_path):
    """A click's GET appends its item to the session; a HEAD, which must change nothing,
    gets 405 naming the methods there are, and the session stays as it was."""
    holder = holder_of(tmp_path, models["session_knn"])
    store = MemoryStore(StoreBounds())
    with running(holder, store) as url:
        item = str(holder.current.ids[0])
        query = urllib.parse.urlencode({"session_id": "h", "item": item, "k": 3})
        request = urllib.request.Request(f"{url}/v1/recommend?{query}", method="HEAD")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert (refused.value.code, refused.value.headers["allow"]) == (405, "GET, POST")
        assert asyncio.run(store.get("h")) is None  # no session was made
        status, answer = click(url, "h", item, k=3)
        assert (status, len(answer["items"])) == (200, 3)
        assert asyncio.run(store.get("h")) == [item]  # the GET's item, once
