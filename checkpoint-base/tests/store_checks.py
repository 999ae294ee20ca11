"""Checks every store backend runs against :class:`InMemoryStore`: the differential scaffolding.

Imported by the store tests of every backend package (``checkpoint-*/tests`` put this folder on
``sys.path`` first, see :data:`HERE`). A check takes the store under test (empty, built with the
shared :class:`Clock`) and asserts that it answers as the in-memory reference store does.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from pitstop.checkpoint.errors import InvalidArgumentError, SerializationError
from pitstop.store.base import BaseStore, GetOp, ListNamespacesOp, PutOp, SearchOp
from pitstop.store.memory import InMemoryStore

HERE = Path(__file__).parent
"""This folder (backend test modules add it to ``sys.path``)."""


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


# -- strategies: random histories and reads --------------------------------------------------

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
histories = st.lists(writes, max_size=25)
read_lists = st.lists(reads, min_size=1, max_size=8)

vector_docs = st.fixed_dictionaries(
    {"text": st.text("xyz ", max_size=5)},
    optional={"alt": st.text("xyz", max_size=4), "kind": st.sampled_from(["p", "q"])},
)
vector_puts = st.lists(
    st.tuples(namespaces, item_keys, vector_docs, st.sampled_from([None, False, ["alt"]])),
    max_size=12,
)
vector_queries = st.text("xyz", min_size=1, max_size=3)
vector_filters = st.sampled_from(
    [None, {"kind": "p"}, {"kind": {"$ne": "q"}}, {"text": {"$gte": "y"}}]
)
vector_searches: dict[str, Any] = {
    "puts": vector_puts,
    "query": vector_queries,
    "prefix": prefixes,
    "flt": vector_filters,
    "limit": st.integers(1, 8),
    "offset": st.integers(0, 4),
}
"""``@given(**vector_searches)``: the arguments of :func:`check_vector_search`."""


# -- differential checks ----------------------------------------------------------------------


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


def check_history(
    store: BaseStore, clock: Clock, history: Sequence[Any], queries: Sequence[Any]
) -> None:
    """Replay writes on ``store`` and a fresh in-memory store; every read answers the same."""
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


def check_vector_search(
    store: BaseStore,
    clock: Clock,
    puts: Sequence[Any],
    query: str,
    prefix: tuple[str, ...],
    flt: Any,
    limit: int,
    offset: int,
) -> None:
    """A vector search over random puts ranks and pages as the in-memory store does."""
    memory = InMemoryStore(index=INDEX, clock=clock)  # type: ignore[arg-type]
    for ns, key, value, index in puts:
        for s in (memory, store):
            s.put(ns, key, value, index=index)
        clock.tick(1)
    args: dict[str, Any] = {"query": query, "filter": flt, "limit": limit, "offset": offset}
    assert rendered(store.search(prefix, **args)) == rendered(memory.search(prefix, **args))


async def check_async_batches(store: BaseStore, clock: Clock) -> None:
    """The async API (store built with :data:`INDEX`): a mixed batch, refresh, sweep."""
    memory = InMemoryStore(index=INDEX, clock=clock)  # type: ignore[arg-type]
    for i, text in enumerate(["xx", "xy", "zz y", "yyy", "x"]):
        for s in (memory, store):
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
    assert rendered(await store.abatch(ops)) == rendered(await memory.abatch(ops))
    clock.tick(55)  # k0 was refreshed (and rewritten without a TTL); the rest expire
    assert await store.asweep_ttl() == await memory.asweep_ttl()
    everything = [SearchOp((), None, 10, 0, "z", False)]
    assert rendered(await store.abatch(everything)) == rendered(await memory.abatch(everything))


# -- behaviour checks ---------------------------------------------------------------------------

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


def check_hostile_filter_key(store: BaseStore, key: str) -> None:
    """A filter key that looks like SQL, JSON path or a placeholder is just a key."""
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


def check_numeric_filters(store: BaseStore) -> None:
    """Numbers compare as numbers; other types never order against them."""
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


def check_namespace_prefix_is_exact(store: BaseStore) -> None:
    """A prefix matches whole labels; LIKE/GLOB metacharacters are plain text."""
    namespaces = [("foo",), ("foo", "bar"), ("foobar",), ("foo-x",), ("foo!",), ("fo%",)]
    for ns in [*namespaces, ("fo_",), ("fo\\",), ("foo/",)]:
        store.put(ns, "k", {})
    assert {i.namespace for i in store.search(("foo",))} == {("foo",), ("foo", "bar")}
    assert {i.namespace for i in store.search(("fo%",))} == {("fo%",)}
    assert {i.namespace for i in store.search(("fo_",))} == {("fo_",)}
    assert store.list_namespaces(prefix=("fo",)) == []
    assert store.list_namespaces(prefix=("foo",)) == [("foo",), ("foo", "bar")]
    assert store.list_namespaces(prefix=("fo%",)) == [("fo%",)]


def check_bad_input(store: BaseStore) -> None:
    """An unknown operator and a non-JSON value are refused, and nothing is written."""
    with pytest.raises(InvalidArgumentError, match=r"\$regex"):
        store.search(("a",), filter={"a": {"$regex": "x"}})
    with pytest.raises(SerializationError):
        store.put(("a",), "k", {"when": datetime.now(UTC)})
    with pytest.raises(SerializationError):
        store.put(("a",), "k", {"nan": float("nan")})
    assert store.get(("a",), "k") is None


def check_batch_semantics(store: BaseStore, clock: Clock) -> None:
    """Reads see the state before the batch; last write wins; ties keep the put order."""
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


def check_ttl(store: BaseStore, clock: Clock) -> None:
    """TTL with a fake clock (store built with ``ttl={"default_ttl": 1.0}``)."""
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


async def check_sync_store_async_api(store: BaseStore) -> None:
    """A sync store's async methods work (in worker threads), concurrently too."""
    await store.aput(("a",), "k", {"v": 1})
    results = await asyncio.gather(*(store.aget(("a",), "k") for _ in range(5)))
    assert all(r is not None and r.value == {"v": 1} for r in results)
    assert await store.asweep_ttl() == 0


async def check_async_store_sync_api(store: BaseStore) -> None:
    """An async store's sync methods refuse its loop's thread and work from another thread."""
    with pytest.raises(asyncio.InvalidStateError):
        store.get(("a",), "k")
    await store.aput(("a",), "k", {"v": 1})
    item = await asyncio.to_thread(store.get, ("a",), "k")  # from another thread: fine
    assert item is not None


# -- threads ------------------------------------------------------------------------------------


def run_threads(work: Callable[[int], None], count: int) -> None:
    """Run ``work(0)`` ... ``work(count - 1)`` in threads at once; wait for all of them."""
    threads = [threading.Thread(target=work, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def check_threads_share_a_store(store: BaseStore, threads: int = 6, puts: int = 30) -> None:
    """Several threads put and read through one sync store (one connection or client)."""

    def work(n: int) -> None:
        for i in range(puts):
            store.put(("w", str(n)), str(i), {"i": i})
            assert store.get(("w", str(n)), str(i)) is not None

    run_threads(work, threads)
    assert len(store.search(("w",), limit=10_000)) == threads * puts


# -- the TTL sweeper ----------------------------------------------------------------------------

_TINY_TTL = 0.001 / 60
_FAST_SWEEP = 0.02 / 60


def check_sweeper_thread(store: Any, remaining: Callable[[], int]) -> None:
    """The sweeper thread deletes an expired item by itself; ``remaining`` counts stored items."""
    store.put(("t",), "a", {"v": 1}, ttl=_TINY_TTL)
    done = store.start_ttl_sweeper(sweep_interval_minutes=_FAST_SWEEP)
    assert store.start_ttl_sweeper() is done
    for _ in range(300):
        if remaining() == 0:
            break
        threading.Event().wait(0.01)
    else:
        pytest.fail("the sweeper did not delete the expired item")
    assert store.stop_ttl_sweeper(timeout=5)
    assert done.done()


async def check_sweeper_task(store: Any, remaining: Callable[[], Awaitable[int]]) -> None:
    """The async store's sweeper task deletes an expired item by itself."""
    await store.aput(("t",), "a", {"v": 1}, ttl=_TINY_TTL)
    task = await store.start_ttl_sweeper(sweep_interval_minutes=_FAST_SWEEP)
    assert await store.start_ttl_sweeper() is task
    for _ in range(300):
        await asyncio.sleep(0.01)
        if await remaining() == 0:
            break
    else:
        pytest.fail("the sweeper did not delete the expired item")
    assert await store.stop_ttl_sweeper(timeout=5)
    assert task.done()
