"""The Lua scripts of the Redis saver: each is one atomic operation on one thread's keys.

Scripts receive the eight keys of one thread (``_keys.THREAD_KEYS`` order) as ``KEYS[1..8]``; on a
standalone server (or Sentinel) ``KEYS[9]`` is the global thread index and, for ``PUT``,
``KEYS[10]`` the run's thread set, so those are updated in the same atomic step. On a cluster the
scripts get only the eight same-slot keys and the saver updates the global keys separately. Data
reaches a script only through ``KEYS``/``ARGV``, never through the script text. ``ttl`` is in
milliseconds (``0``: no expiry); with a TTL every key of the thread gets its ``PEXPIRE`` in the
script that writes it.

Large values stay out of Lua (the server copies every script argument and every ``redis.call``
reply at about 1 us per KB): a standalone ``put`` with large values is ``MULTI``, a plain
``HSET`` of the full values, ``EVAL PUT`` with the small delta records, ``EXEC``, and
``get_tuple`` lets ``PAGE`` leave the values to an ``HMGET`` in the same ``MULTI`` when the
caller guessed the value fields right (that ``HMGET`` also reads the chains of delta records).

A delta record is stored as ``\\x01<version part>...\\0<tag>\\0<bytes>``: the versions of its
chain lead, as ``<byte length>:<text>`` parts, so a script reads the chain a value needs without
decoding (or decompressing) the record, and returns those records in the same reply.
"""

from __future__ import annotations

import hashlib
from typing import Final

__all__ = ["APPLY", "DELETE", "HISTORY", "PAGE", "PUT", "PUT_WRITES", "SNAPSHOT", "Script"]


class Script:
    """A Lua script, its UTF-8 ``body`` and SHA1; the saver sends ``EVALSHA`` (``EVAL`` when the
    server does not know it, or inside ``MULTI``, where a ``NOSCRIPT`` would not abort the rest).
    """

    __slots__ = ("body", "name", "sha", "text")

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self.body = text.encode()
        self.sha = hashlib.sha1(self.body).hexdigest()


_EXPIRE_THREAD: Final = """
local function expire_thread(ttl)
  if ttl > 0 then
    for i = 1, 8 do redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end
"""

_READS: Final = """
local function hmget(key, fields)
  local out = {}
  for i = 1, #fields, 1000 do
    local part = redis.call('HMGET', key, unpack(fields, i, math.min(i + 999, #fields)))
    for _, v in ipairs(part) do out[#out + 1] = v end
  end
  return out
end
-- the leading '<len>:<text>' part of s at pos: text, next pos
local function part_at(s, pos)
  local c = string.find(s, ':', pos, true)
  local n = tonumber(string.sub(s, pos, c - 1))
  return string.sub(s, c + 1, c + n), c + n + 1
end
-- Chain records the delta records among fields/blobs need that `have` lacks, read with one
-- HMGET and appended to `extra` as field, record pairs (`have` gains them).
local function add_chains(have, fields, blobs, extra)
  local want = {}
  for i, blob in ipairs(blobs) do
    if blob and string.byte(blob, 1) == 1 then
      local f = fields[i]
      local _, p = part_at(f, 1)
      _, p = part_at(f, p)
      local prefix = string.sub(f, 1, p - 1)
      local pos = 2
      while string.byte(blob, pos) ~= 0 do
        local v
        v, pos = part_at(blob, pos)
        local dep = prefix .. v
        if not have[dep] then
          have[dep] = true
          want[#want + 1] = dep
        end
      end
    end
  end
  if #want > 0 then
    for i, v in ipairs(hmget(KEYS[6], want)) do
      extra[#extra + 1] = want[i]
      extra[#extra + 1] = v
    end
  end
end
-- the msgpack header of an array of n items
local function array_header(n)
  if n < 16 then return string.char(0x90 + n) end
  if n < 65536 then return string.char(0xdc, math.floor(n / 256), n % 256) end
  return string.char(0xdd, math.floor(n / 16777216), math.floor(n / 65536) % 256,
    math.floor(n / 256) % 256, n % 256)
end
-- cv (msgpack [[channel, value field], ...]) as a list of value fields
local function cv_fields(cv)
  local fs = {}
  for j, p in ipairs(cmsgpack.unpack(cv)) do fs[j] = p[2] end
  return fs
end
-- the writes of one checkpoint (field of its ids member is nsp .. id)
local function writes_of(nsp, id)
  local wp = nsp .. #id .. ':' .. id
  local wf = redis.call('ZRANGEBYLEX', KEYS[7], '[' .. wp, '(' .. wp .. '\\255')
  return hmget(KEYS[8], wf)
end
"""

PUT: Final = Script(
    "put",
    _EXPIRE_THREAD
    + """
-- ARGV: ttl, now, thread_id, cp field, all member, record, cv, run_id, n, n check fields,
--       value field/value pairs...
-- The check fields are the value fields the new delta records need: when one is missing (the
-- thread was deleted or pruned since the caller read it) nothing is stored and 0 is returned;
-- the caller then puts again with full values.
local ttl = tonumber(ARGV[1])
local n = tonumber(ARGV[9])
for i = 10, 9 + n do
  if redis.call('HEXISTS', KEYS[6], ARGV[i]) == 0 then return 0 end
end
redis.call('ZADD', KEYS[2], 0, ARGV[4])
redis.call('ZADD', KEYS[3], 0, ARGV[5])
redis.call('HSET', KEYS[4], ARGV[4], ARGV[6])
redis.call('HSET', KEYS[5], ARGV[4], ARGV[7])
for i = 10 + n, #ARGV, 500 do
  redis.call('HSET', KEYS[6], unpack(ARGV, i, math.min(i + 499, #ARGV)))
end
if ARGV[8] ~= '' then
  redis.call('HSET', KEYS[1], 'touched', ARGV[2], 'r:' .. ARGV[8], 1)
else
  redis.call('HSET', KEYS[1], 'touched', ARGV[2])
end
redis.call('HINCRBY', KEYS[1], 'gen', 1)
expire_thread(ttl)
if #KEYS >= 9 then
  redis.call('ZADD', KEYS[9], ARGV[2], ARGV[3])
  if ttl > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[9], '-inf', '(' .. (tonumber(ARGV[2]) - ttl))
    redis.call('PEXPIRE', KEYS[9], ttl)
  end
  if #KEYS >= 10 then
    redis.call('SADD', KEYS[10], ARGV[3])
    if ttl > 0 then redis.call('PEXPIRE', KEYS[10], ttl) end
  end
end
return 1
""",
)

PUT_WRITES: Final = Script(
    "put_writes",
    _EXPIRE_THREAD
    + """
-- ARGV: ttl, now, thread_id, then (mode, field, record) triples; mode 'k' keeps the first value
local ttl = tonumber(ARGV[1])
for i = 4, #ARGV, 3 do
  local f = ARGV[i + 1]
  if ARGV[i] == 'k' then
    if redis.call('HSETNX', KEYS[8], f, ARGV[i + 2]) == 1 then
      redis.call('ZADD', KEYS[7], 0, f)
    end
  else
    redis.call('HSET', KEYS[8], f, ARGV[i + 2])
    redis.call('ZADD', KEYS[7], 0, f)
  end
end
redis.call('HSET', KEYS[1], 'touched', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'gen', 1)
expire_thread(ttl)
if #KEYS >= 9 then
  redis.call('ZADD', KEYS[9], ARGV[2], ARGV[3])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[9], ttl) end
end
return 1
""",
)

PAGE: Final = Script(
    "page",
    _EXPIRE_THREAD
    + _READS
    + """
-- ARGV: mode ('ns': KEYS[2] members <ns part><id>; 'all': KEYS[3] members <id>\\0<ns>),
--       max, min (ZREVRANGEBYLEX bounds), count, ttl to refresh (0: none), now, thread_id,
--       [cv the caller expects (get_tuple)]
-- Returns {entries, extra}: entries are {record, cv, values, writes} per checkpoint, newest
-- first; extra is the field, record pairs of the chain records their delta records need. When
-- the one checkpoint read has exactly the expected cv, it returns one string instead: a msgpack
-- array of the record and the write records (each stored as one msgpack value), so the caller
-- parses one reply element and decodes them in one call; it reads the values with a plain
-- HMGET sent right after this script (large values are slow to pass through Lua).
local all = ARGV[1] == 'all'
local key = KEYS[2]
if all then key = KEYS[3] end
local members = redis.call('ZREVRANGEBYLEX', key, ARGV[2], ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
local out = {}
local have, fields, blobs = {}, {}, {}
local flat
for _, m in ipairs(members) do
  local nsp, id
  if all then
    local z = string.find(m, '\\0', 1, true)
    local ns = string.sub(m, z + 1)
    id = string.sub(m, 1, z - 1)
    nsp = #ns .. ':' .. ns
  else
    local c = string.find(m, ':', 1, true)
    local n = tonumber(string.sub(m, 1, c - 1))
    nsp = string.sub(m, 1, c + n)
    id = string.sub(m, c + n + 1)
  end
  local field = nsp .. id
  local rec = redis.call('HGET', KEYS[4], field)
  if rec then
    local cv = redis.call('HGET', KEYS[5], field)
    local vals = {}
    if cv and ARGV[8] and cv == ARGV[8] and #members == 1 then
      flat = {'', rec}
      for _, w in ipairs(writes_of(nsp, id)) do
        if w then flat[#flat + 1] = w end
      end
      flat[1] = array_header(#flat - 1)
      flat = table.concat(flat)
    elseif cv then
      local fs = cv_fields(cv)
      vals = hmget(KEYS[6], fs)
      for j, f in ipairs(fs) do
        have[f] = true
        fields[#fields + 1] = f
        blobs[#blobs + 1] = vals[j]
      end
    end
    if not flat then out[#out + 1] = {rec, cv or '', vals, writes_of(nsp, id)} end
  end
end
local extra = {}
add_chains(have, fields, blobs, extra)
if flat then out = flat end
local ttl = tonumber(ARGV[5])
if ttl > 0 and #out > 0 then
  expire_thread(ttl)
  if #KEYS >= 9 then
    redis.call('ZADD', KEYS[9], 'XX', ARGV[6], ARGV[7])
    redis.call('PEXPIRE', KEYS[9], ttl)
  end
end
if flat then return flat end
return {out, extra}
""",
)

HISTORY: Final = Script(
    "history",
    _READS
    + """
-- ARGV: ns part, checkpoint id ('' = the newest of the namespace), skip ('1': start at its
--       parent), max ancestors, channels...
-- Walks the parent chain from there while some channel has no stored value yet (its seed).
-- Returns {entries, extra, next}: entries as in PAGE (values only of the channels still
-- open), extra the chain records of their delta records, next the id to go on from (false
-- when the walk is over).
local function str_at(s, pos)
  local b = string.byte(s, pos)
  if b == 0xc0 then return nil, pos + 1 end
  local n, h
  if b >= 0xa0 and b <= 0xbf then n, h = b - 0xa0, 1
  elseif b == 0xd9 then n, h = string.byte(s, pos + 1), 2
  elseif b == 0xda then n, h = string.byte(s, pos + 1) * 256 + string.byte(s, pos + 2), 3
  elseif b == 0xdb then
    local b1, b2, b3, b4 = string.byte(s, pos + 1, pos + 4)
    n, h = ((b1 * 256 + b2) * 256 + b3) * 256 + b4, 5
  else error('checkpoint record: unexpected msgpack type') end
  return string.sub(s, pos + h, pos + h + n - 1), pos + h + n
end
local function parent_of(rec)
  local _, p = str_at(rec, 2)  -- after the fixarray header: ns, id, parent
  _, p = str_at(rec, p)
  return (str_at(rec, p))
end
local nsp, id = ARGV[1], ARGV[2]
if id == '' then
  local m = redis.call('ZREVRANGEBYLEX', KEYS[2], '[' .. nsp .. '\\255', '[' .. nsp, 'LIMIT', 0, 1)
  if #m == 0 then return {{}, {}, false} end
  id = string.sub(m[1], #nsp + 1)
end
if ARGV[3] == '1' then
  local rec = redis.call('HGET', KEYS[4], nsp .. id)
  if not rec then return {{}, {}, false} end
  id = parent_of(rec)
end
local open, left = {}, 0
for i = 5, #ARGV do
  if not open[ARGV[i]] then open[ARGV[i]] = true; left = left + 1 end
end
local out, have, fields, blobs = {}, {}, {}, {}
local budget = tonumber(ARGV[4])
while id and left > 0 and budget > 0 do
  budget = budget - 1
  local field = nsp .. id
  local rec = redis.call('HGET', KEYS[4], field)
  if not rec then id = nil; break end
  local cv = redis.call('HGET', KEYS[5], field)
  local vals = {}
  if cv then
    local pairs_ = cmsgpack.unpack(cv)
    local want, at = {}, {}
    for j, p in ipairs(pairs_) do
      vals[j] = false
      if open[p[1]] then want[#want + 1] = p[2]; at[#at + 1] = j end
    end
    if #want > 0 then
      local got = hmget(KEYS[6], want)
      for i, j in ipairs(at) do
        local blob = got[i]
        vals[j] = blob
        if blob then
          have[want[i]] = true
          fields[#fields + 1] = want[i]
          blobs[#blobs + 1] = blob
          if string.sub(blob, 1, 6) ~= 'empty\\0' then
            open[pairs_[j][1]] = nil
            left = left - 1
          end
        end
      end
    end
  end
  out[#out + 1] = {rec, cv or '', vals, writes_of(nsp, id)}
  id = parent_of(rec)
end
local extra = {}
add_chains(have, fields, blobs, extra)
if left == 0 then id = nil end
return {out, extra, id or false}
""",
)

DELETE: Final = Script(
    "delete",
    """
-- ARGV: thread_id, cutoff (ms; '' = unconditional: delete only if not written since)
-- Returns false when the thread was written after the cutoff, else {checkpoints, run ids}.
if ARGV[2] ~= '' then
  local t = redis.call('HGET', KEYS[1], 'touched')
  if t and tonumber(t) >= tonumber(ARGV[2]) then return false end
end
local n = redis.call('ZCARD', KEYS[3])
local runs = {}
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(f, 1, 2) == 'r:' then runs[#runs + 1] = string.sub(f, 3) end
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8])
if #KEYS >= 9 then redis.call('ZREM', KEYS[9], ARGV[1]) end
return {n, runs}
""",
)

SNAPSHOT: Final = Script(
    "snapshot",
    """
-- The whole thread, for maintenance computed client-side: {gen, meta, cp, cv, v, w}.
return {
  redis.call('HGET', KEYS[1], 'gen') or '0',
  redis.call('HGETALL', KEYS[1]),
  redis.call('HGETALL', KEYS[4]),
  redis.call('HGETALL', KEYS[5]),
  redis.call('HGETALL', KEYS[6]),
  redis.call('HGETALL', KEYS[8]),
}
""",
)

APPLY: Final = Script(
    "apply",
    _EXPIRE_THREAD
    + """
-- ARGV: check ('' none; 'empty': the thread has no checkpoint; else the expected gen),
--       ttl, thread_id, ops (msgpack [[command, key index, args...], ...])
-- Returns 0 when the check failed (nothing done), 2 when the thread is now empty, else 1.
local check = ARGV[1]
if check == 'empty' then
  if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
elseif check ~= '' then
  if (redis.call('HGET', KEYS[1], 'gen') or '0') ~= check then return 0 end
end
for _, op in ipairs(cmsgpack.unpack(ARGV[4])) do
  local key = KEYS[op[2]]
  for i = 3, #op, 500 do
    redis.call(op[1], key, unpack(op, i, math.min(i + 499, #op)))
  end
end
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8])
  if #KEYS >= 9 then redis.call('ZREM', KEYS[9], ARGV[3]) end
  return 2
end
redis.call('HINCRBY', KEYS[1], 'gen', 1)
expire_thread(tonumber(ARGV[2]))
return 1
""",
)
