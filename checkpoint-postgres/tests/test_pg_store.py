"""PostgresStore / AsyncPostgresStore: differential tests against InMemoryStore, and what the
conformance specs do not cover (hostile filters, TTL with a fake clock, reopen, migrations,
concurrency, the vector fallback)."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given
from pg_store_factories import fresh_schema, pg_uri
from psycopg import sql
from psycopg.rows import dict_row

sys.path.insert(0, str(Path(__file__).parents[2] / "checkpoint-base" / "tests"))

import store_checks as checks
from store_checks import INDEX, Clock, hypothesis_settings, rendered

from pitstop.checkpoint.errors import InvalidArgumentError, MigrationError, SerializationError
from pitstop.store.base import PutOp
from pitstop.store.memory import InMemoryStore
from pitstop.store.postgres import PostgresStore
from pitstop.store.postgres import _queries as q
from pitstop.store.postgres._base import compile_filter
from pitstop.store.postgres.aio import AsyncPostgresStore


def truncate(store: PostgresStore) -> None:
    """Empty a store's tables (cheaper than a fresh schema per hypothesis example)."""
    store.setup()
    table = store.queries.compose("{store}")
    with psycopg.connect(pg_uri(), autocommit=True) as conn:
        conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(table))


def count_rows(store: PostgresStore, template: str = "{store}") -> int:
    with psycopg.connect(pg_uri(), autocommit=True) as conn:
        query = sql.SQL("SELECT COUNT(*) FROM {}").format(store.queries.compose(template))
        row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def schema() -> Iterator[str]:
    with fresh_schema() as name:
        yield name


@pytest.fixture
def conn(schema: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_uri(), autocommit=True) as c:
        yield c


@pytest.fixture
def store(conn: psycopg.Connection[Any], schema: str, clock: Clock) -> PostgresStore:
    return PostgresStore(conn, schema=schema, clock=clock)


@pytest.fixture
def vstore(conn: psycopg.Connection[Any], schema: str, clock: Clock) -> PostgresStore:
    return PostgresStore(conn, schema=schema, clock=clock, index=INDEX)  # type: ignore[arg-type]


# -- differential: random histories, same answers as InMemoryStore -----------------------------


@hypothesis_settings(50)
@given(history=checks.histories, queries=checks.read_lists)
def test_same_results_as_in_memory(
    store: PostgresStore, clock: Clock, history: list[Any], queries: list[Any]
) -> None:
    truncate(store)
    clock.reset()
    checks.check_history(store, clock, history, queries)


@hypothesis_settings(150)
@given(value=checks.json_values, condition=checks.conditions)
def test_filter_compiles_like_matches_filter(
    store: PostgresStore, value: Any, condition: Any
) -> None:
    """One value, one condition: SQL decides exactly as ``matches_filter`` does."""
    memory = InMemoryStore()
    truncate(store)
    for s in (memory, store):
        s.put(("f",), "k", {"v": value})
    flt = {"v": condition}
    assert [i.key for i in store.search(("f",), filter=flt)] == [
        i.key for i in memory.search(("f",), filter=flt)
    ], (value, condition)


@hypothesis_settings(30)
@given(**checks.vector_searches)
def test_vector_search_same_as_in_memory(
    vstore: PostgresStore,
    clock: Clock,
    puts: list[Any],
    query: str,
    prefix: Any,
    flt: Any,
    limit: int,
    offset: int,
) -> None:
    truncate(vstore)
    clock.reset()
    checks.check_vector_search(vstore, clock, puts, query, prefix, flt, limit, offset)


async def test_async_store_same_results_as_in_memory(schema: str, clock: Clock) -> None:
    async with AsyncPostgresStore.from_conn_string(
        pg_uri(),
        schema=schema,
        index=INDEX,  # type: ignore[arg-type]
        clock=clock,
    ) as pg:
        await checks.check_async_batches(pg, clock)


# -- filters ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", checks.HOSTILE)
def test_hostile_filter_keys(store: PostgresStore, key: str) -> None:
    checks.check_hostile_filter_key(store, key)


@pytest.mark.parametrize("key", checks.HOSTILE)
def test_filter_keys_and_values_never_reach_sql_text(key: str) -> None:
    compiled = compile_filter({key: {"$gt": key, "$ne": [key, {key: key}]}, "n": {"$lt": 5}})
    assert compiled is not None
    text = compiled.sql.as_string(None)
    if key not in ("$", "\\", "%s"):  # text the statement itself uses
        assert key not in text
    assert text.count("%s") == len(compiled.params)
    assert key in compiled.params


def test_hostile_filter_values(store: PostgresStore) -> None:
    store.put(("h",), "a", {"s": "ab"})
    store.put(("h",), "b", {"s": "abc"})
    store.put(("h",), "c", {"s": "a"})

    def keys(flt: dict[str, Any]) -> list[str]:
        return sorted(i.key for i in store.search(("h",), filter=flt))

    assert keys({"s": "ab\x00"}) == []  # no stored value holds NUL
    assert keys({"s": {"$ne": "ab\x00"}}) == ["a", "b", "c"]
    assert keys({"s": {"$lt": "ab\x00c"}}) == ["a", "c"]
    assert keys({"s": {"$gte": "ab\x00c"}}) == ["b"]
    assert keys({"s": {"$gt": float("nan")}}) == []
    assert keys({"s": {"$lt": "'; DROP TABLE x; --"}}) == []
    assert keys({"s": {"$eq": {"$": 1}}}) == []


def test_numeric_filters_compare_numbers(store: PostgresStore) -> None:
    checks.check_numeric_filters(store)


def test_filters_run_before_paging(store: PostgresStore, clock: Clock) -> None:
    for i in range(300):  # matches are rare and old
        store.put(("p",), f"k{i:03}", {"n": i, "keep": i % 97 == 0, "deep": {"l": [i % 2]}})
        clock.tick(1)
    page = store.search(("p",), filter={"n": {"$lt": 300}, "keep": True}, limit=3, offset=1)
    assert [i.key for i in page] == ["k194", "k097", "k000"]
    nested = store.search(("p",), filter={"deep": {"l": [1]}}, limit=3, offset=148)
    assert [i.key for i in nested] == ["k003", "k001"]


def test_namespace_prefix_is_exact(store: PostgresStore) -> None:
    checks.check_namespace_prefix_is_exact(store)


def test_unknown_operator_and_bad_values(store: PostgresStore) -> None:
    checks.check_bad_input(store)
    with pytest.raises(SerializationError, match="NUL"):
        store.put(("a",), "k", {"s": "a\x00b"})
    assert store.get(("a",), "k") is None


# -- batches, timestamps ----------------------------------------------------------------------


def test_batch_semantics_and_timestamps(store: PostgresStore, clock: Clock) -> None:
    checks.check_batch_semantics(store, clock)


# -- TTL --------------------------------------------------------------------------------------


def test_ttl_with_fake_clock(conn: psycopg.Connection[Any], schema: str, clock: Clock) -> None:
    store = PostgresStore(conn, schema=schema, clock=clock, ttl={"default_ttl": 1.0})
    checks.check_ttl(store, clock)


def test_sweep_removes_vectors(vstore: PostgresStore, clock: Clock) -> None:
    vstore.put(("v",), "a", {"text": "xx"}, ttl=1.0)
    vstore.put(("v",), "b", {"text": "yy"})
    assert count_rows(vstore, "{vectors}") == 2
    clock.tick(61)
    assert vstore.sweep_ttl() == 1
    assert count_rows(vstore, "{vectors}") == 1
    vstore.put(("v",), "b", {"text": "zz"}, index=False)  # re-put without vectors drops them
    assert count_rows(vstore, "{vectors}") == 0
    assert [i.score for i in vstore.search(("v",), query="z")] == [None]


def test_sweeper_thread(schema: str) -> None:
    with PostgresStore.from_conn_string(pg_uri(), schema=schema) as store:
        checks.check_sweeper_thread(store, lambda: count_rows(store))


async def test_async_sweeper_task(schema: str) -> None:
    async with AsyncPostgresStore.from_conn_string(pg_uri(), schema=schema) as store:

        async def remaining() -> int:
            return await asyncio.to_thread(count_rows, store)  # type: ignore[arg-type]

        await checks.check_sweeper_task(store, remaining)


# -- persistence, migrations, schemas, vectors -------------------------------------------------


def test_persists_across_reopen(schema: str, clock: Clock) -> None:
    kwargs: dict[str, Any] = {"schema": schema, "index": INDEX, "clock": clock}
    with PostgresStore.from_conn_string(pg_uri(), **kwargs) as store:
        store.put(("p", "q"), "k", {"text": "xx", "n": 1}, ttl=10)
        clock.tick(1)
        store.put(("p",), "j", {"text": "yy"})
        before = rendered(store.search(("p",), query="x", refresh_ttl=False))
    with PostgresStore.from_conn_string(pg_uri(), **kwargs) as store:
        assert rendered(store.search(("p",), query="x", refresh_ttl=False)) == before
        assert before[0][1] == "k"
        assert before[0][5] == pytest.approx(3 / 10**0.5)  # (1,0,0,1)·(2,0,0,1)
        assert store.list_namespaces() == [("p",), ("p", "q")]
    with psycopg.connect(pg_uri(), autocommit=True) as conn:
        migrations = sql.Identifier(schema, "pitstop_store_migrations")
        query = sql.SQL("SELECT MAX(v) FROM {}").format(migrations)
        assert conn.execute(query).fetchone() == (len(q.MIGRATIONS) - 1,)


def test_setup_is_idempotent_and_newer_schema_is_refused(schema: str) -> None:
    with PostgresStore.from_conn_string(pg_uri(), schema=schema) as store:
        store.setup()
        store.setup()
        store.put(("a",), "k", {})
        newer = store.queries.insert_migration
    with psycopg.connect(pg_uri(), autocommit=True) as conn:
        conn.execute(newer, (len(q.MIGRATIONS) + 3,))
    with (
        PostgresStore.from_conn_string(pg_uri(), schema=schema) as store,
        pytest.raises(MigrationError, match="newer"),
    ):
        store.get(("a",), "k")


def test_concurrent_setup(schema: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def work(n: int) -> None:
        try:
            with psycopg.connect(pg_uri(), autocommit=True) as conn:
                store = PostgresStore(conn, schema=schema)
                barrier.wait()
                store.setup()
                store.put(("s",), str(n), {"n": n})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    checks.run_threads(work, 6)
    assert errors == []
    with psycopg.connect(pg_uri(), autocommit=True) as conn:
        migrations = sql.Identifier(schema, "pitstop_store_migrations")
        query = sql.SQL("SELECT COUNT(*) FROM {}").format(migrations)
        assert conn.execute(query).fetchone() == (len(q.MIGRATIONS),)
        store = PostgresStore(conn, schema=schema)
        assert len(store.search(("s",))) == 6


def test_schemas_are_isolated_and_quoted(conn: psycopg.Connection[Any]) -> None:
    with fresh_schema() as one, fresh_schema() as base:
        odd = base + '"; DROP SCHEMA public; --'
        try:
            first = PostgresStore(conn, schema=one)
            second = PostgresStore(conn, schema=odd)
            first.put(("a",), "k", {"v": 1})
            second.put(("a",), "k", {"v": 2})
            got = [s.get(("a",), "k") for s in (first, second)]
            assert [g.value if g else None for g in got] == [{"v": 1}, {"v": 2}]
        finally:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(odd)))
    with pytest.raises(InvalidArgumentError):
        PostgresStore(conn, schema="")


def test_vector_fallback_without_pgvector(vstore: PostgresStore) -> None:
    with psycopg.connect(pg_uri(), autocommit=True) as conn:
        available = conn.execute(q.PGVECTOR_AVAILABLE).fetchone() is not None
    vstore.put(("v",), "a", {"text": "xxy", "alt": "z"})
    assert vstore.uses_pgvector is available
    if available:  # pragma: no cover - the test server here has no pgvector
        pytest.skip("pgvector is installed: covered by test_pgvector_path")
    assert count_rows(vstore, "{vectors}") == 2  # float32 bytes, one per field
    hits = vstore.search(("v",), query="z")
    # "alt" (0,0,1,1) equals the query; "text" (2,1,0,1) scores 1/sqrt(12): max-pooled
    assert [h.key for h in hits] == ["a"]
    assert hits[0].score == pytest.approx(1.0)


def test_pgvector_path(schema: str, clock: Clock) -> None:
    with psycopg.connect(pg_uri(), autocommit=True) as conn:
        if conn.execute(q.PGVECTOR_AVAILABLE).fetchone() is None:
            pytest.skip("the server has no pgvector extension: the fallback is tested instead")
        memory = InMemoryStore(index=INDEX, clock=clock)  # type: ignore[arg-type]
        store = PostgresStore(conn, schema=schema, index=INDEX, clock=clock)  # type: ignore[arg-type]
        for i, text in enumerate(["xx", "xy", "zz y", "yyy", "x", ""]):
            for s in (memory, store):
                s.put(("d",), f"k{i}", {"text": text}, index=None if i % 3 else False)
            clock.tick(1)
        assert store.uses_pgvector
        for query in ("x", "y", "zzz"):
            got = [(i.key, i.score) for i in store.search(("d",), query=query, limit=10)]
            want = [(i.key, i.score) for i in memory.search(("d",), query=query, limit=10)]
            assert [k for k, _ in got] == [k for k, _ in want]
            assert [s for _, s in got] == [
                pytest.approx(s) if s is not None else None for _, s in want
            ]


# -- connections and concurrency ----------------------------------------------------------------


def test_concurrent_writers_from_threads(schema: str) -> None:
    with PostgresStore.from_conn_string(pg_uri(), schema=schema, pool_size=6) as store:

        def work(n: int) -> None:
            for i in range(25):
                # overlapping keys in different orders: no deadlock, last write wins per key
                store.batch(
                    [
                        PutOp(("w",), f"shared-{(i + n) % 5}", {"n": n}),
                        PutOp(("w",), f"shared-{(i * 3 + n) % 5}", {"n": n}),
                        PutOp(("w", str(n)), str(i), {"i": i}),
                    ]
                )
                assert store.get(("w", str(n)), str(i)) is not None

        checks.run_threads(work, 6)
        assert len(store.search(("w",), limit=1000)) == 150 + 5
        seqs = [i.updated_at for i in store.search(("w",), limit=1000)]
        assert seqs == sorted(seqs, reverse=True)


def test_threads_share_one_connection(store: PostgresStore) -> None:
    checks.check_threads_share_a_store(store, threads=4, puts=20)


async def test_async_concurrent_batches_over_a_pool(schema: str) -> None:
    async with AsyncPostgresStore.from_conn_string(pg_uri(), schema=schema, pool_size=5) as store:

        async def work(n: int) -> None:
            for i in range(15):
                await store.aput(("a", str(n)), str(i), {"i": i})
                await store.aput(("a",), f"shared-{i % 3}", {"n": n})

        await asyncio.gather(*(work(n) for n in range(8)))
        assert len(await store.asearch(("a",), limit=1000)) == 120 + 3
        assert len(await store.alist_namespaces(prefix=("a",))) == 9


async def test_async_store_sync_api_on_its_loop_raises(schema: str) -> None:
    async with AsyncPostgresStore.from_conn_string(pg_uri(), schema=schema) as store:
        await checks.check_async_store_sync_api(store)


async def test_sync_store_async_api(store: PostgresStore) -> None:
    await checks.check_sync_store_async_api(store)


def test_non_autocommit_connection(schema: str) -> None:
    # the store opens and commits its own transactions, and reads tuples whatever the
    # connection's row factory; no server-side prepared statements (PgBouncer-safe) is fine
    with psycopg.connect(pg_uri(), row_factory=dict_row, prepare_threshold=None) as conn:
        store = PostgresStore(conn, schema=schema)
        store.put(("a",), "k", {"v": 1})
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with PostgresStore.from_conn_string(pg_uri(), schema=schema) as other:
        item = other.get(("a",), "k")
        assert item is not None
        assert item.value == {"v": 1}
