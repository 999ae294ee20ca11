"""The LangGraph bridge, and differential tests against LangGraph's own InMemoryStore."""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Sequence
from typing import Any, TypedDict, cast

import pytest

pytest.importorskip("langgraph")

import langgraph.store.base as lg_base
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.config import get_store
from langgraph.graph import END, START, StateGraph
from langgraph.store.memory import InMemoryStore as LGInMemoryStore

from pitstop.store.base import BaseStore, InvalidNamespaceError, Item, SearchItem
from pitstop.store.memory import InMemoryStore

# --- the bridge --------------------------------------------------------------------------------


def test_pitstop_store_is_a_langgraph_store() -> None:
    store = InMemoryStore()
    assert isinstance(store, lg_base.BaseStore)
    assert issubclass(BaseStore, lg_base.BaseStore)


def test_every_public_langgraph_method_is_overridden() -> None:
    public = [name for name in dir(lg_base.BaseStore) if not name.startswith("_")]
    assert {"batch", "abatch", "get", "aget", "put", "supports_ttl", "ttl_config"} <= set(public)
    for name in public:
        owner = next(cls for cls in InMemoryStore.__mro__ if name in vars(cls))
        assert owner.__module__.startswith("pitstop."), f"{name} falls through to {owner}"


def test_signatures_match_langgraph() -> None:
    for name in ("get", "search", "put", "delete", "list_namespaces"):
        for prefix in ("", "a"):
            ours = inspect.signature(getattr(BaseStore, prefix + name))
            theirs = inspect.signature(getattr(lg_base.BaseStore, prefix + name))
            assert list(ours.parameters) == list(theirs.parameters), prefix + name
            for param, their_param in zip(
                ours.parameters.values(), theirs.parameters.values(), strict=True
            ):
                assert param.kind == their_param.kind, (prefix + name, param.name)
                if their_param.default is not inspect.Parameter.empty and param.name != "ttl":
                    assert param.default == their_param.default, (prefix + name, param.name)


async def test_batch_accepts_langgraph_ops() -> None:
    store = InMemoryStore()
    puts: list[Any] = [
        lg_base.PutOp(("a", "b"), "k", {"v": 1}),
        lg_base.PutOp(("a", "c"), "k", {"v": 2}),
    ]
    assert store.batch(puts) == [None, None]
    reads: list[Any] = [
        lg_base.GetOp(("a", "b"), "k"),
        lg_base.SearchOp(("a",), filter={"v": {"$gt": 1}}),
        lg_base.ListNamespacesOp(
            match_conditions=(lg_base.MatchCondition("prefix", ("a", "*")),), max_depth=2
        ),
    ]
    get, search, listed = cast("list[Any]", await store.abatch(reads))
    assert isinstance(get, Item)
    assert get.value == {"v": 1}
    assert [type(i) for i in search] == [SearchItem]
    assert search[0].namespace == ("a", "c")
    assert listed == [("a", "b"), ("a", "c")]


class NoTTLStore(InMemoryStore):
    supports_ttl = False


def test_langgraph_not_provided_sentinel_means_omitted() -> None:
    store = NoTTLStore()
    sentinel: Any = lg_base.NOT_PROVIDED
    store.put(("a",), "k", {"v": 3}, ttl=sentinel)  # not taken for a TTL value
    assert store.get(("a",), "k") is not None


# --- a real graph ------------------------------------------------------------------------------


class State(TypedDict):
    user: str
    seen: list[str]


def remember(state: State) -> dict[str, Any]:
    get_store().put(("memories", state["user"]), "greeting", {"text": f"hi {state['user']}"})
    return {}


def recall(state: State, *, store: BaseStore) -> dict[str, Any]:
    items = store.search(("memories", state["user"]))
    return {"seen": [item.value["text"] for item in items]}


async def arecall(state: State, *, store: BaseStore) -> dict[str, Any]:
    items = await store.asearch(("memories", state["user"]))
    return {"seen": [item.value["text"] for item in items]}


def build(recall_node: Any) -> StateGraph[State]:
    graph = StateGraph(State)
    graph.add_node("remember", remember)
    graph.add_node("recall", recall_node)
    graph.add_edge(START, "remember")
    graph.add_edge("remember", "recall")
    graph.add_edge("recall", END)
    return graph


def test_compiled_graph_reads_and_writes_the_store() -> None:
    store = InMemoryStore()
    app = build(recall).compile(store=store)  # type: ignore[arg-type]
    assert app.invoke({"user": "ann", "seen": []}) == {"user": "ann", "seen": ["hi ann"]}
    item = store.get(("memories", "ann"), "greeting")
    assert item is not None
    assert item.value == {"text": "hi ann"}


async def test_compiled_graph_async() -> None:
    store = InMemoryStore()
    # pitstop's BaseStore subclasses LangGraph's at run time only (mypy sees `object`).
    app = build(arecall).compile(store=store)  # type: ignore[arg-type]
    assert await app.ainvoke({"user": "bob", "seen": []}) == {"user": "bob", "seen": ["hi bob"]}
    assert await store.alist_namespaces() == [("memories", "bob")]


# --- differential: list_namespaces -------------------------------------------------------------

labels = st.sampled_from(["a", "b", "c", "d"])
namespaces = st.lists(
    st.tuples(*[labels] * 1) | st.lists(labels, min_size=1, max_size=4).map(tuple), max_size=12
)
patterns = st.none() | st.lists(labels | st.just("*"), min_size=1, max_size=3).map(tuple)


def both(ns_list: Sequence[tuple[str, ...]]) -> tuple[InMemoryStore, LGInMemoryStore]:
    ours, theirs = InMemoryStore(), LGInMemoryStore()
    for i, ns in enumerate(ns_list):
        ours.put(ns, f"k{i}", {"i": i})
        theirs.put(ns, f"k{i}", {"i": i})
    return ours, theirs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ns_list=namespaces,
    prefix=patterns,
    suffix=patterns,
    max_depth=st.none() | st.integers(1, 4),
    limit=st.integers(0, 6),
    offset=st.integers(0, 6),
)
def test_list_namespaces_matches_langgraph(
    ns_list: list[tuple[str, ...]],
    prefix: tuple[str, ...] | None,
    suffix: tuple[str, ...] | None,
    max_depth: int | None,
    limit: int,
    offset: int,
) -> None:
    ours, theirs = both(ns_list)
    kwargs: dict[str, Any] = {
        "prefix": prefix,
        "suffix": suffix,
        "max_depth": max_depth,
        "limit": limit,
        "offset": offset,
    }
    assert ours.list_namespaces(**kwargs) == theirs.list_namespaces(**kwargs)


# --- differential: filters ---------------------------------------------------------------------

numbers = st.integers(-3, 12) | st.floats(-3, 12, allow_nan=False).map(lambda x: round(x, 1))
words = st.sampled_from(["x", "y", "z"])
values = st.fixed_dictionaries(
    {
        "n": numbers,
        "s": words,
        "d": st.fixed_dictionaries({"x": st.integers(0, 3), "y": words}),
        "l": st.lists(st.integers(0, 2), max_size=2),
    }
)
operators = st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"])
conditions = {
    "n": numbers | st.dictionaries(operators, numbers, min_size=1, max_size=2),
    "s": words | st.dictionaries(st.sampled_from(["$eq", "$ne"]), words, min_size=1),
    "d": st.fixed_dictionaries({}, optional={"x": st.integers(0, 3), "y": words})
    | st.fixed_dictionaries({"x": st.dictionaries(operators, st.integers(0, 3), min_size=1)}),
    "l": st.lists(st.integers(0, 2), max_size=2),
}
filters = st.fixed_dictionaries({}, optional=conditions)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(values, max_size=10), filter=filters)
def test_filter_search_matches_langgraph(
    items: list[dict[str, Any]], filter: dict[str, Any]
) -> None:
    ours, theirs = InMemoryStore(), LGInMemoryStore()
    for i, value in enumerate(items):
        ours.put(("docs", str(i % 2)), f"k{i}", value)
        theirs.put(("docs", str(i % 2)), f"k{i}", value)
    ours_found = {(i.namespace, i.key) for i in ours.search(("docs",), filter=filter, limit=100)}
    their_found = {(i.namespace, i.key) for i in theirs.search(("docs",), filter=filter, limit=100)}
    assert ours_found == their_found


@pytest.mark.parametrize(
    "namespace",
    [(), ("a.b",), ("",), ("langgraph", "x"), ("x", "langgraph"), ("a", 1), ("ok", "fine")],
    ids=repr,
)
def test_namespace_validation_matches_langgraph(namespace: Any) -> None:
    def outcome(store: Any) -> str:
        try:
            store.put(namespace, "k", {"v": 1})
        except ValueError as exc:
            return "rejected" if "amespace" in type(exc).__name__ else f"other {exc!r}"
        return "accepted"

    theirs = outcome(LGInMemoryStore())
    assert outcome(InMemoryStore()) == theirs
    if theirs == "rejected":
        with pytest.raises(InvalidNamespaceError):
            InMemoryStore().put(namespace, "k", {"v": 1})


# --- differential: vector ranking --------------------------------------------------------------

VOCAB = ("apple", "banana", "cherry", "date")


def bag_of_words(texts: Sequence[str]) -> list[list[float]]:
    words = [re.findall(r"[a-z]+", t.lower()) for t in texts]
    return [[float(w.count(v)) + 0.01 * k for k, v in enumerate(VOCAB)] for w in words]


docs = st.lists(st.lists(st.sampled_from(VOCAB), min_size=1, max_size=4), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents=docs, query=st.lists(st.sampled_from(VOCAB), min_size=1, max_size=3))
def test_vector_ranking_matches_langgraph(documents: list[list[str]], query: list[str]) -> None:
    index: Any = {"dims": len(VOCAB), "embed": bag_of_words, "fields": ["text", "alt"]}
    ours, theirs = InMemoryStore(index=index), LGInMemoryStore(index=index)
    for i, words_ in enumerate(documents):
        # "alt" never equals "text": LangGraph's store fails when two fields share a text.
        value = {"text": " ".join(words_), "alt": f"alt {words_[0]}"}
        ours.put(("docs",), f"k{i}", value)
        theirs.put(("docs",), f"k{i}", value)
    q = " ".join(query)
    our_scores = {i.key: i.score for i in ours.search(("docs",), query=q, limit=100)}
    their_scores = {i.key: i.score for i in theirs.search(("docs",), query=q, limit=100)}
    assert our_scores.keys() == their_scores.keys()
    for key, score in our_scores.items():
        assert score is not None
        assert their_scores[key] is not None
        assert math.isclose(score, their_scores[key] or 0.0, rel_tol=1e-9, abs_tol=1e-12)
    ranked = [i.score for i in ours.search(("docs",), query=q, limit=100)]
    assert ranked == sorted(ranked, reverse=True)  # type: ignore[type-var]
