"""Presence in Redis: every process's entries of a stream, expiring unless refreshed.

Per stream (channel + key JSON), under the broker's namespace: a hash ``…:p:[channel, key]``
of connection id to info JSON, and a sorted set ``…:pz:[channel, key]`` of connection id to the
Redis time (ms) at which the entry expires. A process adds its entries when its connections
subscribe (``CHANGE``, which also ``PUBLISH``es the join) and re-adds all of them every
``presence_ttl / 3`` (``REFRESH``); a read (``MEMBERS``) first drops the entries past their
time. So the entries of a process that stops refreshing (crashed, frozen, cut off) are gone
from ``presence`` at most ``presence_ttl`` after its last refresh. A join or leave is recorded
and published in one script, as publications are.
"""

from __future__ import annotations

from typing import Any

import pydantic_core
from coredis import Redis
from coredis.commands.script import Script

from ._broker import Broadcast
from ._presence import PresenceEntries
from ._protocol import to_json

_NOW = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
"""

# KEYS: hash, zset.  ARGV: "join"/"leave", id, info JSON, ttl ms, pub/sub channel, payload.
CHANGE: Script[bytes] = Script(
    script=_NOW
    + """
local changed
if ARGV[1] == 'join' then
  changed = redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
else
  changed = redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
end
if changed == 1 then redis.call('PUBLISH', ARGV[5], ARGV[6]) end
return changed
"""
)

# KEYS: hash, zset.  ARGV: ttl ms, then id, info JSON per entry.
REFRESH: Script[bytes] = Script(
    script=_NOW
    + """
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return 1
"""
)

# KEYS: hash, zset.  Returns {id, info, id, info, ...} of the entries not expired.
MEMBERS: Script[bytes] = Script(
    script=_NOW
    + """
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. now)
for _, id in ipairs(expired) do redis.call('HDEL', KEYS[1], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. now)
return redis.call('HGETALL', KEYS[1])
"""
)


class RedisPresence:
    """The Redis side of presence for one ``RedisBroker``."""

    def __init__(self, namespace: str, ttl: float) -> None:
        self.namespace = namespace
        self.ttl_ms = max(1, round(ttl * 1000))

    def _keys(self, channel: str, key: bytes) -> list[str]:
        suffix = to_json([channel, key.decode()]).decode()
        return [f"{self.namespace}:p:{suffix}", f"{self.namespace}:pz:{suffix}"]

    async def change(self, client: Redis[bytes], event: Broadcast, key: bytes) -> None:
        """Record a join or leave and ``PUBLISH`` it if it changed anything, in one script."""
        assert event.event is not None
        kind, client_id, info_json = event.event
        args: list[str | bytes | int] = [
            kind,
            client_id,
            info_json,
            self.ttl_ms,
            self.namespace,
            event.encode(),
        ]
        await CHANGE(keys=self._keys(event.channel, key), args=args, client=client)

    async def refresh(
        self, client: Redis[bytes], channel: str, key: bytes, entries: PresenceEntries
    ) -> None:
        """Re-add one stream's entries of this process with a new expiry."""
        args: list[str | bytes | int] = [self.ttl_ms]
        for client_id, info_json in entries.items():
            args += (client_id, info_json)
        await REFRESH(keys=self._keys(channel, key), args=args, client=client)

    async def members(self, client: Redis[bytes], channel: str, key: bytes) -> dict[str, Any]:
        """Every process's live entries of one stream: connection id to info."""
        reply: object = await MEMBERS(keys=self._keys(channel, key), client=client)
        if isinstance(reply, dict):  # RESP3 may answer a map
            pairs = list(reply.items())
        else:
            assert isinstance(reply, list | tuple)
            pairs = list(zip(reply[::2], reply[1::2], strict=True))
        return {
            (k.decode() if isinstance(k, bytes) else str(k)): pydantic_core.from_json(v)
            for k, v in pairs
        }
