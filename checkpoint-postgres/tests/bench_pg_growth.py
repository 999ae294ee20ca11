"""Storage growth of a chat thread on the PostgreSQL saver, next to LangGraph's ``PostgresSaver``.

``uv run python checkpoint-postgres/tests/bench_pg_growth.py``

Options: ``--steps 50,100,200,400,600,800`` (marks), ``--repeat 20`` (timed calls per mark),
``--trials 1``, ``--api sync|async``, ``--no-official``, ``--json``, ``--save-json out.json``,
``--chart docs/charts/growth-postgres.png``.

Runs the growth workload of ``pitstop-conformance bench --growth``
(:mod:`pitstop.conformance.bench_growth`): one thread per saver, one ~300-byte message (prose-like
words) appended per step, the savers grown in lockstep in one run, each in its own schema of
the same server over one connection. Stored bytes = ``pg_total_relation_size`` of the schema's
tables (heap, indexes, TOAST). Savers: pitstop with deltas (``max_chain=32``, the default), the
same with ``compress="zstd"``, pitstop storing full values (``max_chain=0``) and LangGraph's own
``PostgresSaver`` (``langgraph-checkpoint-postgres``, when installed). Prints the tables and
saves the chart. Not a test: nothing here is collected by pytest.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import psycopg
from bench_pg import official_async, official_sync
from pg_saver_env import URI, drop_schemas, new_schema, stored_bytes

from pitstop.checkpoint.postgres import AsyncPostgresSaver, PostgresSaver
from pitstop.conformance import bench_growth

STEPS = "50,100,200,400,600,800"
CHART = Path(__file__).resolve().parents[2] / "docs" / "charts" / "growth-postgres.png"


def pitstop(api: str, **options: Any) -> Callable[[], Any]:
    @contextlib.contextmanager
    def sync() -> Iterator[Any]:
        with psycopg.connect(URI, autocommit=True) as conn:
            saver = PostgresSaver(conn, schema=new_schema(), **options)
            saver.setup()
            yield saver

    @contextlib.asynccontextmanager
    async def aio() -> AsyncIterator[Any]:
        async with await psycopg.AsyncConnection.connect(URI, autocommit=True) as conn:
            saver = AsyncPostgresSaver(conn, schema=new_schema(), **options)
            await saver.asetup()
            yield saver

    return aio if api == "async" else sync


def main() -> None:
    bench_growth.compare_layouts(
        pitstop,
        stored_bytes,
        backend="PostgreSQL",
        chart=str(CHART),
        stored_note="stored bytes = tables + TOAST",
        official=lambda api: official_async if api == "async" else official_sync,
        official_name="langgraph PostgresSaver",
        official_module="langgraph.checkpoint.postgres",
        unavailable="langgraph PostgresSaver: n/a (langgraph-checkpoint-postgres is not installed)",
        cleanup=drop_schemas,
        marks=STEPS,
    )


if __name__ == "__main__":
    main()
