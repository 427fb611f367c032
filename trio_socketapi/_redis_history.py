"""History in Redis: the streams of ``_history.py`` as Redis keys, kept by three Lua scripts.

Per stream (channel + key JSON), under the broker's namespace (its pub/sub channel name):

- ``…:m:[channel, key]``, a hash ``{epoch, offset}``: the position. Expires ``position_ttl``
  after the stream's last use; a missing hash means the numbering is lost (Redis restarted
  without persistence, or the stream was idle), and the next use starts a new epoch (Redis's
  ``TIME`` to the microsecond, so never one a client has seen) with offset 0.
- ``…:s:[channel, key]``, a Redis Stream of the kept publications: entry id ``<offset>-0``, fields
  ``t`` (Redis time in ms) and ``d`` (the data JSON; absent for a frame without data). Trimmed to
  ``size`` by ``XADD MAXLEN =``; it expires ``ttl`` after the last publication and entries older
  than ``ttl`` are skipped when read.
- ``…:k:[channel]``, a sorted set of the channel's live streams (member: key JSON, score: when
  it stops being live), for broadcasts that name only part of the key.

Publishing and recording are one step: ``RECORD`` numbers the publication in every stream, adds
it to each, and ``PUBLISH``es the broadcast with the offsets it got, all in one script, which
Redis runs atomically. So every process receives a publication only once it is in history, with
the same offsets everywhere, and a history read (``READ``, also a script) sees a publication if
and only if it ran after that publication's ``PUBLISH``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pydantic_core
from coredis import Redis
from coredis.commands.script import Script

from ._broker import Broadcast, StreamKeys
from ._history import Entry, History, Publication, Replay, Since, publication, recovery
from ._protocol import to_json

_NOW = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local function position(meta, stream)
  local epoch = redis.call('HGET', meta, 'epoch')
  if not epoch then
    epoch = time[1] .. string.format('%06d', tonumber(time[2]))
    redis.call('HSET', meta, 'epoch', epoch, 'offset', 0)
    redis.call('DEL', stream)
  end
  return epoch
end
"""

# KEYS: live set, then (meta, stream) per stream.  ARGV: pub/sub channel, size, ttl ms,
# position_ttl ms, the broadcast's JSON up to its "streams" list, data JSON ('' for none), then
# (key JSON, key JSON as a JSON string) per stream.
RECORD: Script[bytes] = Script(
    script=_NOW
    + """
local size, ttl, keep, data = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[6]
local parts = {}
for i = 1, (#KEYS - 1) / 2 do
  local meta, stream = KEYS[2 * i], KEYS[2 * i + 1]
  local epoch = position(meta, stream)
  local offset = redis.call('HINCRBY', meta, 'offset', 1)
  redis.call('PEXPIRE', meta, keep)
  if data == '' then
    redis.call('XADD', stream, 'MAXLEN', '=', size, offset .. '-0', 't', now)
  else
    redis.call('XADD', stream, 'MAXLEN', '=', size, offset .. '-0', 't', now, 'd', data)
  end
  redis.call('PEXPIRE', stream, ttl)
  redis.call('ZADD', KEYS[1], now + keep, ARGV[5 + 2 * i])
  parts[i] = '[' .. ARGV[6 + 2 * i] .. ',' .. offset .. ',"' .. epoch .. '"]'
end
redis.call('PEXPIRE', KEYS[1], keep)
redis.call('PUBLISH', ARGV[1], ARGV[5] .. table.concat(parts, ',') .. ']}')
return #parts
"""
)

# KEYS: live set, meta, stream.  ARGV: since offset (-1: none), ttl ms, position_ttl ms, key JSON.
# Returns {epoch, offset, id1, data1, id2, data2, ...}: the entries after ``since`` within ttl.
READ: Script[bytes] = Script(
    script=_NOW
    + """
local epoch = position(KEYS[2], KEYS[3])
local offset = tonumber(redis.call('HGET', KEYS[2], 'offset'))
local keep = tonumber(ARGV[3])
redis.call('PEXPIRE', KEYS[2], keep)
redis.call('ZADD', KEYS[1], now + keep, ARGV[4])
redis.call('PEXPIRE', KEYS[1], keep)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local result = {epoch, offset}
local since = tonumber(ARGV[1])
if since >= 0 and since < offset then
  local oldest = now - tonumber(ARGV[2])
  for _, entry in ipairs(redis.call('XRANGE', KEYS[3], (since + 1) .. '-0', '+')) do
    local fields, t, d = entry[2], 0, ''
    for j = 1, #fields, 2 do
      if fields[j] == 't' then t = tonumber(fields[j + 1]) elseif fields[j] == 'd' then
        d = fields[j + 1]
      end
    end
    if t >= oldest then
      result[#result + 1] = entry[1]
      result[#result + 1] = d
    end
  end
end
return result
"""
)

# KEYS: meta, stream.  ARGV: limit, ttl ms.  Returns {epoch, id, data, ...} newest first, or {}.
RECENT: Script[bytes] = Script(
    script="""
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then return {} end
local result = {epoch}
local oldest = now - tonumber(ARGV[2])
for _, entry in ipairs(redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', ARGV[1])) do
  local fields, t, d = entry[2], 0, ''
  for j = 1, #fields, 2 do
    if fields[j] == 't' then t = tonumber(fields[j + 1]) elseif fields[j] == 'd' then
      d = fields[j + 1]
    end
  end
  if t >= oldest then
    result[#result + 1] = entry[1]
    result[#result + 1] = d
  end
end
return result
""",
    readonly=True,
)

# KEYS: live set.  Returns the key JSON of the channel's live streams.
LIVE: Script[bytes] = Script(
    script="""
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
""",
    readonly=True,
)


class RedisStreams:
    """The Redis side of history for one ``RedisBroker`` (its namespace and pub/sub channel)."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def _name(self, kind: str, *parts: str) -> str:
        return f"{self.namespace}:{kind}:{to_json(list(parts)).decode()}"

    async def record(
        self,
        client: Redis[bytes],
        broadcast: Broadcast,
        streams: StreamKeys | None,
        history: History,
    ) -> None:
        """Record ``broadcast`` in ``streams`` (``None``: the live ones it agrees with) and
        ``PUBLISH`` it on the namespace channel, in one script."""
        live = self._name("k", broadcast.channel)
        if streams is None:
            streams = await self._matching(client, live, broadcast.key)
        keys = [live]
        args: list[str | bytes | int] = [
            self.namespace,
            history.size,
            _ms(history.ttl),
            _ms(history.position_ttl),
            broadcast.encode()[:-1] + b',"streams":[',
            broadcast.data_json or b"",
        ]
        for key, _ in streams:
            text = key.decode()
            keys += (
                self._name("m", broadcast.channel, text),
                self._name("s", broadcast.channel, text),
            )
            args += (key, to_json(text))
        await RECORD(keys=keys, args=args, client=client)

    async def read(
        self,
        client: Redis[bytes],
        channel: str,
        key: bytes,
        since: Since | None,
        history: History,
    ) -> Replay:
        """The stream's position and, for a client at ``since``, what it missed."""
        text = key.decode()
        reply: object = await READ(
            keys=[
                self._name("k", channel),
                self._name("m", channel, text),
                self._name("s", channel, text),
            ],
            args=[
                -1 if since is None else since.offset,
                _ms(history.ttl),
                _ms(history.position_ttl),
                key,
            ],
            client=client,
        )
        epoch, offset, *flat = _list(reply)
        return recovery(since, _text(epoch), int(offset), _entries(flat))

    async def recent(
        self, client: Redis[bytes], channel: str, key: bytes, limit: int, history: History
    ) -> list[Publication]:
        """The newest ``limit`` kept publications, oldest first."""
        if limit <= 0:
            return []
        text = key.decode()
        reply = _list(
            await RECENT(
                keys=[self._name("m", channel, text), self._name("s", channel, text)],
                args=[limit, _ms(history.ttl)],
                client=client,
            )
        )
        if not reply:
            return []
        epoch = _text(reply[0])
        return [publication(entry, epoch) for entry in reversed(_entries(reply[1:]))]

    async def _matching(
        self, client: Redis[bytes], live: str, key: Mapping[str, Any]
    ) -> list[tuple[bytes, Mapping[str, Any]]]:
        # Compare as JSON values, the form both sides of Redis agree on.
        wanted = {name: pydantic_core.from_json(to_json(value)) for name, value in key.items()}
        streams = []
        for member in _list(await LIVE(keys=[live], client=client)):
            raw = bytes(member) if not isinstance(member, str) else member.encode()
            params = pydantic_core.from_json(raw) if raw else {}
            if all(params.get(name) == value for name, value in wanted.items()):
                streams.append((raw, params))
        return streams


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _list(reply: object) -> list[Any]:
    assert isinstance(reply, list | tuple), reply
    return list(reply)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entries(flat: Sequence[Any]) -> list[Entry]:
    """``[id, data, id, data, ...]`` (ids ``<offset>-0``, ``''`` for no data) as entries."""
    entries = []
    for i in range(0, len(flat), 2):
        offset = int(_text(flat[i]).partition("-")[0])
        data = flat[i + 1]
        data_json = (data if isinstance(data, bytes) else str(data).encode()) or None
        entries.append(Entry(offset, data_json))
    return entries
