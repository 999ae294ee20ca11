"""The store conformance specs against SqliteStore and AsyncSqliteStore (file-backed)."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from pitstop.conformance import conformance_tests
from pitstop.store.sqlite import SqliteStore
from pitstop.store.sqlite.aio import AsyncSqliteStore


def sync_store(*, index: Any = None, ttl: Any = None) -> Iterator[SqliteStore]:
    """A SqliteStore over a fresh file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "store.db")
        with SqliteStore.from_conn_string(path, index=index, ttl=ttl) as store:
            yield store


async def async_store(*, index: Any = None, ttl: Any = None) -> AsyncIterator[AsyncSqliteStore]:
    """An AsyncSqliteStore over a fresh file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "store.db")
        async with AsyncSqliteStore.from_conn_string(path, index=index, ttl=ttl) as store:
            yield store


TestSqliteStoreConformance = conformance_tests(store=sync_store)
TestAsyncSqliteStoreConformance = conformance_tests(store=async_store)
