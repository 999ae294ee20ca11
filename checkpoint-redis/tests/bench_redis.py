"""Throughput of the Redis savers next to the raw server doing one ``SET``/``GET`` of the bytes.

``uv run python checkpoint-redis/tests/bench_redis.py [--repeat N] [--trials N] [--chart out.png]
[--chat-steps N]``

Runs ``pitstop.conformance.bench`` (the workloads of ``pitstop-conformance bench``): sync
workloads on ``RedisSaver``, async ones on ``AsyncRedisSaver``. The baseline ``raw SET/GET``
serializes the same checkpoint (values and metadata included) with the same serializer and sends
ONE ``SET`` per ``put`` and ONE ``GET`` per ``get_tuple`` (no indexes, no history): the floor
a saver on this server and client library can reach. It runs interleaved with the subject on
the put and get_tuple workloads. The official ``langgraph-checkpoint-redis`` needs the
RedisJSON/RediSearch modules (Redis Stack / Redis 8), which this server does not have, so it is
not in the table. Not a test: nothing here is collected by pytest.

Then, on a growing chat thread (``--chat-steps``, default 800: each step appends a message of
about 300 bytes and writes one task result), the round trips (request buffers written to a
connection, counted at the client) and median latency of the reads: ``get_tuple`` from a saver
that never saw the thread, ``get_tuple`` of the writer's own head, ``list(limit=10)`` and
``get_delta_channel_history`` of the head.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import redis
import redis.asyncio
from redis_factories import (
    URL,
    _stored_bytes,
    async_saver,
    cleanup,
    drop_prefix,
    new_prefix,
    sync_saver,
)

from pitstop.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from pitstop.conformance import bench
from pitstop.conformance.factory import SaverFactory


class _Raw(BaseCheckpointSaver):
    """One SET per put, one GET per get_tuple: the server's and client's floor."""

    def __init__(self, client: Any, prefix: str) -> None:
        super().__init__()
        self.client = client
        self.prefix = prefix

    def _key(self, config: Any) -> str:
        c = config["configurable"]
        return f"{self.prefix}:{c['thread_id']}:{c.get('checkpoint_ns', '')}"

    def _blob(self, config: Any, checkpoint: Any, metadata: Any) -> bytes:
        _tag, data = self.serde.dumps_typed({"c": checkpoint, "m": metadata})
        return data

    def _tuple(self, config: Any, blob: bytes | None) -> CheckpointTuple | None:
        if blob is None:
            return None
        loaded = self.serde.loads_typed(("msgpack", blob))
        return CheckpointTuple(config, loaded["c"], loaded["m"], None, [])

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        self.client.set(self._key(config), self._blob(config, checkpoint, metadata))
        return config

    def get_tuple(self, config: Any) -> CheckpointTuple | None:
        return self._tuple(config, self.client.get(self._key(config)))

    def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        self.client.set(self._key(config) + ":w:" + task_id, self.serde.dumps_typed(writes)[1])

    async def aput_writes(
        self, config: Any, writes: Any, task_id: str, task_path: str = ""
    ) -> None:
        key = self._key(config) + ":w:" + task_id
        await self.client.set(key, self.serde.dumps_typed(writes)[1])

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        await self.client.set(self._key(config), self._blob(config, checkpoint, metadata))
        return config

    async def aget_tuple(self, config: Any) -> CheckpointTuple | None:
        return self._tuple(config, await self.client.get(self._key(config)))


def raw_sync() -> Iterator[_Raw]:
    prefix = new_prefix()
    client = redis.Redis.from_url(URL)
    try:
        yield _Raw(client, prefix)
    finally:
        client.close()
        drop_prefix(prefix)


async def raw_async() -> AsyncIterator[_Raw]:
    prefix = new_prefix()
    client = redis.asyncio.Redis.from_url(URL)
    try:
        yield _Raw(client, prefix)
    finally:
        await client.aclose()
        drop_prefix(prefix)


@contextlib.contextmanager
def _count_requests(cls: Any) -> Iterator[list[int]]:
    """Counts request buffers written to any connection of ``cls`` (one per round trip)."""
    counter = [0]
    original = cls.send_packed_command

    def send(conn: Any, *args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        return original(conn, *args, **kwargs)

    cls.send_packed_command = send
    try:
        yield counter
    finally:
        cls.send_packed_command = original


def _chat_step(n: int, messages: list[Any], parent: str | None) -> tuple[Any, Any, Any, Any]:
    messages.append({"role": "user" if n % 2 else "ai", "text": f"{n} " + "w" * 300})
    versions = {"messages": f"{n:032}.0", "step": f"{n:032}.1"}
    checkpoint = {
        "v": 4,
        "id": f"1ef00000-0000-6000-8000-{n:012x}",
        "ts": "2024-07-31T20:14:19.804150+00:00",
        "channel_values": {"messages": list(messages), "step": n},
        "channel_versions": versions,
        "versions_seen": {},
        "updated_channels": None,
    }
    conf: dict[str, Any] = {"thread_id": "chat", "checkpoint_ns": ""}
    if parent:
        conf["checkpoint_id"] = parent
    return {"configurable": conf}, checkpoint, {"step": n}, versions


_HEAD = {"configurable": {"thread_id": "chat", "checkpoint_ns": ""}}
_OPS = ("get_tuple (cold saver)", "get_tuple (writer)", "list(limit=10)", "delta history")


def _chat_sync(steps: int, repeat: int) -> list[tuple[str, int, float]]:
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(sync_saver())
        parent, messages = None, []
        for n in range(1, steps + 1):
            conf, checkpoint, metadata, versions = _chat_step(n, messages, parent)
            writer.put(conf, checkpoint, metadata, versions)
            parent = checkpoint["id"]
            head = {"configurable": {**conf["configurable"], "checkpoint_id": parent}}
            writer.put_writes(head, [("messages", n)], "task")
        calls = {
            _OPS[1]: lambda: writer.get_tuple(_HEAD),
            _OPS[2]: lambda: list(writer.list(_HEAD, limit=10)),
            _OPS[3]: lambda: writer.get_delta_channel_history(config=_HEAD, channels=["messages"]),
        }
        for call in calls.values():
            call()  # scripts loaded, connection open
        out = []
        cold_ms = []
        for _ in range(repeat):
            with sync_saver(writer.prefix) as cold:
                cold.client.ping()
                with _count_requests(redis.connection.AbstractConnection) as counter:
                    start = time.perf_counter()
                    cold.get_tuple(_HEAD)
                    cold_ms.append((time.perf_counter() - start) * 1000)
                trips = counter[0]
        out.append((_OPS[0], trips, statistics.median(cold_ms)))
        for name, call in calls.items():
            with _count_requests(redis.connection.AbstractConnection) as counter:
                call()
            trips = counter[0]
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                call()
                times.append((time.perf_counter() - start) * 1000)
            out.append((name, trips, statistics.median(times)))
        return out


async def _chat_async(steps: int, repeat: int) -> list[tuple[str, int, float]]:
    async with contextlib.AsyncExitStack() as stack:
        writer = await stack.enter_async_context(contextlib.aclosing(async_saver()))
        saver = await anext(writer)
        parent, messages = None, []
        for n in range(1, steps + 1):
            conf, checkpoint, metadata, versions = _chat_step(n, messages, parent)
            await saver.aput(conf, checkpoint, metadata, versions)
            parent = checkpoint["id"]
            head = {"configurable": {**conf["configurable"], "checkpoint_id": parent}}
            await saver.aput_writes(head, [("messages", n)], "task")

        async def listed() -> Any:
            return [t async for t in saver.alist(_HEAD, limit=10)]

        calls = {
            _OPS[1]: lambda: saver.aget_tuple(_HEAD),
            _OPS[2]: listed,
            _OPS[3]: lambda: saver.aget_delta_channel_history(config=_HEAD, channels=["messages"]),
        }
        for call in calls.values():
            await call()
        out = []
        cold_ms = []
        conn_cls = redis.asyncio.connection.AbstractConnection
        for _ in range(repeat):
            gen = async_saver(saver.prefix)
            cold = await anext(gen)
            await cold.client.ping()
            with _count_requests(conn_cls) as counter:
                start = time.perf_counter()
                await cold.aget_tuple(_HEAD)
                cold_ms.append((time.perf_counter() - start) * 1000)
            trips = counter[0]
            await gen.aclose()
        out.append((_OPS[0], trips, statistics.median(cold_ms)))
        for name, call in calls.items():
            with _count_requests(conn_cls) as counter:
                await call()
            trips = counter[0]
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                await call()
                times.append((time.perf_counter() - start) * 1000)
            out.append((name, trips, statistics.median(times)))
        return out


def chat_reads(steps: int, repeat: int = 20) -> str:
    """The round trips and median latency of reads on a ``steps``-step growing chat thread."""
    rows = [("sync", *r) for r in _chat_sync(steps, repeat)]
    rows += [("async", *r) for r in asyncio.run(_chat_async(steps, repeat))]
    lines = [
        f"reads on a {steps}-step growing chat thread (median of {repeat})",
        f"{'operation':<24} {'api':<6} {'round trips':>11} {'ms':>8}",
    ]
    lines += [f"{op:<24} {api:<6} {trips:>11} {ms:>8.2f}" for api, op, trips, ms in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=10, help="rounds per trial")
    parser.add_argument(
        "--trials", type=int, default=5, help="put/get_tuple trials, subject and raw alternating"
    )
    parser.add_argument("--chart", help="save the throughput chart here (needs matplotlib)")
    parser.add_argument(
        "--chat-steps", type=int, default=800, help="length of the growing chat thread (0: skip)"
    )
    args = parser.parse_args()
    ours = bench.BenchResult("pitstop-redis")
    raw = bench.BenchResult("raw SET/GET")
    ratios: dict[tuple[str, str], list[float]] = {}
    try:
        for api, subject, floor in (
            ("sync", sync_saver, raw_sync),
            ("async", async_saver, raw_async),
        ):
            factories = [
                SaverFactory(create=subject, stored_bytes=_stored_bytes, name="pitstop-redis"),
                SaverFactory(create=floor, name="raw SET/GET"),
            ]
            # The machine is shared and noisy: the put/get_tuple comparison runs in several
            # trials, subject and raw side by side (their order alternating); the table shows
            # the median ops/s of each, and the median of the per-trial ratios is printed.
            trials: dict[str, list[dict[tuple[str, str], float]]] = {"ours": [], "raw": []}
            for trial in range(max(1, args.trials)):
                order = factories if trial % 2 == 0 else factories[::-1]
                head = bench.run_bench(
                    order, repeat=args.repeat, apis=(api,), pytest_args=["-k", "put- or get_tuple"]
                )
                for result in head:
                    side = "ours" if result.factory == "pitstop-redis" else "raw"
                    trials[side].append(result.ops)
                cleanup()
            for key in trials["ours"][0]:
                ours.ops[key] = statistics.median(t[key] for t in trials["ours"])
                raw.ops[key] = statistics.median(t[key] for t in trials["raw"])
                ratios[key] = [o[key] / r[key] for o, r in zip(*trials.values(), strict=True)]
            rest = bench.run_bench(
                factories[:1],
                repeat=args.repeat,
                apis=(api,),
                pytest_args=["-k", "not put- and not get_tuple"],
            )
            for result in rest:
                ours.ops.update(result.ops)
                if result.stored_bytes is not None:
                    ours.stored_bytes = result.stored_bytes
            cleanup()
    finally:
        cleanup()
    print(bench.render([ours, raw]))
    for (workload, api), values in ratios.items():
        print(
            f"{workload:<28} {api:<6} ratio per trial: "
            + " ".join(f"{v:.2f}" for v in values)
            + f"  median {statistics.median(values):.2f}x"
        )
    if args.chart:
        trials_n = max(1, args.trials)
        bench.chart(
            [ours, raw],
            args.chart,
            ratios={key: statistics.median(values) for key, values in ratios.items()},
            targets=dict.fromkeys(ratios, 0.5),
            title=f"pitstop-redis vs raw SET/GET, median ops/s of {trials_n} trials",
            ratios_label=f"median of {trials_n} per-trial ratios; target 0.5x",
        )
    if args.chat_steps > 0:
        try:
            print()
            print(chat_reads(args.chat_steps))
        finally:
            cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
