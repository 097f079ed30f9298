"""The HTTP service: a served model and a session store behind Starlette's routes, the
click (``GET /v1/recommend``, one request per click) answered straight from the HTTP
scope, which saves Starlette's request and routing objects (about 10% more clicks per
second); ``tests/apps/test_service.py`` holds both ways to the same bytes.

``GET /v1/recommend?session_id=S&item=I&k=K``
    Appends ``I`` to session ``S`` (created if new) and answers the top ``K`` (default
    10) after the session so far: ``{"session_id", "items", "scores", "ignored",
    "model", "version"}``. ``ignored`` lists the session's items the model does not know.
``POST /v1/recommend`` with ``{"items": [...], "k": K}``
    Answers one whole session, statelessly (the MLflow model's semantics); a session
    longer than the store's bound is answered from its last items and ``truncated`` says
    how many earlier ones were left out.
``GET /healthz``
    ``200 {"status": "ok", ...}``, or ``503`` when the session store cannot be reached.
``GET /metrics``
    Prometheus' text format: requests by endpoint and status, the latency histograms of
    the requests and of the model alone, sessions held, evictions by reason, the model
    served (``session_recs_model_info``) and its swaps.
``POST /v1/admin/reload``
    Swaps in the newest saved version of the model, if there is one (as SIGHUP does).

A request the service cannot answer gets a 4xx with ``{"error": "<one line>"}`` naming
the parameter or field and what was expected; nothing a client sends stops the service.

About 440 lines: the five endpoints' checks and answers, their metrics and the click's
own ASGI path belong to one app built from one model holder and one store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from session_recs.apps.service.models import ModelHolder, SwapFailed
from session_recs.apps.service.store import REASONS, MemoryStore, StoreUnavailable

logger = logging.getLogger(__name__)

#: Longest session id and item id accepted (characters).
MAX_SESSION_ID = 128
MAX_ITEM_ID = 256
#: Largest request body (bytes) and most items in a POSTed session.
MAX_BODY = 64 * 1024
MAX_POSTED_ITEMS = 1000
DEFAULT_K = 10
#: Latency buckets (seconds): fine around the 1-20 ms a request takes.
BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.007, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0, 5.0)
JSON = "application/json"
GET_FIELDS = ("session_id", "item", "k")
POST_FIELDS = ("items", "k")


class BadRequest(Exception):
    """A request the service refuses: ``status`` and a one-line message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _json(body: Mapping[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON)


def _text(value: Any, name: str, most: int) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name}: expected a non-empty string, got {value!r:.60}.")
    if len(value) > most:
        raise BadRequest(f"{name}: at most {most} characters, got {len(value):,}.")
    if not value.isprintable():
        raise BadRequest(f"{name}: expected printable characters, got {value!r:.60}.")
    return value


def _k(value: Any, most: int) -> int:
    if value is None:
        return min(DEFAULT_K, most)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise BadRequest(f"k: expected a whole number from 1 to {most:,}, got {value!r:.40}.")
    return value


def _unknown(given: Any, known: tuple[str, ...], what: str) -> None:
    extra = [name for name in given if name not in known]
    if extra:
        raise BadRequest(f"unknown {what} {extra[0]!r:.60}; expected {', '.join(known)}.")


class Metrics:
    """The service's Prometheus metrics, in a registry of its own."""

    def __init__(self, store: Any, holder: ModelHolder) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "session_recs_requests",
            "Requests answered, by endpoint and HTTP status.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "session_recs_request_seconds",
            "Time to answer a request inside the service (parsing, store, model, JSON).",
            ["endpoint"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.model_seconds = Histogram(
            "session_recs_model_seconds",
            "Time the model took to rank one session.",
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.sessions = Gauge(
            "session_recs_sessions", "Sessions held by the store.", registry=self.registry
        )
        self.registry.register(_StateCollector(store, holder))
        self._children: dict[tuple[str, int], Any] = {}

    def count(self, endpoint: str, status: int, seconds: float) -> None:
        child = self._children.get((endpoint, status))
        if child is None:
            child = self._children[endpoint, status] = self.requests.labels(endpoint, str(status))
        child.inc()
        self.latency.labels(endpoint).observe(seconds)

    def text(self) -> bytes:
        return generate_latest(self.registry)


class _StateCollector:
    """Evictions, trimmed clicks, the model served and its swaps, read when scraped."""

    def __init__(self, store: Any, holder: ModelHolder) -> None:
        self.store, self.holder = store, holder

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        evictions = CounterMetricFamily(
            "session_recs_session_evictions",
            "Sessions the store dropped, by reason (ttl: idle too long; capacity: the "
            "least recently used when the store was full).",
            labels=["reason"],
        )
        for reason in REASONS:
            evictions.add_metric([reason], getattr(self.store, "evictions", {}).get(reason, 0))
        yield evictions
        yield CounterMetricFamily(
            "session_recs_session_items_trimmed",
            "Clicks dropped from the front of a session held at its bound.",
            value=getattr(self.store, "trimmed", 0),
        )
        info = GaugeMetricFamily(
            "session_recs_model_info",
            "The model being served (value 1).",
            labels=["model", "version", "dataset"],
        )
        served = self.holder.current
        info.add_metric([served.model, served.version, served.dataset], 1)
        yield info
        swaps = CounterMetricFamily(
            "session_recs_model_swaps",
            "Newer model versions swapped in, and those that failed to load (the old "
            "model kept serving).",
            labels=["outcome"],
        )
        for outcome, count in self.holder.swaps.items():
            swaps.add_metric([outcome], count)
        yield swaps


def build_app(
    holder: ModelHolder,
    store: Any | None = None,
    *,
    max_k: int = 100,
    poll_s: float = 0.0,
) -> ServiceApp:
    """The service's ASGI app: ``holder``'s model, sessions in ``store`` (default: a
    :class:`MemoryStore`), ``k`` up to ``max_k``, a newer saved version swapped in on
    SIGHUP, on ``POST /v1/admin/reload`` and every ``poll_s`` seconds (0: never)."""
    store = store if store is not None else MemoryStore()
    metrics = Metrics(store, holder)
    bound = getattr(getattr(store, "bounds", None), "max_items", MAX_POSTED_ITEMS)

    def most_k() -> int:
        return min(max_k, holder.current.most_k)

    def answered(served: Any, items: list[str], k: int) -> Any:
        start = time.perf_counter()
        answer = served.answer(items, k)
        metrics.model_seconds.observe(time.perf_counter() - start)
        return answer

    async def click(query_string: bytes) -> tuple[int, bytes]:
        """``GET /v1/recommend`` of this query string: (HTTP status, JSON body)."""
        start = time.perf_counter()
        status = 200
        try:
            pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
            names = [name for name, _ in pairs]
            _unknown(dict.fromkeys(names), GET_FIELDS, "parameter")
            for name in ("session_id", "item"):
                if names.count(name) > 1:
                    raise BadRequest(f"{name}: give it once per request.")
            query = dict(pairs)  # a repeated k: its last value, as Starlette reads it
            session_id = _text(query.get("session_id"), "session_id", MAX_SESSION_ID)
            item = _text(query.get("item"), "item", MAX_ITEM_ID)
            k = _k(query.get("k"), most_k())
            items = await store.append(session_id, item)
            served = holder.current
            answer = answered(served, items, k)
            body = orjson.dumps(
                {
                    "session_id": session_id,
                    "items": answer.items,
                    "scores": answer.scores,
                    "ignored": answer.ignored,
                    "model": served.model,
                    "version": served.version,
                }
            )
        except BadRequest as bad:
            status, body = bad.status, orjson.dumps({"error": str(bad)})
        except StoreUnavailable as down:
            status, body = 503, orjson.dumps({"error": f"session store unavailable: {down}"})
        except Exception as exc:  # a fault of the service: one line, the service stays up
            status, body = 500, _failed(exc).body
        metrics.count("recommend", status, time.perf_counter() - start)
        return status, body

    async def recommend_get(request: Request) -> Response:  # HEAD; GET comes to ServiceApp
        if request.method == "HEAD":  # a click appends to its session: never on a HEAD
            return Response(status_code=405, headers={"Allow": "GET, POST"})
        status, body = await click(request.scope["query_string"])
        return Response(body, status_code=status, media_type=JSON)

    async def recommend_post(request: Request) -> Response:
        start = time.perf_counter()
        status = 200
        try:
            body = await _body(request)
            _unknown(body, POST_FIELDS, "field")
            items = body.get("items")
            if not isinstance(items, list) or not items:
                raise BadRequest(
                    f"items: expected a non-empty list of item ids, got {items!r:.60}."
                )
            if len(items) > MAX_POSTED_ITEMS:
                raise BadRequest(
                    f"items: at most {MAX_POSTED_ITEMS:,} item ids, got {len(items):,}."
                )
            for at, item in enumerate(items):
                _text(item, f"items[{at}]", MAX_ITEM_ID)
            k = _k(body.get("k"), most_k())
            truncated = max(len(items) - bound, 0)
            served = holder.current
            answer = answered(served, items[truncated:], k)
            response = _json(
                {
                    "items": answer.items,
                    "scores": answer.scores,
                    "ignored": answer.ignored,
                    "truncated": truncated,
                    "model": served.model,
                    "version": served.version,
                }
            )
        except BadRequest as bad:
            status, response = bad.status, _json({"error": str(bad)}, bad.status)
        except Exception as exc:
            status, response = 500, _failed(exc)
        metrics.count("recommend_post", status, time.perf_counter() - start)
        return response

    async def healthz(request: Request) -> Response:
        served = holder.current
        try:
            await store.check()
            held = await store.size()
        except StoreUnavailable as down:
            return _json(
                {"status": "unavailable", "error": f"session store unavailable: {down}"}, 503
            )
        return _json({"status": "ok", **served.identity(), "sessions": held, "store": store.kind})

    async def metrics_text(request: Request) -> Response:
        with contextlib.suppress(StoreUnavailable):
            refresh = getattr(store, "refresh", None)
            if refresh is not None:  # a networked store's own counts
                await refresh()
            metrics.sessions.set(await store.size())
        return Response(metrics.text(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def reload(request: Request) -> Response:
        try:
            swapped = await holder.reload()
        except SwapFailed as failed:
            return _json({"error": str(failed), **holder.current.identity()}, 500)
        return _json({"swapped": swapped, **holder.current.identity()})

    async def not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        metrics.count("other", exc.status_code, 0.0)
        known = "GET/POST /v1/recommend, GET /healthz, GET /metrics, POST /v1/admin/reload"
        return _json(
            {"error": f"{request.method} {request.url.path}: {exc.detail}; known: {known}."},
            exc.status_code,
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task] = []
        hangup = threading.current_thread() is threading.main_thread()
        if hangup:
            loop.add_signal_handler(
                signal.SIGHUP, lambda: tasks.append(loop.create_task(_reload_logged(holder)))
            )
        if poll_s > 0:
            tasks.append(loop.create_task(_poll(holder, poll_s)))
        with contextlib.suppress(StoreUnavailable):  # down: the store logs it, requests 503
            await store.check()
        try:
            yield
        finally:
            if hangup:
                loop.remove_signal_handler(signal.SIGHUP)
            for task in tasks:
                task.cancel()
            await store.close()

    routes = [
        Route("/v1/recommend", recommend_get, methods=["GET"]),
        Route("/v1/recommend", recommend_post, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_text, methods=["GET"]),
        Route("/v1/admin/reload", reload, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={404: not_found, 405: not_found},
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.state.store = store
    app.state.holder = holder
    return ServiceApp(app, click)


class ServiceApp:
    """The ASGI app: ``GET /v1/recommend`` answered straight from the HTTP scope (the
    service's hot path: one request per click), anything else by Starlette's routes."""

    def __init__(self, app: Starlette, click: Any) -> None:
        self.app, self.click = app, click
        self.state = app.state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == "/v1/recommend"
            and scope["method"] == "GET"
        ):
            status, body = await self.click(scope["query_string"])
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-length", str(len(body)).encode()),
                        (b"content-type", b"application/json"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


async def _body(request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise BadRequest(f"the body is {int(declared):,} bytes; at most {MAX_BODY:,}.", 413)
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise BadRequest(f"the body is over {MAX_BODY:,} bytes.", 413)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise BadRequest(f"expected a JSON object with items and k, got {type(body).__name__}.")
    return body


def _failed(exc: Exception) -> Response:
    line = (str(exc).strip().splitlines() or [""])[0]
    logger.error("Request failed: %s: %s", type(exc).__name__, line)
    return _json({"error": f"the service failed on this request ({type(exc).__name__})"}, 500)


async def _reload_logged(holder: ModelHolder) -> None:
    with contextlib.suppress(SwapFailed):  # logged by the holder
        if not await holder.reload():
            logger.warning(
                "No newer version of %s than %s", holder.current.model, holder.current.version
            )


async def _poll(holder: ModelHolder, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        with contextlib.suppress(SwapFailed):
            await holder.reload(quiet_repeats=True)
