"""Throughput of the SQLite savers next to LangGraph's ``langgraph-checkpoint-sqlite``.

``uv run python checkpoint-sqlite/tests/bench_sqlite.py [--repeat N] [--chart out.png]``

Runs ``pitstop.conformance.bench`` (the workloads of ``pitstop-conformance bench``) with the
sync workloads on the sync savers and the async workloads on the async savers (each flavour
through its native API), all on fresh files in one process, the savers interleaved round by
round (ratios come from rounds measured side by side), and prints one table. The graph
rows also list LangGraph's ``InMemorySaver``. A second, short run times ``get_tuple`` on a
saver keeping no results (``recent_reads=0``: a cold read every call) next to the official
saver. ``--trials N`` repeats the whole run N times and
then prints the median ops/s and the median of each row's per-trial ratios (the chart shows
them, with the targets: 1x the official saver for sync rows, 2x for async rows). Not a test:
nothing here is collected by pytest.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).parent))

from sqlite_factories import async_saver, new_path, sync_saver

from pitstop.conformance import bench
from pitstop.conformance.factory import SaverFactory


@contextlib.contextmanager
def official_sync() -> Iterator[Any]:
    """LangGraph's ``SqliteSaver`` on a fresh file."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = new_path()
    with SqliteSaver.from_conn_string(path) as saver:
        saver.pitstop_path = path
        yield saver


@contextlib.asynccontextmanager
async def official_async() -> AsyncIterator[Any]:
    """LangGraph's ``AsyncSqliteSaver`` on a fresh file."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = new_path()
    async with AsyncSqliteSaver.from_conn_string(path) as saver:
        await saver.setup()  # the schema before the round, as for every other saver
        saver.pitstop_path = path
        yield saver


def _size(saver: Any) -> int:
    path = saver.pitstop_path
    with contextlib.suppress(Exception):
        saver.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def langgraph_memory() -> Any:
    """LangGraph's ``InMemorySaver`` (the graph rows' reference)."""
    from langgraph.checkpoint.memory import InMemorySaver

    return InMemorySaver()


def cold_sync() -> Any:
    """``SqliteSaver`` keeping no ``get_tuple`` results: every read is a cold one."""
    return sync_saver(recent_reads=0)


def cold_async() -> Any:
    """``AsyncSqliteSaver`` keeping no ``get_tuple`` results."""
    return async_saver(recent_reads=0)


SAVERS: Final = [
    ("pitstop-sqlite", sync_saver, async_saver),
    ("langgraph-sqlite", official_sync, official_async),
    ("langgraph-memory", langgraph_memory, langgraph_memory),
]
"""The main run: every workload."""

COLD: Final = [
    ("pitstop-cold", cold_sync, cold_async),
    ("langgraph-sqlite", official_sync, official_async),
]
"""The cold-read run: ``get_tuple`` with ``recent_reads=0``, next to the official saver."""


def run_once(
    repeat: int, pairs: Sequence[tuple[str, Any, Any]] = SAVERS, only: str | None = None
) -> list[bench.BenchResult]:
    """One run: every workload (or those ``only`` selects, a pytest ``-k`` expression), sync
    then async, the savers interleaved."""
    merged = {name: bench.BenchResult(name) for name, _, _ in pairs}
    for api in ("sync", "async"):
        # One run per API with every saver in it: pitstop-conformance interleaves the factories
        # per workload, so each ratio compares rounds measured side by side.
        factories = [
            SaverFactory(
                create=sync_factory if api == "sync" else async_factory,
                stored_bytes=None if name == "langgraph-memory" else _size,
                name=name,
            )
            for name, sync_factory, async_factory in pairs
        ]
        for (name, _, _), result in zip(
            pairs,
            bench.run_bench(
                factories, repeat=repeat, apis=(api,), pytest_args=["-k", only] if only else ()
            ),
            strict=True,
        ):
            merged[name].ops.update(result.ops)
            if result.stored_bytes is not None:
                merged[name].stored_bytes = result.stored_bytes
    return list(merged.values())


def targets_of(results: list[bench.BenchResult]) -> dict[tuple[str, str], float]:
    """Minimum ratios to the official saver: 1x for the sync rows, 2x for the async ones.

    The graph rows are left out: their target is against ``InMemorySaver`` (0.75x), which the
    chart's targets (against the first baseline) cannot express.
    """
    return {
        key: 1.0 if key[1] == "sync" else 2.0
        for key in results[0].ops
        if not key[0].startswith("graph")
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=20, help="rounds per benchmark")
    parser.add_argument("--trials", type=int, default=1, help="whole runs; medians at the end")
    parser.add_argument("--chart", help="save a bar chart of the (median) ops/s to this path")
    args = parser.parse_args()
    trials: list[list[bench.BenchResult]] = []
    cold: list[list[bench.BenchResult]] = []
    for trial in range(max(1, args.trials)):
        load = os.getloadavg()
        results = run_once(args.repeat)
        trials.append(results)
        print(f"trial {trial + 1} (load average before: {load[0]:.2f} {load[1]:.2f})")
        print(bench.render(results))
        cold.append(run_once(args.repeat, COLD, only="get_tuple"))
        print(bench.render(cold[-1]))
        print(flush=True)
    if len(cold) > 1:
        print(f"cold get_tuple, medians over {len(cold)} trials (median of per-trial ratios)")
        print(bench.render(bench.median_results(cold), ratios=bench.median_ratios(cold)))
    ratios: list[dict[tuple[str, str], float]] | None = None
    if len(trials) > 1:
        results = bench.median_results(trials)
        ratios = bench.median_ratios(trials)
        label = f"median of {len(trials)} per-trial ratios"
        print(f"medians over {len(trials)} trials (ratio: {label})")
        print(bench.render(results, ratios=ratios))
    else:
        results = trials[0]
        label = None
    if args.chart:
        bench.chart(
            results, args.chart, ratios=ratios, targets=targets_of(results), ratios_label=label
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
