"""The convenience API of every pitstop store: get, search, put, delete, list_namespaces.

Each method builds one op with a shared helper from ``_shared`` and runs it as a one-op batch.
``_api_async.py`` is the source (async methods); ``_api.py`` is its generated sync twin: edit the
source, then run ``make generate``. Both classes are named ``StoreAPI``; ``BaseStore`` mixes in
the two.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any, Literal, cast

from pitstop.store.base._shared import (
    delete_op,
    get_op,
    list_namespaces_op,
    put_op,
    search_op,
)
from pitstop.store.base._types import (
    NOT_PROVIDED,
    Item,
    NamespacePath,
    NotProvided,
    Op,
    Result,
    SearchItem,
    TTLConfig,
)

__all__ = ["StoreAPI"]


class StoreAPI(ABC):
    """The convenience methods, each one op through the store's batch method."""

    __slots__ = ()

    supports_ttl: bool
    ttl_config: TTLConfig | None

    @abstractmethod
    async def abatch(self, ops: Iterable[Op]) -> builtins.list[Result]:
        """Run ops in one batch; results are index-aligned with ``ops``.

        The only abstract method: a store implements this and inherits the rest.

        Reads see the state before the batch's writes; puts to one key are last-write-wins.
        LangGraph's op tuples are accepted as well as pitstop's.
        """

    async def aget(
        self,
        namespace: tuple[str, ...],
        key: str,
        *,
        refresh_ttl: bool | None = None,
    ) -> Item | None:
        """Return the item at ``namespace``/``key``, or ``None``.

        ``refresh_ttl=None`` uses ``ttl_config["refresh_on_read"]`` (default True).
        """
        op = get_op(self.ttl_config, namespace, key, refresh_ttl)
        results = await self.abatch([op])
        return cast("Item | None", results[0])

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
        """Search items under ``namespace_prefix`` by ``filter`` and, with an index, ``query``."""
        op = search_op(
            self.ttl_config,
            namespace_prefix,
            query=query,
            filter=filter,
            limit=limit,
            offset=offset,
            refresh_ttl=refresh_ttl,
        )
        results = await self.abatch([op])
        return cast("builtins.list[SearchItem]", results[0])

    async def aput(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | builtins.list[str] | None = None,
        *,
        ttl: float | NotProvided | None = NOT_PROVIDED,
    ) -> None:
        """Create or replace the item at ``namespace``/``key`` (``value=None`` deletes it).

        Raises:
            InvalidNamespaceError: the namespace is empty, rooted at ``"langgraph"`` or has a
                bad label.
            NotImplementedError: ``ttl`` was given and the store has no TTL support.
        """
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
        await self.abatch([op])

    async def adelete(self, namespace: tuple[str, ...], key: str) -> None:
        """Delete the item at ``namespace``/``key`` (no error if it does not exist)."""
        await self.abatch([delete_op(namespace, key)])

    async def alist_namespaces(
        self,
        *,
        prefix: NamespacePath | None = None,
        suffix: NamespacePath | None = None,
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[tuple[str, ...]]:
        """List namespaces (sorted) matching ``prefix``/``suffix``, ``"*"`` matching one label."""
        op = list_namespaces_op(
            prefix=prefix, suffix=suffix, max_depth=max_depth, limit=limit, offset=offset
        )
        results = await self.abatch([op])
        return cast("builtins.list[tuple[str, ...]]", results[0])
