"""SqliteStore / AsyncSqliteStore: differential tests against InMemoryStore, and what the
conformance specs do not cover (hostile filters, TTL with a fake clock, reopen, migrations)."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

sys.path.insert(0, str(Path(__file__).parents[2] / "checkpoint-base" / "tests"))

import store_checks as checks
from sqlite_store_vec import SQLITE_VEC_UNUSABLE, VECTOR_PATHS, needs_sqlite_vec
from store_checks import INDEX, Clock, hypothesis_settings, rendered

from pitstop.checkpoint.errors import InvalidArgumentError, MigrationError
from pitstop.store.memory import InMemoryStore
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


@pytest.mark.parametrize("sqlite_vec", VECTOR_PATHS)
@hypothesis_settings(40)
@given(**checks.vector_searches)
def test_vector_search_same_as_in_memory(
    sqlite_vec: bool, puts: list[Any], query: str, prefix: Any, flt: Any, limit: int, offset: int
) -> None:
    clock = Clock()
    with SqliteStore.from_conn_string(
        ":memory:",
        index=INDEX,  # type: ignore[arg-type]
        clock=clock,
        sqlite_vec=sqlite_vec,
    ) as sqlite:
        checks.check_vector_search(sqlite, clock, puts, query, prefix, flt, limit, offset)
        assert sqlite.uses_sqlite_vec is sqlite_vec


@pytest.mark.parametrize("sqlite_vec", VECTOR_PATHS)
async def test_async_store_same_results_as_in_memory(
    db: str, clock: Clock, sqlite_vec: bool
) -> None:
    async with AsyncSqliteStore.from_conn_string(
        db,
        index=INDEX,  # type: ignore[arg-type]
        clock=clock,
        sqlite_vec=sqlite_vec,
    ) as sqlite:
        await checks.check_async_batches(sqlite, clock)
        assert sqlite.uses_sqlite_vec is sqlite_vec


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


# -- the two vector-search paths ---------------------------------------------------------------


def _near_embed(texts: Any) -> list[list[float]]:
    """``"q"`` is the query; many ``"<i>"`` score within 1e-9 of 1: float32 cannot order them."""
    out: list[list[float]] = []
    for text in texts:
        if text == "q":
            out.append([1.0, 0.0, 0.0])
        elif text == "zero":
            out.append([0.0, 0.0, 0.0])
        else:
            i = int(text)
            # exact in float32, so the in-memory store (float64) scores them the same
            out.append([1.0, (i % 7) * 2**-15, -(i % 5) * 2**-16 if i % 2 else 0.5 - i * 2**-10])
    return out


@pytest.mark.parametrize("sqlite_vec", VECTOR_PATHS)
def test_scores_too_close_for_float32_rank_as_in_memory(sqlite_vec: bool, clock: Clock) -> None:
    index: Any = {"dims": 3, "embed": _near_embed, "fields": ["t"]}
    memory = InMemoryStore(index=index, clock=clock)
    with SqliteStore.from_conn_string(
        ":memory:", index=index, clock=clock, sqlite_vec=sqlite_vec
    ) as store:
        for i in range(60):
            for st in (memory, store):
                st.put(("n", str(i % 3)), f"k{i}", {"t": str(i), "i": i})
                if i % 9 == 0:
                    st.put(("n",), f"plain{i}", {"t": "x", "i": i}, index=False)
                if i % 13 == 0:
                    st.put(("n",), f"zero{i}", {"t": "zero", "i": i})
            if i % 4:
                clock.tick(1)
        # no filter; one SQL decides exactly; one decided in Python (numbers)
        for flt in (None, {"t": {"$ne": "x"}}, {"i": {"$gte": 10}}):
            for offset, limit in ((0, 1), (0, 7), (3, 10), (25, 30), (55, 20), (70, 5)):
                args: dict[str, Any] = {"query": "q", "filter": flt, "offset": offset}
                got = rendered(store.search(("n",), limit=limit, **args))
                assert got == rendered(memory.search(("n",), limit=limit, **args)), args
        assert store.uses_sqlite_vec is sqlite_vec


def _extreme_embed(texts: Any) -> list[list[float]]:
    """Vectors whose float32 cosine overflows, underflows or divides by zero."""
    table = {
        "huge": [2.0**80, 2.0**79, 0.0],
        "tiny": [2.0**-80, 0.0, 2.0**-81],
        "zero": [0.0, 0.0, 0.0],
        "plain": [1.0, 2.0, 3.0],
        "q": [1.0, 1.0, 0.0],
    }
    return [table[t] for t in texts]


@needs_sqlite_vec
def test_what_float32_cannot_score_is_scored_exactly(clock: Clock) -> None:
    index: Any = {"dims": 3, "embed": _extreme_embed, "fields": ["t"]}
    with (
        SqliteStore.from_conn_string(":memory:", index=index, clock=clock) as vec,
        SqliteStore.from_conn_string(
            ":memory:", index=index, clock=clock, sqlite_vec=False
        ) as brute,
    ):
        for i, kind in enumerate(["plain", "huge", "tiny", "zero", "plain", "huge"] * 3):
            for st in (vec, brute):
                st.put(("x",), f"k{i}", {"t": kind})
            clock.tick(1)
        for query in ("q", "huge", "tiny", "zero"):  # the last three: ranked in Python
            for offset, limit in ((0, 1), (0, 3), (2, 4), (0, 20), (10, 5)):
                args: dict[str, Any] = {"query": query, "offset": offset, "limit": limit}
                want = rendered(brute.search(("x",), **args))
                assert rendered(vec.search(("x",), **args)) == want, args
        assert vec.uses_sqlite_vec


@needs_sqlite_vec
def test_sqlite_vec_is_the_default_when_it_loads(clock: Clock) -> None:
    with SqliteStore.from_conn_string(":memory:", index=INDEX, clock=clock) as store:  # type: ignore[arg-type]
        store.setup()
        assert store.uses_sqlite_vec
    with SqliteStore.from_conn_string(":memory:", clock=clock) as plain:
        plain.setup()
        assert not plain.uses_sqlite_vec  # no index: nothing to load


class _NoExtensionLoading(sqlite3.Connection):
    """A connection like one of a Python built without extension loading."""

    def __getattribute__(self, name: str) -> Any:
        if name in ("enable_load_extension", "load_extension"):
            raise AttributeError(name)
        return super().__getattribute__(name)


def test_without_extension_loading_the_fallback_is_used_and_said(
    db: str, caplog: pytest.LogCaptureFixture
) -> None:
    conn = sqlite3.connect(db, factory=_NoExtensionLoading, isolation_level=None)
    try:
        with caplog.at_level("WARNING", logger="pitstop.store.sqlite"):
            store = SqliteStore(conn, index=INDEX)  # type: ignore[arg-type]
            store.put(("a",), "k", {"text": "xx"})
        assert not store.uses_sqlite_vec
        assert [i.key for i in store.search(("a",), query="x")] == ["k"]
        if SQLITE_VEC_UNUSABLE is None or "not installed" not in SQLITE_VEC_UNUSABLE:
            assert "cannot load extensions" in caplog.text
        with pytest.raises(InvalidArgumentError, match="sqlite_vec=True"):
            SqliteStore(conn, index=INDEX, sqlite_vec=True).setup()  # type: ignore[arg-type]
    finally:
        conn.close()


def test_sqlite_vec_argument_is_checked() -> None:
    with pytest.raises(InvalidArgumentError, match="sqlite_vec"):
        SqliteStore(sqlite3.connect(":memory:"), sqlite_vec="yes")  # type: ignore[arg-type]


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
    checks.check_threads_share_a_store(store)


def test_two_connections_one_file(db: str) -> None:
    with SqliteStore.from_conn_string(db) as one, SqliteStore.from_conn_string(db) as two:

        def work(s: SqliteStore, n: int) -> None:
            for i in range(40):
                s.put(("c",), f"{n}-{i}", {"i": i})

        checks.run_threads(lambda n: work([one, two][n], n), 2)
        assert len(one.search(("c",), limit=100)) == 80


async def test_async_store_sync_api_on_its_loop_raises(db: str) -> None:
    async with AsyncSqliteStore.from_conn_string(db) as store:
        await checks.check_async_store_sync_api(store)


async def test_sync_store_async_api(store: SqliteStore) -> None:
    await checks.check_sync_store_async_api(store)
