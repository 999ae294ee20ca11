"""Storage growth of a chat thread on the SQLite saver, next to LangGraph's ``SqliteSaver``.

``uv run python checkpoint-sqlite/tests/bench_growth.py``

Options: ``--steps 50,100,200,400,600,800`` (marks), ``--repeat 20`` (timed calls per mark),
``--trials 1``, ``--api sync|async``, ``--no-official``, ``--json``, ``--save-json out.json``,
``--chart docs/charts/growth-sqlite.png``.

Runs the growth workload of ``pitstop-conformance bench --growth``
(:mod:`pitstop.conformance.bench_growth`): one thread per saver, one ~300-byte message appended
per step, the savers grown in lockstep in one run. Stored bytes = the database file plus its
WAL after ``PRAGMA wal_checkpoint(TRUNCATE)``. Savers: pitstop with deltas (``max_chain=32``, the
default), the same with ``compress="zstd"``, pitstop storing full values (``max_chain=0``) and
LangGraph's own ``SqliteSaver`` (``langgraph-checkpoint-sqlite``, when installed). Prints the
tables and saves the chart. Not a test: nothing here is collected by pytest.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from sqlite_factories import new_path

from pitstop.checkpoint.sqlite import AsyncSqliteSaver, SqliteSaver
from pitstop.conformance import bench_growth

STEPS = "50,100,200,400,600,800"
CHART = Path(__file__).resolve().parents[2] / "docs" / "charts" / "growth-sqlite.png"
_PATHS: dict[int, str] = {}


def stored_bytes(saver: Any) -> int:
    """The database file and its WAL, after moving the WAL into the file."""
    path = _PATHS[id(saver)]
    with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def pitstop(api: str, **options: Any) -> Callable[[], Any]:
    def create() -> Any:
        if api == "async":
            return _async_pitstop(options)
        return _sync_pitstop(options)

    return create


@contextlib.contextmanager
def _sync_pitstop(options: dict[str, Any]) -> Iterator[Any]:
    path = new_path()
    with SqliteSaver.from_conn_string(path, **options) as saver:
        _PATHS[id(saver)] = path
        yield saver


@contextlib.asynccontextmanager
async def _async_pitstop(options: dict[str, Any]) -> Any:
    path = new_path()
    async with AsyncSqliteSaver.from_conn_string(path, **options) as saver:
        _PATHS[id(saver)] = path
        yield saver


def official(api: str) -> Callable[[], Any]:
    @contextlib.contextmanager
    def sync() -> Iterator[Any]:
        from langgraph.checkpoint.sqlite import SqliteSaver as Official

        path = new_path()
        with Official.from_conn_string(path) as saver:
            _PATHS[id(saver)] = path
            yield saver

    @contextlib.asynccontextmanager
    async def aio() -> Any:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver as Official

        path = new_path()
        async with Official.from_conn_string(path) as saver:
            _PATHS[id(saver)] = path
            yield saver

    return aio if api == "async" else sync


def main() -> None:
    bench_growth.compare_layouts(
        pitstop,
        stored_bytes,
        backend="SQLite",
        chart=str(CHART),
        stored_note="stored bytes = file + WAL",
        official=official,
        official_name="langgraph SqliteSaver",
        official_module="langgraph.checkpoint.sqlite",
        unavailable="langgraph SqliteSaver: n/a (langgraph-checkpoint-sqlite is not installed)",
        marks=STEPS,
    )


if __name__ == "__main__":
    main()
