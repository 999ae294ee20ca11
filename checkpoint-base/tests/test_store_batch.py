"""AsyncBatchedBaseStore: one abatch per loop tick, de-duplication, and T12 (sync on the loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest

from pitstop.checkpoint.errors import InvalidArgumentError
from pitstop.store.base import GetOp, InvalidNamespaceError, Op, PutOp, Result, SearchOp
from pitstop.store.base.batch import AsyncBatchedBaseStore, dedupe_ops
from pitstop.store.memory import InMemoryStore


class BatchedMemoryStore(AsyncBatchedBaseStore):
    """Batched front over an InMemoryStore that records every abatch it receives."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.inner = InMemoryStore(**kwargs)
        self.calls: list[list[Op]] = []

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        ops = list(ops)
        self.calls.append(ops)
        return await self.inner.abatch(ops)


async def test_concurrent_calls_share_one_abatch() -> None:
    store = BatchedMemoryStore()
    await asyncio.gather(store.aput(("a",), "x", {"v": 1}), store.aput(("b",), "y", {"v": 2}))
    assert len(store.calls) == 1
    assert len(store.calls[0]) == 2
    store.calls.clear()
    x, y, missing, listed = await asyncio.gather(
        store.aget(("a",), "x"),
        store.aget(("b",), "y"),
        store.aget(("a",), "nope"),
        store.alist_namespaces(),
    )
    assert x is not None
    assert x.value == {"v": 1}
    assert y is not None
    assert y.value == {"v": 2}
    assert missing is None
    assert listed == [("a",), ("b",)]
    assert len(store.calls) == 1


async def test_dedupes_identical_reads_and_collapses_puts() -> None:
    store = BatchedMemoryStore()
    await asyncio.gather(
        store.aput(("t",), "k", {"v": 1}),
        store.aput(("t",), "k", {"v": 2}),
        store.aput(("t",), "other", {"v": 3}),
    )
    assert store.calls == [[PutOp(("t",), "k", {"v": 2}), PutOp(("t",), "other", {"v": 3})]]
    store.calls.clear()
    first, second, third, s1, s2 = await asyncio.gather(
        store.aget(("t",), "k"),
        store.aget(("t",), "k"),
        store.aget(("t",), "other"),
        store.asearch(("t",), filter={"v": 2}),
        store.asearch(("t",), filter={"v": 2}),  # unhashable op (a dict inside): still shared
    )
    assert first == second
    assert first is not None
    assert first.value == {"v": 2}
    assert third is not None
    assert third.value == {"v": 3}
    assert s1 == s2
    assert [i.key for i in s1] == ["k"]
    assert len(store.calls) == 1
    assert len(store.calls[0]) == 3


def test_dedupe_ops_maps_results_back() -> None:
    ops: list[Op] = [
        GetOp(("a",), "k"),
        PutOp(("a",), "k", {"v": 1}),
        GetOp(("a",), "k"),
        SearchOp(("a",), filter={"x": 1}),
        PutOp(("a",), "k", None),
        SearchOp(("a",), filter={"x": 1}),
    ]
    listen, unique = dedupe_ops(ops)
    assert unique == [GetOp(("a",), "k"), PutOp(("a",), "k", None), SearchOp(("a",), {"x": 1})]
    assert listen == [0, 1, 0, 2, 1, 2]


async def test_errors_reach_every_caller_of_the_tick() -> None:
    store = BatchedMemoryStore()
    results = await asyncio.gather(
        store.aget(("a",), "k"),
        store.asearch(("a",), limit=-1),
        return_exceptions=True,
    )
    assert isinstance(results[1], InvalidArgumentError)
    # The store keeps working afterwards.
    await store.aput(("a",), "k", {"v": 1})
    assert (await store.aget(("a",), "k")) is not None


async def test_namespace_validation_happens_at_the_call() -> None:
    store = BatchedMemoryStore()
    for bad in [(), ("a.b",), ("",), ("langgraph", "foo")]:
        with pytest.raises(InvalidNamespaceError):
            await store.aput(bad, "k", {"v": 1})
    await store.aput(("foo", "langgraph", "foo"), "bar", {"v": 1})
    assert (await store.asearch(("foo", "langgraph", "foo")))[0].value == {"v": 1}
    await store.adelete(("foo", "langgraph", "foo"), "bar")
    assert await store.aget(("foo", "langgraph", "foo"), "bar") is None
    assert store.calls
    assert not any(op.namespace == () for c in store.calls for op in c if isinstance(op, PutOp))


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("get", ((("a",), "k"))),
        ("search", ((("a",),))),
        ("put", ((("a",), "k", {"v": 1}))),
        ("delete", ((("a",), "k"))),
        ("list_namespaces", ()),
        ("batch", (([GetOp(("a",), "k")],))),
    ],
)
async def test_t12_sync_call_on_the_loop_thread_raises(method: str, args: tuple[Any, ...]) -> None:
    store = BatchedMemoryStore()
    with pytest.raises(asyncio.InvalidStateError, match=f"a{method}"):
        getattr(store, method)(*args)
    assert store.calls == []


async def test_sync_calls_from_another_thread_work() -> None:
    store = BatchedMemoryStore(ttl={"default_ttl": 10})

    def sync_client() -> list[Any]:
        store.put(("a",), "k", {"v": 1})
        out: list[Any] = [store.get(("a",), "k")]
        out.append(store.search(("a",)))
        out.append(store.list_namespaces())
        out.append(store.batch([GetOp(("a",), "k")]))
        store.delete(("a",), "k")
        out.append(store.get(("a",), "k"))
        return out

    item, found, namespaces, batch, gone = await asyncio.to_thread(sync_client)
    assert item.value == {"v": 1}
    assert [i.key for i in found] == ["k"]
    assert namespaces == [("a",)]
    assert batch == [item]
    assert gone is None


def test_needs_a_running_loop() -> None:
    with pytest.raises(RuntimeError):
        BatchedMemoryStore()


def test_sync_calls_while_the_loop_is_idle_run_on_it() -> None:
    loop = asyncio.new_event_loop()
    try:

        async def make() -> BatchedMemoryStore:
            return BatchedMemoryStore()

        store = loop.run_until_complete(make())
        store.put(("a",), "k", {"v": 1})  # the store's loop is not running: run it here
        item = store.get(("a",), "k")
        assert item is not None
        assert item.value == {"v": 1}
        assert len(store.calls) == 2
    finally:
        pending = asyncio.all_tasks(loop)  # the store's batching task
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
