"""The conformance suite through ``redis.cluster.RedisCluster`` on a private 3-master cluster.

Starts three ``redis-server --cluster-enabled yes`` on loopback ports, joins them with
``redis-cli --cluster create``, runs every capability the savers claim (sync and async) and the
store specs, and kills the servers at the end (bounded in time, in ``finally``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.cluster import RedisCluster

from pitstop.checkpoint.redis import AsyncRedisSaver, RedisSaver
from pitstop.conformance import conformance_tests
from pitstop.store.redis import RedisStore

_STATE: dict[str, Any] = {}


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_ports() -> list[int]:
    for base in range(7101, 7400, 10):
        ports = [base, base + 1, base + 2]
        if all(_port_free(p) and _port_free(p + 10000) for p in ports):
            return ports
    raise RuntimeError("no free ports for the test cluster")


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[str]:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server / redis-cli are not installed")
    ports = _pick_ports()
    tmp = tempfile.mkdtemp(prefix="pitstop-cluster-")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            procs.append(
                subprocess.Popen(
                    [
                        "redis-server",
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        f"{tmp}/nodes-{port}.conf",
                        "--dir",
                        tmp,
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        deadline = time.monotonic() + 15
        for port in ports:
            while True:
                try:
                    redis.Redis(port=port).ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *[f"127.0.0.1:{p}" for p in ports],
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        while True:
            info = redis.Redis(port=ports[0]).cluster("info")
            if (
                b"cluster_state:ok" in info
                if isinstance(info, bytes)
                else info.get("cluster_state") == "ok"
            ):
                break
            if time.monotonic() > deadline + 15:
                raise RuntimeError("cluster did not become ok")
            time.sleep(0.1)
        url = f"redis://127.0.0.1:{ports[0]}/0"
        _STATE["url"] = url
        yield url
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


def sync_saver(prefix: str | None = None) -> Iterator[RedisSaver]:
    client = RedisCluster.from_url(_STATE["url"])
    try:
        saver = RedisSaver(client, prefix=prefix or f"c{time.monotonic_ns()}")
        assert saver.cluster
        yield saver
    finally:
        client.close()


async def async_saver(prefix: str | None = None) -> AsyncIterator[AsyncRedisSaver]:
    client = redis.asyncio.RedisCluster.from_url(_STATE["url"])
    try:
        saver = AsyncRedisSaver(client, prefix=prefix or f"c{time.monotonic_ns()}")
        assert saver.cluster
        yield saver
    finally:
        await client.aclose()


def _stored_bytes(saver: Any) -> int:
    client = RedisCluster.from_url(_STATE["url"])
    try:
        return sum(
            int(client.memory_usage(key, samples=0) or 0)
            for key in client.scan_iter(match=f"{saver.prefix}:*", count=1000)
        )
    finally:
        client.close()


sync_saver.reopen = lambda old: sync_saver(old.prefix)  # type: ignore[attr-defined]
sync_saver.stored_bytes = _stored_bytes  # type: ignore[attr-defined]
sync_saver.connect = lambda saver: (  # type: ignore[attr-defined]
    "redis_factories:open_cluster_sync",
    (_STATE["url"], saver.prefix),
)
async_saver.reopen = lambda old: async_saver(old.prefix)  # type: ignore[attr-defined]
async_saver.stored_bytes = _stored_bytes  # type: ignore[attr-defined]
async_saver.connect = lambda saver: (  # type: ignore[attr-defined]
    "redis_factories:open_cluster_async",
    (_STATE["url"], saver.prefix),
)


def sync_store(*, index: Any = None, ttl: Any = None) -> Iterator[RedisStore]:
    client = RedisCluster.from_url(_STATE["url"])
    try:
        yield RedisStore(client, prefix=f"s{time.monotonic_ns()}", index=index, ttl=ttl)  # type: ignore[arg-type]
    finally:
        client.close()


# every capability both savers claim, with reopen (durability) and connect (multiprocess)
TestClusterRedisSaver = conformance_tests(saver=sync_saver)
TestClusterAsyncRedisSaver = conformance_tests(saver=async_saver)
TestClusterRedisStore = conformance_tests(store=sync_store)


def test_thread_keys_live_in_one_slot_on_the_cluster(cluster: str) -> None:
    client = RedisCluster.from_url(cluster)
    try:
        saver = RedisSaver(client, prefix="slots")
        conf: Any = {"configurable": {"thread_id": "{weird}", "checkpoint_ns": ""}}
        checkpoint: Any = {
            "v": 4,
            "id": "1",
            "ts": "",
            "channel_values": {"a": 1},
            "channel_versions": {"a": "1"},
            "versions_seen": {},
            "updated_channels": None,
        }
        saver.put(conf, checkpoint, {"run_id": "r"}, {"a": "1"})
        assert saver.get_tuple(conf) is not None
        assert [t.checkpoint["id"] for t in saver.list(None)] == ["1"]
        saver.delete_for_runs(["r"])
        assert saver.get_tuple(conf) is None
    finally:
        client.close()


def test_a_put_on_the_cluster_is_one_round_trip(
    cluster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The script and the global index updates go out together: every node's request is
    written before any reply is read, one request per node."""
    client = RedisCluster.from_url(cluster)
    try:
        saver = RedisSaver(client, prefix=f"rt{time.monotonic_ns()}")
        conf: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
        checkpoint: Any = {
            "v": 4,
            "id": "1",
            "ts": "",
            "channel_values": {"a": 1},
            "channel_versions": {"a": "1"},
            "versions_seen": {},
            "updated_channels": None,
        }
        saver.put(conf, checkpoint, {}, {"a": "0"})  # the node loads the script
        client.ping(target_nodes=RedisCluster.ALL_NODES)
        events: list[tuple[str, int]] = []
        conn_cls = redis.connection.AbstractConnection
        send, read = conn_cls.send_packed_command, conn_cls.read_response

        def counted_send(conn: Any, *args: Any, **kwargs: Any) -> Any:
            events.append(("send", id(conn)))
            return send(conn, *args, **kwargs)

        def counted_read(conn: Any, *args: Any, **kwargs: Any) -> Any:
            events.append(("read", id(conn)))
            return read(conn, *args, **kwargs)

        monkeypatch.setattr(conn_cls, "send_packed_command", counted_send)
        monkeypatch.setattr(conn_cls, "read_response", counted_read)
        threads_node = client.get_node_from_key(f"{saver.prefix}:threads")
        thread_node = client.get_node_from_key(f"{saver.prefix}:{{=t}}:meta")
        for n, run in ((1, "r1"), (2, None)):
            checkpoint["id"] = str(n)
            events.clear()
            saver.put(conf, checkpoint, {"run_id": run} if run else {}, {"a": str(n)})
            sends = [c for e, c in events if e == "send"]
            first_read = next(i for i, (e, _) in enumerate(events) if e == "read")
            assert all(e == "send" for e, _ in events[:first_read])
            assert all(e == "read" for e, _ in events[first_read:])  # one round trip
            assert len(sends) == len(set(sends))  # one request per connection (node)
            nodes = {threads_node.name, thread_node.name}
            if run:
                nodes.add(client.get_node_from_key(f"{saver.prefix}:run:{{={run}}}").name)
            assert len(sends) == len(nodes)
        # the node forgot its scripts: the put loads it and is still right
        monkeypatch.undo()
        for node in client.get_primaries():
            client.get_redis_connection(node).script_flush()
        checkpoint["id"] = "3"
        saver.put(conf, checkpoint, {}, {"a": "3"})
        found = saver.get_tuple(conf)
        assert found is not None
        assert found.checkpoint["id"] == "3"
        assert [t.checkpoint["id"] for t in saver.list(None)] == ["3", "2", "1"]
        assert [t.checkpoint["id"] for t in saver.list(None, filter={"run_id": "r1"})] == ["1"]
    finally:
        client.close()


def test_delta_history_on_the_cluster_is_one_round_trip(
    cluster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = RedisCluster.from_url(cluster)
    try:
        saver = RedisSaver(client, prefix=f"dh{time.monotonic_ns()}")
        parent = None
        for n in range(1, 41):
            conf: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
            if parent:
                conf["configurable"]["checkpoint_id"] = parent
            msgs = [f"m{i}" for i in range(n)]
            checkpoint: Any = {
                "v": 4,
                "id": f"{n:04}",
                "ts": "",
                "channel_values": {"msgs": msgs} if n % 10 == 1 else {},
                "channel_versions": {"msgs": f"{n:04}"} if n % 10 == 1 else {},
                "versions_seen": {},
                "updated_channels": None,
            }
            new = {"msgs": f"{n:04}"} if n % 10 == 1 else {}
            saver.put(conf, checkpoint, {}, new)
            parent = checkpoint["id"]
            saver.put_writes(
                {"configurable": {**conf["configurable"], "checkpoint_id": parent}},
                [("msgs", n)],
                "task",
            )
        target: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
        saver.get_delta_channel_history(config=target, channels=["msgs"])  # loads the script
        client.ping(target_nodes=RedisCluster.ALL_NODES)
        calls: list[int] = []
        conn_cls = redis.connection.AbstractConnection
        send = conn_cls.send_packed_command

        def counted_send(conn: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(id(conn))
            return send(conn, *args, **kwargs)

        monkeypatch.setattr(conn_cls, "send_packed_command", counted_send)
        history = saver.get_delta_channel_history(config=target, channels=["msgs", "other"])
        assert len(calls) == 1  # 40 ancestors, one script
        assert history["msgs"]["seed"] == [f"m{i}" for i in range(31)]
        assert [w[2] for w in history["msgs"]["writes"]] == list(range(31, 40))
        assert history["other"] == {"writes": []}
    finally:
        client.close()
