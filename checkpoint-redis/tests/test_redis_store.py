"""RedisStore / AsyncRedisStore: differential tests against InMemoryStore, the namespace and
recency indexes (narrow and wide prefixes, chunked filtered pages, indexing older data), and
the TTL sweeper."""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
from hypothesis import given
from redis_factories import _PENDING, URL, new_prefix

sys.path.insert(0, str(Path(__file__).parents[2] / "checkpoint-base" / "tests"))

import store_checks as checks
from store_checks import INDEX, Clock, hypothesis_settings, rendered

from pitstop.store.base import SearchOp
from pitstop.store.memory import InMemoryStore
from pitstop.store.redis import AsyncRedisStore, RedisStore
from pitstop.store.redis import _scripts as s
from pitstop.store.redis._base import SEARCH_CHUNK


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(URL)
    try:
        yield c
    finally:
        c.close()


def new_store(client: redis.Redis, clock: Clock, **options: Any) -> RedisStore:
    prefix = new_prefix()
    _PENDING.append(prefix)
    return RedisStore(client, prefix=prefix, clock=clock, **options)


@pytest.fixture
def store(client: redis.Redis, clock: Clock) -> RedisStore:
    return new_store(client, clock)


@pytest.fixture
async def astore(clock: Clock) -> AsyncIterator[AsyncRedisStore]:
    prefix = new_prefix()
    _PENDING.append(prefix)
    c = redis.asyncio.Redis.from_url(URL)
    try:
        yield AsyncRedisStore(c, prefix=prefix, clock=clock)
    finally:
        await c.aclose()


def stored_items(store: RedisStore) -> int:
    return int(store.client.zcard(store.keys[0]))


# -- differential: random histories, same answers as InMemoryStore -----------------------------


@hypothesis_settings(60)
@given(history=checks.histories, queries=checks.read_lists)
def test_same_results_as_in_memory(
    client: redis.Redis, history: list[Any], queries: list[Any]
) -> None:
    clock = Clock()
    checks.check_history(new_store(client, clock), clock, history, queries)


@hypothesis_settings(30)
@given(**checks.vector_searches)
def test_vector_search_same_as_in_memory(
    client: redis.Redis, puts: list[Any], query: str, prefix: Any, flt: Any, limit: int, offset: int
) -> None:
    clock = Clock()
    store = new_store(client, clock, index=INDEX)
    checks.check_vector_search(store, clock, puts, query, prefix, flt, limit, offset)


async def test_async_store_same_results_as_in_memory(clock: Clock) -> None:
    prefix = new_prefix()
    _PENDING.append(prefix)
    async with AsyncRedisStore.from_conn_string(
        URL,
        prefix=prefix,
        index=INDEX,  # type: ignore[arg-type]
        clock=clock,
    ) as store:
        await checks.check_async_batches(store, clock)


def test_random_operations_match_the_in_memory_store(client: redis.Redis) -> None:
    rng = random.Random(7)
    now = [datetime(2024, 1, 1, tzinfo=UTC)]

    def clock() -> datetime:
        return now[0]

    prefix = new_prefix()
    _PENDING.append(prefix)
    ours = RedisStore(client, prefix=prefix, clock=clock, ttl={"default_ttl": None})
    reference = InMemoryStore(clock=clock, ttl={"default_ttl": None})
    for step in range(400):
        now[0] += timedelta(milliseconds=rng.randint(1, 2000))
        ns = rng.choice([("a",), ("a", "b"), ("a", "b", "c"), ("ab",), ("x", "y")])
        key = f"k{rng.randint(0, 12)}"
        kind = rng.random()
        if kind < 0.4:
            value = {"n": rng.randint(0, 20), "tag": rng.choice(["red", "blue", None])}
            ttl = rng.choice([None, None, 0.05])
            for st in (ours, reference):
                st.put(ns, key, value, ttl=ttl)
        elif kind < 0.5:
            for st in (ours, reference):
                st.delete(ns, key)
        elif kind < 0.65:
            assert rendered(ours.get(ns, key)) == rendered(reference.get(ns, key)), step
        elif kind < 0.9:
            flt = rng.choice([None, {"tag": "red"}, {"n": {"$gt": 10}}, {"tag": {"$ne": "blue"}}])
            prefix_ns = rng.choice([(), ("a",), ("a", "b"), ("x",)])
            kwargs = {"filter": flt, "limit": rng.randint(1, 6), "offset": rng.randint(0, 3)}
            got = ours.search(prefix_ns, **kwargs)
            assert rendered(got) == rendered(reference.search(prefix_ns, **kwargs)), step
        else:
            kwargs = {"prefix": rng.choice([None, ("a",)]), "max_depth": rng.choice([None, 1, 2])}
            assert ours.list_namespaces(**kwargs) == reference.list_namespaces(**kwargs), step
        if step % 50 == 0:
            assert ours.sweep_ttl() == reference.sweep_ttl()


# -- behaviour shared with the other backends ---------------------------------------------------


@pytest.mark.parametrize("key", checks.HOSTILE)
def test_hostile_filter_keys(store: RedisStore, key: str) -> None:
    checks.check_hostile_filter_key(store, key)


def test_numeric_filters_compare_numbers(store: RedisStore) -> None:
    checks.check_numeric_filters(store)


def test_namespace_prefix_is_exact(store: RedisStore) -> None:
    checks.check_namespace_prefix_is_exact(store)


def test_batch_semantics_and_timestamps(store: RedisStore, clock: Clock) -> None:
    checks.check_batch_semantics(store, clock)


def test_ttl_with_fake_clock(client: redis.Redis, clock: Clock) -> None:
    checks.check_ttl(new_store(client, clock, ttl={"default_ttl": 1.0}), clock)


def test_threads_share_a_sync_store(store: RedisStore) -> None:
    checks.check_threads_share_a_store(store)


async def test_sync_store_async_api(store: RedisStore) -> None:
    await checks.check_sync_store_async_api(store)


async def test_async_store_sync_api_on_its_loop_raises(astore: AsyncRedisStore) -> None:
    await checks.check_async_store_sync_api(astore)


# -- the indexes --------------------------------------------------------------------------------


def _fill(stores: list[Any], clock: Clock, namespaces: list[tuple[str, ...]], n: int) -> None:
    """``n`` puts per namespace, interleaved, some with equal timestamps."""
    for i in range(n):
        for ns in namespaces:
            for st in stores:
                st.put(ns, f"k{i:04}", {"i": i, "even": i % 2 == 0, "ns": list(ns)})
        if i % 3:
            clock.tick(1)


@pytest.mark.parametrize(
    "prefix",
    [(), ("big",), ("small",), ("small", "sub"), ("missing",)],
    ids=["all", "wide", "narrow", "narrow-sub", "empty"],
)
def test_wide_and_narrow_prefixes_page_like_in_memory(
    client: redis.Redis, clock: Clock, prefix: tuple[str, ...]
) -> None:
    """A wide prefix walks the recency index, a narrow one is sorted in the script."""
    store = new_store(client, clock, ttl={"default_ttl": None})
    memory = InMemoryStore(clock=clock)
    _fill([store, memory], clock, [("big",), ("big", "x")], 150)
    _fill([store, memory], clock, [("small",), ("small", "sub")], 6)
    for st in (store, memory):
        st.put(("small",), "k0003", {"i": 99}, ttl=0.01)  # expires: skipped, not counted
        st.delete(("big",), "k0010")
    clock.tick(5)
    for flt in (None, {"even": True}, {"i": {"$lt": 3}}, {"i": 12345}):
        for offset, limit in ((0, 1), (0, 10), (7, 5), (140, 30), (0, 1000), (400, 10)):
            args: dict[str, Any] = {"filter": flt, "offset": offset, "limit": limit}
            got = rendered(store.search(prefix, refresh_ttl=False, **args))
            assert got == rendered(memory.search(prefix, refresh_ttl=False, **args)), args


def test_filtered_pages_span_several_chunks(store: RedisStore, clock: Clock) -> None:
    for i in range(3 * SEARCH_CHUNK + 20):  # matches are rare and old
        store.put(("p",), f"k{i:03}", {"n": i, "keep": i % 97 == 0})
        clock.tick(1)
    page = store.search(("p",), filter={"keep": True}, limit=3, offset=1)
    assert [i.key for i in page] == ["k291", "k194", "k097"]
    deep = store.search(("p",), filter={"n": {"$gte": 0}}, limit=4, offset=3 * SEARCH_CHUNK + 17)
    assert [i.key for i in deep] == ["k002", "k001", "k000"]


def test_an_unfiltered_page_reads_only_the_page(store: RedisStore, clock: Clock) -> None:
    """The script returns the page itself (offset skipped in Lua), not the whole prefix."""
    _fill([store], clock, [("a",), ("a", "b")], 200)
    store.search(("a",), limit=1)  # builds the indexes
    done, _, entries = store._eval(s.SEARCH, store.keys[:7], [s.ns_enc(("a",)), 0, b"", 30, 5])
    assert (done, len(entries)) == (0, 5)
    keys = [e[0].split(b"\x00", 1)[1].decode() for e in entries]
    assert [i.key for i in store.search(("a",), offset=30, limit=5)] == keys


def test_namespace_index_follows_writes_deletes_and_sweeps(store: RedisStore, clock: Clock) -> None:
    store.put(("a", "b"), "k", {}, ttl=1.0)
    store.put(("a", "b"), "j", {})
    store.put(("c",), "k", {}, ttl=1.0)
    ns_key = store.keys[5]
    assert sorted(store.client.zrange(ns_key, 0, -1)) == [b"1:a1:b", b"1:c"]
    store.delete(("a", "b"), "j")
    assert sorted(store.client.zrange(ns_key, 0, -1)) == [b"1:a1:b", b"1:c"]
    clock.tick(61)
    assert store.list_namespaces() == []  # expired, not yet swept
    assert store.sweep_ttl() == 2
    assert store.client.zcard(ns_key) == 0
    assert store.client.zcard(store.keys[6]) == 0
    assert stored_items(store) == 0


def test_data_written_before_the_indexes_is_indexed(client: redis.Redis, clock: Clock) -> None:
    store = new_store(client, clock)
    memory = InMemoryStore(clock=clock)
    _fill([store, memory], clock, [("a",), ("a", "b"), ("c",)], 5)
    client.delete(*store.keys[5:8])  # the layout of a store written before the indexes
    reopened = RedisStore(client, prefix=store.prefix, clock=clock)
    everything = SearchOp((), None, 100, 0, None, False)
    assert rendered(reopened.batch([everything])) == rendered(memory.batch([everything]))
    assert reopened.list_namespaces() == memory.list_namespaces()
    assert client.get(store.keys[7]) == s.INDEX_VERSION.encode()


# -- the TTL sweeper ----------------------------------------------------------------------------


def test_sweeper_thread(store: RedisStore) -> None:
    store._clock = lambda: datetime.now(UTC)
    checks.check_sweeper_thread(store, lambda: stored_items(store))


async def test_async_sweeper_task() -> None:
    prefix = new_prefix()
    _PENDING.append(prefix)
    async with AsyncRedisStore.from_conn_string(URL, prefix=prefix) as store:

        async def remaining() -> int:
            return int(await store.client.zcard(store.keys[0]))

        await checks.check_sweeper_task(store, remaining)


def test_sweep_interval_comes_from_the_ttl_config(client: redis.Redis, clock: Clock) -> None:
    store = new_store(client, clock, ttl={"sweep_interval_minutes": 0.02 / 60})
    store._clock = lambda: datetime.now(UTC)
    store.put(("t",), "a", {"v": 1}, ttl=0.001 / 60)
    done = store.start_ttl_sweeper()
    try:
        for _ in range(300):
            if stored_items(store) == 0:
                break
            threading.Event().wait(0.01)
        else:
            pytest.fail("the sweeper did not delete the expired item")
    finally:
        assert store.stop_ttl_sweeper(timeout=5)
    assert done.done()
