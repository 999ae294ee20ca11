"""A store base class that funnels concurrent async calls into one ``abatch`` per loop tick.

Subclasses implement ``abatch`` only. ``aget``/``asearch``/``aput``/``adelete``/
``alist_namespaces`` enqueue their op; a background task drains everything queued in the same
tick, de-duplicates it (identical reads run once, puts to one key collapse to the last) and
issues a single ``abatch``. The sync methods hand the work to the store's event loop from
another thread; called on that loop's own thread they would deadlock, so they raise
:class:`asyncio.InvalidStateError` instead.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import weakref
from collections.abc import Iterable, Mapping
from typing import Any, Literal, cast

from pitstop.store.base import BaseStore
from pitstop.store.base._loop import run_on_loop
from pitstop.store.base._shared import (
    delete_op,
    get_op,
    list_namespaces_op,
    put_op,
    search_op,
)
from pitstop.store.base._types import (
    NOT_PROVIDED,
    GetOp,
    Item,
    ListNamespacesOp,
    NamespacePath,
    NotProvided,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)

__all__ = ["AsyncBatchedBaseStore"]

_Queue = asyncio.Queue[tuple[asyncio.Future[Result], Op]]


class AsyncBatchedBaseStore(BaseStore):
    """Batch concurrent async calls in a background task; create it inside a running loop."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._aqueue: _Queue = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._ensure_task()

    def __del__(self) -> None:
        task = getattr(self, "_task", None)
        if task is not None and not task.done():
            with contextlib.suppress(RuntimeError):  # the loop is closed already
                task.get_loop().call_soon_threadsafe(task.cancel)

    def _ensure_task(self) -> None:
        if self._task is None or self._task.done():
            self._task = self._loop.create_task(_drain(self._aqueue, weakref.ref(self)))

    async def _submit(self, op: Op) -> Result:
        self._ensure_task()
        future: asyncio.Future[Result] = self._loop.create_future()
        self._aqueue.put_nowait((future, op))
        return await future

    # -- async API: enqueue ------------------------------------------------------------------

    async def aget(
        self,
        namespace: tuple[str, ...],
        key: str,
        *,
        refresh_ttl: bool | None = None,
    ) -> Item | None:
        """Return the item at ``namespace``/``key``, or ``None`` (batched)."""
        result = await self._submit(get_op(self.ttl_config, namespace, key, refresh_ttl))
        return cast("Item | None", result)

    async def asearch(
        self,
        namespace_prefix: tuple[str, ...],
        /,
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        refresh_ttl: bool | None = None,
    ) -> builtins.list[SearchItem]:
        """Search items under ``namespace_prefix`` (batched)."""
        op = search_op(
            self.ttl_config,
            namespace_prefix,
            query=query,
            filter=filter,
            limit=limit,
            offset=offset,
            refresh_ttl=refresh_ttl,
        )
        return cast("builtins.list[SearchItem]", await self._submit(op))

    async def aput(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | builtins.list[str] | None = None,
        *,
        ttl: float | NotProvided | None = NOT_PROVIDED,
    ) -> None:
        """Create or replace the item at ``namespace``/``key`` (batched)."""
        op = put_op(
            store_name=type(self).__name__,
            supports_ttl=self.supports_ttl,
            ttl_config=self.ttl_config,
            namespace=namespace,
            key=key,
            value=value,
            index=index,
            ttl=ttl,
        )
        await self._submit(op)

    async def adelete(self, namespace: tuple[str, ...], key: str) -> None:
        """Delete the item at ``namespace``/``key`` (batched)."""
        await self._submit(delete_op(namespace, key))

    async def alist_namespaces(
        self,
        *,
        prefix: NamespacePath | None = None,
        suffix: NamespacePath | None = None,
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[tuple[str, ...]]:
        """List namespaces (batched)."""
        op = list_namespaces_op(
            prefix=prefix, suffix=suffix, max_depth=max_depth, limit=limit, offset=offset
        )
        return cast("builtins.list[tuple[str, ...]]", await self._submit(op))

    # -- sync API: run on the store's loop from another thread -------------------------------

    def _on_loop(self, coro: Any, method: str) -> Any:
        return run_on_loop(self._loop, coro, owner=type(self).__name__, method=method)

    def batch(self, ops: Iterable[Op]) -> builtins.list[Result]:
        """Run ``abatch`` on the store's loop (from another thread)."""
        return cast("builtins.list[Result]", self._on_loop(self.abatch(list(ops)), "batch"))

    def get(
        self,
        namespace: tuple[str, ...],
        key: str,
        *,
        refresh_ttl: bool | None = None,
    ) -> Item | None:
        """Sync :meth:`aget` (from a thread other than the store's loop)."""
        coro = self.aget(namespace, key, refresh_ttl=refresh_ttl)
        return cast("Item | None", self._on_loop(coro, "get"))

    def search(
        self,
        namespace_prefix: tuple[str, ...],
        /,
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        refresh_ttl: bool | None = None,
    ) -> builtins.list[SearchItem]:
        """Sync :meth:`asearch` (from a thread other than the store's loop)."""
        coro = self.asearch(
            namespace_prefix,
            query=query,
            filter=filter,
            limit=limit,
            offset=offset,
            refresh_ttl=refresh_ttl,
        )
        return cast("builtins.list[SearchItem]", self._on_loop(coro, "search"))

    def put(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | builtins.list[str] | None = None,
        *,
        ttl: float | NotProvided | None = NOT_PROVIDED,
    ) -> None:
        """Sync :meth:`aput` (from a thread other than the store's loop)."""
        self._on_loop(self.aput(namespace, key, value, index, ttl=ttl), "put")

    def delete(self, namespace: tuple[str, ...], key: str) -> None:
        """Sync :meth:`adelete` (from a thread other than the store's loop)."""
        self._on_loop(self.adelete(namespace, key), "delete")

    def list_namespaces(
        self,
        *,
        prefix: NamespacePath | None = None,
        suffix: NamespacePath | None = None,
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[tuple[str, ...]]:
        """Sync :meth:`alist_namespaces` (from a thread other than the store's loop)."""
        coro = self.alist_namespaces(
            prefix=prefix, suffix=suffix, max_depth=max_depth, limit=limit, offset=offset
        )
        return cast("builtins.list[tuple[str, ...]]", self._on_loop(coro, "list_namespaces"))


def _index_of(seen: builtins.list[Op], op: Op) -> int | None:
    for i, other in enumerate(seen):
        if type(other) is type(op) and other == op:
            return i
    return None


def dedupe_ops(ops: builtins.list[Op]) -> tuple[builtins.list[int], builtins.list[Op]]:
    """Collapse a tick's ops: identical reads run once, puts to one key keep the last.

    Returns ``(listen, unique)``: the result of ``ops[i]`` is ``results[listen[i]]`` where
    ``results`` answers ``unique``.
    """
    unique: builtins.list[Op] = []
    listen: builtins.list[int] = []
    puts: dict[tuple[tuple[str, ...], str], int] = {}
    for op in ops:
        if isinstance(op, PutOp):
            slot = puts.get((op.namespace, op.key))
            if slot is None:
                slot = puts[(op.namespace, op.key)] = len(unique)
                unique.append(op)
            else:
                unique[slot] = op
        elif isinstance(op, GetOp | SearchOp | ListNamespacesOp):
            found = _index_of(unique, op)
            if found is None:
                slot = len(unique)
                unique.append(op)
            else:
                slot = found
        else:  # pragma: no cover - ops are normalised before they are queued
            slot = len(unique)
            unique.append(op)
        listen.append(slot)
    return listen, unique


async def _drain(queue: _Queue, store_ref: weakref.ref[AsyncBatchedBaseStore]) -> None:
    """Background task: one ``abatch`` for everything queued in the same tick."""
    while True:
        first = await queue.get()
        pending = [first]
        while not queue.empty():
            pending.append(queue.get_nowait())
        pending = [(future, op) for future, op in pending if not future.done()]
        if not pending:
            continue
        store = store_ref()
        if store is None:
            return
        try:
            listen, unique = dedupe_ops([op for _, op in pending])
            results = await store.abatch(unique)
            for (future, _), slot in zip(pending, listen, strict=True):
                if not future.done():
                    future.set_result(results[slot])
        except asyncio.CancelledError:
            for future, _ in pending:
                future.cancel()
            raise
        except Exception as exc:
            for future, _ in pending:
                if not future.done():
                    future.set_exception(exc)
        finally:
            del store
