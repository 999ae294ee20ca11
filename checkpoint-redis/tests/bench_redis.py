"""Throughput of the Redis savers next to the raw server doing one ``SET``/``GET`` of the bytes.

``uv run python checkpoint-redis/tests/bench_redis.py [--repeat N] [--trials N] [--chart out.png]``

Runs ``pitstop.conformance.bench`` (the workloads of ``pitstop-conformance bench``): sync
workloads on ``RedisSaver``, async ones on ``AsyncRedisSaver``. The baseline ``raw SET/GET``
serializes the same checkpoint (values and metadata included) with the same serializer and sends
ONE ``SET`` per ``put`` and ONE ``GET`` per ``get_tuple`` (no indexes, no history): the floor
a saver on this server and client library can reach. It runs interleaved with the subject on
the put and get_tuple workloads. The official ``langgraph-checkpoint-redis`` needs the
RedisJSON/RediSearch modules (Redis Stack / Redis 8), which this server does not have, so it is
not in the table. Not a test: nothing here is collected by pytest.
"""

from __future__ import annotations

import argparse
import statistics
import sys
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=10, help="rounds per trial")
    parser.add_argument(
        "--trials", type=int, default=5, help="put/get_tuple trials, subject and raw alternating"
    )
    parser.add_argument("--chart")
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
        bench.chart([ours, raw], args.chart)
    return 0


if __name__ == "__main__":
    sys.exit(main())
