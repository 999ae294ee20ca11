"""Throughput of the PostgreSQL savers next to LangGraph's ``langgraph-checkpoint-postgres``.

``uv run python checkpoint-postgres/tests/bench_pg.py [--repeat N] [--chart out.png]
[--only put,put_writes] [--api sync|async] [--skip-suite] [--skip-curve]``

1. ``pitstop.conformance.bench`` (the workloads of ``pitstop-conformance bench``): sync workloads
   on the sync savers, async workloads on the async savers, each in a fresh schema of the same
   server (the official saver gets its own schema through ``options=-c search_path=...``). Both
   savers run in one pytest-benchmark session per API, back to back for each workload, so each
   ratio compares measurements taken side by side. ``--only`` keeps some workloads (by key).
2. The concurrency curve: N asyncio workers (1, 5, 10, 50) over a pool of 10 connections, each
   doing put + get_tuple on its own thread for a fixed time; ops/s for each saver.

Not a test: nothing here is collected by pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).parent))

import psycopg
from pg_saver_env import URI, async_pool, drop_schemas, new_schema, stored_bytes, sync_pool
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from pitstop.checkpoint.base import empty_checkpoint, next_version
from pitstop.checkpoint.postgres import AsyncPostgresSaver
from pitstop.conformance import bench
from pitstop.conformance.factory import SaverFactory


def _official_uri(schema: str) -> str:
    with psycopg.connect(URI, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    sep = "&" if "?" in URI else "?"
    return f"{URI}{sep}options={quote(f'-c search_path={schema}')}"


@contextlib.contextmanager
def official_sync() -> Iterator[Any]:
    """LangGraph's ``PostgresSaver`` (one connection, its ``from_conn_string``), own schema."""
    from langgraph.checkpoint.postgres import PostgresSaver

    schema = new_schema()
    with PostgresSaver.from_conn_string(_official_uri(schema)) as saver:
        saver.setup()
        saver.schema = schema  # type: ignore[attr-defined]
        yield saver


@contextlib.asynccontextmanager
async def official_async() -> AsyncIterator[Any]:
    """LangGraph's ``AsyncPostgresSaver`` (one connection, its ``from_conn_string``)."""
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver as Official

    schema = new_schema()
    async with Official.from_conn_string(_official_uri(schema)) as saver:
        await saver.setup()
        saver.schema = schema  # type: ignore[attr-defined]
        yield saver


# -- the concurrency curve ---------------------------------------------------------------------


async def _worker(saver: Any, thread_id: str, deadline: float) -> int:
    ops = 0
    parent: str | None = None
    version: str | None = None
    while time.perf_counter() < deadline:
        version = next_version(version)
        cp = empty_checkpoint()
        cp["channel_values"] = {"messages": ["m" * 300], "step": ops}
        cp["channel_versions"] = {"messages": version, "step": version}
        configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
        if parent:
            configurable["checkpoint_id"] = parent
        stored = await saver.aput(
            {"configurable": configurable}, cp, {"step": ops}, dict(cp["channel_versions"])
        )
        got = await saver.aget_tuple({"configurable": {"thread_id": thread_id}})
        assert got is not None
        assert got.checkpoint["id"] == stored["configurable"]["checkpoint_id"]
        parent = cp["id"]
        ops += 2
    return ops


async def _curve(kind: str, workers: list[int], seconds: float) -> dict[int, float]:
    schema = new_schema()
    if kind == "pitstop":
        uri, kwargs = URI, {"autocommit": True}
    else:
        uri = _official_uri(schema)
        kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": psycopg.rows.dict_row}
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        uri, min_size=10, max_size=10, kwargs=kwargs, open=False
    )
    await pool.open(wait=True)
    try:
        saver: Any
        if kind == "pitstop":
            saver = AsyncPostgresSaver(pool, schema=schema)
        else:
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver as Official

            saver = Official(pool)
        await (saver.asetup() if kind == "pitstop" else saver.setup())
        out: dict[int, float] = {}
        for n in workers:
            await _worker(saver, f"warm-{n}", time.perf_counter() + 0.2)
            start = time.perf_counter()
            deadline = start + seconds
            counts = await asyncio.gather(
                *(_worker(saver, f"{kind}-{n}-{i}", deadline) for i in range(n))
            )
            out[n] = sum(counts) / (time.perf_counter() - start)
        return out
    finally:
        await pool.close()


def render_curve(curves: dict[str, dict[int, float]]) -> str:
    workers = sorted(next(iter(curves.values())))
    head = f"{'async workers (pool of 10)':<28}" + "".join(f"{n:>10}" for n in workers)
    lines = [head, "-" * len(head)]
    for name, curve in curves.items():
        lines.append(f"{name + ' ops/s':<28}" + "".join(f"{curve[n]:>10,.0f}" for n in workers))
        base = curve[workers[0]]
        lines.append(
            f"{name + ' x of 1 worker':<28}" + "".join(f"{curve[n] / base:>9.1f}x" for n in workers)
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--chart")
    parser.add_argument("--skip-suite", action="store_true")
    parser.add_argument("--skip-curve", action="store_true")
    parser.add_argument(
        "--only", help="comma-separated workload keys (put,put_writes,get_tuple,...)"
    )
    parser.add_argument("--api", choices=("sync", "async"), help="one API only")
    args = parser.parse_args()
    only = [key.strip() for key in args.only.split(",")] if args.only else []
    apis = (args.api,) if args.api else ("sync", "async")
    try:
        if not args.skip_suite:
            # per API, both savers in one run: pytest-benchmark runs the factories of each
            # workload back to back, so the ratios compare runs side by side
            pairs = [
                ("pitstop-postgres", sync_pool, async_pool),
                ("langgraph-postgres", official_sync, official_async),
            ]
            merged = [bench.BenchResult(name) for name, _, _ in pairs]
            for api in apis:
                factories = [
                    SaverFactory(
                        create=sync_factory if api == "sync" else async_factory,
                        stored_bytes=stored_bytes,
                        name=name,
                    )
                    for name, sync_factory, async_factory in pairs
                ]
                pytest_args = []
                if only:
                    pytest_args = ["-k", " or ".join(f"{key}-{api}-" for key in only)]
                results = bench.run_bench(
                    factories, repeat=args.repeat, apis=(api,), pytest_args=pytest_args
                )
                for into, result in zip(merged, results, strict=True):
                    into.ops.update(result.ops)
                    if result.stored_bytes is not None:
                        into.stored_bytes = result.stored_bytes
            print(bench.render(merged))
            if args.chart:
                bench.chart(merged, args.chart)
        if args.skip_curve:
            return 0
        workers = [1, 5, 10, 50]
        curves = {
            "pitstop": asyncio.run(_curve("pitstop", workers, args.seconds)),
            "langgraph": asyncio.run(_curve("langgraph", workers, args.seconds)),
        }
        print()
        print(render_curve(curves))
    finally:
        drop_schemas()
    return 0


if __name__ == "__main__":
    sys.exit(main())
