"""Where the service keeps each session's clicks between requests.

A store maps a session id to the session's last ``max_items`` item ids, oldest first.
:class:`MemoryStore` keeps them in this process, bounded three ways: a session idle for
``ttl_s`` seconds is forgotten, at most ``max_sessions`` sessions are held (the least
recently used goes first), and a session keeps its last ``max_items`` clicks. Every
eviction is counted by reason (``ttl``, ``capacity``) and every click dropped from a
session's front by ``trimmed``, for ``/metrics``.

The methods are coroutines so that a networked store (Redis) has the same interface.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

#: Eviction reasons, as ``/metrics`` labels them.
REASONS = ("ttl", "capacity")


@dataclass(frozen=True)
class StoreBounds:
    """How long (idle seconds), how many sessions and how many clicks per session a store
    holds."""

    ttl_s: float = 1800.0
    max_sessions: int = 100_000
    max_items: int = 50

    def __post_init__(self) -> None:
        for name, value, least in (
            ("ttl_s", self.ttl_s, 1e-3),
            ("max_sessions", self.max_sessions, 1),
            ("max_items", self.max_items, 1),
        ):
            if not value >= least:
                raise ValueError(f"{name} must be at least {least}, got {value!r}")


class StoreUnavailable(Exception):
    """The store cannot be reached (a networked store that is down); the message says
    which and why, for the client's 503."""


@dataclass
class _Session:
    items: deque[str]
    seen: float


@dataclass
class MemoryStore:
    """Sessions in this process: an ordered dict from least to most recently used, so
    the idle ones are at its front and are dropped there in O(1) per session."""

    bounds: StoreBounds = field(default_factory=StoreBounds)
    clock: Callable[[], float] = time.monotonic
    evictions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    trimmed: int = 0
    _sessions: OrderedDict[str, _Session] = field(default_factory=OrderedDict)

    kind = "memory"

    async def append(self, session_id: str, item: str) -> list[str]:
        """Add ``item`` to the end of ``session_id`` (created if new or expired) and
        return the session's items, oldest first."""
        now = self.clock()
        self._expire(now)
        session = self._sessions.get(session_id)
        if session is None:
            while len(self._sessions) >= self.bounds.max_sessions:
                self._sessions.popitem(last=False)
                self.evictions["capacity"] += 1
            session = _Session(deque(maxlen=self.bounds.max_items), now)
            self._sessions[session_id] = session
        else:
            self._sessions.move_to_end(session_id)
            session.seen = now
        if len(session.items) == self.bounds.max_items:
            self.trimmed += 1
        session.items.append(item)
        return list(session.items)

    async def get(self, session_id: str) -> list[str] | None:
        """The items of ``session_id`` (None: unknown or expired), without touching it."""
        self._expire(self.clock())
        session = self._sessions.get(session_id)
        return None if session is None else list(session.items)

    async def size(self) -> int:
        """How many sessions are held."""
        return len(self._sessions)

    async def check(self) -> None:
        """Nothing to check: this process is the store."""

    async def close(self) -> None:
        self._sessions.clear()

    def _expire(self, now: float) -> None:
        limit = now - self.bounds.ttl_s
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if oldest.seen > limit:
                return
            self._sessions.popitem(last=False)
            self.evictions["ttl"] += 1
