"""InMemoryStore against the store checklist T01-T11 (contract §8.9), sync and async.

Every behavioural test runs twice through ``Api``: once with the sync methods and once with
the async ones, so both halves of the generated API are exercised.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pitstop.checkpoint.errors import InvalidArgumentError, PitstopError
from pitstop.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchItem,
    SearchOp,
    TTLConfig,
)
from pitstop.store.memory import InMemoryStore

NS = ("users", "u1")


class Clock:
    """A controllable clock; every reading advances it by ``step`` so writes are ordered."""

    def __init__(self, step: timedelta = timedelta(milliseconds=1)) -> None:
        self.now = datetime(2024, 1, 1, tzinfo=UTC)
        self.step = step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Api:
    """Drive a store through its sync or its async methods with one spelling."""

    def __init__(self, store: BaseStore, mode: str) -> None:
        self.store = store
        self.mode = mode

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.mode == "sync":
            return getattr(self.store, name)(*args, **kwargs)
        return await getattr(self.store, f"a{name}")(*args, **kwargs)

    async def put(self, *args: Any, **kwargs: Any) -> None:
        await self._call("put", *args, **kwargs)

    async def get(self, *args: Any, **kwargs: Any) -> Item | None:
        result: Item | None = await self._call("get", *args, **kwargs)
        return result

    async def search(self, *args: Any, **kwargs: Any) -> list[SearchItem]:
        result: list[SearchItem] = await self._call("search", *args, **kwargs)
        return result

    async def delete(self, *args: Any, **kwargs: Any) -> None:
        await self._call("delete", *args, **kwargs)

    async def list_namespaces(self, **kwargs: Any) -> list[tuple[str, ...]]:
        result: list[tuple[str, ...]] = await self._call("list_namespaces", **kwargs)
        return result

    async def batch(self, ops: Sequence[Any]) -> list[Any]:
        result: list[Any] = await self._call("batch", ops)
        return result


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(mode: str, clock: Clock) -> Api:
    return Api(InMemoryStore(clock=clock), mode)


def keys(items: Sequence[Item]) -> list[str]:
    return [item.key for item in items]


# --- T01 round trip ----------------------------------------------------------------------------


async def test_t01_put_get_delete_round_trip(api: Api) -> None:
    value = {"text": "hi", "nested": {"n": [1, 2.5, None, True]}}
    await api.put(NS, "k", value)
    item = await api.get(NS, "k")
    assert isinstance(item, Item)
    assert (item.value, item.key, item.namespace) == (value, "k", NS)
    assert item.created_at.tzinfo is not None
    assert await api.get(NS, "missing") is None
    assert await api.get(("users", "other"), "k") is None
    await api.delete(NS, "k")
    assert await api.get(NS, "k") is None
    await api.delete(NS, "k")  # deleting a missing item is not an error


async def test_key_is_coerced_to_str(api: Api) -> None:
    await api.put(NS, 7, {"v": 1})
    item = await api.get(NS, "7")
    assert item is not None
    assert item.key == "7"


async def test_values_are_copied_in_and_out(api: Api) -> None:
    value: dict[str, Any] = {"tags": ["a"], "meta": {"n": 1}}
    await api.put(NS, "k", value)
    value["tags"].append("mutated-after-put")
    first = await api.get(NS, "k")
    assert first is not None
    first.value["meta"]["n"] = 99
    found = await api.search(NS)
    found[0].value["tags"].append("mutated-after-search")
    again = await api.get(NS, "k")
    assert again is not None
    assert again.value == {"tags": ["a"], "meta": {"n": 1}}


async def test_put_requires_a_mapping_and_none_deletes(api: Api) -> None:
    await api.put(NS, "k", {"v": 1})
    await api.put(NS, "k", None)  # as in LangGraph
    assert await api.get(NS, "k") is None
    with pytest.raises(InvalidNamespaceError):
        await api.put(("langgraph",), "k", None)
    with pytest.raises(InvalidArgumentError):
        await api.batch([PutOp(NS, "k", ["not", "a", "mapping"])])  # type: ignore[arg-type]


# --- T02 namespaces ----------------------------------------------------------------------------

BAD_NAMESPACES: list[Any] = [(), ("a.b",), ("",), ("langgraph", "x"), ("ok", 3), ("a\x00",), "abc"]


@pytest.mark.parametrize("namespace", BAD_NAMESPACES, ids=repr)
async def test_t02_put_rejects_invalid_namespaces(api: Api, namespace: Any) -> None:
    with pytest.raises(InvalidNamespaceError) as info:
        await api.put(namespace, "k", {"v": 1})
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, PitstopError)
    assert await api.list_namespaces() == []


async def test_t02_reserved_label_allowed_below_the_root(api: Api) -> None:
    await api.put(("x", "langgraph"), "k", {"v": 1})
    assert (await api.get(("x", "langgraph"), "k")) is not None
    assert await api.list_namespaces() == [("x", "langgraph")]


async def test_t02_batch_put_may_use_reserved_root_but_not_bad_labels(api: Api) -> None:
    # As in LangGraph: the reserved root is enforced by put(), not by raw batches.
    await api.batch([PutOp(("langgraph", "x"), "k", {"v": 1})])
    assert (await api.get(("langgraph", "x"), "k")) is not None
    with pytest.raises(InvalidNamespaceError):
        await api.batch([PutOp(("a.b",), "k", {"v": 1})])


@pytest.mark.parametrize("namespace", [("a.b",), ("",), ("ok", 3)], ids=repr)
async def test_reads_reject_bad_labels(api: Api, namespace: Any) -> None:
    with pytest.raises(InvalidNamespaceError):
        await api.get(namespace, "k")
    with pytest.raises(InvalidNamespaceError):
        await api.search(namespace)
    with pytest.raises(InvalidNamespaceError):
        await api.delete(namespace, "k")
    with pytest.raises(InvalidNamespaceError):
        await api.list_namespaces(prefix=namespace)


# --- T03 timestamps ----------------------------------------------------------------------------


async def test_t03_update_keeps_created_at_and_bumps_updated_at(api: Api, clock: Clock) -> None:
    await api.put(NS, "k", {"v": 1})
    first = await api.get(NS, "k")
    clock.advance(seconds=5)
    await api.put(NS, "k", {"v": 2})
    second = await api.get(NS, "k")
    assert first is not None
    assert second is not None
    assert second.value == {"v": 2}
    assert second.created_at == first.created_at
    assert second.updated_at > first.updated_at
    assert first.created_at == first.updated_at


async def test_put_after_delete_is_a_new_item(api: Api, clock: Clock) -> None:
    await api.put(NS, "k", {"v": 1})
    first = await api.get(NS, "k")
    await api.delete(NS, "k")
    clock.advance(seconds=5)
    await api.put(NS, "k", {"v": 1})
    second = await api.get(NS, "k")
    assert first is not None
    assert second is not None
    assert second.created_at > first.created_at


# --- T04 prefix search -------------------------------------------------------------------------


async def test_t04_search_prefix_is_element_wise(api: Api) -> None:
    await api.put(("foo",), "a", {"v": 1})
    await api.put(("foo", "bar"), "b", {"v": 1})
    await api.put(("foobar",), "c", {"v": 1})
    await api.put(("other", "foo"), "d", {"v": 1})
    assert sorted(keys(await api.search(("foo",)))) == ["a", "b"]
    assert keys(await api.search(("foo", "bar"))) == ["b"]
    assert sorted(keys(await api.search(()))) == ["a", "b", "c", "d"]
    assert await api.search(("fo",)) == []


# --- T05 filters -------------------------------------------------------------------------------


@pytest.fixture
async def numbers(api: Api) -> Api:
    for key, n in {"n9": 9, "n10": 10, "n100": 100, "n2_5": 2.5}.items():
        await api.put(NS, key, {"n": n, "name": key, "flag": n == 10})
    await api.put(NS, "text", {"n": "10", "name": "text"})
    await api.put(NS, "none", {"name": "none"})
    return api


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"$gt": 9}, {"n10", "n100"}),
        ({"$gte": 10}, {"n10", "n100"}),
        ({"$lt": 10}, {"n9", "n2_5"}),
        ({"$lte": 9}, {"n9", "n2_5"}),
        ({"$gt": 9.5, "$lt": 100}, {"n10"}),
        ({"$eq": 10}, {"n10"}),
        ({"$eq": 10.0}, {"n10"}),
        ({"$ne": 10}, {"n9", "n100", "n2_5", "text", "none"}),
        (10, {"n10"}),
        ("10", {"text"}),
        ({"$gt": "1"}, {"text"}),  # strings order as strings; numbers never match a string
    ],
    ids=repr,
)
async def test_t05_filter_operators_compare_numbers_numerically(
    numbers: Api, condition: Any, expected: set[str]
) -> None:
    found = await numbers.search(NS, filter={"n": condition}, limit=100)
    assert set(keys(found)) == expected


async def test_filters_are_anded_and_booleans_are_not_numbers(numbers: Api) -> None:
    assert keys(await numbers.search(NS, filter={"n": {"$gte": 9}, "flag": True})) == ["n10"]
    assert keys(await numbers.search(NS, filter={"flag": 1})) == []


async def test_nested_filters_match_subsets_and_lists(api: Api) -> None:
    await api.put(NS, "a", {"meta": {"color": "red", "size": 3}, "tags": ["x", "y"]})
    await api.put(NS, "b", {"meta": {"color": "blue", "size": 12}, "tags": ["x"]})
    await api.put(NS, "c", {"meta": "flat"})
    assert keys(await api.search(NS, filter={"meta": {"color": "red"}})) == ["a"]
    assert keys(await api.search(NS, filter={"meta": {"size": {"$gt": 5}}})) == ["b"]
    assert keys(await api.search(NS, filter={"tags": ["x", "y"]})) == ["a"]
    assert keys(await api.search(NS, filter={"tags": ["x"]})) == ["b"]
    assert keys(await api.search(NS, filter={"meta": {"$eq": {"color": "red"}}})) == []


@pytest.mark.parametrize("bad", [{"n": {"$regex": "x"}}, {"n": {"$gt": 1, "plain": 2}}])
async def test_unknown_filter_operator_raises_naming_it(api: Api, bad: dict[str, Any]) -> None:
    # Raised before any item is looked at, so an empty store fails too.
    with pytest.raises(InvalidArgumentError) as info:
        await api.search(NS, filter=bad)
    name = next(iter(k for k in bad["n"] if k not in ("$gt",)))
    assert repr(name) in str(info.value)


# --- T06 search order and paging ---------------------------------------------------------------


async def test_t06_search_newest_first_with_limit_and_offset(api: Api, clock: Clock) -> None:
    for i in range(5):
        await api.put(NS, f"k{i}", {"i": i})
        clock.advance(seconds=1)
    found = await api.search(NS)
    assert keys(found) == ["k4", "k3", "k2", "k1", "k0"]
    assert all(isinstance(item, SearchItem) and item.score is None for item in found)
    assert keys(await api.search(NS, limit=2, offset=1)) == ["k3", "k2"]
    assert keys(await api.search(NS, limit=2, offset=4)) == ["k0"]
    assert await api.search(NS, offset=10) == []
    await api.put(NS, "k1", {"i": 1, "updated": True})
    assert keys(await api.search(NS, limit=2)) == ["k1", "k4"]


async def test_search_rejects_negative_paging(api: Api) -> None:
    with pytest.raises(InvalidArgumentError):
        await api.search(NS, limit=-1)
    with pytest.raises(InvalidArgumentError):
        await api.search(NS, offset=-1)


async def test_query_without_index_is_ignored(api: Api) -> None:
    await api.put(NS, "k", {"text": "apple"})
    found = await api.search(NS, query="apple")
    assert keys(found) == ["k"]
    assert found[0].score is None


# --- T07 / T08 list_namespaces (cases of LangGraph's tests/test_store.py) ----------------------


async def _fill(api: Api, namespaces: Sequence[tuple[str, ...]]) -> None:
    for i, ns in enumerate(namespaces):
        await api.put(ns, f"id_{i}", {"data": f"value_{i:02d}"})


async def test_t07_list_namespaces_basic(api: Api) -> None:
    await _fill(
        api,
        [
            ("a", "b", "c"),
            ("a", "b", "d", "e"),
            ("a", "b", "d", "i"),
            ("a", "b", "f"),
            ("a", "c", "f"),
            ("b", "a", "f"),
            ("users", "123"),
            ("users", "456", "settings"),
            ("admin", "users", "789"),
        ],
    )
    abcd = [("a", "b", "c"), ("a", "b", "d", "e"), ("a", "b", "d", "i"), ("a", "b", "f")]
    assert await api.list_namespaces(prefix=("a", "b")) == abcd
    assert await api.list_namespaces(suffix=("f",)) == [
        ("a", "b", "f"),
        ("a", "c", "f"),
        ("b", "a", "f"),
    ]
    assert await api.list_namespaces(prefix=("a",), suffix=("f",)) == [
        ("a", "b", "f"),
        ("a", "c", "f"),
    ]
    assert await api.list_namespaces(prefix=("a", "b"), max_depth=3) == [
        ("a", "b", "c"),
        ("a", "b", "d"),
        ("a", "b", "f"),
    ]
    assert await api.list_namespaces(prefix=("a", "b"), limit=2) == abcd[:2]
    assert await api.list_namespaces(prefix=("a", "b"), offset=2) == abcd[2:]
    assert await api.list_namespaces(prefix=("a", "*", "f")) == [("a", "b", "f"), ("a", "c", "f")]
    assert await api.list_namespaces(suffix=("*", "f")) == [
        ("a", "b", "f"),
        ("a", "c", "f"),
        ("b", "a", "f"),
    ]
    assert await api.list_namespaces(prefix=("nonexistent",)) == []
    assert await api.list_namespaces(prefix=("users", "123")) == [("users", "123")]


async def test_t07_list_namespaces_with_wildcards(api: Api) -> None:
    await _fill(
        api,
        [
            ("users", "123"),
            ("users", "456"),
            ("users", "789", "settings"),
            ("admin", "users", "789"),
            ("guests", "123"),
            ("guests", "456", "preferences"),
        ],
    )
    assert await api.list_namespaces(prefix=("users", "*")) == [
        ("users", "123"),
        ("users", "456"),
        ("users", "789", "settings"),
    ]
    assert await api.list_namespaces(suffix=("*", "preferences")) == [
        ("guests", "456", "preferences")
    ]
    assert await api.list_namespaces(prefix=("*", "users"), suffix=("*", "settings")) == []
    await api.put(("admin", "users", "settings", "789"), "foo", {"data": "some_val"})
    assert await api.list_namespaces(prefix=("*", "users"), suffix=("settings", "*")) == [
        ("admin", "users", "settings", "789")
    ]


async def test_t07_list_namespaces_pagination(api: Api) -> None:
    await _fill(api, [("namespace", f"sub_{i:02d}") for i in range(20)])
    for offset in (0, 5, 15):
        expected = [("namespace", f"sub_{i:02d}") for i in range(offset, offset + 5)]
        assert await api.list_namespaces(prefix=("namespace",), limit=5, offset=offset) == expected
    assert len(await api.list_namespaces()) == 20
    assert await api.list_namespaces(limit=3, offset=19) == [("namespace", "sub_19")]


async def test_t07_list_namespaces_no_conditions_and_empty(api: Api) -> None:
    assert await api.list_namespaces() == []
    await _fill(api, [("e", "f", "g"), ("c", "d"), ("a", "b")])
    assert await api.list_namespaces() == [("a", "b"), ("c", "d"), ("e", "f", "g")]


async def test_t08_max_depth_truncates_dedupes_and_sorts(api: Api) -> None:
    await _fill(
        api,
        [
            ("h", "i", "j", "k"),
            ("a", "b", "c", "d"),
            ("a", "b", "c", "e"),
            ("a", "b", "f"),
            ("a", "g"),
        ],
    )
    assert await api.list_namespaces(max_depth=2) == [("a", "b"), ("a", "g"), ("h", "i")]
    assert await api.list_namespaces(max_depth=1) == [("a",), ("h",)]
    assert await api.list_namespaces(max_depth=2, limit=1, offset=1) == [("a", "g")]
    assert await api.list_namespaces(prefix=("a",), max_depth=3) == [
        ("a", "b", "c"),
        ("a", "b", "f"),
        ("a", "g"),
    ]
    with pytest.raises(InvalidArgumentError):
        await api.list_namespaces(max_depth=0)


async def test_list_namespaces_forgets_emptied_namespaces(api: Api) -> None:
    await api.put(NS, "k", {"v": 1})
    await api.delete(NS, "k")
    assert await api.list_namespaces() == []


# --- T09 batch ---------------------------------------------------------------------------------


async def test_t09_batch_reads_see_pre_batch_state_and_last_write_wins(api: Api) -> None:
    await api.put(NS, "old", {"v": 0})
    results = await api.batch(
        [
            PutOp(NS, "k", {"v": 1}),
            GetOp(NS, "k"),
            PutOp(NS, "k", {"v": 2}),
            SearchOp(NS, filter={"v": {"$gte": 0}}),
            PutOp(NS, "old", None),
            GetOp(NS, "old"),
            ListNamespacesOp(),
            PutOp(NS, "gone", {"v": 3}),
            PutOp(NS, "gone", None),
        ]
    )
    assert len(results) == 9
    assert results[0] is None
    assert results[1] is None
    assert results[2] is None
    assert keys(results[3]) == ["old"]
    assert results[4] is None
    assert isinstance(results[5], Item)
    assert results[5].value == {"v": 0}
    assert results[6] == [NS]
    assert results[7] is None
    assert results[8] is None
    after = await api.get(NS, "k")
    assert after is not None
    assert after.value == {"v": 2}
    assert await api.get(NS, "old") is None
    assert await api.get(NS, "gone") is None


async def test_batch_rejects_unknown_ops_before_doing_anything(api: Api) -> None:
    with pytest.raises(InvalidArgumentError, match="unknown store operation"):
        await api.batch([PutOp(NS, "k", {"v": 1}), ("not", "an", "op")])
    assert await api.get(NS, "k") is None
    assert await api.batch([]) == []


async def test_batch_accepts_match_conditions(api: Api) -> None:
    await _fill(api, [("a", "b"), ("a", "c"), ("b", "c")])
    op = ListNamespacesOp(match_conditions=(MatchCondition("suffix", ("c",)),), max_depth=None)
    assert await api.batch([op]) == [[("a", "c"), ("b", "c")]]
    with pytest.raises(InvalidArgumentError):
        await api.batch([ListNamespacesOp(match_conditions=(MatchCondition("middle", ("c",)),))])  # type: ignore[arg-type]


# --- T10 TTL -----------------------------------------------------------------------------------


@pytest.fixture
def ttl_store(clock: Clock) -> InMemoryStore:
    return InMemoryStore(clock=clock)


async def test_t10_expired_items_are_hidden_then_swept(mode: str, clock: Clock) -> None:
    store = InMemoryStore(clock=clock)
    api = Api(store, mode)
    assert store.supports_ttl
    await api.put(NS, "short", {"v": 1}, ttl=1)
    await api.put(NS, "long", {"v": 2}, ttl=10)
    await api.put(("other",), "short", {"v": 3}, ttl=1)
    await api.put(NS, "forever", {"v": 4})
    clock.advance(seconds=61)
    assert await api.get(NS, "short") is None  # hidden before any sweep
    assert sorted(keys(await api.search(NS))) == ["forever", "long"]
    assert await api.list_namespaces() == [NS]
    swept = store.sweep_ttl() if mode == "sync" else await store.asweep_ttl()
    assert swept == 2
    assert store.sweep_ttl() == 0
    clock.advance(minutes=10)
    assert keys(await api.search(NS)) == ["forever"]


async def test_t10_read_with_refresh_extends_expiry(api: Api, clock: Clock) -> None:
    await api.put(NS, "k", {"v": 1}, ttl=1)
    clock.advance(seconds=40)
    assert await api.get(NS, "k") is not None  # refresh_ttl defaults to True
    clock.advance(seconds=40)  # 80 s after the put, 40 s after the refresh
    assert await api.get(NS, "k", refresh_ttl=False) is not None
    clock.advance(seconds=25)  # 65 s after the refresh: expired
    assert await api.get(NS, "k") is None


async def test_read_without_refresh_does_not_extend(api: Api, clock: Clock) -> None:
    await api.put(NS, "k", {"v": 1}, ttl=1)
    clock.advance(seconds=40)
    assert await api.get(NS, "k", refresh_ttl=False) is not None
    assert await api.search(NS, refresh_ttl=False) != []
    clock.advance(seconds=25)
    assert await api.get(NS, "k") is None


async def test_search_refreshes_only_the_items_it_returns(api: Api, clock: Clock) -> None:
    await api.put(NS, "a", {"v": 1}, ttl=1)
    clock.advance(seconds=1)
    await api.put(NS, "b", {"v": 1}, ttl=1)
    clock.advance(seconds=40)
    assert keys(await api.search(NS, limit=1)) == ["b"]
    clock.advance(seconds=30)
    assert keys(await api.search(NS, refresh_ttl=False)) == ["b"]


async def test_ttl_config_defaults(mode: str, clock: Clock) -> None:
    store = InMemoryStore(clock=clock, ttl=TTLConfig(default_ttl=1, refresh_on_read=False))
    api = Api(store, mode)
    await api.put(NS, "default", {"v": 1})
    await api.put(NS, "none", {"v": 1}, ttl=None)
    await api.put(NS, "explicit", {"v": 1}, ttl=5)
    clock.advance(seconds=40)
    await api.get(NS, "default")  # refresh_on_read=False: no refresh
    await api.get(NS, "explicit", refresh_ttl=True)
    clock.advance(seconds=30)
    assert await api.get(NS, "default") is None
    assert await api.get(NS, "none") is not None
    assert await api.get(NS, "explicit") is not None


async def test_put_without_ttl_clears_expiry(api: Api, clock: Clock) -> None:
    await api.put(NS, "k", {"v": 1}, ttl=1)
    await api.put(NS, "k", {"v": 2})
    clock.advance(minutes=5)
    item = await api.get(NS, "k")
    assert item is not None
    assert item.value == {"v": 2}


async def test_put_on_expired_key_creates_a_new_item(api: Api, clock: Clock) -> None:
    await api.put(NS, "k", {"v": 1}, ttl=1)
    first = await api.get(NS, "k")
    clock.advance(minutes=2)
    await api.put(NS, "k", {"v": 2})
    second = await api.get(NS, "k")
    assert first is not None
    assert second is not None
    assert second.created_at > first.created_at


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), "5", True])
async def test_invalid_ttl_is_rejected(api: Api, ttl: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        await api.put(NS, "k", {"v": 1}, ttl=ttl)


class NoTTLStore(InMemoryStore):
    supports_ttl = False


async def test_t10_ttl_on_a_store_without_ttl_raises(mode: str) -> None:
    api = Api(NoTTLStore(), mode)
    with pytest.raises(NotImplementedError, match="NoTTLStore"):
        await api.put(NS, "k", {"v": 1}, ttl=5)
    await api.put(NS, "k", {"v": 1}, ttl=None)
    assert await api.get(NS, "k") is not None


def test_background_sweeper_deletes_expired_items() -> None:
    clock = Clock()
    store = InMemoryStore(clock=clock, ttl={"sweep_interval_minutes": 0.0005})  # 30 ms
    store.put(NS, "k", {"v": 1}, ttl=1)
    done = store.start_ttl_sweeper()
    assert store.start_ttl_sweeper() is done
    clock.advance(minutes=2)
    deadline = time.monotonic() + 5
    while store._data and time.monotonic() < deadline:  # swept, not just hidden
        time.sleep(0.01)
    assert store._data == {}
    assert store.stop_ttl_sweeper(timeout=2)
    assert done.result(timeout=1) is None
    assert store.stop_ttl_sweeper() is True


def test_sweeper_interval_must_be_positive() -> None:
    with pytest.raises(InvalidArgumentError):
        InMemoryStore().start_ttl_sweeper(0)


# --- T11 vector search -------------------------------------------------------------------------

VOCAB = ("apple", "banana", "cherry", "date")


def fake_embed(texts: Sequence[str]) -> list[list[float]]:
    """Bag of words over VOCAB: deterministic, and easy to compute cosines by hand."""
    words = [re.findall(r"[a-z]+", text.lower()) for text in texts]
    return [[float(w.count(word)) for word in VOCAB] for w in words]


async def afake_embed(texts: Sequence[str]) -> list[list[float]]:
    return fake_embed(texts)


class FakeEmbeddings:
    """LangChain-Embeddings-shaped object (duck-typed), counting calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(("embed_documents", len(texts)))
        return fake_embed(texts)

    def embed_query(self, text: str) -> list[float]:
        self.calls.append(("embed_query", 1))
        return fake_embed([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(("aembed_documents", len(texts)))
        return fake_embed(texts)

    async def aembed_query(self, text: str) -> list[float]:
        self.calls.append(("aembed_query", 1))
        return fake_embed([text])[0]


def vector_store(embed: Any, clock: Clock, fields: list[str] | None = None) -> InMemoryStore:
    index = IndexConfig(dims=len(VOCAB), embed=embed)
    if fields is not None:
        index["fields"] = fields
    return InMemoryStore(index=index, clock=clock)


@pytest.mark.parametrize("embed", ["function", "async function", "object"])
async def test_t11_scores_descend_max_pooled_and_unindexed_items_unscored(
    mode: str, clock: Clock, embed: str
) -> None:
    embedder = {"function": fake_embed, "async function": afake_embed}.get(embed, FakeEmbeddings())
    api = Api(vector_store(embedder, clock, fields=["text", "other"]), mode)
    if mode == "sync" and embed == "async function":
        # An async-only embedder cannot run synchronously on a thread that runs a loop.
        with pytest.raises(InvalidArgumentError, match="async"):
            await api.put(NS, "a", {"text": "apple"})
        return
    await api.put(NS, "a", {"text": "apple apple", "other": "banana"})  # max(0, 1.0)
    await api.put(NS, "b", {"text": "apple banana", "other": "cherry"})  # max(0.707, 0)
    await api.put(NS, "c", {"text": "cherry"})  # 0
    await api.put(NS, "d", {"text": "banana"}, index=False)  # not embedded
    found = await api.search(NS, query="banana")
    assert keys(found) == ["a", "b", "c", "d"]
    scores = [item.score for item in found]
    assert scores[0] == pytest.approx(1.0)  # max-pooled, not averaged (0.5)
    assert scores[1] == pytest.approx(2**-0.5)
    assert scores[2] == pytest.approx(0.0)
    assert scores[3] is None
    # Paging slices the ranking; unscored items only fill a short page.
    assert keys(await api.search(NS, query="banana", limit=2)) == ["a", "b"]
    assert keys(await api.search(NS, query="banana", limit=2, offset=2)) == ["c", "d"]
    # Filters still apply.
    assert keys(await api.search(NS, query="banana", filter={"other": "cherry"})) == ["b"]


def test_async_only_embedder_with_the_sync_api_outside_a_loop() -> None:
    store = vector_store(afake_embed, Clock(), fields=["text"])
    store.put(NS, "a", {"text": "apple"})
    store.put(NS, "b", {"text": "banana"})
    assert [i.key for i in store.search(NS, query="banana")] == ["b", "a"]


async def test_vector_search_uses_default_whole_value_and_put_index_override(
    api: Api, clock: Clock
) -> None:
    api.store = vector_store(fake_embed, clock)  # fields default to ["$"]
    await api.put(NS, "whole", {"x": "date", "y": "apple"})  # '{"x": "date", "y": "apple"}'
    await api.put(NS, "override", {"title": "apple", "body": "date date"}, index=["title"])
    await api.put(NS, "arr", {"items": ["cherry", "date"]}, index=["items[*]"])
    found = await api.search(NS, query="date")
    by_key = {item.key: item.score for item in found}
    assert by_key["override"] == pytest.approx(0.0)  # only the title was embedded
    assert by_key["arr"] == pytest.approx(1.0)  # items.1 == "date"
    assert by_key["whole"] == pytest.approx(2**-0.5)  # the whole value as JSON
    assert set(by_key) == {"whole", "override", "arr"}


async def test_update_re_embeds_and_index_false_drops_vectors(api: Api, clock: Clock) -> None:
    api.store = vector_store(fake_embed, clock, fields=["text"])
    await api.put(NS, "k", {"text": "apple"})
    assert (await api.search(NS, query="apple"))[0].score == pytest.approx(1.0)
    await api.put(NS, "k", {"text": "banana"})
    assert (await api.search(NS, query="apple"))[0].score == pytest.approx(0.0)
    await api.put(NS, "k", {"text": "apple"}, index=False)
    assert (await api.search(NS, query="apple"))[0].score is None


async def test_embedder_called_once_per_batch_with_distinct_texts(mode: str, clock: Clock) -> None:
    embeddings = FakeEmbeddings()
    api = Api(vector_store(embeddings, clock, fields=["text"]), mode)
    await api.batch(
        [
            PutOp(NS, "a", {"text": "apple"}),
            PutOp(NS, "b", {"text": "apple"}),
            PutOp(NS, "c", {"text": "cherry"}),
            PutOp(NS, "d", {"text": "date"}, index=False),
        ]
    )
    prefix = "" if mode == "sync" else "a"
    assert embeddings.calls == [(f"{prefix}embed_documents", 2)]


async def test_fields_sharing_a_text_each_get_a_vector(api: Api, clock: Clock) -> None:
    # LangGraph's InMemoryStore raises here (one embedding for two indices); pitstop does not.
    api.store = vector_store(fake_embed, clock, fields=["a", "b"])
    await api.put(NS, "k", {"a": "apple", "b": "apple"})
    await api.put(NS, "j", {"a": "apple", "b": "banana"})
    found = await api.search(NS, query="banana")
    assert [(i.key, round(i.score or 0, 6)) for i in found] == [("j", 1.0), ("k", 0.0)]


async def test_wrong_dimensions_fail_the_batch_and_change_nothing(api: Api, clock: Clock) -> None:
    api.store = InMemoryStore(index={"dims": 3, "embed": fake_embed}, clock=clock)
    with pytest.raises(InvalidArgumentError, match="dimensions"):
        await api.put(NS, "k", {"v": "apple"})
    assert await api.get(NS, "k") is None


def test_ttl_config_is_validated() -> None:
    with pytest.raises(InvalidArgumentError):
        InMemoryStore(ttl={"default_ttl": 0})


def test_index_config_is_validated() -> None:
    with pytest.raises(InvalidArgumentError):
        InMemoryStore(index={"dims": 0, "embed": fake_embed})
    with pytest.raises(InvalidArgumentError):
        InMemoryStore(index={"dims": 4})
    with pytest.raises(InvalidArgumentError):
        InMemoryStore(index={"dims": 4, "embed": 42})  # type: ignore[arg-type]


# --- thread safety -----------------------------------------------------------------------------


def test_concurrent_writers_and_readers() -> None:
    store = InMemoryStore()
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            for i in range(200):
                store.put(("w", str(worker)), f"k{i}", {"i": i})
                store.put(("shared",), "counter", {"by": worker, "i": i})
                store.search(("w",), filter={"i": {"$gte": 100}}, limit=5)
                store.list_namespaces(prefix=("w",))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.search(("w",), limit=10_000)) == 8 * 200
    assert len(store.list_namespaces(prefix=("w",))) == 8
    shared = store.get(("shared",), "counter")
    assert shared is not None
    assert shared.value["i"] == 199


async def test_async_and_sync_share_one_state(clock: Clock) -> None:
    store = InMemoryStore(clock=clock)
    await store.aput(NS, "k", {"v": 1})
    assert store.get(NS, "k") == await store.aget(NS, "k")
    results = await asyncio.gather(*(store.aput(NS, f"k{i}", {"i": i}) for i in range(10)))
    assert results == [None] * 10
    assert len(store.search(NS, limit=100)) == 11
