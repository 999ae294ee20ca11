"""The Redis store, written once: ``AsyncRedisStore`` (redis.asyncio) and ``RedisStore`` (redis).

``_store_async.py`` is the source; ``_store.py`` is generated from it (``make generate``).
"""

from __future__ import annotations

import asyncio  # ASYNC
import builtins
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import redis.asyncio
from pitstop.checkpoint.redis._scripts import Script
from pitstop.store.base import (
    GetOp,
    IndexConfig,
    ListNamespacesOp,
    Op,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
)
from pitstop.store.redis import _scripts as s
from pitstop.store.redis._base import SEARCH_CHUNK_MAX, Stored, _to_us
from redis.exceptions import NoScriptError

if True:  # ASYNC
    from pitstop.store.redis._base import AsyncSide as _Side
else:
    from pitstop.store.redis._base import SyncSide as _Side

__all__ = ["AsyncRedisStore"]


class AsyncRedisStore(_Side):
    """A long-term memory store on plain Redis (hashes, sorted sets, Lua): TTL, filters, vectors.

    Results equal :class:`~pitstop.store.memory.InMemoryStore`'s for the same operations. All
    keys of a store share one hash tag, so it works on a cluster (in one slot). Two indexes,
    kept in step by the write scripts, let reads avoid the whole store: ``list_namespaces``
    ranges over the sorted set of namespaces under its literal prefix, and ``search`` pages
    through a recency index newest first (a prefix holding under an eighth of the store is
    read and sorted in the script instead), so an unfiltered page reads just the page; a
    filtered one reads chunks in order until the page is full (one script call per chunk:
    under concurrent writes a multi-chunk page is not one snapshot). Vector search is brute
    force (float32 embeddings, cosine similarity, max-pooled over an item's fields) over the
    items under the prefix. Expired items are never returned, whatever the sweeper does:
    expiry is decided by the store's clock at every read, so ``refresh_on_read`` is exact;
    :meth:`sweep_ttl` (or the sweeper, :meth:`start_ttl_sweeper`) deletes them to free memory.
    Reads run before the batch's writes, which are applied in one atomic script.

    Args:
        client: the client (not closed by the store; ``from_conn_string`` closes its own).
        prefix: the hash tag of every key of this store.
        index: vector-index configuration (``dims``, ``embed``, ``fields``).
        ttl: TTL configuration (``default_ttl``, ``refresh_on_read``,
            ``sweep_interval_minutes``: the sweeper's default interval).
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
        clock: Callable[[], datetime] | None = None,
    ) -> AsyncIterator[AsyncRedisStore]:
        """Open a store on a ``redis://`` URL; the client closes (and the sweeper stops) on exit."""
        client = redis.asyncio.Redis.from_url(conn_string)
        try:
            store = cls(client, prefix=prefix, index=index, ttl=ttl, clock=clock)
            try:
                yield store
            finally:
                await store.stop_ttl_sweeper()
        finally:
            await client.aclose()

    async def _eval(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await self._cmd.evalsha(script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self._cmd.eval(script.text, len(keys), *keys, *args)

    async def _ensure_index(self) -> None:
        """Build the namespace and recency indexes of data written before they existed (once)."""
        if not self._indexed:
            await self._eval(s.INDEX, self.keys, [s.INDEX_VERSION])
            self._indexed = True

    async def _read(self, bounds: tuple[bytes, bytes], records: bool = True) -> Any:
        return await self._eval(s.READ, self.keys[:4], [*bounds, "1" if records else "0"])

    async def _search(
        self,
        op: SearchOp,
        now_ms: int,
        queries: Mapping[str, Sequence[float]],
        refresh: builtins.list[Stored],
    ) -> builtins.list[SearchItem]:
        if op.limit <= 0:
            return []
        enc = s.ns_enc(op.namespace_prefix)
        vector, skip, want = self._search_args(op)
        matches: builtins.list[Stored] = []
        cursor = b""
        while True:
            done, cursor, entries = await self._eval(
                s.SEARCH, self.keys[:7], [enc, now_ms, cursor, skip, want]
            )
            matches += self._matches(op, entries, now_ms)
            if done or vector or not op.filter or len(matches) >= op.offset + op.limit:
                break
            want = min(want * 2, SEARCH_CHUNK_MAX)  # rare matches: fewer, larger reads
        return self._search_result(op, matches, skip, queries, refresh)

    async def abatch(self, ops: Iterable[Op]) -> builtins.list[Result]:
        """Run ops in one batch; results are index-aligned with ``ops``.

        Reads see the state before the batch's writes; puts to one key are last-write-wins;
        embeddings are computed first, so a failing embedder leaves the store unchanged.
        """
        plan = self._plan(ops)
        queries, vectors = await self._embed_plan(plan)
        await self._ensure_index()
        now = self._now()
        now_ms = _to_us(now) // 1000
        refresh: builtins.list[Stored] = []
        results: builtins.list[Result] = []
        for op in plan.ops:
            if isinstance(op, GetOp):
                entries = await self._read(self._range_of(op.namespace, op.key))
                results.append(self._get_result(op, entries, now_ms, refresh))
            elif isinstance(op, SearchOp):
                results.append(await self._search(op, now_ms, queries, refresh))
            elif isinstance(op, ListNamespacesOp):
                keys = [self.keys[0], self.keys[3], self.keys[5]]
                bounds = self._namespace_bounds(op)
                encoded = await self._eval(s.LIST, keys, [*bounds, now_ms])
                results.append(self._namespaces_result(op, encoded))
            else:
                results.append(None)
        if refresh:
            await self._eval(s.REFRESH, self.keys[3:4], self._refresh_args(refresh, now))
        if plan.puts:
            await self._eval(s.PUT, self.keys[:7], self._put_args(plan, vectors, now))
        return results

    async def asweep_ttl(self) -> int:
        """Delete every expired item now; return how many were deleted."""
        await self._ensure_index()
        now_ms = _to_us(self._now()) // 1000
        return int(await self._eval(s.SWEEP, self.keys[:7], [now_ms]))
