"""Throughput of the PostgreSQL savers next to LangGraph's ``langgraph-checkpoint-postgres``.

``uv run python checkpoint-postgres/tests/bench_pg.py [--repeat N] [--chart out.png]
[--only put,put_writes] [--api sync|async] [--skip-suite] [--skip-curve] [--seconds S]
[--curve-rounds N] [--curve-chart curve.png]``

1. ``pitstop.conformance.bench`` (the workloads of ``pitstop-conformance bench``): sync workloads
   on the sync savers, async workloads on the async savers, each in a fresh schema of the same
   server (the official saver gets its own schema through ``options=-c search_path=...``). Both
   savers run in one pytest-benchmark session per API, back to back for each workload, so each
   ratio compares measurements taken side by side. ``--only`` keeps some workloads (by key).
2. The concurrency curve: N asyncio workers (1, 5, 10, 50) over a pool of 10 connections, each
   doing put + get_tuple on its own thread for ``--seconds``; ops/s for each saver, the median
   of ``--curve-rounds`` interleaved measurements. Both savers use the same code path at every
   N (pitstop's group commit only combines calls when more are in flight than it has lanes).

Not a test: nothing here is collected by pytest.
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
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).parent))

import psycopg
from pg_saver_env import URI, async_pool, drop_schemas, new_schema, stored_bytes, sync_pool
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from pitstop.checkpoint.base import empty_checkpoint, next_version
from pitstop.checkpoint.postgres import AsyncPostgresSaver
from pitstop.conformance import bench, bench_specs
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


@contextlib.asynccontextmanager
async def _curve_saver(kind: str) -> AsyncIterator[Any]:
    """A saver over its own pool of 10 autocommit connections (each saver its own schema)."""
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
            await saver.asetup()
        else:
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver as Official

            saver = Official(pool)
            await saver.setup()
        yield saver
    finally:
        await pool.close()


async def _curves(
    kinds: list[str], workers: list[int], seconds: float, rounds: int
) -> dict[str, dict[int, float]]:
    """ops/s of each saver at each worker count: the median of ``rounds`` measurements, taken
    interleaved (round by round, each count, each saver), so load from other processes on the
    machine falls on every point alike."""
    samples: dict[str, dict[int, list[float]]] = {k: {n: [] for n in workers} for k in kinds}
    async with contextlib.AsyncExitStack() as stack:
        savers = {kind: await stack.enter_async_context(_curve_saver(kind)) for kind in kinds}
        for r in range(rounds):
            for n in workers:
                for kind, saver in savers.items():
                    await _worker(saver, f"warm-{r}-{n}", time.perf_counter() + 0.2)
                    start = time.perf_counter()
                    deadline = start + seconds
                    counts = await asyncio.gather(
                        *(_worker(saver, f"{kind}-{r}-{n}-{i}", deadline) for i in range(n))
                    )
                    samples[kind][n].append(sum(counts) / (time.perf_counter() - start))
    return {k: {n: statistics.median(v) for n, v in per.items()} for k, per in samples.items()}


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


def chart_curve(curves: dict[str, dict[int, float]], path: str) -> None:
    """The concurrency curve as a PNG: throughput as a multiple of one worker (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name, curve in curves.items():
        workers = sorted(curve)
        base = curve[workers[0]]
        left.plot(workers, [curve[n] for n in workers], marker="o", label=name)
        right.plot(workers, [curve[n] / base for n in workers], marker="o", label=name)
    left.set(title="ops/s (put + get_tuple)", xlabel="async workers (pool of 10)", xscale="log")
    right.set(title="x of 1 worker", xlabel="async workers (pool of 10)", xscale="log")
    for ax in (left, right):
        ax.set_xticks(workers, [str(n) for n in workers])
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _suite(args: argparse.Namespace) -> list[bench.BenchResult]:
    """One run of the throughput suite: per API, both savers in one pytest-benchmark session
    (the factories of each workload run back to back, so the ratios compare runs side by
    side)."""
    only = [key.strip() for key in args.only.split(",")] if args.only else []
    apis = (args.api,) if args.api else ("sync", "async")
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
    return merged


def render_medians(runs: list[list[bench.BenchResult]]) -> str:
    """The median over runs of each workload's ratio (pitstop / official), with the range."""
    keys = list(runs[0][0].ops)
    lines = [f"{'workload':<28} {'api':<6} {'median ratio':>12}   range over {len(runs)} runs"]
    for key in keys:
        ratios = [r[0].ops[key] / r[1].ops[key] for r in runs if key in r[1].ops and r[1].ops[key]]
        if not ratios:
            continue
        name = {w.key: w.title for w in bench_specs.WORKLOADS}.get(key[0], key[0])
        lines.append(
            f"{name:<28} {key[1]:<6} {statistics.median(ratios):>11.2f}x"
            f"   {min(ratios):.2f}-{max(ratios):.2f}x"
        )
    sizes = [(r[0].stored_bytes, r[1].stored_bytes) for r in runs if r[0].stored_bytes]
    if sizes:
        ours, theirs = sizes[-1]
        lines.append(
            f"stored bytes (chat + writes): pitstop {ours:,} B, official {theirs or 0:,} B"
        )
    return "\n".join(lines)


def _median_results(runs: list[list[bench.BenchResult]]) -> list[bench.BenchResult]:
    out = []
    for i, first in enumerate(runs[0]):
        result = bench.BenchResult(first.factory, stored_bytes=runs[-1][i].stored_bytes)
        for key in first.ops:
            result.ops[key] = statistics.median(r[i].ops[key] for r in runs if key in r[i].ops)
        out.append(result)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--runs", type=int, default=1, help="whole runs; prints median ratios")
    parser.add_argument("--seconds", type=float, default=2.0, help="per curve point")
    parser.add_argument("--curve-rounds", type=int, default=3, help="curve points: median of")
    parser.add_argument("--curve-chart", help="write the concurrency curve as a PNG")
    parser.add_argument("--chart", help="write the throughput table (median ops/s) as a PNG")
    parser.add_argument("--skip-suite", action="store_true")
    parser.add_argument("--skip-curve", action="store_true")
    parser.add_argument(
        "--only", help="comma-separated workload keys (put,put_writes,get_tuple,...)"
    )
    parser.add_argument("--api", choices=("sync", "async"), help="one API only")
    args = parser.parse_args()
    workers = [1, 5, 10, 50]
    suites: list[list[bench.BenchResult]] = []
    curves: list[dict[str, dict[int, float]]] = []
    try:
        for run in range(args.runs):
            print(f"== run {run + 1} of {args.runs}", flush=True)
            if not args.skip_suite:
                suites.append(_suite(args))
                print(bench.render(suites[-1]), flush=True)
            if not args.skip_curve:
                curves.append(
                    asyncio.run(
                        _curves(["pitstop", "langgraph"], workers, args.seconds, args.curve_rounds)
                    )
                )
                print()
                print(render_curve(curves[-1]), flush=True)
        if suites:
            if args.runs > 1:
                print(f"\n== median of {args.runs} runs")
                print(render_medians(suites))
            if args.chart:
                bench.chart(_median_results(suites), args.chart)
        if curves:
            median = {
                kind: {n: statistics.median(c[kind][n] for c in curves) for n in workers}
                for kind in curves[0]
            }
            if args.runs > 1:
                print()
                print(render_curve(median))
            if args.curve_chart:
                chart_curve(median, args.curve_chart)
    finally:
        drop_schemas()
    return 0


if __name__ == "__main__":
    sys.exit(main())
