"""Saver factories for the conformance suite and the benchmarks: a fresh key prefix per saver.

The server is ``PITSTOP_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``). Every saver gets its
own prefix; closing it deletes that prefix's keys (``SCAN`` here is test cleanup, never used by
the saver).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio

from pitstop.checkpoint.redis import AsyncRedisSaver, RedisSaver

URL = os.environ.get("PITSTOP_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_server(url: str = URL) -> None:
    """Skip (locally) or fail (``CI=true``) when the server is unreachable."""
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        message = (
            f"Redis not reachable at {url} ({exc}); start one (./scripts/services.sh) or "
            "point PITSTOP_REDIS_URL at a server"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def new_prefix() -> str:
    return f"pitstop-test-{uuid.uuid4().hex[:12]}"


def drop_prefix(prefix: str, url: str = URL) -> int:
    """Delete every key under ``prefix`` (test cleanup; store keys start with ``{prefix}``)."""
    client = redis.Redis.from_url(url)
    try:
        doomed = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        doomed += list(client.scan_iter(match=f"{{{prefix}}}:*", count=1000))
        for key in doomed:
            client.delete(key)
        return len(doomed)
    finally:
        client.close()


def prefix_keys(prefix: str, url: str = URL) -> list[bytes]:
    client = redis.Redis.from_url(url)
    try:
        return list(client.scan_iter(match=f"{prefix}:*", count=1000))
    finally:
        client.close()


def open_sync(url: str, prefix: str) -> Any:
    """What another process calls to open the same storage (sync)."""
    return RedisSaver.from_conn_string(url, prefix=prefix)


def open_async(url: str, prefix: str) -> Any:
    """What another process calls to open the same storage (async)."""
    return AsyncRedisSaver.from_conn_string(url, prefix=prefix)


def open_cluster_sync(url: str, prefix: str) -> Any:
    """What another process calls to open the same storage on a cluster (sync)."""
    return RedisSaver.from_conn_string(url, prefix=prefix, cluster=True)


def open_cluster_async(url: str, prefix: str) -> Any:
    """What another process calls to open the same storage on a cluster (async)."""
    return AsyncRedisSaver.from_conn_string(url, prefix=prefix, cluster=True)


@contextlib.contextmanager
def sync_saver(
    prefix: str | None = None, *, keep: bool = False, **options: Any
) -> Iterator[RedisSaver]:
    """A ``RedisSaver`` on a fresh prefix (or on ``prefix``: a reopen keeps the keys)."""
    fresh = prefix is None
    prefix = prefix or new_prefix()
    client = redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(URL))
    try:
        yield RedisSaver(client, prefix=prefix, **options)
    finally:
        client.close()
        if fresh and not keep:
            _PENDING.append(prefix)


async def async_saver(prefix: str | None = None, **options: Any) -> AsyncIterator[AsyncRedisSaver]:
    """An ``AsyncRedisSaver`` on a fresh prefix, created on the caller's (the suite's) loop."""
    fresh = prefix is None
    prefix = prefix or new_prefix()
    pool = redis.asyncio.BlockingConnectionPool.from_url(URL, max_connections=32)
    client = redis.asyncio.Redis(connection_pool=pool)
    try:
        yield AsyncRedisSaver(client, prefix=prefix, **options)
    finally:
        await client.aclose()
        if fresh:
            _PENDING.append(prefix)


_PENDING: list[str] = []
"""Prefixes to delete at the end (``reopen`` reads them after the first saver closed)."""


def cleanup() -> None:
    while _PENDING:
        drop_prefix(_PENDING.pop())


def _stored_bytes(saver: Any) -> int:
    client = redis.Redis.from_url(URL)
    try:
        return sum(
            int(client.memory_usage(key, samples=0) or 0)
            for key in client.scan_iter(match=f"{saver.prefix}:*", count=1000)
        )
    finally:
        client.close()


def _reopen_sync(old: Any) -> Any:
    return sync_saver(old.prefix)


def _reopen_async(old: Any) -> Any:
    return async_saver(old.prefix)


def _connect_sync(saver: Any) -> tuple[str, tuple[Any, ...]]:
    return "redis_factories:open_sync", (URL, saver.prefix)


def _connect_async(saver: Any) -> tuple[str, tuple[Any, ...]]:
    return "redis_factories:open_async", (URL, saver.prefix)


sync_saver.reopen = _reopen_sync  # type: ignore[attr-defined]
sync_saver.stored_bytes = _stored_bytes  # type: ignore[attr-defined]
sync_saver.connect = _connect_sync  # type: ignore[attr-defined]
async_saver.reopen = _reopen_async  # type: ignore[attr-defined]
async_saver.stored_bytes = _stored_bytes  # type: ignore[attr-defined]
async_saver.connect = _connect_async  # type: ignore[attr-defined]


def sync_store(*, index: Any = None, ttl: Any = None) -> Iterator[Any]:
    """A ``RedisStore`` on a fresh prefix."""
    from pitstop.store.redis import RedisStore

    prefix = new_prefix()
    client = redis.Redis.from_url(URL)
    try:
        yield RedisStore(client, prefix=prefix, index=index, ttl=ttl)
    finally:
        client.close()
        _PENDING.append(prefix)


async def async_store(*, index: Any = None, ttl: Any = None) -> AsyncIterator[Any]:
    """An ``AsyncRedisStore`` on a fresh prefix, created on the suite's loop."""
    from pitstop.store.redis import AsyncRedisStore

    prefix = new_prefix()
    client = redis.asyncio.Redis.from_url(URL)
    try:
        yield AsyncRedisStore(client, prefix=prefix, index=index, ttl=ttl)
    finally:
        await client.aclose()
        _PENDING.append(prefix)
