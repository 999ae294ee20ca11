"""Throughput of the SQLite savers next to LangGraph's ``langgraph-checkpoint-sqlite``.

``uv run python checkpoint-sqlite/tests/bench_sqlite.py [--repeat N] [--chart out.png]``

Runs ``pitstop.conformance.bench`` (the workloads of ``pitstop-conformance bench``) with the
sync workloads on the sync savers and the async workloads on the async savers (each flavour
through its native API), all on fresh files in one process, the savers interleaved per workload
(ratios come from rounds measured side by side), and prints one table. The graph
rows also list LangGraph's ``InMemorySaver``. Not a test: nothing here is collected by pytest.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--chart")
    args = parser.parse_args()
    pairs = [
        ("pitstop-sqlite", sync_saver, async_saver),
        ("langgraph-sqlite", official_sync, official_async),
        ("langgraph-memory", langgraph_memory, langgraph_memory),
    ]
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
            pairs, bench.run_bench(factories, repeat=args.repeat, apis=(api,)), strict=True
        ):
            merged[name].ops.update(result.ops)
            if result.stored_bytes is not None:
                merged[name].stored_bytes = result.stored_bytes
    results = list(merged.values())
    print(bench.render(results))
    if args.chart:
        bench.chart(results, args.chart)
    return 0


if __name__ == "__main__":
    sys.exit(main())
