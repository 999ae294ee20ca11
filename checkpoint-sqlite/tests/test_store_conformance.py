"""The store conformance specs against SqliteStore and AsyncSqliteStore (file-backed), with
each vector-search path: the default (sqlite-vec when it can be loaded), forced brute force,
and forced sqlite-vec (where this Python can load it)."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from sqlite_store_vec import needs_sqlite_vec

from pitstop.conformance import conformance_tests
from pitstop.store.sqlite import SqliteStore
from pitstop.store.sqlite.aio import AsyncSqliteStore


def sync_store(
    *, index: Any = None, ttl: Any = None, sqlite_vec: bool | None = None
) -> Iterator[SqliteStore]:
    """A SqliteStore over a fresh file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "store.db")
        with SqliteStore.from_conn_string(
            path, index=index, ttl=ttl, sqlite_vec=sqlite_vec
        ) as store:
            yield store


async def async_store(
    *, index: Any = None, ttl: Any = None, sqlite_vec: bool | None = None
) -> AsyncIterator[AsyncSqliteStore]:
    """An AsyncSqliteStore over a fresh file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "store.db")
        async with AsyncSqliteStore.from_conn_string(
            path, index=index, ttl=ttl, sqlite_vec=sqlite_vec
        ) as store:
            yield store


def brute_force_store(*, index: Any = None, ttl: Any = None) -> Iterator[SqliteStore]:
    """A SqliteStore that scores vectors in Python whatever is installed."""
    yield from sync_store(index=index, ttl=ttl, sqlite_vec=False)


def sqlite_vec_store(*, index: Any = None, ttl: Any = None) -> Iterator[SqliteStore]:
    """A SqliteStore that scores vectors with sqlite-vec."""
    yield from sync_store(index=index, ttl=ttl, sqlite_vec=True)


async def async_sqlite_vec_store(
    *, index: Any = None, ttl: Any = None
) -> AsyncIterator[AsyncSqliteStore]:
    """An AsyncSqliteStore that scores vectors with sqlite-vec."""
    async for store in async_store(index=index, ttl=ttl, sqlite_vec=True):
        yield store


TestSqliteStoreConformance = conformance_tests(store=sync_store)
TestAsyncSqliteStoreConformance = conformance_tests(store=async_store)
TestSqliteStoreBruteForceConformance = conformance_tests(store=brute_force_store)
TestSqliteStoreSqliteVecConformance = needs_sqlite_vec(conformance_tests(store=sqlite_vec_store))
TestAsyncSqliteStoreSqliteVecConformance = needs_sqlite_vec(
    conformance_tests(store=async_sqlite_vec_store)
)
