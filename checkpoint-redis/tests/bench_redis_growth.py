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

import argparse
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from redis_factories import async_saver, cleanup, sync_saver

from pitstop.conformance import bench_growth
from pitstop.conformance.factory import SaverFactory

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
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", default=STEPS, help="marks, comma-separated")
    parser.add_argument("--repeat", type=int, default=20, help="timed calls per mark")
    parser.add_argument("--trials", type=int, default=1, help="fresh threads per saver")
    parser.add_argument("--api", choices=("sync", "async"), default="sync")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--save-json", help="also write the JSON to this file")
    parser.add_argument("--chart", default=str(CHART), help="chart path ('' for none)")
    args = parser.parse_args()
    api = args.api
    factories = [
        SaverFactory(pitstop(api), stored_bytes=stored_bytes, name="pitstop deltas (max_chain=32)")
    ]
    if importlib.util.find_spec("zstandard") is not None:
        factories.append(
            SaverFactory(
                pitstop(api, compress="zstd"),
                stored_bytes=stored_bytes,
                name="pitstop deltas + zstd",
            )
        )
    factories.append(
        SaverFactory(
            pitstop(api, max_chain=0),
            stored_bytes=stored_bytes,
            name="pitstop full values (max_chain=0)",
        )
    )
    marks = tuple(int(m) for m in args.steps.split(","))
    try:
        results = bench_growth.run_growth(
            factories, marks=marks, api=api, samples=args.repeat, trials=args.trials
        )
    except bench_growth.GrowthError as exc:
        sys.exit(f"growth benchmark failed: {exc}")
    finally:
        cleanup()
    print(
        bench_growth.growth_to_json(results) if args.json else bench_growth.render_growth(results)
    )
    print(
        "langgraph RedisSaver: n/a (langgraph-checkpoint-redis needs the RedisJSON and "
        "RediSearch modules of Redis Stack; this server is plain Redis 7)"
    )
    if args.save_json:
        Path(args.save_json).write_text(bench_growth.growth_to_json(results))
    if args.chart:
        Path(args.chart).parent.mkdir(parents=True, exist_ok=True)
        title = (
            f"Redis: one chat thread growing ({api} API); stored bytes = MEMORY USAGE of its keys"
        )
        bench_growth.growth_chart(results, args.chart, title=title)
        print(f"chart: {args.chart}")


if __name__ == "__main__":
    main()
