"""Lua scripts and key schema of the Redis store.

All keys of one store share the hash tag ``{<prefix>}`` (one slot: every script is atomic, on a
cluster too)::

    {<prefix>}:store:z      zset  <namespace parts>\\0<key>  (score 0: lexicographic prefix ranges)
    {<prefix>}:store:items  hash  member -> msgpack [namespace, key, tag, value, ttl, vectors]
    {<prefix>}:store:ts     hash  member -> "<created us>:<updated us>:<seq>"
    {<prefix>}:store:exp    zset  member -> expiry (ms); absent: never expires
    {<prefix>}:store:seq    string  write counter (orders items updated in the same microsecond)
    {<prefix>}:store:ns     zset  <namespace parts> of every namespace holding an item (score 0)
    {<prefix>}:store:t      zset  <updated us, 17 digits><seq, 17 digits><member> (score 0)
    {<prefix>}:store:v      string  index version ("2": ``ns`` and ``t`` are maintained)

Namespaces are encoded as ``<byte length>:<label>`` parts, a prefix-free code: the items under a
namespace prefix are one lexicographic range of ``z``, the namespaces under it one range of
``ns``. ``t`` orders every item newest first (``ZRANGE ... BYLEX REV``), so a search pages
through recency without sorting. Every write script keeps ``z``, ``ns`` and ``t`` in step.
"""

from __future__ import annotations

from typing import Final

from pitstop.checkpoint.redis._keys import part
from pitstop.checkpoint.redis._scripts import Script

__all__ = [
    "INDEX",
    "INDEX_VERSION",
    "LIST",
    "PUT",
    "READ",
    "REFRESH",
    "SEARCH",
    "SWEEP",
    "member",
    "namespace_of",
    "ns_enc",
    "store_keys",
]

INDEX_VERSION: Final = "2"
RECENCY_WIDTH: Final = 34
"""Length of the recency head of a ``t`` entry (two 17-digit numbers)."""


def store_keys(prefix: str) -> list[str]:
    """``[z, items, ts, exp, seq, ns, t, v]`` of a store."""
    base = f"{{{prefix}}}:store:"
    return [base + s for s in ("z", "items", "ts", "exp", "seq", "ns", "t", "v")]


def ns_enc(namespace: tuple[str, ...]) -> str:
    """A namespace as prefix-free parts: ``("a", "bc")`` -> ``1:a2:bc``."""
    return "".join(part(label) for label in namespace)


def member(namespace: tuple[str, ...], key: str) -> str:
    return ns_enc(namespace) + "\x00" + key


def namespace_of(raw: bytes) -> tuple[str, ...]:
    """The namespace of a member, or of an encoded namespace (bytes as stored)."""
    labels: list[str] = []
    i = 0
    while i < len(raw) and raw[i] != 0:
        colon = raw.index(b":", i)
        n = int(raw[i:colon])
        labels.append(raw[colon + 1 : colon + 1 + n].decode())
        i = colon + 1 + n
    return tuple(labels)


# Shared Lua helpers. KEYS are always z, items, ts, exp, seq, ns, t (a prefix of that list).
_HELPERS: Final = """
local function pad(n) return string.format('%017d', tonumber(n)) end
local function ns_of(m)
  local i = 1
  while string.byte(m, i) ~= 0 do
    local colon = string.find(m, ':', i, true)
    i = colon + 1 + tonumber(string.sub(m, i, colon - 1))
  end
  return string.sub(m, 1, i - 1)
end
local function recency(m, ts)
  local a = string.find(ts, ':', 1, true)
  local b = string.find(ts, ':', a + 1, true)
  return pad(string.sub(ts, a + 1, b - 1)) .. pad(string.sub(ts, b + 1)) .. m
end
-- forget an item (its ts already read); drop its namespace from ns when it was the last one
local function forget(m, ts)
  redis.call('ZREM', KEYS[1], m)
  redis.call('HDEL', KEYS[2], m)
  redis.call('HDEL', KEYS[3], m)
  redis.call('ZREM', KEYS[4], m)
  redis.call('ZREM', KEYS[7], recency(m, ts))
  local ns = ns_of(m)
  if #redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ns .. '\\0', '(' .. ns .. '\\1', 'LIMIT', 0, 1)
      == 0 then
    redis.call('ZREM', KEYS[6], ns)
  end
end
"""

INDEX: Final = Script(
    "store_index",
    _HELPERS
    + """
-- KEYS: z, items, ts, exp, seq, ns, t, v. Builds ns and t for items written before they
-- existed (once per store: v holds the index version).
if redis.call('GET', KEYS[8]) == ARGV[1] then return 0 end
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, m in ipairs(members) do
  redis.call('ZADD', KEYS[6], 0, ns_of(m))
  local ts = redis.call('HGET', KEYS[3], m)
  if ts then redis.call('ZADD', KEYS[7], 0, recency(m, ts)) end
end
redis.call('SET', KEYS[8], ARGV[1])
return #members
""",
)

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

SEARCH: Final = Script(
    "store_search",
    _HELPERS
    + """
-- KEYS: z, items, ts, exp, seq, ns, t; ARGV: namespace prefix (encoded, '' for all), now (ms),
-- cursor ('' or a t entry: continue strictly below it), skip, want (0: all).
-- Returns {done, cursor, entries}: the live items under the prefix, newest first, after the
-- cursor, skipping `skip` of them and stopping after `want`; an entry is
-- {member, record, ts, expiry or ''}. A narrow prefix is read and sorted here; otherwise t is
-- walked from the newest entry down, so a page costs what lies before it, not the whole store.
local enc = ARGV[1]
local now = tonumber(ARGV[2])
local cursor = ARGV[3]
local skip = tonumber(ARGV[4])
local want = tonumber(ARGV[5])
local out = {}
local last = cursor
local function take(r, m)
  local e = redis.call('ZSCORE', KEYS[4], m)
  if e and tonumber(e) <= now then return false end
  last = r
  if skip > 0 then
    skip = skip - 1
  else
    out[#out + 1] = {m, redis.call('HGET', KEYS[2], m), redis.call('HGET', KEYS[3], m), e or ''}
  end
  return want > 0 and #out >= want
end
local total = redis.call('ZCARD', KEYS[7])
local under = total
if enc ~= '' then
  under = redis.call('ZLEXCOUNT', KEYS[1], '[' .. enc, '(' .. enc .. '\\255')
end
if under * 8 < total then
  local sorted = {}
  for _, m in ipairs(redis.call('ZRANGEBYLEX', KEYS[1], '[' .. enc, '(' .. enc .. '\\255')) do
    local r = recency(m, redis.call('HGET', KEYS[3], m))
    if cursor == '' or r < cursor then sorted[#sorted + 1] = r end
  end
  table.sort(sorted, function(a, b) return a > b end)
  for _, r in ipairs(sorted) do
    if take(r, string.sub(r, 35)) then return {0, last, out} end
  end
  return {1, last, out}
end
local hi = '+'
if cursor ~= '' then hi = '(' .. cursor end
while true do
  local batch = redis.call('ZRANGE', KEYS[7], hi, '-', 'BYLEX', 'REV', 'LIMIT', 0, 256)
  if #batch == 0 then return {1, last, out} end
  for _, r in ipairs(batch) do
    local m = string.sub(r, 35)
    if string.sub(m, 1, #enc) == enc and take(r, m) then return {0, last, out} end
  end
  hi = '(' .. batch[#batch]
end
""",
)

LIST: Final = Script(
    "store_list",
    """
-- KEYS: z, exp, ns; ARGV: min, max (ZRANGEBYLEX over ns), now (ms).
-- Returns the encoded namespaces in the range that hold at least one live item.
local now = tonumber(ARGV[3])
local out = {}
for _, ns in ipairs(redis.call('ZRANGEBYLEX', KEYS[3], ARGV[1], ARGV[2])) do
  local lo = '[' .. ns .. '\\0'
  local hi = '(' .. ns .. '\\1'
  local found = false
  while not found do
    local members = redis.call('ZRANGEBYLEX', KEYS[1], lo, hi, 'LIMIT', 0, 64)
    if #members == 0 then break end
    for _, m in ipairs(members) do
      local e = redis.call('ZSCORE', KEYS[2], m)
      if (not e) or tonumber(e) > now then
        found = true
        break
      end
    end
    lo = '(' .. members[#members]
  end
  if found then out[#out + 1] = ns end
end
return out
""",
)

PUT: Final = Script(
    "store_put",
    _HELPERS
    + """
-- KEYS: z, items, ts, exp, seq, ns, t; ARGV: now (us), now (ms), then (member, record, expiry)
-- triples; an empty record deletes, an empty expiry means none. A put on a live item keeps
-- its created time.
local now_us = ARGV[1]
local now_ms = tonumber(ARGV[2])
for i = 3, #ARGV, 3 do
  local m = ARGV[i]
  local rec = ARGV[i + 1]
  local e = ARGV[i + 2]
  local old = redis.call('HGET', KEYS[3], m)
  if rec == '' then
    if old then forget(m, old) end
  else
    local created = now_us
    if old then
      local oe = redis.call('ZSCORE', KEYS[4], m)
      if (not oe) or tonumber(oe) > now_ms then
        created = string.sub(old, 1, string.find(old, ':', 1, true) - 1)
      end
      redis.call('ZREM', KEYS[7], recency(m, old))
    end
    local seq = redis.call('INCR', KEYS[5])
    local ts = created .. ':' .. now_us .. ':' .. string.format('%d', seq)
    redis.call('ZADD', KEYS[1], 0, m)
    redis.call('HSET', KEYS[2], m, rec)
    redis.call('HSET', KEYS[3], m, ts)
    redis.call('ZADD', KEYS[6], 0, ns_of(m))
    redis.call('ZADD', KEYS[7], 0, recency(m, ts))
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
    _HELPERS
    + """
-- KEYS: z, items, ts, exp, seq, ns, t; ARGV: now (ms). Deletes items whose expiry is <= now.
local doomed = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', ARGV[1])
for _, m in ipairs(doomed) do
  local ts = redis.call('HGET', KEYS[3], m)
  if ts then
    forget(m, ts)
  else
    redis.call('ZREM', KEYS[1], m)
    redis.call('HDEL', KEYS[2], m)
    redis.call('ZREM', KEYS[4], m)
  end
end
return #doomed
""",
)
