"""The SQLite store, written once: ``AsyncSqliteStore`` (aiosqlite) and ``SqliteStore`` (sqlite3).

``_store_async.py`` is the source; ``_store.py`` is generated from it (``make generate``). The
non-blocking half of every method (planning, SQL composition, decoding, ranking) is in
``_base.py``.
"""

from __future__ import annotations

import asyncio  # ASYNC
import builtins
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import aiosqlite

from pitstop.checkpoint.base._acompat import ALock, asleep
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
    matches_filter,
)
from pitstop.store.sqlite import _queries as q
from pitstop.store.sqlite._base import (
    FETCH_CHUNK,
    WAL_ATTEMPTS,
    WAL_RETRY_SECONDS,
    NeedsWrite,
    Plan,
    Row,
    ScoredCandidates,
    SearchQuery,
    decode_rows,
    join_namespace,
    list_namespaces_sql,
    pending_migrations,
    rank,
    rank_exactly,
    refresh_params,
    split_namespace,
    sqlite_vec_path,
    to_us,
    vectors_of_sql,
)

if True:  # ASYNC
    from pitstop.store.sqlite._base import AsyncSide as _Side
else:
    from pitstop.store.sqlite._base import SyncSide as _Side

__all__ = ["AsyncSqliteStore"]


async def _fetchall(
    conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()
) -> builtins.list[Any]:
    cur = await conn.execute(sql, params)
    try:
        return builtins.list(await cur.fetchall())
    finally:
        await cur.close()


class AsyncSqliteStore(_Side):
    """A long-term memory store in one SQLite file: TTL, filters and optional vector search.

    Results equal :class:`~pitstop.store.memory.InMemoryStore`'s for the same operations.
    The connection is shared by every call (one batch at a time, under a lock); each batch is
    one transaction (``BEGIN IMMEDIATE`` when it writes), so its reads see one snapshot taken
    before its writes. The database uses WAL and a busy timeout, so several processes can share
    the file. The caller owns a connection it passes in; :meth:`from_conn_string` closes the
    one it opens. A ``sqlite3`` connection used from several threads needs
    ``check_same_thread=False``.

    Args:
        conn: the database connection.
        index: vector-index configuration (``dims``, ``embed``, ``fields``). Embeddings are
            stored as float32 and ranked by cosine similarity (max-pooled over an item's
            fields) over the items that pass the namespace and filter: scored by the
            ``sqlite-vec`` extension when it can be loaded, else in Python (brute force). Both
            give the same results: sqlite-vec's float32 scores only select the candidates,
            which are scored again exactly.
        ttl: TTL configuration (``default_ttl``, ``refresh_on_read``,
            ``sweep_interval_minutes``).
        clock: returns the current time (timezone-aware); injectable for tests.
        sqlite_vec: use ``sqlite-vec`` (the ``[vec]`` extra) for vector search: ``None``
            (default) when it can be loaded, with a warning when it is installed but cannot be
            (a Python whose ``sqlite3`` lacks ``enable_load_extension``); ``False`` never;
            ``True`` always (``InvalidArgumentError`` at setup when it cannot be loaded).
    """

    def __init__(
        self,
        conn: aiosqlite.Connection,
        *,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        clock: Callable[[], datetime] | None = None,
        sqlite_vec: bool | None = None,
    ) -> None:
        super().__init__(index=index, ttl=ttl, clock=clock, sqlite_vec=sqlite_vec)
        self.conn = conn
        self.is_setup = False
        self._lock = ALock()
        if True:  # ASYNC
            self.loop = asyncio.get_running_loop()

    @classmethod
    @asynccontextmanager
    async def from_conn_string(
        cls,
        conn_string: str,
        *,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        clock: Callable[[], datetime] | None = None,
        sqlite_vec: bool | None = None,
    ) -> AsyncIterator[AsyncSqliteStore]:
        """Open ``conn_string`` (a path, or ``":memory:"``); close it on exit."""
        # Autocommit mode: the store issues BEGIN/COMMIT itself.
        conn = await aiosqlite.connect(conn_string, check_same_thread=False, isolation_level=None)
        try:
            store = cls(conn, index=index, ttl=ttl, clock=clock, sqlite_vec=sqlite_vec)
            try:
                yield store
            finally:
                await store.stop_ttl_sweeper()
        finally:
            await conn.close()

    # -- schema ---------------------------------------------------------------------------------

    async def setup(self) -> None:
        """Create or migrate the schema (idempotent; also run by the first operation).

        Raises:
            MigrationError: the database was written by a newer pitstop.
        """
        async with self._lock:
            await self._setup()

    async def _setup(self) -> None:
        if self.is_setup:
            return
        await self.conn.execute(q.PRAGMA_BUSY_TIMEOUT)
        if self.embeddings is not None and self.sqlite_vec is not False:
            self.uses_sqlite_vec = await self._load_sqlite_vec()
        await self._enable_wal()
        await self.conn.execute(q.BEGIN_IMMEDIATE)
        try:
            await self.conn.execute(q.CREATE_MIGRATIONS_TABLE)
            version = (await _fetchall(self.conn, q.SELECT_MIGRATION_VERSION))[0][0]
            for v, statements in pending_migrations(version):
                for statement in statements:
                    await self.conn.execute(statement)
                await self.conn.execute(q.INSERT_MIGRATION, (v,))
        except BaseException:
            await self.conn.rollback()
            raise
        await self.conn.commit()
        self.is_setup = True

    async def _load_sqlite_vec(self) -> bool:
        try:
            await _fetchall(self.conn, q.VEC_VERSION)
            return True  # already loaded on this connection
        except aiosqlite.OperationalError:
            pass
        path = sqlite_vec_path()
        if path is None:
            if self.sqlite_vec:
                return self._sqlite_vec_unavailable("the sqlite-vec package is not installed")
            return False  # the optional extra is not installed: nothing to say
        try:
            await self.conn.enable_load_extension(True)
            try:
                await self.conn.load_extension(path)
            finally:
                await self.conn.enable_load_extension(False)
            await _fetchall(self.conn, q.VEC_VERSION)
        except AttributeError:
            return self._sqlite_vec_unavailable(
                "this Python's sqlite3 module cannot load extensions (no enable_load_extension)"
            )
        except aiosqlite.Error as exc:
            return self._sqlite_vec_unavailable(f"loading it failed: {exc}")
        return True

    async def _enable_wal(self) -> None:
        # Switching to WAL needs an exclusive lock and SQLite reports a conflict at once
        # (no busy wait) when another connection is mid-transaction: retry for a while.
        for attempt in range(WAL_ATTEMPTS):
            try:
                await _fetchall(self.conn, q.PRAGMA_WAL)
                return
            except aiosqlite.OperationalError:
                if attempt == WAL_ATTEMPTS - 1:
                    raise
                await asleep(WAL_RETRY_SECONDS)

    @asynccontextmanager
    async def _transaction(self, *, write: bool) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self._setup()
            await self.conn.execute(q.BEGIN_IMMEDIATE if write else q.BEGIN)
            try:
                yield self.conn
            except BaseException:
                await self.conn.rollback()
                raise
            await self.conn.commit()

    # -- batch ----------------------------------------------------------------------------------

    async def abatch(self, ops: Iterable[Op]) -> builtins.list[Result]:
        """Run ops in one transaction; results are index-aligned with ``ops``.

        Reads see the state before the batch's writes; puts to one key are last-write-wins;
        embeddings are computed first, so a failing embedder leaves the store unchanged.
        """
        plan = self._plan(ops)
        queries, vectors = await self._embed_plan(plan)
        write = plan.writes
        while True:
            try:
                async with self._transaction(write=write) as conn:
                    return await self._execute(conn, plan, queries, vectors, write=write)
            except NeedsWrite:  # reads found items to refresh: again, as a write transaction
                write = True

    async def _execute(
        self,
        conn: aiosqlite.Connection,
        plan: Plan,
        queries: Mapping[str, Sequence[float]],
        vectors: Mapping[str, Sequence[float]],
        *,
        write: bool,
    ) -> builtins.list[Result]:
        now = self._now()
        refresh: builtins.list[tuple[int, str, str]] = []
        results: builtins.list[Result] = []
        for op in plan.ops:
            if isinstance(op, GetOp):
                results.append(await self._get(conn, op, now, refresh))
            elif isinstance(op, SearchOp):
                results.append(await self._search(conn, op, now, queries, refresh))
            elif isinstance(op, ListNamespacesOp):
                results.append(await self._list_namespaces(conn, op, now))
            else:
                results.append(None)
        if refresh:
            if not write:
                raise NeedsWrite
            await conn.executemany(q.REFRESH_TTL, refresh)
        if plan.puts:
            seq = (await _fetchall(conn, q.MAX_SEQ))[0][0]
            rows = self._put_rows(plan, now, seq, vectors)
            await conn.executemany(q.DELETE_VECTORS, rows.touched)
            if rows.deletes:
                await conn.executemany(q.DELETE_ITEM, rows.deletes)
            if rows.upserts:
                await conn.executemany(q.UPSERT_ITEM, rows.upserts)
            if rows.vectors:
                await conn.executemany(q.INSERT_VECTOR, rows.vectors)
        return results

    async def _get(
        self,
        conn: aiosqlite.Connection,
        op: GetOp,
        now: datetime,
        refresh: builtins.list[tuple[int, str, str]],
    ) -> Item | None:
        params = (join_namespace(op.namespace), op.key, to_us(now))
        row = self._item(await _fetchall(conn, q.GET_ITEM, params), op)
        if row is None:
            return None
        if op.refresh_ttl and row.ttl_minutes is not None:
            refresh.append(refresh_params(now, row))
        return row.item()

    async def _search(
        self,
        conn: aiosqlite.Connection,
        op: SearchOp,
        now: datetime,
        queries: Mapping[str, Sequence[float]],
        refresh: builtins.list[tuple[int, str, str]],
    ) -> builtins.list[SearchItem]:
        search = SearchQuery.build(op, to_us(now))
        page: builtins.list[tuple[float | None, Row]]
        if op.query and self.embeddings is not None and self._scores_in_sql(queries[op.query]):
            page = await self._scored_page(conn, search, op, queries[op.query])
        elif op.query and self.embeddings is not None:
            rows = decode_rows(await _fetchall(conn, search.sql, search.params))
            if not search.exact:
                rows = [r for r in rows if matches_filter(r.value, op.filter)]
            stored = await _fetchall(conn, search.vectors_sql, search.params)
            page = rank(rows, stored, queries[op.query], op)
        elif search.exact:
            sql = search.sql + q.PAGE
            rows = decode_rows(await _fetchall(conn, sql, [*search.params, op.limit, op.offset]))
            page = [(None, r) for r in rows]
        else:
            rows = await self._filtered_page(
                conn, search.sql, search.params, op.filter, op.offset, op.limit
            )
            page = [(None, r) for r in rows]
        for _, row in page:
            if op.refresh_ttl and row.ttl_minutes is not None:
                refresh.append(refresh_params(now, row))
        return [row.search_item(score) for score, row in page]

    async def _filtered_page(
        self,
        conn: aiosqlite.Connection,
        sql: str,
        params: Sequence[Any],
        flt: Mapping[str, Any] | None,
        offset: int,
        limit: int,
    ) -> builtins.list[Row]:
        """Read candidates in order, in chunks, until ``offset + limit`` of them match."""
        page: builtins.list[Row] = []
        skipped = 0
        cur = await conn.execute(sql, params)
        try:
            while len(page) < limit:
                chunk = await cur.fetchmany(FETCH_CHUNK)
                if not chunk:
                    break
                for row in decode_rows(chunk):
                    if not matches_filter(row.value, flt):
                        continue
                    if skipped < offset:
                        skipped += 1
                        continue
                    page.append(row)
                    if len(page) == limit:
                        break
        finally:
            await cur.close()
        return page

    async def _scored_page(
        self,
        conn: aiosqlite.Connection,
        search: SearchQuery,
        op: SearchOp,
        query: Sequence[float],
    ) -> builtins.list[tuple[float | None, Row]]:
        """A vector search's page, candidates scored by sqlite-vec (see ``ScoredCandidates``)."""
        found = ScoredCandidates(op.offset + op.limit)
        sql, params = search.scored(query)
        cur = await conn.execute(sql, params)
        try:
            reading = True
            while reading:
                chunk = await cur.fetchmany(FETCH_CHUNK)
                if not chunk:
                    break
                for raw in chunk:
                    reading = found.add(raw, op.filter, search.exact)
                    if not reading:
                        break
        finally:
            await cur.close()
        vectors: builtins.list[Any] = []
        for keys in found.key_chunks():
            vectors += await _fetchall(conn, vectors_of_sql(len(keys) // 2), keys)
        unscored: builtins.list[Row] = []
        needed = found.unscored_needed
        if needed and search.exact:
            sql = search.unscored_sql + q.PAGE
            unscored = decode_rows(await _fetchall(conn, sql, [*search.params, needed, 0]))
        elif needed:
            unscored = await self._filtered_page(
                conn, search.unscored_sql, search.params, op.filter, 0, needed
            )
        return rank_exactly(found, vectors, unscored, query, op)

    async def _list_namespaces(
        self, conn: aiosqlite.Connection, op: ListNamespacesOp, now: datetime
    ) -> builtins.list[tuple[str, ...]]:
        sql, params = list_namespaces_sql(op, to_us(now))
        prefixes = await _fetchall(conn, sql, params)
        return filter_namespaces((split_namespace(p) for (p,) in prefixes), op)

    # -- TTL ------------------------------------------------------------------------------------

    async def asweep_ttl(self) -> int:
        """Delete every expired item now; return how many were deleted."""
        async with self._transaction(write=True) as conn:
            now_us = to_us(self._now())
            await conn.execute(q.DELETE_EXPIRED_VECTORS, (now_us,))
            cur = await conn.execute(q.DELETE_EXPIRED, (now_us,))
            count = cur.rowcount
            await cur.close()
            return count
