"""Crashes across processes (SIGKILL mid-run, resume elsewhere) and a server restart."""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from redis_factories import URL, new_prefix

from pitstop.checkpoint.redis import RedisSaver
from pitstop.conformance import durability
from pitstop.conformance.durability import checkpoint, payload

WORKERS = str(Path(__file__).with_name("redis_workers.py"))


@pytest.fixture
def prefix() -> Any:
    from redis_factories import _PENDING

    chosen = new_prefix()
    _PENDING.append(chosen)
    return chosen


def test_graph_killed_in_one_process_resumes_in_another(prefix: str) -> None:
    pytest.importorskip("langgraph.graph")
    out = durability.kill_at_interrupt_then_resume(
        [sys.executable, WORKERS, "graph-start", URL, prefix],
        [sys.executable, WORKERS, "graph-resume", URL, prefix],
    )
    with RedisSaver.from_conn_string(URL, prefix=prefix) as saver:
        durability.check_resumed(out, saver)


def test_sigkill_during_puts_leaves_only_complete_checkpoints(prefix: str) -> None:
    rng = random.Random(4)
    for _ in range(6):
        command = [sys.executable, WORKERS, "puts", URL, prefix]
        durability.kill_after_ready(command, rng.uniform(0.02, 0.25))
        with RedisSaver.from_conn_string(URL, prefix=prefix) as saver:
            # each put is atomic: no gap, no partial value
            assert durability.check_put_survivors(saver) > 0, "the child wrote nothing"
            saver.delete_thread(durability.THREAD_ID)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(port: int, data: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return proc
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
        finally:
            client.close()


def test_private_server_restart_between_calls(tmp_path: Path) -> None:
    """Restart a private server (never the shared one) between two calls of one saver."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    proc = _start_server(port, tmp_path)
    try:
        client = redis.Redis(port=port)
        saver = RedisSaver(client, prefix="restart")
        cp = checkpoint(1, {"x": "1"})
        cp["channel_values"] = {"x": payload(1)}
        conf: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
        saver.put(conf, cp, {"step": 1}, {"x": "1"})  # type: ignore[arg-type]
        proc.send_signal(signal.SIGTERM)  # a clean shutdown: the AOF is fsynced per write anyway
        proc.wait(timeout=20)
        proc = _start_server(port, tmp_path)
        found = saver.get_tuple(conf)  # same client: redis-py reconnects; scripts reload
        assert found is not None
        assert found.checkpoint["channel_values"] == {"x": payload(1)}
        cp2 = checkpoint(2, {"x": "2"})
        saver.put(
            {"configurable": {**conf["configurable"], "checkpoint_id": cp["id"]}},
            cp2,
            {"step": 2},
            {},
        )  # type: ignore[arg-type]
        assert [t.metadata["step"] for t in saver.list(conf)] == [2, 1]
        client.close()
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_private_server_stopped_raises_connection_lost(tmp_path: Path) -> None:
    """A stopped private server: every API raises ConnectionLostError (chained from redis-py's
    ConnectionError, after its retries: one, without backoff, to keep the test short); once the
    server is back, the same saver works."""
    import asyncio

    import redis.asyncio
    from redis.asyncio.retry import Retry as AsyncRetry
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from pitstop.checkpoint.errors import ConnectionLostError
    from pitstop.checkpoint.redis.aio import AsyncRedisSaver

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    proc = _start_server(port, tmp_path)
    conf: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    cp = checkpoint(1, {"x": "1"})
    cp["channel_values"] = {"x": payload(1)}
    head: Any = {"configurable": {**conf["configurable"], "checkpoint_id": cp["id"]}}

    def calls_sync(saver: RedisSaver) -> list[Any]:
        return [
            lambda: saver.get_tuple(conf),
            lambda: list(saver.list(conf, limit=10)),
            lambda: saver.put(conf, cp, {"step": 1}, {"x": "1"}),
            lambda: saver.put_writes(head, [("x", 1)], "task"),
            lambda: saver.delete_thread("t"),
        ]

    async def async_part(aclient: Any, asaver: AsyncRedisSaver, stopped: bool) -> None:
        calls = [
            lambda: asaver.aget_tuple(conf),
            lambda: asaver.aput(conf, cp, {"step": 1}, {"x": "1"}),
            lambda: asaver.aput_writes(head, [("x", 1)], "task"),
        ]
        for call in calls:
            if stopped:
                with pytest.raises(ConnectionLostError) as info:
                    await call()
                assert isinstance(info.value.__cause__, redis.ConnectionError)
            else:
                await call()
        if stopped:
            with pytest.raises(ConnectionLostError):
                [t async for t in asaver.alist(conf, limit=10)]
        else:
            assert [t.metadata["step"] async for t in asaver.alist(conf, limit=10)] == [1]

    try:
        client = redis.Redis(port=port, retry=Retry(NoBackoff(), 1))
        saver = RedisSaver(client, prefix="lost")
        for call in calls_sync(saver)[:4]:
            call()  # scripts loaded, connections pooled, a hinted get_tuple next time
        assert saver.get_tuple(conf) is not None
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        for call in calls_sync(saver):
            with pytest.raises(ConnectionLostError) as info:
                call()
            assert isinstance(info.value.__cause__, redis.ConnectionError)
            assert isinstance(info.value, ConnectionError)
        with pytest.raises(ConnectionLostError):
            asyncio.run(saver.aget_tuple(conf))  # the async API of the sync saver
        proc = _start_server(port, tmp_path)
        found = saver.get_tuple(conf)  # the same saver and client: fresh connections
        assert found is not None
        assert found.checkpoint["channel_values"] == {"x": payload(1)}

        async def run_async() -> None:
            nonlocal proc
            aclient = redis.asyncio.Redis(port=port, retry=AsyncRetry(NoBackoff(), 1))
            asaver = AsyncRedisSaver(aclient, prefix="lost-async")
            try:
                await async_part(aclient, asaver, stopped=False)
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=20)
                await async_part(aclient, asaver, stopped=True)
                proc = _start_server(port, tmp_path)
                await async_part(aclient, asaver, stopped=False)
            finally:
                await aclient.aclose()

        asyncio.run(run_async())
        client.close()
    finally:
        proc.kill()
        proc.wait(timeout=10)
