"""Time-ordered checkpoint ids (UUID version 6).

The canonical string form of these ids sorts lexicographically in creation order, which is what
every saver relies on ("latest" = greatest id, ``before`` = string comparison). Within one process
ids are strictly increasing even when many are made in the same 100-ns tick or from many threads
at once: the timestamp is bumped past the last one issued, under a lock.
"""

from __future__ import annotations

import random
import threading
import time
import uuid

__all__ = ["uuid6"]

# 100-ns intervals between the UUID epoch (1582-10-15) and the Unix epoch.
_UUID_EPOCH_OFFSET = 0x01B21DD213814000

_lock = threading.Lock()
_last_timestamp = 0


def _next_timestamp() -> int:
    global _last_timestamp
    timestamp = time.time_ns() // 100 + _UUID_EPOCH_OFFSET
    with _lock:
        if timestamp <= _last_timestamp:
            timestamp = _last_timestamp + 1
        _last_timestamp = timestamp
    return timestamp


def uuid6(node: int | None = None, clock_seq: int | None = None) -> uuid.UUID:
    """Return a new UUIDv6, strictly greater than every one made before in this process.

    Args:
        node: 48-bit node value; random when not given.
        clock_seq: 14-bit sequence (LangGraph passes the step, masked to 14 bits);
            random when not given.
    """
    timestamp = _next_timestamp()
    if clock_seq is None:
        clock_seq = random.getrandbits(14)
    if node is None:
        node = random.getrandbits(48)
    value = ((timestamp >> 12) & 0xFFFFFFFFFFFF) << 80
    value |= 6 << 76  # version
    value |= (timestamp & 0x0FFF) << 64
    value |= 0b10 << 62  # RFC 4122 variant
    value |= (clock_seq & 0x3FFF) << 48
    value |= node & 0xFFFFFFFFFFFF
    return uuid.UUID(int=value)
