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

import argparse
import contextlib
import importlib.util
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
from pitstop.conformance.factory import SaverFactory

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
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", default=STEPS, help="marks, comma-separated")
    parser.add_argument("--repeat", type=int, default=20, help="timed calls per mark")
    parser.add_argument("--trials", type=int, default=1, help="fresh threads per saver")
    parser.add_argument("--api", choices=("sync", "async"), default="sync")
    parser.add_argument("--no-official", action="store_true", help="skip LangGraph's saver")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--save-json", help="also write the JSON to this file")
    parser.add_argument("--chart", default=str(CHART), help="chart path ('' for none)")
    args = parser.parse_args()
    api = args.api
    factories = [
        SaverFactory(pitstop(api), stored_bytes=stored_bytes, name="pitstop deltas (max_chain=32)"),
        SaverFactory(
            pitstop(api, compress="zstd"), stored_bytes=stored_bytes, name="pitstop deltas + zstd"
        ),
        SaverFactory(
            pitstop(api, max_chain=0),
            stored_bytes=stored_bytes,
            name="pitstop full values (max_chain=0)",
        ),
    ]
    note = ""
    if args.no_official:
        note = "langgraph PostgresSaver: not run (--no-official)"
    elif importlib.util.find_spec("langgraph.checkpoint.postgres") is None:
        note = "langgraph PostgresSaver: n/a (langgraph-checkpoint-postgres is not installed)"
    else:
        official = official_async if api == "async" else official_sync
        factories.append(
            SaverFactory(official, stored_bytes=stored_bytes, name="langgraph PostgresSaver")
        )
    marks = tuple(int(m) for m in args.steps.split(","))
    try:
        results = bench_growth.run_growth(
            factories, marks=marks, api=api, samples=args.repeat, trials=args.trials
        )
    except bench_growth.GrowthError as exc:
        sys.exit(f"growth benchmark failed: {exc}")
    finally:
        drop_schemas()
    print(
        bench_growth.growth_to_json(results) if args.json else bench_growth.render_growth(results)
    )
    if note:
        print(note)
    if args.save_json:
        Path(args.save_json).write_text(bench_growth.growth_to_json(results))
    if args.chart:
        Path(args.chart).parent.mkdir(parents=True, exist_ok=True)
        title = f"PostgreSQL: one chat thread growing ({api} API); stored bytes = tables + TOAST"
        bench_growth.growth_chart(results, args.chart, title=title)
        print(f"chart: {args.chart}")


if __name__ == "__main__":
    main()
