"""SqliteStore / AsyncSqliteStore: differential tests against InMemoryStore, and what the
conformance specs do not cover (hostile filters, TTL with a fake clock, reopen, migrations)."""

from __future__ import annotations

import sqlite3
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

sys.path.insert(0, str(Path(__file__).parents[2] / "checkpoint-base" / "tests"))

import store_checks as checks
from store_checks import INDEX, Clock, hypothesis_settings, rendered

from pitstop.checkpoint.errors import MigrationError
from pitstop.store.sqlite import SqliteStore
from pitstop.store.sqlite import _queries as q
from pitstop.store.sqlite.aio import AsyncSqliteStore


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "store.db")


@pytest.fixture
def store(db: str, clock: Clock) -> Iterator[SqliteStore]:
    with SqliteStore.from_conn_string(db, clock=clock) as s:
        yield s


# -- differential: random histories, same answers as InMemoryStore -----------------------------


@hypothesis_settings(60)
@given(history=checks.histories, queries=checks.read_lists)
def test_same_results_as_in_memory(history: list[Any], queries: list[Any]) -> None:
    clock = Clock()
    with SqliteStore.from_conn_string(":memory:", clock=clock) as sqlite:
        checks.check_history(sqlite, clock, history, queries)


@hypothesis_settings(40)
@given(
    puts=checks.vector_puts,
    query=checks.vector_queries,
    prefix=checks.prefixes,
    flt=checks.vector_filters,
    limit=checks.vector_limits,
    offset=checks.vector_offsets,
)
def test_vector_search_same_as_in_memory(
    puts: list[Any], query: str, prefix: Any, flt: Any, limit: int, offset: int
) -> None:
    clock = Clock()
    with SqliteStore.from_conn_string(":memory:", index=INDEX, clock=clock) as sqlite:  # type: ignore[arg-type]
        checks.check_vector_search(sqlite, clock, puts, query, prefix, flt, limit, offset)


async def test_async_store_same_results_as_in_memory(db: str, clock: Clock) -> None:
    async with AsyncSqliteStore.from_conn_string(db, index=INDEX, clock=clock) as sqlite:  # type: ignore[arg-type]
        await checks.check_async_batches(sqlite, clock)


# -- filters ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", checks.HOSTILE)
def test_hostile_filter_keys(store: SqliteStore, key: str) -> None:
    checks.check_hostile_filter_key(store, key)


def test_numeric_filters_compare_numbers(store: SqliteStore) -> None:
    checks.check_numeric_filters(store)


def test_filtered_page_is_never_short(store: SqliteStore, clock: Clock) -> None:
    for i in range(700):  # matches are rare and old: a page needs several chunks
        store.put(("p",), f"k{i:03}", {"n": i, "keep": i % 97 == 0})
        clock.tick(1)
    page = store.search(("p",), filter={"n": {"$lt": 300}, "keep": True}, limit=3, offset=1)
    assert [i.key for i in page] == ["k194", "k097", "k000"]
    nested = store.search(("p",), filter={"n": {"$gte": 0}}, limit=5, offset=690)
    assert [i.key for i in nested] == [f"k{i:03}" for i in (9, 8, 7, 6, 5)]


def test_namespace_prefix_is_exact(store: SqliteStore) -> None:
    checks.check_namespace_prefix_is_exact(store)


def test_unknown_operator_and_bad_values(store: SqliteStore) -> None:
    checks.check_bad_input(store)


# -- batches, timestamps ----------------------------------------------------------------------


def test_batch_semantics_and_timestamps(store: SqliteStore, clock: Clock) -> None:
    checks.check_batch_semantics(store, clock)


# -- TTL --------------------------------------------------------------------------------------


def test_ttl_with_fake_clock(db: str, clock: Clock) -> None:
    with SqliteStore.from_conn_string(db, clock=clock, ttl={"default_ttl": 1.0}) as store:
        checks.check_ttl(store, clock)


def _count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM pitstop_store").fetchone()[0])


def test_sweeper_thread(db: str) -> None:
    with SqliteStore.from_conn_string(db) as store:
        checks.check_sweeper_thread(store, lambda: _count(store.conn))


async def test_async_sweeper_task(db: str) -> None:
    async with AsyncSqliteStore.from_conn_string(db) as store:

        async def remaining() -> int:
            cur = await store.conn.execute("SELECT COUNT(*) FROM pitstop_store")
            row = await cur.fetchone()
            assert row is not None
            return int(row[0])

        await checks.check_sweeper_task(store, remaining)


# -- persistence, migrations, connections ------------------------------------------------------


def test_persists_across_reopen(db: str, clock: Clock) -> None:
    with SqliteStore.from_conn_string(db, index=INDEX, clock=clock) as store:  # type: ignore[arg-type]
        store.put(("p", "q"), "k", {"text": "xx", "n": 1}, ttl=10)
        clock.tick(1)
        store.put(("p",), "j", {"text": "yy"})
        before = rendered(store.search(("p",), query="x", refresh_ttl=False))
    with SqliteStore.from_conn_string(db, index=INDEX, clock=clock) as store:  # type: ignore[arg-type]
        assert rendered(store.search(("p",), query="x", refresh_ttl=False)) == before
        assert before[0][1] == "k"
        assert before[0][5] == pytest.approx(3 / 10**0.5)  # (1,0,0,1)·(2,0,0,1)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute(q.SELECT_MIGRATION_VERSION).fetchone() == (len(q.MIGRATIONS) - 1,)
    finally:
        conn.close()


def test_setup_is_idempotent_and_newer_schema_is_refused(db: str) -> None:
    with SqliteStore.from_conn_string(db) as store:
        store.setup()
        store.setup()
        store.put(("a",), "k", {})
    conn = sqlite3.connect(db)
    conn.execute(q.INSERT_MIGRATION, (len(q.MIGRATIONS) + 3,))
    conn.commit()
    conn.close()
    with SqliteStore.from_conn_string(db) as store, pytest.raises(MigrationError, match="newer"):
        store.get(("a",), "k")


def test_user_connection_in_default_mode(db: str) -> None:
    conn = sqlite3.connect(db, check_same_thread=False)  # legacy transaction control
    try:
        store = SqliteStore(conn)
        store.put(("a",), "k", {"v": 1})
        assert not conn.in_transaction
        other = sqlite3.connect(db)
        assert other.execute("SELECT COUNT(*) FROM pitstop_store").fetchone() == (1,)
        other.close()
    finally:
        conn.close()


def test_threads_share_a_sync_store(store: SqliteStore) -> None:
    def work(n: int) -> None:
        for i in range(30):
            store.put(("w", str(n)), str(i), {"i": i})
            assert store.get(("w", str(n)), str(i)) is not None

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.search(("w",), limit=1000)) == 180


def test_two_connections_one_file(db: str) -> None:
    with SqliteStore.from_conn_string(db) as one, SqliteStore.from_conn_string(db) as two:

        def work(s: SqliteStore, n: int) -> None:
            for i in range(40):
                s.put(("c",), f"{n}-{i}", {"i": i})

        threads = [threading.Thread(target=work, args=(s, n)) for n, s in enumerate([one, two])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(one.search(("c",), limit=100)) == 80


async def test_async_store_sync_api_on_its_loop_raises(db: str) -> None:
    async with AsyncSqliteStore.from_conn_string(db) as store:
        await checks.check_async_store_sync_api(store)


async def test_sync_store_async_api(store: SqliteStore) -> None:
    await checks.check_sync_store_async_api(store)
