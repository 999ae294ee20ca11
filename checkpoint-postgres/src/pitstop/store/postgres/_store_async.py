"""The PostgreSQL store, written once: ``AsyncPostgresStore`` and ``PostgresStore`` (psycopg 3).

``_store_async.py`` is the source; ``_store.py`` is generated from it (``make generate``). The
non-blocking half of every method (planning, SQL composition, decoding, ranking) is in
``_base.py``.
"""

from __future__ import annotations

import asyncio  # ASYNC
import builtins
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection, AsyncCursor, errors
from psycopg.rows import TupleRow, tuple_row
from psycopg_pool import AsyncConnectionPool

from pitstop.checkpoint.base._acompat import ALock
from pitstop.store.base import (
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    Op,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    filter_namespaces,
)
from pitstop.store.postgres import _queries as q
from pitstop.store.postgres._base import (
    Frag,
    Plan,
    Row,
    cosine_scores,
    decode_rows,
    join_namespace,
    pending_migrations,
    pgvector_text,
    rank,
    refresh_params,
    split_namespace,
)

if True:  # ASYNC
    from pitstop.store.postgres._base import AsyncSide as _Side
else:
    from pitstop.store.postgres._base import SyncSide as _Side

__all__ = ["AsyncPostgresStore"]

logger = logging.getLogger("pitstop.store.postgres")

DEFAULT_POOL_SIZE = 10
BATCH_ATTEMPTS = 5
"""A batch that loses a deadlock or serialization race is run again, up to this many times."""

_Cursor = AsyncCursor[TupleRow]


class AsyncPostgresStore(_Side):
    """A long-term memory store in PostgreSQL: TTL, JSONB filters and optional vector search.

    Results equal :class:`~pitstop.store.memory.InMemoryStore`'s for the same operations. Each
    batch is one transaction: its reads run first (they see the state before its writes), then
    the TTL refreshes of what it read, then its puts, written in key order so that concurrent
    batches never deadlock on each other.

    Over a pool, concurrent calls use concurrent connections; over a single connection they
    take turns. A connection must be in autocommit mode, or idle in a transaction-less state
    (the store opens and commits its own transactions). The caller owns a connection or pool
    it passes in; :meth:`from_conn_string` closes the pool it opens.

    Args:
        conn: a psycopg connection, or a ``psycopg_pool`` connection pool.
        schema: the schema holding the store's tables (created by ``setup()``); default: the
            connection's ``search_path``.
        index: vector-index configuration (``dims``, ``embed``, ``fields``). With the
            ``vector`` extension available on the server, embeddings are stored and scored by
            pgvector; otherwise as float32 bytes scored (cosine, brute force over the items
            that pass the namespace and filter) in Python.
        ttl: TTL configuration (``default_ttl``, ``refresh_on_read``,
            ``sweep_interval_minutes``).
        clock: returns the current time (timezone-aware); injectable for tests.
    """

    def __init__(
        self,
        conn: AsyncConnection[Any] | AsyncConnectionPool[Any],
        *,
        schema: str | None = None,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(schema=schema, index=index, ttl=ttl, clock=clock)
        self.conn = conn
        self._lock = ALock()
        self._setup_lock = ALock()
        if True:  # ASYNC
            self.loop = asyncio.get_running_loop()

    @classmethod
    @asynccontextmanager
    async def from_conn_string(
        cls,
        conn_string: str,
        *,
        schema: str | None = None,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        clock: Callable[[], datetime] | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> AsyncIterator[AsyncPostgresStore]:
        """Open a pool of up to ``pool_size`` autocommit connections; close it on exit."""
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            conn_string,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True},
            open=False,
        )
        await pool.open(wait=True)
        try:
            store = cls(pool, schema=schema, index=index, ttl=ttl, clock=clock)
            try:
                yield store
            finally:
                await store.stop_ttl_sweeper()
        finally:
            await pool.close()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        if isinstance(self.conn, AsyncConnectionPool):
            async with self.conn.connection() as conn:
                yield conn
        else:
            async with self._lock:
                yield self.conn

    # -- schema ---------------------------------------------------------------------------------

    async def setup(self) -> None:
        """Create or migrate the schema (idempotent; also run by the first operation).

        Each migration runs in its own transaction under an advisory lock, so several
        processes may call this at once.

        Raises:
            MigrationError: the database was written by a newer pitstop.
        """
        if self.is_setup:
            return
        async with self._setup_lock:
            if self.is_setup:
                return
            async with self._connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
                await self._migrate(conn, cur)
                if self.embeddings is not None:
                    await self._setup_pgvector(conn, cur)
            self.is_setup = True

    async def _migrate(self, conn: AsyncConnection[Any], cur: _Cursor) -> None:
        queries = self.queries
        while True:
            async with conn.transaction():
                await cur.execute(q.ADVISORY_XACT_LOCK, (queries.lock_key,))
                if queries.schema is not None:
                    await cur.execute(queries.create_schema)
                await cur.execute(queries.create_migrations_table)
                await cur.execute(queries.select_migration_version)
                row = await cur.fetchone()
                assert row is not None
                pending = pending_migrations(row[0])
                if not pending:
                    return
                v = pending[0]
                for statement in queries.migrations[v]:
                    await cur.execute(statement)
                await cur.execute(queries.insert_migration, (v,))

    async def _setup_pgvector(self, conn: AsyncConnection[Any], cur: _Cursor) -> None:
        # Not exercised by the test server here (it has no pgvector): see the README.
        await cur.execute(q.PGVECTOR_AVAILABLE)
        if await cur.fetchone() is None:
            return
        try:
            async with conn.transaction():
                await cur.execute(q.ADVISORY_XACT_LOCK, (self.queries.lock_key,))
                await cur.execute(q.CREATE_VECTOR_EXTENSION)
                await cur.execute(self.queries.create_pgvectors)
        except psycopg.Error as exc:  # e.g. no privilege to create the extension
            logger.warning("pgvector is available but unusable (%s): using the fallback", exc)
            return
        self.uses_pgvector = True

    # -- batch ----------------------------------------------------------------------------------

    async def abatch(self, ops: Iterable[Op]) -> builtins.list[Result]:
        """Run ops in one transaction; results are index-aligned with ``ops``.

        Reads see the state before the batch's writes; puts to one key are last-write-wins;
        embeddings are computed first, so a failing embedder leaves the store unchanged.
        """
        plan = self._plan(ops)
        queries, vectors = await self._embed_plan(plan)
        await self.setup()
        for attempt in range(BATCH_ATTEMPTS):
            try:
                async with (
                    self._connection() as conn,
                    conn.transaction(),
                    conn.cursor(row_factory=tuple_row) as cur,
                ):
                    return await self._execute(cur, plan, queries, vectors)
            except (errors.DeadlockDetected, errors.SerializationFailure):
                if attempt == BATCH_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _execute(
        self,
        cur: _Cursor,
        plan: Plan,
        queries: Mapping[str, Sequence[float]],
        vectors: Mapping[str, Sequence[float]],
    ) -> builtins.list[Result]:
        now = self._now()
        refresh: builtins.list[tuple[datetime, str, str]] = []
        results: builtins.list[Result] = []
        for op in plan.ops:
            if isinstance(op, GetOp):
                results.append(await self._get(cur, op, now, refresh))
            elif isinstance(op, SearchOp):
                results.append(await self._search(cur, op, now, queries, refresh))
            elif isinstance(op, ListNamespacesOp):
                results.append(await self._list_namespaces(cur, op, now))
            else:
                results.append(None)
        sql = self.queries
        if refresh:
            refresh.sort(key=lambda r: (r[1], r[2]))  # rows locked in key order
            await cur.executemany(sql.refresh_ttl, refresh)
        if plan.puts:
            seqs: builtins.list[int] = []
            count = self._put_count(plan)
            if count:
                await cur.execute(sql.next_seqs, (count,))
                seqs = [r[0] for r in await cur.fetchall()]
            rows = self._put_rows(plan, now, seqs, vectors)
            if rows.deletes:
                await cur.executemany(sql.delete_item, rows.deletes)
            if rows.upserts:
                await cur.executemany(sql.upsert_item, rows.upserts)
            if self.uses_pgvector:
                await cur.executemany(sql.delete_pgvectors, rows.touched)
                if rows.vectors:
                    await cur.executemany(sql.insert_pgvector, self._vector_params(rows))
            elif rows.upserts:  # a deleted item's vectors go with it (ON DELETE CASCADE)
                await cur.executemany(sql.delete_vectors, [r[:2] for r in rows.upserts])
                if rows.vectors:
                    await cur.executemany(sql.insert_vector, self._vector_params(rows))
        return results

    async def _get(
        self,
        cur: _Cursor,
        op: GetOp,
        now: datetime,
        refresh: builtins.list[tuple[datetime, str, str]],
    ) -> Item | None:
        await cur.execute(self.queries.get_item, (join_namespace(op.namespace), op.key, now))
        row = self._item(await cur.fetchall(), op)
        if row is None:
            return None
        if op.refresh_ttl and row.ttl_minutes is not None:
            refresh.append(refresh_params(now, row))
        return row.item()

    async def _search(
        self,
        cur: _Cursor,
        op: SearchOp,
        now: datetime,
        queries: Mapping[str, Sequence[float]],
        refresh: builtins.list[tuple[datetime, str, str]],
    ) -> builtins.list[SearchItem]:
        items, where = self.queries.search(op, now)
        page: builtins.list[tuple[float | None, Row]]
        if op.query and self.embeddings is not None:
            await cur.execute(items.sql, items.params)
            rows = decode_rows(await cur.fetchall())
            query = queries[op.query]
            if self.uses_pgvector:  # untested here: the test server has no pgvector
                scored = self.queries.frag(q.SEARCH_PGVECTORS, pgvector_text(query), now) + where
                await cur.execute(scored.sql, scored.params)
                scores = await cur.fetchall()
            else:
                stored = self.queries.frag(q.SEARCH_VECTORS, now) + where
                await cur.execute(stored.sql, stored.params)
                scores = cosine_scores(await cur.fetchall(), query)
            page = rank(rows, scores, op)
        else:
            paged = items + Frag.of(q.PAGE, op.limit, op.offset)
            await cur.execute(paged.sql, paged.params)
            page = [(None, r) for r in decode_rows(await cur.fetchall())]
        for _, row in page:
            if op.refresh_ttl and row.ttl_minutes is not None:
                refresh.append(refresh_params(now, row))
        return [row.search_item(score) for score, row in page]

    async def _list_namespaces(
        self, cur: _Cursor, op: ListNamespacesOp, now: datetime
    ) -> builtins.list[tuple[str, ...]]:
        listing = self.queries.list_namespaces(op, now)
        await cur.execute(listing.sql, listing.params)
        prefixes = await cur.fetchall()
        return filter_namespaces((split_namespace(p) for (p,) in prefixes), op)

    # -- TTL ------------------------------------------------------------------------------------

    async def asweep_ttl(self) -> int:
        """Delete every expired item now (their vectors go with them); return how many."""
        await self.setup()
        async with (
            self._connection() as conn,
            conn.transaction(),
            conn.cursor(row_factory=tuple_row) as cur,
        ):
            await cur.execute(self.queries.delete_expired, (self._now(),))
            return cur.rowcount
