"""Redis memory of a growing chat thread, with and without the delta layer.

``uv run python checkpoint-redis/tests/bench_redis_growth.py``

Options: ``--steps 50,100,200,400,600,800`` (marks), ``--repeat 20`` (timed calls per mark),
``--trials 1``, ``--api sync|async``, ``--json``, ``--save-json out.json``,
``--chart docs/charts/growth-redis.png``.

Runs the growth workload of ``pitstop-conformance bench --growth``
(:mod:`pitstop.conformance.bench_growth`): one thread per saver, one ~300-byte message (prose-like
words) appended per step, the savers grown in lockstep in one run, each on its own key prefix
(deleted afterwards; ``PITSTOP_REDIS_URL``, default ``redis://127.0.0.1:6379/0``). Stored bytes =
the thread's Redis memory (``saver.memory_usage``: ``MEMORY USAGE`` of its keys). Savers: pitstop
with deltas (``max_chain=32``, the default), the same with ``compress="zstd"`` and pitstop
storing full values (``max_chain=0``). LangGraph's own ``RedisSaver`` needs the RedisJSON and
RediSearch modules (Redis Stack), which a plain Redis 7 does not have: reported as n/a. Prints
the tables and saves the chart. Not a test: nothing here is collected by pytest.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from redis_factories import async_saver, cleanup, sync_saver

from pitstop.conformance import bench_growth

STEPS = "50,100,200,400,600,800"
CHART = Path(__file__).resolve().parents[2] / "docs" / "charts" / "growth-redis.png"


def pitstop(api: str, **options: Any) -> Callable[[], Any]:
    if api == "async":
        return lambda: async_saver(**options)
    return lambda: sync_saver(**options)


def stored_bytes(saver: Any) -> int:
    """Redis memory of the thread's keys (sync entry point of either saver)."""
    return int(saver.memory_usage("chat"))


def main() -> None:
    bench_growth.compare_layouts(
        pitstop,
        stored_bytes,
        backend="Redis",
        chart=str(CHART),
        stored_note="stored bytes = MEMORY USAGE of its keys",
        unavailable=(
            "langgraph RedisSaver: n/a (langgraph-checkpoint-redis needs the RedisJSON and "
            "RediSearch modules of Redis Stack; this server is plain Redis 7)"
        ),
        cleanup=cleanup,
        marks=STEPS,
    )


if __name__ == "__main__":
    main()
