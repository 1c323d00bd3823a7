"""Once per period across hosts, with Redis (`pip install 'repeating[redis]'`).

    from repeating.redis import RedisLock

    lock = RedisLock("redis://127.0.0.1:6379/0")
    task = RepeatedTask(func=purge, seconds=60, lock=lock)

Two keys per task, under `prefix`: `<prefix><task>:last`, the last claimed
tick, and `<prefix><task>:running`, a lease held for the run, renewed every
`lease / 3` seconds while it lasts and expiring `lease` seconds after a holder
dies. A claim checks and sets both in one Lua script, so it is atomic. Values
are plain strings; nothing is pickled.
"""

from __future__ import annotations

import secrets
from typing import Any

import attrs
import redis.asyncio as aioredis

from repeating.locks import Claim, Lease, check_lease

__all__ = ["RedisLock"]


# KEYS: running, last. ARGV: owner, tick, lease (ms).
# 1: claimed; 0: a run is in progress; -1: this tick or a later one was claimed.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local last = tonumber(redis.call('GET', KEYS[2]))
if last and tonumber(ARGV[2]) <= last then return -1 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
"""
# KEYS: running. ARGV: owner, lease (ms). Only the holder renews; a lease that
# vanished (a restarted server without persistence) is taken back if still free.
# 1: kept; 0: another process holds it now.
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
# KEYS: running. ARGV: owner. Only the holder releases.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@attrs.define
class _RedisClaim:
    lock: RedisLock
    running: str
    owner: str
    lease: Lease | None = None

    async def renew(self) -> bool:
        lease_ms = int(self.lock.lease * 1000)
        kept = await self.lock._script(_RENEW)(keys=[self.running], args=[self.owner, lease_ms])
        return bool(kept)

    async def release(self, outcome: str) -> None:
        if self.lease is not None:
            await self.lease.end()
        await self.lock._script(_RELEASE)(keys=[self.running], args=[self.owner])


@attrs.define(eq=False)
class RedisLock:
    """Coordinates processes on any number of hosts through one Redis server.

    `url` is a redis-py URL (`redis://host:6379/0`, `rediss://...`), or pass a
    ready `client` (`redis.asyncio.Redis`). `lease` (seconds, default 30) bounds
    how long a crashed holder blocks the task; a live holder renews it.

    Added in version 0.1.
    """

    url: str | None = None
    """The server's URL, or None when `client` is given."""
    client: Any = attrs.field(default=None, repr=False)
    """The `redis.asyncio.Redis` client in use (made from `url` if not given)."""
    prefix: str = "repeating:"
    """The start of each key."""
    lease: float = attrs.field(default=30.0, converter=float, validator=check_lease)
    """Seconds a claim lasts unless renewed: how long a crashed holder blocks the task."""
    _scripts: dict[str, Any] = attrs.field(factory=dict, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if (self.url is None) == (self.client is None):
            msg = "RedisLock takes a url or a client, not both nor neither"
            raise TypeError(msg)
        if self.url is not None:
            # redis-py's own client; no lock object of its, whose defaults
            # (no timeout, thread-local tokens) do not suit asyncio tasks.
            self.client = aioredis.from_url(self.url, socket_timeout=5, socket_connect_timeout=5)

    def _script(self, source: str) -> Any:
        if source not in self._scripts:
            self._scripts[source] = self.client.register_script(source)
        return self._scripts[source]

    async def claim(self, task: str, tick: int) -> Claim | None:
        """Claim `tick` of `task`; see `repeating.locks.Lock.claim`."""
        running, last = f"{self.prefix}{task}:running", f"{self.prefix}{task}:last"
        owner = secrets.token_hex(8)
        lease_ms = int(self.lease * 1000)
        outcome = await self._script(_CLAIM)(keys=[running, last], args=[owner, tick, lease_ms])
        if outcome != 1:
            return None
        claim = _RedisClaim(self, running, owner)
        claim.lease = Lease(self.lease, claim.renew, f"the lease {running}")
        return claim

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self.client.aclose()
