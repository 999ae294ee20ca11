"""pitstop.store.base: data model, shared helpers, embedding paths and adapters."""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pitstop.checkpoint.errors import InvalidArgumentError
from pitstop.store.base import (
    NOT_PROVIDED,
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchItem,
    SearchOp,
    ensure_embeddings,
    ensure_refresh,
    ensure_ttl,
    expires_at,
    extract_texts,
    filter_namespaces,
    get_text_at_path,
    is_expired,
    json_equal,
    matches_filter,
    normalize_op,
    rank_page,
    tokenize_fields,
    tokenize_path,
    validate_filter,
    validate_namespace,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


# --- data model --------------------------------------------------------------------------------


def test_item_equality_hash_and_dict() -> None:
    item = Item(value={"a": 1}, key="k", namespace=("n",), created_at=T0, updated_at=T0)
    same = Item(
        value={"a": 1},
        key="k",
        namespace=["n"],  # type: ignore[arg-type]
        created_at=T0.isoformat(),
        updated_at=T0,
    )
    assert item == same
    assert hash(item) == hash(same)
    assert same.namespace == ("n",)
    assert same.created_at == T0
    assert item != Item(value={"a": 2}, key="k", namespace=("n",), created_at=T0, updated_at=T0)
    later = T0 + timedelta(seconds=1)
    assert item != Item(value={"a": 1}, key="k", namespace=("n",), created_at=T0, updated_at=later)
    assert hash(item) == hash(
        Item(value={"other": 1}, key="k", namespace=("n",), created_at=T0, updated_at=later)
    )
    assert item.dict() == {
        "namespace": ["n"],
        "key": "k",
        "value": {"a": 1},
        "created_at": T0.isoformat(),
        "updated_at": T0.isoformat(),
    }
    assert item != "k"
    assert repr(item).startswith("Item(namespace=['n']")
    assert pickle.loads(pickle.dumps(item)) == item
    assert copy.deepcopy(item) == item


def test_search_item() -> None:
    item = SearchItem(("n",), "k", {"a": 1}, T0, T0, score=0.5)
    assert item.score == 0.5
    assert item.dict()["score"] == 0.5
    assert isinstance(item, Item)
    assert SearchItem(("n",), "k", {"a": 1}, T0, T0).score is None
    assert item == Item(value={"a": 1}, key="k", namespace=("n",), created_at=T0, updated_at=T0)
    assert repr(item).startswith("SearchItem(")


def test_ops_have_langgraph_fields_and_defaults() -> None:
    assert GetOp(("a",), "k") == (("a",), "k", True)
    assert SearchOp(("a",)) == (("a",), None, 10, 0, None, True)
    assert PutOp(("a",), "k", {"v": 1}) == (("a",), "k", {"v": 1}, None, None)
    assert ListNamespacesOp() == (None, None, 100, 0)
    assert MatchCondition("prefix", ("a", "*")).path == ("a", "*")


def test_not_provided_sentinel() -> None:
    assert not NOT_PROVIDED
    assert repr(NOT_PROVIDED) == "NOT_PROVIDED"
    assert type(NOT_PROVIDED)() is NOT_PROVIDED
    assert pickle.loads(pickle.dumps(NOT_PROVIDED)) is NOT_PROVIDED


def test_base_store_requires_batch_and_abatch() -> None:
    class OnlySync(BaseStore):
        def batch(self, ops: Any) -> list[Any]:
            return []

    with pytest.raises(TypeError):
        OnlySync()  # type: ignore[abstract]


async def test_base_store_api_builds_ops_for_a_custom_store() -> None:
    seen: list[Any] = []

    class Recorder(BaseStore):
        def batch(self, ops: Any) -> list[Any]:
            ops = list(ops)
            seen.extend(ops)
            return [[] if isinstance(op, SearchOp | ListNamespacesOp) else None for op in ops]

        async def abatch(self, ops: Any) -> list[Any]:
            return self.batch(ops)

    store = Recorder()
    store.put(("a",), 1, {"v": 1})  # type: ignore[arg-type]
    await store.aget(("a",), "1")
    store.search(("a",), query="q", filter={"v": 1}, limit=3, offset=2, refresh_ttl=False)
    await store.adelete(("a",), "1")
    await store.alist_namespaces(prefix=("a",), suffix=("*",), max_depth=2, limit=5, offset=1)
    assert seen == [
        PutOp(("a",), "1", {"v": 1}, None, None),
        GetOp(("a",), "1", True),
        SearchOp(("a",), {"v": 1}, 3, 2, "q", False),
        PutOp(("a",), "1", None),
        ListNamespacesOp(
            (MatchCondition("prefix", ("a",)), MatchCondition("suffix", ("*",))), 2, 5, 1
        ),
    ]
    with pytest.raises(NotImplementedError, match="Recorder"):
        store.put(("a",), "k", {"v": 1}, ttl=1)
    with pytest.raises(NotImplementedError):
        await store.aput(("a",), "k", {"v": 1}, ttl=1)


# --- namespaces and defaults -------------------------------------------------------------------


@pytest.mark.parametrize(
    "namespace",
    [(), ("a.b",), ("",), ("langgraph", "x"), ("langgraph",), (1,), ("a", None), ("x\x00",), "ab"],
    ids=repr,
)
def test_t02_validate_namespace_rejects(namespace: Any) -> None:
    with pytest.raises(InvalidNamespaceError):
        validate_namespace(namespace)


def test_t02_validate_namespace_accepts() -> None:
    assert validate_namespace(("x", "langgraph")) == ("x", "langgraph")
    assert validate_namespace(["a", "b"]) == ("a", "b")
    assert validate_namespace(("langgraphs",)) == ("langgraphs",)


def test_error_message_names_the_namespace() -> None:
    with pytest.raises(InvalidNamespaceError, match=r"\('ok', 'a\.b'\)"):
        validate_namespace(("ok", "a.b"))


def test_ttl_and_refresh_defaults() -> None:
    assert ensure_refresh(None, None) is True
    assert ensure_refresh({"refresh_on_read": False}, None) is False
    assert ensure_refresh({"refresh_on_read": False}, True) is True
    assert ensure_ttl(None, NOT_PROVIDED) is None
    assert ensure_ttl({"default_ttl": 5}, NOT_PROVIDED) == 5
    assert ensure_ttl({"default_ttl": 5}, None) is None
    assert ensure_ttl({"default_ttl": 5}, 2) == 2
    assert expires_at(T0, None) is None
    assert expires_at(T0, 1.5) == T0 + timedelta(seconds=90)
    assert is_expired(T0, T0)
    assert not is_expired(T0, T0 - timedelta(microseconds=1))
    assert not is_expired(None, T0)


@pytest.mark.parametrize(
    "op",
    [
        SearchOp(("a",), limit=-1),
        SearchOp(("a",), offset=-1),
        SearchOp(("a",), limit=True),
        SearchOp(("a",), query=3),  # type: ignore[arg-type]
        SearchOp(("a",), filter={"x": {"$in": [1]}}),
        ListNamespacesOp(max_depth=0),
        ListNamespacesOp(match_conditions=MatchCondition("prefix", ("a",))),  # type: ignore[arg-type]
        PutOp(("a",), "k", {"v": 1}, index="text"),  # type: ignore[arg-type]
        PutOp(("a",), "k", {"v": 1}, index=[1]),  # type: ignore[list-item]
        PutOp(("a",), "k", {"v": 1}, ttl=0),
        object(),
    ],
    ids=repr,
)
def test_normalize_op_rejects(op: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        normalize_op(op)


def test_normalize_op_converts_foreign_op_tuples_by_class_name() -> None:
    from typing import NamedTuple

    class GetOp(NamedTuple):  # shaped like LangGraph's, with an extra field
        namespace: tuple[str, ...]
        key: str
        refresh_ttl: bool = True
        future_field: int = 0

    op = normalize_op(GetOp(("a",), "k", False, 1))
    assert type(op).__module__ == "pitstop.store.base._types"
    assert op == (("a",), "k", False)


# --- filters -----------------------------------------------------------------------------------


def test_json_equal() -> None:
    assert json_equal(1, 1.0)
    assert not json_equal(True, 1)
    assert not json_equal(0, False)
    assert json_equal({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]})
    assert not json_equal({"a": 1}, {"a": 1, "b": 2})
    assert not json_equal([1], (1, 2))
    assert json_equal([1, 2], (1, 2))
    assert not json_equal("1", 1)
    assert not json_equal(None, 0)
    assert not json_equal({"a": 1}, "{'a': 1}")


@pytest.mark.parametrize(
    ("value", "filter", "expected"),
    [
        ({"n": 10}, {"n": {"$gt": 9}}, True),
        ({"n": 9}, {"n": {"$gt": 10}}, False),
        ({"n": "10"}, {"n": {"$gt": "9"}}, False),  # strings are lexicographic
        ({"n": None}, {"n": {"$lt": 5}}, False),
        ({}, {"n": {"$gte": 0}}, False),
        ({}, {"n": {"$ne": 1}}, True),
        ({}, {"n": None}, True),
        ({"n": float("nan")}, {"n": {"$lte": 1}}, False),
        ({"n": True}, {"n": {"$gt": 0}}, False),
        ({"a": {"b": {"c": 1, "d": 2}}}, {"a": {"b": {"c": 1}}}, True),
        ({"a": {"b": 1}}, {"a": {"b": {"$lt": 2}}}, True),
        ({"a": [1, {"x": 1, "y": 2}]}, {"a": [1, {"x": 1}]}, True),
        ({"a": [1, 2]}, {"a": [1]}, False),
        ({"a": 1, "b": 2}, {"a": 1, "b": 3}, False),
        ({"a": 1}, None, True),
        ({"a": 1}, {}, True),
    ],
    ids=repr,
)
def test_matches_filter(value: dict[str, Any], filter: Any, expected: bool) -> None:
    validate_filter(filter)
    assert matches_filter(value, filter) is expected


def test_validate_filter_errors() -> None:
    with pytest.raises(InvalidArgumentError, match=r"'\$like'"):
        validate_filter({"a": {"b": [{"$like": "x"}]}})
    with pytest.raises(InvalidArgumentError):
        validate_filter(["a"])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        validate_filter({1: 2})  # type: ignore[dict-item]


def test_filter_namespaces() -> None:
    namespaces = [("a", "b", "c"), ("a", "b"), ("a",), ("b", "a")]
    op = ListNamespacesOp((MatchCondition("prefix", ("a", "*")),), None, 100, 0)
    assert filter_namespaces(namespaces, op) == [("a", "b"), ("a", "b", "c")]
    op = ListNamespacesOp((MatchCondition("suffix", ("a",)),), 1, 100, 0)
    assert filter_namespaces(namespaces, op) == [("a",), ("b",)]


def test_rank_page_orders_scored_then_unscored() -> None:
    page = rank_page(
        [(0.1, "x"), (0.9, "y"), (0.5, "z"), (0.9, "w")], ["u", "v"], offset=0, limit=10
    )
    assert page == [(0.9, "y"), (0.9, "w"), (0.5, "z"), (0.1, "x"), (None, "u"), (None, "v")]
    assert rank_page([(0.1, "x")], ["u", "v"], offset=1, limit=1) == [(None, "u")]


# --- embedding paths ---------------------------------------------------------------------------


def test_tokenize_path() -> None:
    assert tokenize_path("a.b[0].c") == ["a", "b", "[0]", "c"]
    assert tokenize_path("arr[*]") == ["arr", "[*]"]
    assert tokenize_path("{a,b.c}") == ["{a,b.c}"]
    assert tokenize_path("x.{a,b}") == ["x", "{a,b}"]
    assert tokenize_path("") == []


DOC = {
    "title": "T",
    "n": 3,
    "flag": False,
    "none": None,
    "meta": {"author": {"name": "Ann"}, "tags": ["x", "y"]},
    "arr": [{"c": "first"}, {"c": "mid"}, {"c": "last"}, {"other": 1}],
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("title", ["T"]),
        ("n", ["3"]),
        ("flag", ["False"]),
        ("none", []),
        ("missing", []),
        ("meta.author.name", ["Ann"]),
        ("meta.tags", ['["x", "y"]']),
        ("meta.tags[*]", ["x", "y"]),
        ("arr[0].c", ["first"]),
        ("arr[-1].other", ["1"]),
        ("arr[-2].c", ["last"]),
        ("arr[9].c", []),
        ("arr[x]", []),
        ("title[0]", []),
        ("arr[*].c", ["first", "mid", "last"]),
        ("{title,meta.author.name,missing}", ["T", "Ann"]),
        ("meta.{tags[0],author.name}", ["x", "Ann"]),
        ("meta.author.*", ["Ann"]),
        ("$", [None]),
    ],
    ids=repr,
)
def test_get_text_at_path(path: str, expected: list[str | None]) -> None:
    if expected == [None]:
        import json

        expected = [json.dumps(DOC, sort_keys=True, ensure_ascii=False)]
    assert get_text_at_path(DOC, path) == expected


def test_extract_texts_names_multi_valued_paths() -> None:
    fields = tokenize_fields(["title", "arr[*].c", "missing"])
    assert extract_texts(DOC, fields) == [
        ("title", "T"),
        ("arr[*].c.0", "first"),
        ("arr[*].c.1", "mid"),
        ("arr[*].c.2", "last"),
    ]
    assert extract_texts({"a": "é"}, tokenize_fields(None)) == [("$", '{"a": "é"}')]
    with pytest.raises(InvalidArgumentError):
        tokenize_fields("title")


# --- embedding adapters ------------------------------------------------------------------------


def embed(texts: Sequence[str]) -> list[list[float]]:
    return [[float(len(t)), 1.0] for t in texts]


async def aembed(texts: Sequence[str]) -> list[list[float]]:
    return embed(texts)


class AsyncCallable:
    async def __call__(self, texts: Sequence[str]) -> list[list[float]]:
        return embed(texts)


class SyncOnlyEmbeddings:
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return embed(texts)


class AsyncOnlyEmbeddings:
    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return embed(texts)


@pytest.mark.parametrize(
    "embedder",
    [embed, aembed, AsyncCallable(), SyncOnlyEmbeddings(), AsyncOnlyEmbeddings()],
    ids=lambda e: getattr(e, "__name__", type(e).__name__),
)
async def test_adapter_async_side_accepts_every_kind(embedder: Any) -> None:
    adapter = ensure_embeddings(embedder)
    assert await adapter.aembed_documents(["ab", "c"]) == [[2.0, 1.0], [1.0, 1.0]]
    assert await adapter.aembed_query("abc") == [3.0, 1.0]
    assert await adapter.aembed_documents([]) == []
    assert ensure_embeddings(adapter) is adapter


@pytest.mark.parametrize(
    "embedder",
    [embed, aembed, AsyncCallable(), SyncOnlyEmbeddings(), AsyncOnlyEmbeddings()],
    ids=lambda e: getattr(e, "__name__", type(e).__name__),
)
def test_adapter_sync_side_accepts_every_kind(embedder: Any) -> None:
    # No event loop runs in this thread, so async-only embedders are run with asyncio.run.
    adapter = ensure_embeddings(embedder)
    assert adapter.embed_documents(["ab"]) == [[2.0, 1.0]]
    assert adapter.embed_query("abc") == [3.0, 1.0]


async def test_async_only_embedder_from_sync_code_inside_a_loop_fails_clearly() -> None:
    with pytest.raises(InvalidArgumentError, match="async"):
        ensure_embeddings(aembed).embed_documents(["x"])
    # ... but works from a worker thread of that loop.
    result = await asyncio.to_thread(ensure_embeddings(aembed).embed_documents, ["x"])
    assert result == [[1.0, 1.0]]


def test_adapter_checks_the_embedder_output() -> None:
    with pytest.raises(InvalidArgumentError, match="1 vectors for 2 texts"):
        ensure_embeddings(lambda texts: [[1.0]]).embed_documents(["a", "b"])
    with pytest.raises(InvalidArgumentError):
        ensure_embeddings(lambda texts: 3).embed_documents(["a"])


@pytest.mark.parametrize("bad", [None, 3, "openai:text-embedding-3-small"])
def test_ensure_embeddings_rejects(bad: Any) -> None:
    if isinstance(bad, str) and importlib.util.find_spec("langchain") is not None:
        pytest.skip("langchain is installed: provider strings resolve")
    with pytest.raises(InvalidArgumentError):
        ensure_embeddings(bad)


# --- works without LangGraph -------------------------------------------------------------------


def test_store_works_without_langgraph_or_langchain() -> None:
    script = textwrap.dedent(
        """
        import sys
        from importlib.abc import MetaPathFinder

        class Block(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("langgraph", "langchain_core", "langchain"):
                    raise ImportError(f"blocked {name}")
                return None

        sys.meta_path.insert(0, Block())
        import asyncio
        from pitstop.store.base import BaseStore
        from pitstop.store.base.batch import AsyncBatchedBaseStore
        from pitstop.store.memory import InMemoryStore

        allowed = ("pitstop", "abc", "builtins")
        assert all(c.__module__.startswith(allowed) for c in BaseStore.__mro__)
        store = InMemoryStore(index={"dims": 1, "embed": lambda texts: [[1.0] for _ in texts]})
        store.put(("a",), "k", {"v": 1}, ttl=5)
        assert store.get(("a",), "k").value == {"v": 1}
        assert asyncio.run(store.asearch(("a",), query="q"))[0].score == 1.0
        assert not any(m.split(".")[0] in ("langgraph", "langchain_core") for m in sys.modules)
        print("ok")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
