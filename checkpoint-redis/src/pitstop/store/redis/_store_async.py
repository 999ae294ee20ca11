"""The Redis store, written once: ``AsyncRedisStore`` (redis.asyncio) and ``RedisStore`` (redis).

``_store_async.py`` is the source; ``_store.py`` is generated from it (``make generate``).
"""

from __future__ import annotations

import asyncio  # ASYNC
import builtins
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import redis.asyncio
from pitstop.checkpoint.redis._scripts import Script
from pitstop.store.base import GetOp, IndexConfig, ListNamespacesOp, Op, Result, SearchOp, TTLConfig
from pitstop.store.redis import _scripts as s
from pitstop.store.redis._base import Stored, _to_us
from redis.exceptions import NoScriptError

if True:  # ASYNC
    from pitstop.store.redis._base import AsyncSide as _Side
else:
    from pitstop.store.redis._base import SyncSide as _Side

__all__ = ["AsyncRedisStore"]


class AsyncRedisStore(_Side):
    """A long-term memory store on plain Redis (hashes, sorted sets, Lua): TTL, filters, vectors.

    Results equal :class:`~pitstop.store.memory.InMemoryStore`'s for the same operations. All
    keys of a store share one hash tag, so it works on a cluster (in one slot). A ``search``
    reads every item under its namespace prefix in one script call, applies the filter, then
    orders and pages, so a page is never short; vector search is brute force (float32
    embeddings, cosine similarity, max-pooled over an item's fields). Expired items are never
    returned; :meth:`sweep_ttl` deletes them. Reads run before the batch's writes, which are
    applied in one atomic script.

    Args:
        client: the client (not closed by the store; ``from_conn_string`` closes its own).
        prefix: the hash tag of every key of this store.
        index: vector-index configuration (``dims``, ``embed``, ``fields``).
        ttl: TTL configuration (``default_ttl``, ``refresh_on_read``).
        clock: returns the current time (timezone-aware); injectable for tests.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis | redis.asyncio.RedisCluster,
        *,
        prefix: str = "pitstop",
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(prefix=prefix, index=index, ttl=ttl, clock=clock)
        self.client = client
        self._cmd: Any = client
        if True:  # ASYNC
            try:
                self.loop = asyncio.get_running_loop()
            except RuntimeError:
                self.loop = None

    @classmethod
    @asynccontextmanager
    async def from_conn_string(
        cls,
        conn_string: str,
        *,
        prefix: str = "pitstop",
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
    ) -> AsyncIterator[AsyncRedisStore]:
        """Open a store on a ``redis://`` URL; the client closes on exit."""
        client = redis.asyncio.Redis.from_url(conn_string)
        try:
            yield cls(client, prefix=prefix, index=index, ttl=ttl)
        finally:
            await client.aclose()

    async def _eval(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await self._cmd.evalsha(script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self._cmd.eval(script.text, len(keys), *keys, *args)

    async def _read(self, bounds: tuple[bytes, bytes], records: bool = True) -> Any:
        return await self._eval(s.READ, self.keys[:4], [*bounds, "1" if records else "0"])

    async def abatch(self, ops: Iterable[Op]) -> builtins.list[Result]:
        """Run ops in one batch; results are index-aligned with ``ops``.

        Reads see the state before the batch's writes; puts to one key are last-write-wins;
        embeddings are computed first, so a failing embedder leaves the store unchanged.
        """
        plan = self._plan(ops)
        queries: dict[str, builtins.list[float]] = {}
        documents: builtins.list[builtins.list[float]] = []
        if self.embeddings is not None:
            for query in plan.queries:
                queries[query] = await self.embeddings.aembed_query(query)
            if plan.texts:
                documents = await self.embeddings.aembed_documents(plan.texts)
            self._check_dims(queries.values())
        now = self._now()
        now_ms = _to_us(now) // 1000
        refresh: builtins.list[Stored] = []
        results: builtins.list[Result] = []
        for op in plan.ops:
            if isinstance(op, GetOp):
                entries = await self._read(self._range_of(op.namespace, op.key))
                results.append(self._get_result(op, entries, now_ms, refresh))
            elif isinstance(op, SearchOp):
                entries = await self._read(self._range_of(op.namespace_prefix))
                results.append(self._search_result(op, entries, now_ms, queries, refresh))
            elif isinstance(op, ListNamespacesOp):
                entries = await self._read(self._range_of(()), records=False)
                results.append(self._namespaces_result(op, entries, now_ms))
            else:
                results.append(None)
        if refresh:
            await self._eval(s.REFRESH, self.keys[3:4], self._refresh_args(refresh, now))
        if plan.puts:
            await self._eval(s.PUT, self.keys, self._put_args(plan, documents, now))
        return results

    async def asweep_ttl(self) -> int:
        """Delete every expired item now; return how many were deleted."""
        now_ms = _to_us(self._now()) // 1000
        return int(await self._eval(s.SWEEP, self.keys[:4], [now_ms]))
