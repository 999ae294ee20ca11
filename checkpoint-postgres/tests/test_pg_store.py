"""PostgresStore / AsyncPostgresStore: differential tests against InMemoryStore, and what the
conformance specs do not cover (hostile filters, TTL with a fake clock, reopen, migrations,
concurrency, the vector fallback)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pg_store_factories import fresh_schema, pg_uri
from psycopg import sql
from psycopg.rows import dict_row

from pitstop.checkpoint.errors import InvalidArgumentError, MigrationError, SerializationError
from pitstop.store.base import BaseStore, GetOp, ListNamespacesOp, PutOp, SearchOp
from pitstop.store.memory import InMemoryStore
from pitstop.store.postgres import PostgresStore
from pitstop.store.postgres import _queries as q
from pitstop.store.postgres._base import compile_filter
from pitstop.store.postgres.aio import AsyncPostgresStore


class Clock:
    """A settable clock, shared by the stores under comparison."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def embed(texts: Sequence[str]) -> list[list[float]]:
    """Small integer vectors: exact in float32, so scores equal the in-memory store's."""
    return [[t.count("x"), t.count("y"), t.count("z"), 1] for t in texts]


INDEX: dict[str, Any] = {"dims": 4, "embed": embed, "fields": ["text", "alt"]}


def hypothesis_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


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

KEYS = ["a", "b", "n", "a') OR 1=1 --", "q\"uo'te", "x.y", "ünï", "%_\\", "%s", "{e}"]
TOP_KEYS = [*KEYS, "$eq"]  # a top-level key may look like an operator; nested ones may not
NAMESPACES = [("a",), ("a", "b"), ("ab",), ("a_",), ("a%",), ("a-",), ("b", "a"), ("a", "b", "c")]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.sampled_from([2**60, -(2**53) - 1, 10**20]),
    st.sampled_from([0.5, 2.5, -1.25, 1e-7, 1.0, 3.0000000000000004, -0.0]),
    st.sampled_from(["", "a", "b", "ab", "B", "é", "🙂", "10", "9", "%s", "'"]),
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
operands = st.one_of(
    scalars,
    st.sampled_from([float("inf"), float("-inf"), float("nan"), "a\x00b", "\x00"]),
    json_values,
)
conditions = st.one_of(
    json_values,
    st.dictionaries(operators, operands, min_size=1, max_size=2),
    st.dictionaries(st.sampled_from(KEYS), json_values, min_size=1, max_size=2),  # subset match
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


@hypothesis_settings(50)
@given(history=st.lists(writes, max_size=25), queries=st.lists(reads, min_size=1, max_size=8))
def test_same_results_as_in_memory(
    store: PostgresStore, clock: Clock, history: list[Any], queries: list[Any]
) -> None:
    truncate(store)
    clock.reset()
    memory = InMemoryStore(clock=clock)
    replay([memory, store], clock, history)
    for op in queries:  # one op per batch, then all together (reads refresh TTLs)
        assert rendered(store.batch([op])) == rendered(memory.batch([op])), op
        clock.tick(10)
    assert rendered(store.batch(queries)) == rendered(memory.batch(queries))
    clock.tick(40)
    assert store.sweep_ttl() == memory.sweep_ttl()
    everything = SearchOp((), None, 100, 0, None, False)
    assert rendered(store.batch([everything])) == rendered(memory.batch([everything]))


@hypothesis_settings(150)
@given(value=json_values, condition=conditions)
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


vector_docs = st.fixed_dictionaries(
    {"text": st.text("xyz ", max_size=5)},
    optional={"alt": st.text("xyz", max_size=4), "kind": st.sampled_from(["p", "q"])},
)


@hypothesis_settings(30)
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
    memory = InMemoryStore(index=INDEX, clock=clock)  # type: ignore[arg-type]
    for ns, key, value, index in puts:
        for s in (memory, vstore):
            s.put(ns, key, value, index=index)
        clock.tick(1)
    args: dict[str, Any] = {"query": query, "filter": flt, "limit": limit, "offset": offset}
    assert rendered(vstore.search(prefix, **args)) == rendered(memory.search(prefix, **args))


async def test_async_store_same_results_as_in_memory(schema: str, clock: Clock) -> None:
    memory = InMemoryStore(index=INDEX, clock=clock)  # type: ignore[arg-type]
    async with AsyncPostgresStore.from_conn_string(
        pg_uri(),
        schema=schema,
        index=INDEX,  # type: ignore[arg-type]
        clock=clock,
    ) as pg:
        for i, text in enumerate(["xx", "xy", "zz y", "yyy", "x"]):
            for s in (memory, pg):
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
        assert rendered(await pg.abatch(ops)) == rendered(await memory.abatch(ops))
        clock.tick(55)  # k0 was refreshed (and rewritten without a TTL); the rest expire
        assert await pg.asweep_ttl() == await memory.asweep_ttl()
        everything = [SearchOp((), None, 10, 0, "z", False)]
        assert rendered(await pg.abatch(everything)) == rendered(await memory.abatch(everything))


# -- filters ------------------------------------------------------------------------------------

HOSTILE = [
    "a') OR 1=1 --",
    "a'); DROP TABLE pitstop_store; --",
    'q"uote',
    "x.y",
    "ünï🙂",
    "$",
    "a[0]",
    "%s",
    "%(x)s",
    "{store}",
    "\\",
]


@pytest.mark.parametrize("key", HOSTILE)
def test_hostile_filter_keys(store: PostgresStore, key: str) -> None:
    store.put(("h",), "match", {key: "v' OR '1'='1", "other": 1, "x": {"z": 1}})
    store.put(("h",), "miss", {"other": 2, "x": {"y": "v' OR '1'='1"}})
    nested: list[dict[str, Any]] = []
    if not key.startswith("$"):
        nested.append({"x": {key: None}, key: {"$ne": None}})
    plain: list[dict[str, Any]] = [
        {key: "v' OR '1'='1"},
        {key: {"$eq": "v' OR '1'='1"}},
        {key: {"$gte": "v' OR '1'='1"}},
    ]
    for flt in [*plain, *nested]:
        assert [i.key for i in store.search(("h",), filter=flt)] == ["match"], flt
    assert [i.key for i in store.search(("h",), filter={key: {"$ne": "v' OR '1'='1"}})] == ["miss"]
    assert store.search(("h",), filter={key: "v"}) == []
    assert len(store.search(("h",))) == 2  # the table is still there


@pytest.mark.parametrize("key", HOSTILE)
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
    assert keys({"n": {"$lt": float("inf")}}) == sorted(["9", "10", "100", "9.5", "-1", str(2**60)])
    assert keys({"n": {"$gt": float("inf")}}) == []
    assert keys({"n": 10}) == ["10"]
    assert keys({"n": 10.0}) == ["10"]
    assert keys({"n": 2**60}) == [str(2**60)]
    assert keys({"n": {"$gt": 2**60 - 1}}) == [str(2**60)]
    assert keys({"n": {"$gt": "1"}}) == ["text"]
    assert keys({"n": True}) == ["bool"]
    assert keys({"n": {"$gt": True}}) == []
    assert keys({"n": None}) == ["missing", "null"]
    every = ["9", "10", "100", "9.5", "-1", str(2**60), "text", "bool", "null", "missing"]
    assert keys({"n": {"$ne": None}}) == sorted(every[:-2])
    assert keys({"n": {"$ne": 10}}) == sorted(k for k in every if k != "10")
    assert keys({"n": {"$ne": "10"}}) == sorted(k for k in every if k != "text")
    assert keys({"n": {"$ne": True}}) == sorted(k for k in every if k != "bool")


def test_filters_run_before_paging(store: PostgresStore, clock: Clock) -> None:
    for i in range(300):  # matches are rare and old
        store.put(("p",), f"k{i:03}", {"n": i, "keep": i % 97 == 0, "deep": {"l": [i % 2]}})
        clock.tick(1)
    page = store.search(("p",), filter={"n": {"$lt": 300}, "keep": True}, limit=3, offset=1)
    assert [i.key for i in page] == ["k194", "k097", "k000"]
    nested = store.search(("p",), filter={"deep": {"l": [1]}}, limit=3, offset=148)
    assert [i.key for i in nested] == ["k003", "k001"]


def test_namespace_prefix_is_exact(store: PostgresStore) -> None:
    namespaces = [("foo",), ("foo", "bar"), ("foobar",), ("foo-x",), ("foo!",), ("fo%",)]
    for ns in [*namespaces, ("fo_",), ("fo\\",), ("foo/",)]:
        store.put(ns, "k", {})
    assert {i.namespace for i in store.search(("foo",))} == {("foo",), ("foo", "bar")}
    assert {i.namespace for i in store.search(("fo%",))} == {("fo%",)}
    assert {i.namespace for i in store.search(("fo_",))} == {("fo_",)}
    assert store.list_namespaces(prefix=("fo",)) == []
    assert store.list_namespaces(prefix=("foo",)) == [("foo",), ("foo", "bar")]
    assert store.list_namespaces(prefix=("fo%",)) == [("fo%",)]


def test_unknown_operator_and_bad_values(store: PostgresStore) -> None:
    with pytest.raises(InvalidArgumentError, match=r"\$regex"):
        store.search(("a",), filter={"a": {"$regex": "x"}})
    with pytest.raises(SerializationError):
        store.put(("a",), "k", {"when": datetime.now(UTC)})
    with pytest.raises(SerializationError):
        store.put(("a",), "k", {"nan": float("nan")})
    with pytest.raises(SerializationError, match="NUL"):
        store.put(("a",), "k", {"s": "a\x00b"})
    assert store.get(("a",), "k") is None


# -- batches, timestamps ----------------------------------------------------------------------


def test_batch_semantics_and_timestamps(store: PostgresStore, clock: Clock) -> None:
    store.put(("b",), "k", {"v": 0})
    created = clock.now
    clock.tick(5)
    results: list[Any] = store.batch(
        [
            GetOp(("b",), "k"),
            PutOp(("b",), "k", {"v": 1}),
            PutOp(("b",), "z", {"v": 1}),
            PutOp(("b",), "a", {"v": 1}),
            PutOp(("b",), "k", {"v": 2}),
            SearchOp(("b",), {"v": 0}, 10, 0),
        ]
    )
    assert results[0] is not None
    assert results[0].value == {"v": 0}
    assert results[1:5] == [None] * 4
    assert [i.key for i in results[5]] == ["k"]
    item = store.get(("b",), "k")
    assert item is not None
    assert item.value == {"v": 2}
    assert (item.created_at, item.updated_at) == (created, clock.now)
    # same updated_at: the batch's put order (k moved last) breaks the tie
    assert [i.key for i in store.search(("b",))] == ["k", "a", "z"]


# -- TTL --------------------------------------------------------------------------------------


def test_ttl_with_fake_clock(conn: psycopg.Connection[Any], schema: str, clock: Clock) -> None:
    store = PostgresStore(conn, schema=schema, clock=clock, ttl={"default_ttl": 1.0})
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
        store.put(("t",), "a", {"v": 1}, ttl=0.001 / 60)
        done = store.start_ttl_sweeper(sweep_interval_minutes=0.02 / 60)
        assert store.start_ttl_sweeper() is done
        for _ in range(300):
            if count_rows(store) == 0:
                break
            threading.Event().wait(0.01)
        else:
            pytest.fail("the sweeper did not delete the expired item")
        assert store.stop_ttl_sweeper(timeout=5)
        assert done.done()


async def test_async_sweeper_task(schema: str) -> None:
    async with AsyncPostgresStore.from_conn_string(pg_uri(), schema=schema) as store:
        await store.aput(("t",), "a", {"v": 1}, ttl=0.001 / 60)
        task = await store.start_ttl_sweeper(sweep_interval_minutes=0.02 / 60)
        for _ in range(300):
            await asyncio.sleep(0.01)
            if await asyncio.to_thread(count_rows, store) == 0:  # type: ignore[arg-type]
                break
        else:
            pytest.fail("the sweeper did not delete the expired item")
        assert await store.stop_ttl_sweeper(timeout=5)
        assert task.done()


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

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
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

        threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(store.search(("w",), limit=1000)) == 150 + 5
        seqs = [i.updated_at for i in store.search(("w",), limit=1000)]
        assert seqs == sorted(seqs, reverse=True)


def test_threads_share_one_connection(store: PostgresStore) -> None:
    def work(n: int) -> None:
        for i in range(20):
            store.put(("c", str(n)), str(i), {"i": i})
            assert store.get(("c", str(n)), str(i)) is not None

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.search(("c",), limit=1000)) == 80


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
        with pytest.raises(asyncio.InvalidStateError):
            store.get(("a",), "k")
        await store.aput(("a",), "k", {"v": 1})
        item = await asyncio.to_thread(store.get, ("a",), "k")  # from another thread: fine
        assert item is not None


async def test_sync_store_async_api(store: PostgresStore) -> None:
    await store.aput(("a",), "k", {"v": 1})
    results = await asyncio.gather(*(store.aget(("a",), "k") for _ in range(5)))
    assert all(r is not None and r.value == {"v": 1} for r in results)
    assert await store.asweep_ttl() == 0


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
