"""The conformance suite through ``redis.cluster.RedisCluster`` on a private 3-master cluster.

Starts three ``redis-server --cluster-enabled yes`` on loopback ports, joins them with
``redis-cli --cluster create``, runs the saver's required capabilities (sync and async) and the
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


def sync_saver() -> Iterator[RedisSaver]:
    client = RedisCluster.from_url(_STATE["url"])
    try:
        saver = RedisSaver(client, prefix=f"c{time.monotonic_ns()}")
        assert saver.cluster
        yield saver
    finally:
        client.close()


async def async_saver() -> AsyncIterator[AsyncRedisSaver]:
    client = redis.asyncio.RedisCluster.from_url(_STATE["url"])
    try:
        saver = AsyncRedisSaver(client, prefix=f"c{time.monotonic_ns()}")
        assert saver.cluster
        yield saver
    finally:
        await client.aclose()


def sync_store(*, index: Any = None, ttl: Any = None) -> Iterator[RedisStore]:
    client = RedisCluster.from_url(_STATE["url"])
    try:
        yield RedisStore(client, prefix=f"s{time.monotonic_ns()}", index=index, ttl=ttl)  # type: ignore[arg-type]
    finally:
        client.close()


_REQUIRED = ["put", "put_writes", "get_tuple", "list", "delete_thread"]
_OPTIONAL = ["delete_for_runs", "copy_thread", "prune", "delta_history"]

TestClusterRedisSaver = conformance_tests(saver=sync_saver, only=_REQUIRED + _OPTIONAL)
TestClusterAsyncRedisSaver = conformance_tests(saver=async_saver, only=_REQUIRED)
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
