"""Sessions in Redis, so that several replicas of the service share them: any replica
continues any session.

Each session is a Redis list ``<prefix><session id>`` of its last ``max_items`` item ids,
expiring ``ttl_s`` seconds after its last click. One click is one round trip: a script
appends the item, trims the list, renews the expiry and returns the session, atomically
(two replicas clicking the same session at once cannot interleave). How many sessions
Redis holds is bounded by Redis itself (``maxmemory`` with an LRU policy), which counts
what it drops: ``/metrics`` reports its ``expired_keys`` and ``evicted_keys``.

When Redis cannot be reached, a request gets :class:`StoreUnavailable` (the service's
503, with the reason); the log says so once when it goes and once when it is back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from session_recs.apps.service.store import REASONS, StoreBounds, StoreUnavailable

logger = logging.getLogger(__name__)

#: KEYS[1] the session; ARGV: the item, the bound, the ttl in ms. Returns {trimmed, items}.
APPEND = """
local n = redis.call('RPUSH', KEYS[1], ARGV[1])
local bound = tonumber(ARGV[2])
local trimmed = 0
if n > bound then
  redis.call('LTRIM', KEYS[1], n - bound, -1)
  trimmed = n - bound
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {trimmed, redis.call('LRANGE', KEYS[1], 0, -1)}
"""


@dataclass
class RedisStore:
    """Sessions in the Redis at ``url`` (``redis://127.0.0.1:6379/0``), keys under
    ``prefix``. ``timeout_s`` bounds each call, so a Redis that hangs is a 503, not a
    request that never ends."""

    url: str
    bounds: StoreBounds = field(default_factory=StoreBounds)
    prefix: str = "session_recs:session:"
    timeout_s: float = 1.0
    trimmed: int = 0
    evictions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    _client: Any = None
    _append: Any = None
    _down: str | None = None

    kind = "redis"

    def __post_init__(self) -> None:
        import redis.asyncio as redis

        self._client = redis.Redis.from_url(
            self.url,
            decode_responses=True,
            socket_timeout=self.timeout_s,
            socket_connect_timeout=self.timeout_s,
            retry_on_timeout=False,
        )
        self._append = self._client.register_script(APPEND)

    async def _call(self, what: str, coroutine: Any) -> Any:
        from redis.exceptions import RedisError

        try:
            result = await coroutine
        except (RedisError, OSError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if self._down is None:
                logger.error("Session store %s unavailable (%s): %s", self.where, what, reason)
            self._down = reason
            raise StoreUnavailable(f"Redis at {self.where}: {reason}") from None
        if self._down is not None:
            logger.warning("Session store %s is back", self.where)
            self._down = None
        return result

    @property
    def where(self) -> str:
        kwargs = self._client.connection_pool.connection_kwargs
        return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"

    async def append(self, session_id: str, item: str) -> list[str]:
        bound, ttl_ms = self.bounds.max_items, max(int(self.bounds.ttl_s * 1000), 1)
        call = self._append(keys=[self.prefix + session_id], args=[item, bound, ttl_ms])
        trimmed, items = await self._call("append", call)
        self.trimmed += int(trimmed)
        return list(items)

    async def get(self, session_id: str) -> list[str] | None:
        items = await self._call("get", self._client.lrange(self.prefix + session_id, 0, -1))
        return list(items) or None

    async def size(self) -> int:
        """Sessions held (Redis' key count: this store's keys, if the database is its own)."""
        return int(await self._call("size", self._client.dbsize()))

    async def check(self) -> None:
        await self._call("ping", self._client.ping())

    async def refresh(self) -> None:
        """Redis' own counts of expired and evicted keys, for ``/metrics``."""
        stats = await self._call("info", self._client.info("stats"))
        self.evictions["ttl"] = int(stats.get("expired_keys", 0))
        self.evictions["capacity"] = int(stats.get("evicted_keys", 0))

    async def close(self) -> None:
        await self._client.aclose()
