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
from redis_workers import GRAPH_CONFIG, build_graph, checkpoint, payload

from pitstop.checkpoint.redis import RedisSaver

WORKERS = str(Path(__file__).with_name("redis_workers.py"))


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, WORKERS, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.fixture
def prefix() -> Any:
    from redis_factories import _PENDING

    chosen = new_prefix()
    _PENDING.append(chosen)
    return chosen


def test_graph_killed_in_one_process_resumes_in_another(prefix: str) -> None:
    pytest.importorskip("langgraph.graph")
    from langgraph.types import Command

    from pitstop.checkpoint.memory import InMemorySaver

    a = _spawn("graph-start", URL, prefix)
    out, err = a.communicate(timeout=60)
    assert a.returncode == -signal.SIGKILL, err
    assert out.strip() == "interrupted"
    b = _spawn("graph-resume", URL, prefix)
    out, err = b.communicate(timeout=60)
    assert b.returncode == 0, err

    reference = build_graph(InMemorySaver())
    reference.invoke({"log": [], "answer": ""}, GRAPH_CONFIG)
    expected = reference.invoke(Command(resume="yes"), GRAPH_CONFIG)
    assert out.strip() == repr(expected)
    assert expected["log"] == ["asked", "answer:yes", "finished"]
    with RedisSaver.from_conn_string(URL, prefix=prefix) as saver:
        history = list(build_graph(saver).get_state_history(GRAPH_CONFIG))
    assert [h.metadata["step"] for h in history] == [3, 2, 1, 0, -1]


def test_sigkill_during_puts_leaves_only_complete_checkpoints(prefix: str) -> None:
    rng = random.Random(4)
    for _ in range(6):
        child = _spawn("puts", URL, prefix)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.02, 0.25))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        assert child.returncode == -signal.SIGKILL
        with RedisSaver.from_conn_string(URL, prefix=prefix) as saver:
            listed = list(saver.list({"configurable": {"thread_id": "t"}}))
            steps = [t.metadata["step"] for t in listed]
            assert steps == list(range(len(steps), 0, -1))  # no gap: each put is atomic
            assert steps, "the child wrote nothing"
            for tup in listed:
                n = tup.metadata["step"]
                assert tup.checkpoint["channel_values"] == {"data": payload(n), "n": n}
                writes = tup.pending_writes or []
                assert writes in (
                    [],
                    [(f"task-{n}", "a", n), (f"task-{n}", "b", payload(n)), (f"task-{n}", "c", -n)],
                )
            latest = saver.get_tuple({"configurable": {"thread_id": "t"}})
            assert latest is not None
            assert latest.checkpoint["id"] == listed[0].checkpoint["id"]
            saver.delete_thread("t")


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
