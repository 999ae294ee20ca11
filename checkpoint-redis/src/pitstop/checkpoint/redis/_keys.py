"""The key schema of the Redis saver: every key of one thread shares the hash tag ``{<thread>}``.

One thread is eight keys, whatever its size or number of namespaces, all in one cluster slot, so
every single-thread operation is one atomic Lua script::

    <prefix>:{<tag>}:meta   hash   gen (bumped by every write), touched (ms), r:<run_id> markers
    <prefix>:{<tag>}:ids    zset   <ns part><checkpoint id>        score 0: per-namespace order
    <prefix>:{<tag>}:all    zset   <checkpoint id>\\0<ns>          score 0: cross-namespace order
    <prefix>:{<tag>}:cp     hash   <ns part><id> -> checkpoint record (msgpack)
    <prefix>:{<tag>}:cv     hash   <ns part><id> -> [[channel, value field], ...] (msgpack)
    <prefix>:{<tag>}:v      hash   <ns part><channel part><version> -> tag \\0 serialized bytes
    <prefix>:{<tag>}:wz     zset   <ns part><id part><task id>\\0<idx>   (writes of a checkpoint)
    <prefix>:{<tag>}:w      hash   same field -> write record (msgpack)

Two keys span threads (the only cross-slot data, read and written as separate commands on a
cluster): ``<prefix>:threads`` (zset thread id -> last write, ms: ``list`` without a thread and
retention) and ``<prefix>:run:{<run>}`` (set of thread ids: ``delete_for_runs``).

A *part* is ``<byte length>:<text>``: parts are prefix-free, so a range over one part never
reaches another namespace. The tag is ``=<thread id>`` when the id is plain ASCII without
braces, else ``x<hex of its UTF-8>``: braces or odd bytes can never break the hash tag.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "THREAD_KEYS",
    "all_member",
    "cp_field",
    "part",
    "run_key",
    "tag",
    "thread_keys",
    "threads_key",
    "value_field",
    "write_field",
    "write_prefix",
]

THREAD_KEYS: Final = ("meta", "ids", "all", "cp", "cv", "v", "wz", "w")
"""The suffixes of a thread's keys, in the order scripts receive them as ``KEYS``."""

_PLAIN = re.compile(r"[A-Za-z0-9_.:@+\-]{1,128}")


def tag(text: str) -> str:
    """The hash-tag body naming ``text`` (a thread or run id) safely."""
    if _PLAIN.fullmatch(text):
        return "=" + text
    return "x" + text.encode().hex()


def thread_keys(prefix: str, thread_id: str) -> list[str]:
    """The eight keys of a thread, in :data:`THREAD_KEYS` order."""
    base = f"{prefix}:{{{tag(thread_id)}}}:"
    return [base + suffix for suffix in THREAD_KEYS]


def threads_key(prefix: str) -> str:
    """The global index of threads (score: last write time in ms)."""
    return f"{prefix}:threads"


def run_key(prefix: str, run_id: str) -> str:
    """The set of threads holding checkpoints of a run."""
    return f"{prefix}:run:{{{tag(run_id)}}}"


def part(text: str) -> str:
    """``<byte length>:<text>``: a prefix-free encoding of one variable segment."""
    return f"{len(text.encode())}:{text}"


def cp_field(ns: str, checkpoint_id: str) -> str:
    """Field of a checkpoint in ``cp``/``cv``, and its member in ``ids``."""
    return part(ns) + checkpoint_id


def all_member(ns: str, checkpoint_id: str) -> str:
    """Member of a checkpoint in ``all`` (sorts by checkpoint id first)."""
    return f"{checkpoint_id}\x00{ns}"


def value_field(ns: str, channel: str, version: str) -> str:
    """Field of one channel value in ``v``."""
    return part(ns) + part(channel) + version


def write_prefix(ns: str, checkpoint_id: str) -> str:
    """The common prefix of the ``wz``/``w`` fields of one checkpoint's writes."""
    return part(ns) + part(checkpoint_id)


def write_field(ns: str, checkpoint_id: str, task_id: str, idx: int) -> str:
    """Field of one pending write in ``wz``/``w``."""
    return f"{write_prefix(ns, checkpoint_id)}{task_id}\x00{idx}"
