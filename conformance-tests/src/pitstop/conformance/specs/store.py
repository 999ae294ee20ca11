"""Stores (contract §8.9): every op, filters, namespaces, batches, TTL and vector search.

TTL checks use tiny TTLs (fractions of a second, expressed in minutes) and ``sweep_ttl()``;
they sleep about 0.6 s in total. Vector checks use a deterministic fake embedding.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pitstop.conformance.registry import store_spec
from pitstop.conformance.suite import StoreHarness


def fake_embed(texts: Sequence[str]) -> list[list[float]]:
    """Embed a text as its counts of ``x``, ``y`` and ``z`` (plus a tiny constant)."""
    return [[t.count("x"), t.count("y"), t.count("z"), 0.01] for t in texts]


INDEX: dict[str, Any] = {"dims": 4, "embed": fake_embed, "fields": ["text", "alt"]}


def _keys(items: Sequence[Any]) -> list[str]:
    return [i.key for i in items]


@store_spec("store", "T01")
def spec_put_get_delete(h: StoreHarness) -> None:
    s = h.open()
    ns = ("users", "alice")
    assert s.get(ns, "missing") is None
    s.put(ns, "k", {"a": 1, "nested": {"b": [1, "two", None]}, "u": "ü🙂"})
    item = s.get(ns, "k")
    assert item is not None
    assert (item.namespace, item.key) == (ns, "k")
    assert item.value == {"a": 1, "nested": {"b": [1, "two", None]}, "u": "ü🙂"}
    assert item.created_at is not None
    assert item.updated_at is not None
    item.value["a"] = 999  # a returned value is a copy
    again = s.get(ns, "k")
    assert again is not None
    assert again.value["a"] == 1
    assert s.get(("users",), "k") is None
    assert s.get(("users", "alice", "x"), "k") is None
    s.put(ns, "k", {"a": 2})
    again = s.get(ns, "k")
    assert again is not None
    assert again.value == {"a": 2}
    s.delete(ns, "k")
    assert s.get(ns, "k") is None
    s.delete(ns, "k")  # deleting twice is fine
    s.put(ns, "", {"empty": "key"})
    got = s.get(ns, "")
    assert got is not None
    assert got.value == {"empty": "key"}


@store_spec("store", "T02")
def spec_invalid_namespaces(h: StoreHarness) -> None:
    s = h.open()
    bad_namespaces: list[tuple[Any, ...]] = [(), ("a.b",), ("",), ("langgraph", "x"), ("ok", 1)]
    for bad in bad_namespaces:
        error: Exception | None = None
        try:
            s.put(bad, "k", {"v": 1})
        except Exception as exc:  # InvalidNamespaceError (a ValueError in LangGraph)
            error = exc
        assert error is not None, f"namespace {bad!r} was accepted"
        assert type(error).__name__ == "InvalidNamespaceError" or (
            isinstance(error, ValueError) and "namespace" in str(error).lower()
        ), repr(error)
    s.put(("x", "langgraph"), "k", {"v": 1})
    assert s.get(("x", "langgraph"), "k") is not None


@store_spec("store", "T03", parity=False)
def spec_timestamps(h: StoreHarness) -> None:
    s = h.open()
    s.put(("ns",), "k", {"v": 1})
    first = s.get(("ns",), "k")
    time.sleep(0.005)
    s.put(("ns",), "k", {"v": 2})
    second = s.get(("ns",), "k")
    assert first is not None
    assert second is not None
    assert second.updated_at > first.updated_at, "update did not move updated_at"
    assert second.created_at == first.created_at, "update reset created_at"


@store_spec("store", "T04")
def spec_namespace_boundaries(h: StoreHarness) -> None:
    s = h.open()
    for ns in (("foo",), ("foo", "bar"), ("foobar",), ("fo",), ("foo", "bar", "baz"), ("x", "foo")):
        s.put(ns, "k", {"ns": list(ns)})
    found = sorted(tuple(i.namespace) for i in s.search(("foo",), limit=50))
    assert found == [("foo",), ("foo", "bar"), ("foo", "bar", "baz")], found
    found = sorted(tuple(i.namespace) for i in s.search(("foo", "bar"), limit=50))
    assert found == [("foo", "bar"), ("foo", "bar", "baz")], found
    assert len(s.search((), limit=50)) == 6
    assert s.search(("f",), limit=50) == []


@store_spec("store", "T05")
def spec_filters(h: StoreHarness) -> None:
    s = h.open()
    rows = {
        "n9": {"n": 9, "kind": "a", "tags": ["x", "y"], "meta": {"lang": "en", "v": 1}},
        "n10": {"n": 10, "kind": "b", "meta": {"lang": "fr", "v": 2}},
        "n100": {"n": 100, "kind": "a", "f": 2.5},
        "n-1": {"n": -1, "kind": "c", "flag": True},
    }
    for key, value in rows.items():
        s.put(("docs",), key, value)

    def keys(flt: dict[str, Any]) -> list[str]:
        return sorted(_keys(s.search(("docs",), filter=flt, limit=50)))

    assert keys({"kind": "a"}) == ["n100", "n9"]
    assert keys({"n": {"$gt": 9}}) == ["n10", "n100"], "numbers compared as strings?"
    assert keys({"n": {"$gte": 10}}) == ["n10", "n100"]
    assert keys({"n": {"$lt": 10}}) == ["n-1", "n9"]
    assert keys({"n": {"$lte": 9}}) == ["n-1", "n9"]
    assert keys({"n": {"$eq": 100}}) == ["n100"]
    assert keys({"n": {"$ne": 9}}) == ["n-1", "n10", "n100"]
    assert keys({"n": {"$gt": 9, "$lt": 100}}) == ["n10"]
    assert keys({"kind": "a", "n": {"$lt": 50}}) == ["n9"]
    assert keys({"meta": {"lang": "fr", "v": 2}}) == ["n10"]
    assert keys({"flag": True}) == ["n-1"]
    assert keys({"f": {"$gt": 2}}) == ["n100"]
    assert keys({"kind": "zzz"}) == []
    assert keys({"missing": "x"}) == []


@store_spec("store", "T06")
def spec_search_paging(h: StoreHarness) -> None:
    s = h.open()
    for key in ("a", "b", "c", "d", "e"):
        s.put(("p",), key, {"k": key})
        time.sleep(0.002)
    s.put(("p",), "b", {"k": "b2"})  # b becomes the most recently updated
    page = s.search(("p",), limit=2)
    assert _keys(page) == ["b", "e"], _keys(page)
    assert all(i.score is None for i in page)
    assert _keys(s.search(("p",), limit=2, offset=2)) == ["d", "c"]
    assert _keys(s.search(("p",), limit=10, offset=4)) == ["a"]
    assert s.search(("p",), limit=10, offset=5) == []
    assert len(s.search(("p",))) == 5


@store_spec("store", "T07", "T08")
def spec_list_namespaces(h: StoreHarness) -> None:
    s = h.open()
    namespaces = [
        ("a", "b", "c"),
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
        ("a", "b", "f"),
        ("a", "c", "f"),
        ("b", "a", "f"),
        ("users", "123"),
        ("users", "456", "settings"),
        ("admin", "users", "789"),
    ]
    for i, ns in enumerate(namespaces):
        s.put(ns, f"id{i}", {"i": i})
    assert s.list_namespaces(prefix=("a", "b")) == [
        ("a", "b", "c"), ("a", "b", "d", "e"), ("a", "b", "d", "i"), ("a", "b", "f"),
    ]  # fmt: skip
    assert s.list_namespaces(suffix=("f",)) == [("a", "b", "f"), ("a", "c", "f"), ("b", "a", "f")]
    assert s.list_namespaces(prefix=("a",), suffix=("f",)) == [("a", "b", "f"), ("a", "c", "f")]
    assert s.list_namespaces(prefix=("a", "*", "f")) == [("a", "b", "f"), ("a", "c", "f")]
    assert s.list_namespaces(suffix=("*", "f")) == [
        ("a", "b", "f"),
        ("a", "c", "f"),
        ("b", "a", "f"),
    ]
    assert s.list_namespaces(prefix=("users",)) == [("users", "123"), ("users", "456", "settings")]
    assert s.list_namespaces(prefix=("a", "b", "c", "d", "e")) == []
    assert s.list_namespaces(prefix=("a", "b"), max_depth=3) == [
        ("a", "b", "c"), ("a", "b", "d"), ("a", "b", "f"),
    ]  # fmt: skip
    assert s.list_namespaces(max_depth=1) == [("a",), ("admin",), ("b",), ("users",)]
    everything = s.list_namespaces(limit=100)
    assert everything == sorted(namespaces)
    assert s.list_namespaces(limit=3) == sorted(namespaces)[:3]
    assert s.list_namespaces(limit=3, offset=3) == sorted(namespaces)[3:6]
    assert s.list_namespaces(prefix=("us",)) == [], "prefix matched part of a label"
    s.delete(("users", "123"), "id6")
    assert ("users", "123") not in s.list_namespaces()


@store_spec("store", "T09")
def spec_batch(h: StoreHarness) -> None:
    from pitstop.store.base import GetOp, ListNamespacesOp, PutOp, SearchOp

    s = h.open()
    s.put(("b",), "old", {"v": "old"})
    results = s.batch(
        [
            PutOp(("b",), "k", {"v": 1}),
            GetOp(("b",), "k"),
            PutOp(("b",), "k", {"v": 2}),
            SearchOp(("b",), None, 10, 0),
            GetOp(("b",), "old"),
            PutOp(("b",), "old", None),
            ListNamespacesOp(None, None, 10, 0),
        ]
    )
    assert len(results) == 7
    assert results[0] is None
    assert results[2] is None
    assert results[5] is None
    assert results[1] is None, "reads must see the state before the batch"
    assert _keys(results[3]) == ["old"]
    assert results[4] is not None
    assert results[4].value == {"v": "old"}
    assert [tuple(ns) for ns in results[6]] == [("b",)]
    final = s.get(("b",), "k")
    assert final is not None
    assert final.value == {"v": 2}, "puts to one key: last write wins"
    assert s.get(("b",), "old") is None


@store_spec("ttl", "T10", parity=False)
def spec_ttl_expiry_and_refresh(h: StoreHarness) -> None:
    s = h.open(ttl={"refresh_on_read": True})
    short = 0.2 / 60  # 0.2 s, in minutes
    s.put(("t",), "expires", {"v": 1}, ttl=short)
    s.put(("t",), "refreshed", {"v": 2}, ttl=short * 2)
    s.put(("t",), "not-refreshed", {"v": 3}, ttl=short * 2)
    s.put(("t",), "forever", {"v": 4})
    s.put(("t",), "cleared", {"v": 5}, ttl=short)
    s.put(("t",), "cleared", {"v": 5}, ttl=None)  # a put with ttl=None clears the expiry
    assert s.get(("t",), "expires") is not None
    time.sleep(0.25)
    assert s.get(("t",), "refreshed", refresh_ttl=True) is not None  # expiry now +0.4 s
    assert s.get(("t",), "not-refreshed", refresh_ttl=False) is not None
    swept = s.sweep_ttl()
    assert swept >= 1, f"sweep_ttl() removed {swept}"
    assert s.get(("t",), "expires") is None, "expired item survived sweep_ttl()"
    time.sleep(0.25)  # 0.5 s since the puts: past the original 0.4 s expiry
    s.sweep_ttl()
    assert s.get(("t",), "not-refreshed", refresh_ttl=False) is None, "read without refresh"
    assert s.get(("t",), "refreshed") is not None, "refresh_ttl read did not extend the TTL"
    assert s.get(("t",), "forever") is not None
    assert s.get(("t",), "cleared") is not None, "ttl=None did not clear the expiry"
    assert sorted(_keys(s.search(("t",)))) == ["cleared", "forever", "refreshed"]


@store_spec("store_vector", "T11")
def spec_vector_search(h: StoreHarness) -> None:
    s = h.open(index=INDEX)
    s.put(("docs",), "xxx", {"text": "xxx"})
    s.put(("docs",), "xy", {"text": "xy"})
    s.put(("docs",), "yyy", {"text": "yyy"})
    s.put(("docs",), "pooled", {"text": "zzz", "alt": "xxxx"})  # best field wins (max-pool)
    s.put(("docs",), "unindexed", {"text": "xxxxx"}, index=False)
    s.put(("other",), "xxx", {"text": "xxx"})
    ranked = s.search(("docs",), query="x", limit=10)
    keys = _keys(ranked)
    assert keys[-1] == "unindexed", keys
    assert ranked[-1].score is None, keys
    scored = [i for i in ranked if i.score is not None]
    assert [i.score for i in scored] == sorted((i.score for i in scored), reverse=True)
    assert set(keys[:2]) == {"xxx", "pooled"}, keys
    assert keys[2:4] == ["xy", "yyy"], keys
    assert abs(scored[0].score - 1.0) < 0.01
    assert _keys(s.search(("docs",), query="y", limit=1)) == ["yyy"]
    assert _keys(s.search(("docs",), query="x", limit=2, offset=2)) == ["xy", "yyy"]
    filtered = s.search(("docs",), query="x", filter={"text": "xy"})
    assert _keys(filtered) == ["xy"]
    s.put(("docs",), "yyy", {"text": "xxxxxx"})  # re-embedded on update
    assert _keys(s.search(("docs",), query="x", limit=5))[0] in ("xxx", "pooled", "yyy")
    top = s.search(("docs",), query="x", limit=10)
    assert next(i for i in top if i.key == "yyy").score > 0.99
