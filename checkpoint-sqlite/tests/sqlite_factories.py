"""Saver factories for the conformance suite and the benchmarks: fresh files, ``reopen``."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import aiosqlite

from pitstop.checkpoint.sqlite import AsyncSqliteSaver, SqliteSaver

T = TypeVar("T")

_ROOT = tempfile.mkdtemp(prefix="pitstop-sqlite-")
atexit.register(shutil.rmtree, _ROOT, True)


def new_path() -> str:
    """A path to a database file that does not exist yet."""
    return os.path.join(tempfile.mkdtemp(dir=_ROOT), "checkpoints.db")


@contextlib.contextmanager
def sync_saver(path: str | None = None, **options: Any) -> Iterator[SqliteSaver]:
    """A ``SqliteSaver`` on a fresh file (or on ``path``), with the saver's ``options``."""
    path = path or new_path()
    with SqliteSaver.from_conn_string(path, **options) as saver:
        saver.pitstop_path = path  # type: ignore[attr-defined]
        yield saver


def blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private loop in a worker thread.

    aiosqlite works from any loop (each call awaits a future of the caller's loop), so a
    connection opened this way serves the suite's own loop afterwards.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()  # type: ignore[arg-type]


def async_saver(path: str | None = None, **options: Any) -> Iterator[AsyncSqliteSaver]:
    """An ``AsyncSqliteSaver`` on a fresh file (or on ``path``), with the saver's ``options``.

    A plain generator, not an async context manager: the suite's async graph scenarios call the
    factory from inside its running loop, where it cannot enter an async context manager.
    """
    path = path or new_path()
    conn = blocking(_connect(path))
    try:
        saver = AsyncSqliteSaver(conn, **options)
        saver.pitstop_path = path  # type: ignore[attr-defined]
        # The schema now, as the sync factory's from_conn_string does: a benchmark round on
        # fresh storage then times the workload, not the creation of the schema.
        blocking(saver.asetup())
        yield saver
    finally:
        blocking(conn.close())


async def _connect(path: str) -> aiosqlite.Connection:
    return await aiosqlite.connect(path, check_same_thread=False, isolation_level=None)


def _stored_bytes(saver: Any) -> int:
    path = saver.pitstop_path
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def _reopen_sync(old: Any) -> Any:
    return sync_saver(old.pitstop_path)


def _reopen_async(old: Any) -> Any:
    return async_saver(old.pitstop_path)


sync_saver.reopen = _reopen_sync  # type: ignore[attr-defined]
sync_saver.stored_bytes = _stored_bytes  # type: ignore[attr-defined]
async_saver.reopen = _reopen_async  # type: ignore[attr-defined]
async_saver.stored_bytes = _stored_bytes  # type: ignore[attr-defined]


def _connect_sync(saver: Any) -> tuple[str, tuple[Any, ...]]:
    """What another process calls to open the same file (the ``multiprocess`` checks)."""
    return "pitstop.checkpoint.sqlite:SqliteSaver.from_conn_string", (saver.pitstop_path,)


def _connect_async(saver: Any) -> tuple[str, tuple[Any, ...]]:
    return "pitstop.checkpoint.sqlite.aio:AsyncSqliteSaver.from_conn_string", (saver.pitstop_path,)


sync_saver.connect = _connect_sync  # type: ignore[attr-defined]
async_saver.connect = _connect_async  # type: ignore[attr-defined]
