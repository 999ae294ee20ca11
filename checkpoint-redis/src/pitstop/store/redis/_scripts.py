"""Lua scripts and key schema of the Redis store.

All keys of one store share the hash tag ``{<prefix>}`` (one slot: every script is atomic, on a
cluster too)::

    {<prefix>}:store:z      zset  <namespace parts>\\0<key>  (score 0: lexicographic prefix ranges)
    {<prefix>}:store:items  hash  member -> msgpack [namespace, key, tag, value, ttl, vectors]
    {<prefix>}:store:ts     hash  member -> "<created us>:<updated us>:<seq>"
    {<prefix>}:store:exp    zset  member -> expiry (ms); absent: never expires
    {<prefix>}:store:seq    string  write counter (orders items updated in the same microsecond)
"""

from __future__ import annotations

from typing import Final

from pitstop.checkpoint.redis._keys import part
from pitstop.checkpoint.redis._scripts import Script

__all__ = ["PUT", "READ", "REFRESH", "SWEEP", "member", "namespace_of", "ns_enc", "store_keys"]


def store_keys(prefix: str) -> list[str]:
    """``[z, items, ts, exp, seq]`` of a store."""
    base = f"{{{prefix}}}:store:"
    return [base + s for s in ("z", "items", "ts", "exp", "seq")]


def ns_enc(namespace: tuple[str, ...]) -> str:
    """A namespace as prefix-free parts: ``("a", "bc")`` -> ``1:a2:bc``."""
    return "".join(part(label) for label in namespace)


def member(namespace: tuple[str, ...], key: str) -> str:
    return ns_enc(namespace) + "\x00" + key


def namespace_of(raw: bytes) -> tuple[str, ...]:
    """The namespace of a member (bytes as stored)."""
    labels: list[str] = []
    i = 0
    while raw[i] != 0:
        colon = raw.index(b":", i)
        n = int(raw[i:colon])
        labels.append(raw[colon + 1 : colon + 1 + n].decode())
        i = colon + 1 + n
    return tuple(labels)


READ: Final = Script(
    "store_read",
    """
-- KEYS: z, items, ts, exp; ARGV: min, max (ZRANGEBYLEX), with records ('1') or not ('0')
-- Returns {member, record or '', ts or '', expiry or ''} per item in the range.
local members = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2])
local out = {}
for _, m in ipairs(members) do
  local rec = ''
  local ts = ''
  if ARGV[3] == '1' then
    rec = redis.call('HGET', KEYS[2], m) or ''
    ts = redis.call('HGET', KEYS[3], m) or ''
  end
  out[#out + 1] = {m, rec, ts, redis.call('ZSCORE', KEYS[4], m) or ''}
end
return out
""",
)

PUT: Final = Script(
    "store_put",
    """
-- KEYS: z, items, ts, exp, seq; ARGV: now (us), now (ms), then (member, record, expiry)
-- triples; an empty record deletes, an empty expiry means none. A put on a live item keeps
-- its created time.
local now_us = ARGV[1]
local now_ms = tonumber(ARGV[2])
for i = 3, #ARGV, 3 do
  local m = ARGV[i]
  local rec = ARGV[i + 1]
  local e = ARGV[i + 2]
  if rec == '' then
    redis.call('ZREM', KEYS[1], m)
    redis.call('HDEL', KEYS[2], m)
    redis.call('HDEL', KEYS[3], m)
    redis.call('ZREM', KEYS[4], m)
  else
    local created = now_us
    local old = redis.call('HGET', KEYS[3], m)
    if old then
      local oe = redis.call('ZSCORE', KEYS[4], m)
      if (not oe) or tonumber(oe) > now_ms then
        created = string.sub(old, 1, string.find(old, ':', 1, true) - 1)
      end
    end
    local seq = redis.call('INCR', KEYS[5])
    redis.call('ZADD', KEYS[1], 0, m)
    redis.call('HSET', KEYS[2], m, rec)
    redis.call('HSET', KEYS[3], m, created .. ':' .. now_us .. ':' .. seq)
    if e ~= '' then
      redis.call('ZADD', KEYS[4], e, m)
    else
      redis.call('ZREM', KEYS[4], m)
    end
  end
end
return 1
""",
)

REFRESH: Final = Script(
    "store_refresh",
    """
-- KEYS: exp; ARGV: (expiry, member) pairs; only items that still have an expiry are touched
for i = 1, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[i], ARGV[i + 1])
end
return 1
""",
)

SWEEP: Final = Script(
    "store_sweep",
    """
-- KEYS: z, items, ts, exp; ARGV: now (ms). Deletes items whose expiry is <= now.
local doomed = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', ARGV[1])
for _, m in ipairs(doomed) do
  redis.call('ZREM', KEYS[1], m)
  redis.call('HDEL', KEYS[2], m)
  redis.call('HDEL', KEYS[3], m)
  redis.call('ZREM', KEYS[4], m)
end
return #doomed
""",
)
