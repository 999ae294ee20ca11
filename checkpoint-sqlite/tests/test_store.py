"""SqliteStore / AsyncSqliteStore: differential tests against InMemoryStore, and what the
conformance specs do not cover (hostile filters, TTL with a fake clock, reopen, migrations)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pitstop.checkpoint.errors import InvalidArgumentError, MigrationError, SerializationError
from pitstop.store.base import BaseStore, GetOp, ListNamespacesOp, PutOp, SearchOp
from pitstop.store.memory import InMemoryStore
from pitstop.store.sqlite import SqliteStore
from pitstop.store.sqlite import _queries as q
from pitstop.store.sqlite.aio import AsyncSqliteStore


class Clock:
    """A settable clock, shared by the stores under comparison."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def embed(texts: Sequence[str]) -> list[list[float]]:
    """Small integer vectors: exact in float32, so scores equal the in-memory store's."""
    return [[t.count("x"), t.count("y"), t.count("z"), 1] for t in texts]


INDEX: dict[str, Any] = {"dims": 4, "embed": embed, "fields": ["text", "alt"]}


def rendered(result: Any) -> Any:
    """A result with its items spelled out (score and timestamps included)."""
    if isinstance(result, list):
        return [rendered(r) for r in result]
    if hasattr(result, "key") and hasattr(result, "value"):
        return (
            tuple(result.namespace),
            result.key,
            result.value,
            result.created_at,
            result.updated_at,
            getattr(result, "score", "n/a"),
        )
    return result


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

KEYS = ["a", "b", "n", "a') OR 1=1 --", "q\"uo'te", "x.y", "ünï", "%_\\"]
TOP_KEYS = [*KEYS, "$eq"]  # a top-level key may look like an operator; nested ones may not
NAMESPACES = [("a",), ("a", "b"), ("ab",), ("a_",), ("a%",), ("b", "a"), ("a", "b", "c")]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.sampled_from([2**60, -(2**53) - 1, 10**20]),
    st.sampled_from([0.5, 2.5, -1.25, 1e-7, 1.0, 3.0000000000000004]),
    st.sampled_from(["", "a", "b", "ab", "B", "é", "🙂", "10", "9"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=6,
)
documents = st.dictionaries(st.sampled_from(TOP_KEYS), json_values, max_size=4)
operators = st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"])
conditions = st.one_of(
    json_values,
    st.dictionaries(operators, scalars, min_size=1, max_size=2),
    st.dictionaries(st.sampled_from(KEYS), scalars, min_size=1, max_size=2),  # subset match
)
filters = st.one_of(st.none(), st.dictionaries(st.sampled_from(TOP_KEYS), conditions, max_size=2))
namespaces = st.sampled_from(NAMESPACES)
item_keys = st.sampled_from(["k1", "k2", "k3", "k 4", "'; DROP TABLE pitstop_store; --"])
writes = st.one_of(
    st.tuples(st.just("put"), namespaces, item_keys, documents, st.sampled_from([None, 1.0])),
    st.tuples(st.just("delete"), namespaces, item_keys),
    st.tuples(st.just("tick"), st.sampled_from([1.0, 20.0, 45.0])),
)
prefixes = st.sampled_from([(), ("a",), ("a", "b"), ("ab",), ("a_",), ("b",), ("zz",)])
reads = st.one_of(
    st.builds(
        SearchOp,
        prefixes,
        filters,
        st.integers(0, 6),
        st.integers(0, 4),
        st.none(),
        st.booleans(),
    ),
    st.builds(GetOp, namespaces, item_keys, st.booleans()),
    st.builds(
        ListNamespacesOp,
        st.none(),
        st.one_of(st.none(), st.integers(1, 2)),
        st.integers(0, 5),
        st.integers(0, 3),
    ),
)


def replay(stores: Sequence[BaseStore], clock: Clock, history: Sequence[tuple[Any, ...]]) -> None:
    for step in history:
        if step[0] == "tick":
            clock.tick(step[1])
            continue
        for s in stores:
            if step[0] == "put":
                s.put(step[1], step[2], step[3], ttl=step[4])
            else:
                s.delete(step[1], step[2])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=st.lists(writes, max_size=25), queries=st.lists(reads, min_size=1, max_size=8))
def test_same_results_as_in_memory(history: list[Any], queries: list[Any]) -> None:
    clock = Clock()
    memory = InMemoryStore(clock=clock)
    with SqliteStore.from_conn_string(":memory:", clock=clock) as sqlite:
        replay([memory, sqlite], clock, history)
        for op in queries:  # one op per batch, then all together (reads refresh TTLs)
            assert rendered(sqlite.batch([op])) == rendered(memory.batch([op])), op
            clock.tick(10)
        assert rendered(sqlite.batch(queries)) == rendered(memory.batch(queries))
        clock.tick(40)
        assert sqlite.sweep_ttl() == memory.sweep_ttl()
        everything = SearchOp((), None, 100, 0, None, False)
        assert rendered(sqlite.batch([everything])) == rendered(memory.batch([everything]))


vector_docs = st.fixed_dictionaries(
    {"text": st.text("xyz ", max_size=5)},
    optional={"alt": st.text("xyz", max_size=4), "kind": st.sampled_from(["p", "q"])},
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    puts=st.lists(
        st.tuples(namespaces, item_keys, vector_docs, st.sampled_from([None, False, ["alt"]])),
        max_size=12,
    ),
    query=st.text("xyz", min_size=1, max_size=3),
    prefix=prefixes,
    flt=st.sampled_from([None, {"kind": "p"}, {"kind": {"$ne": "q"}}, {"text": {"$gte": "y"}}]),
    limit=st.integers(1, 8),
    offset=st.integers(0, 4),
)
def test_vector_search_same_as_in_memory(
    puts: list[Any], query: str, prefix: Any, flt: Any, limit: int, offset: int
) -> None:
    clock = Clock()
    memory = InMemoryStore(index=INDEX, clock=clock)  # type: ignore[arg-type]
    with SqliteStore.from_conn_string(":memory:", index=INDEX, clock=clock) as sqlite:  # type: ignore[arg-type]
        for ns, key, value, index in puts:
            for s in (memory, sqlite):
                s.put(ns, key, value, index=index)
            clock.tick(1)
        args: dict[str, Any] = {"query": query, "filter": flt, "limit": limit, "offset": offset}
        assert rendered(sqlite.search(prefix, **args)) == rendered(memory.search(prefix, **args))


async def test_async_store_same_results_as_in_memory(db: str, clock: Clock) -> None:
    memory = InMemoryStore(index=INDEX, clock=clock)  # type: ignore[arg-type]
    async with AsyncSqliteStore.from_conn_string(db, index=INDEX, clock=clock) as sqlite:  # type: ignore[arg-type]
        for i, text in enumerate(["xx", "xy", "zz y", "yyy", "x"]):
            for s in (memory, sqlite):
                await s.aput(("docs", str(i % 2)), f"k{i}", {"text": text, "n": i}, ttl=1.0)
            clock.tick(5)
        ops: list[Any] = [
            SearchOp(("docs",), {"n": {"$gte": 1}}, 3, 1, "x", True),
            SearchOp(("docs",), {"n": {"$lt": 4}}, 2, 1, None, False),
            GetOp(("docs", "0"), "k0", True),
            ListNamespacesOp(None, 1, 10, 0),
            PutOp(("docs", "0"), "k0", {"text": "zzz"}),
            GetOp(("docs", "0"), "k0", True),
        ]
        assert rendered(await sqlite.abatch(ops)) == rendered(await memory.abatch(ops))
        clock.tick(55)  # k0 was refreshed (and rewritten without a TTL); the rest expire
        assert await sqlite.asweep_ttl() == await memory.asweep_ttl()
        everything = [SearchOp((), None, 10, 0, "z", False)]
        assert rendered(await sqlite.abatch(everything)) == rendered(
            await memory.abatch(everything)
        )


# -- filters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["a') OR 1=1 --", "a'); DROP TABLE pitstop_store; --", 'q"uote', "x.y", "ünï🙂", "$", "a[0]"],
)
def test_hostile_filter_keys(store: SqliteStore, key: str) -> None:
    store.put(("h",), "match", {key: "v' OR '1'='1", "other": 1})
    store.put(("h",), "miss", {"other": 2, "x": {"y": "v' OR '1'='1"}})
    for flt in (
        {key: "v' OR '1'='1"},
        {key: {"$eq": "v' OR '1'='1"}},
        {key: {"$gte": "v' OR '1'='1"}},
    ):
        assert [i.key for i in store.search(("h",), filter=flt)] == ["match"], flt
    assert [i.key for i in store.search(("h",), filter={key: {"$ne": "v' OR '1'='1"}})] == ["miss"]
    assert store.search(("h",), filter={key: "v"}) == []
    assert len(store.search(("h",))) == 2  # the table is still there


def test_numeric_filters_compare_numbers(store: SqliteStore) -> None:
    for n in (9, 10, 100, 9.5, -1, 2**60):
        store.put(("n",), str(n), {"n": n})
    store.put(("n",), "text", {"n": "10"})
    store.put(("n",), "bool", {"n": True})
    store.put(("n",), "null", {"n": None})
    store.put(("n",), "missing", {})

    def keys(flt: dict[str, Any]) -> list[str]:
        return sorted(i.key for i in store.search(("n",), filter=flt, limit=50))

    assert keys({"n": {"$gt": 9}}) == sorted(["10", "100", "9.5", str(2**60)])
    assert keys({"n": {"$lte": 9.5}}) == ["-1", "9", "9.5"]
    assert keys({"n": 10}) == ["10"]
    assert keys({"n": 10.0}) == ["10"]
    assert keys({"n": 2**60}) == [str(2**60)]
    assert keys({"n": {"$gt": "1"}}) == ["text"]
    assert keys({"n": True}) == ["bool"]
    assert keys({"n": {"$gt": True}}) == []
    assert keys({"n": None}) == ["missing", "null"]
    every = ["9", "10", "100", "9.5", "-1", str(2**60), "text", "bool", "null", "missing"]
    assert keys({"n": {"$ne": None}}) == sorted(every[:-2])
    assert keys({"n": {"$ne": 10}}) == sorted(k for k in every if k != "10")
    assert keys({"n": {"$ne": "10"}}) == sorted(k for k in every if k != "text")
    assert keys({"n": {"$ne": True}}) == sorted(k for k in every if k != "bool")


def test_filtered_page_is_never_short(store: SqliteStore, clock: Clock) -> None:
    for i in range(700):  # matches are rare and old: a page needs several chunks
        store.put(("p",), f"k{i:03}", {"n": i, "keep": i % 97 == 0})
        clock.tick(1)
    page = store.search(("p",), filter={"n": {"$lt": 300}, "keep": True}, limit=3, offset=1)
    assert [i.key for i in page] == ["k194", "k097", "k000"]
    nested = store.search(("p",), filter={"n": {"$gte": 0}}, limit=5, offset=690)
    assert [i.key for i in nested] == [f"k{i:03}" for i in (9, 8, 7, 6, 5)]


def test_namespace_prefix_is_exact(store: SqliteStore) -> None:
    for ns in [("foo",), ("foo", "bar"), ("foobar",), ("fo%",), ("fo_",), ("fo\\",), ("foo/",)]:
        store.put(ns, "k", {})
    assert {i.namespace for i in store.search(("foo",))} == {("foo",), ("foo", "bar")}
    assert {i.namespace for i in store.search(("fo%",))} == {("fo%",)}
    assert {i.namespace for i in store.search(("fo_",))} == {("fo_",)}
    assert store.list_namespaces(prefix=("fo",)) == []
    assert store.list_namespaces(prefix=("foo",)) == [("foo",), ("foo", "bar")]


def test_unknown_operator_and_bad_values(store: SqliteStore) -> None:
    with pytest.raises(InvalidArgumentError, match=r"\$regex"):
        store.search(("a",), filter={"a": {"$regex": "x"}})
    with pytest.raises(SerializationError):
        store.put(("a",), "k", {"when": datetime.now(UTC)})
    with pytest.raises(SerializationError):
        store.put(("a",), "k", {"nan": float("nan")})
    assert store.get(("a",), "k") is None


# -- batches, timestamps ----------------------------------------------------------------------


def test_batch_semantics_and_timestamps(store: SqliteStore, clock: Clock) -> None:
    store.put(("b",), "k", {"v": 0})
    created = clock.now
    clock.tick(5)
    results: list[Any] = store.batch(
        [
            GetOp(("b",), "k"),
            PutOp(("b",), "k", {"v": 1}),
            PutOp(("b",), "k", {"v": 2}),
            SearchOp(("b",), {"v": 0}, 10, 0),
        ]
    )
    assert results[0] is not None
    assert results[0].value == {"v": 0}
    assert results[1] is None
    assert [i.key for i in results[3]] == ["k"]
    item = store.get(("b",), "k")
    assert item is not None
    assert item.value == {"v": 2}
    assert (item.created_at, item.updated_at) == (created, clock.now)


# -- TTL --------------------------------------------------------------------------------------


def test_ttl_with_fake_clock(db: str, clock: Clock) -> None:
    with SqliteStore.from_conn_string(db, clock=clock, ttl={"default_ttl": 1.0}) as store:
        store.put(("t",), "a", {"v": 1})  # default ttl: 1 minute
        store.put(("t",), "b", {"v": 2})
        store.put(("t",), "c", {"v": 3}, ttl=None)
        store.put(("t", "x"), "d", {"v": 4}, ttl=0.5)
        assert store.list_namespaces() == [("t",), ("t", "x")]
        clock.tick(40)
        assert store.get(("t", "x"), "d") is None  # expired, not yet swept: never returned
        assert store.list_namespaces() == [("t",)]
        # refresh extends only the items returned
        assert [i.key for i in store.search(("t",), filter={"v": {"$lte": 2}}, limit=1)] == ["b"]
        clock.tick(30)  # 70 s: "a" expired, "b" refreshed at 40 s lives until 100 s
        assert store.get(("t",), "a", refresh_ttl=False) is None
        assert store.get(("t",), "b", refresh_ttl=False) is not None
        assert store.sweep_ttl() == 2  # a and d
        assert store.sweep_ttl() == 0
        clock.tick(31)
        assert store.get(("t",), "b") is None
        store.put(("t",), "b", {"v": 5})  # a put on an expired key is a new item
        item = store.get(("t",), "b")
        assert item is not None
        assert item.created_at == clock.now
        assert [i.key for i in store.search(("t",))] == ["b", "c"]


def test_sweeper_thread(db: str) -> None:
    with SqliteStore.from_conn_string(db) as store:
        store.put(("t",), "a", {"v": 1}, ttl=0.001 / 60)
        done = store.start_ttl_sweeper(sweep_interval_minutes=0.02 / 60)
        assert store.start_ttl_sweeper() is done
        for _ in range(200):
            if store.search(("t",), refresh_ttl=False) == [] and store.conn.execute(
                "SELECT COUNT(*) FROM pitstop_store"
            ).fetchone() == (0,):
                break
            threading.Event().wait(0.01)
        else:
            pytest.fail("the sweeper did not delete the expired item")
        assert store.stop_ttl_sweeper(timeout=5)
        assert done.done()


async def test_async_sweeper_task(db: str) -> None:
    async with AsyncSqliteStore.from_conn_string(db) as store:
        await store.aput(("t",), "a", {"v": 1}, ttl=0.001 / 60)
        task = await store.start_ttl_sweeper(sweep_interval_minutes=0.02 / 60)
        for _ in range(200):
            await asyncio.sleep(0.01)
            cur = await store.conn.execute("SELECT COUNT(*) FROM pitstop_store")
            if await cur.fetchone() == (0,):
                break
        else:
            pytest.fail("the sweeper did not delete the expired item")
        assert await store.stop_ttl_sweeper(timeout=5)
        assert task.done()


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
        with pytest.raises(asyncio.InvalidStateError):
            store.get(("a",), "k")
        await store.aput(("a",), "k", {"v": 1})
        item = await asyncio.to_thread(store.get, ("a",), "k")  # from another thread: fine
        assert item is not None


async def test_sync_store_async_api(store: SqliteStore) -> None:
    await store.aput(("a",), "k", {"v": 1})
    results = await asyncio.gather(*(store.aget(("a",), "k") for _ in range(5)))
    assert all(r is not None and r.value == {"v": 1} for r in results)
    assert await store.asweep_ttl() == 0
