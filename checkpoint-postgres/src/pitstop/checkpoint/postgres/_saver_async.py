"""The PostgreSQL checkpoint saver: ``AsyncPostgresSaver`` and, generated, ``PostgresSaver``.

``_saver_async.py`` is the source; ``_saver.py`` is its sync twin (``make generate``).
"""

from __future__ import annotations

import asyncio  # ASYNC
import builtins
import contextlib
import inspect  # ASYNC
import threading  # ASYNC
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from pitstop.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
    InvalidArgumentError,
    MigrationError,
    RetentionPolicy,
    RunnableConfig,
    SweepResult,
)
from pitstop.checkpoint.base._acompat import ALock
from pitstop.checkpoint.base.bridge import AsyncSaverSyncAPI
from pitstop.checkpoint.postgres._base import (
    CHAIN_CHUNK,
    PAGE_SIZE,
    BasePostgresSaver,
    ConnectionLostError,
    Row,
    delta_ancestors,
    order_history,
    plan_history,
)
from pitstop.checkpoint.postgres._combiner import LANES, Combiner  # ASYNC
from pitstop.checkpoint.serde.base import SerializerProtocol

__all__ = ["AsyncPostgresSaver"]

_DISCONNECT_STATES = frozenset({"57P01", "57P02", "57P03"})
"""admin_shutdown (pg_terminate_backend, fast shutdown), crash_shutdown, cannot_connect_now."""


def _is_disconnect(exc: BaseException) -> bool:
    """Whether a driver error means the connection (or the server) went away."""
    if isinstance(exc, psycopg.InterfaceError):
        return True
    if isinstance(exc, psycopg.OperationalError):
        state = exc.sqlstate
        return state is None or state.startswith("08") or state in _DISCONNECT_STATES
    return False


if True:  # ASYNC

    def _forget(future: asyncio.Future[Any]) -> None:
        """Retrieve a read-ahead page's outcome nobody awaited (the caller stopped early)."""
        if not future.cancelled():
            future.exception()


class AsyncPostgresSaver(AsyncSaverSyncAPI, BasePostgresSaver):
    """A checkpoint saver storing checkpoints in PostgreSQL, on psycopg 3.

    Each ``put``, ``put_writes`` and ``get_tuple`` is one statement (one round trip); ``list``
    reads pages of ``PAGE_SIZE`` checkpoints, one statement per page, with their values and
    writes. Channel values are stored once per (thread, namespace, channel, version), and a list
    that grows by appending (a chat history) is stored as a delta against an earlier version
    (:mod:`pitstop.checkpoint.base.values`), its chain records read in the same statement. There is
    no saver-wide lock: with a pool, concurrent calls run on concurrent connections; a single
    connection is used by one call at a time. Works without server-side prepared statements
    (``prepare_threshold=None``, for PgBouncer in transaction mode). The schema is created (or
    migrated) on first use.

    Args:
        conn: a connection or a ``psycopg_pool`` pool. The caller keeps ownership: the saver
            never closes it (``from_conn_string`` opens and closes its own pool). Autocommit
            connections are best (one round trip per operation); otherwise each operation
            commits.
        schema: the PostgreSQL schema holding the tables (created if missing).
        serde: serializer for checkpoints, values, writes and metadata.
        retention: the policy :meth:`sweep` applies when called without one.
        clock: seconds since the epoch (injectable for retention tests).
        compress: ``"zstd"`` compresses stored values (default ``None``: off).
        max_chain: a growing list is stored in full every ``max_chain + 1`` versions
            (``0`` stores every value in full).

    Raises:
        ConnectionLostError: from any method when the connection breaks mid-call.
        MigrationError: the schema was written by a newer pitstop-checkpoint-postgres.
    """

    conn: AsyncConnection[Any] | None
    pool: AsyncConnectionPool[AsyncConnection[Any]] | None
    sync_twin = "PostgresSaver"  # ASYNC

    def __init__(
        self,
        conn: AsyncConnection[Any] | AsyncConnectionPool[AsyncConnection[Any]],
        *,
        schema: str = "public",
        serde: SerializerProtocol | None = None,
        retention: RetentionPolicy | None = None,
        clock: Callable[[], float] = time.time,
        compress: str | None = None,
        max_chain: int = 32,
    ) -> None:
        super().__init__(
            schema=schema,
            serde=serde,
            retention=retention,
            clock=clock,
            compress=compress,
            max_chain=max_chain,
        )
        if isinstance(conn, AsyncConnectionPool):
            self.pool, self.conn = conn, None
        elif isinstance(conn, AsyncConnection):
            self.pool, self.conn = None, conn
        else:
            raise InvalidArgumentError(
                f"expected a psycopg connection or a psycopg_pool pool, got {type(conn).__name__}"
            )
        self._lock = ALock()
        if True:  # ASYNC: the loop sync calls are bridged to (see AsyncSaverSyncAPI)
            self._thread_lock = threading.Lock()
            self._init_bridge()
            # over a pool, concurrent put / put_writes / get_tuple calls share round trips
            # and commits (see _combiner)
            self._combiner: Combiner | None = None
            if self.pool is not None:
                self._combiner = Combiner(
                    self._connection,
                    self._q("SELECT_LATEST_MANY"),
                    lanes=min(LANES, self.pool.max_size),
                )

    @classmethod
    @asynccontextmanager
    async def from_conn_string(
        cls,
        conn_string: str,
        *,
        pool_size: int = 10,
        min_size: int = 1,
        prepare_threshold: int | None = 5,
        schema: str = "public",
        serde: SerializerProtocol | None = None,
        retention: RetentionPolicy | None = None,
        pool_timeout: float = 30.0,
        compress: str | None = None,
        max_chain: int = 32,
    ) -> AsyncIterator[AsyncPostgresSaver]:
        """Open a saver over a new pool of autocommit connections; the pool closes on exit.

        Args:
            conn_string: a libpq connection string or URI.
            pool_size: the most connections open at once (concurrent calls beyond it wait).
            min_size: connections kept open when idle.
            prepare_threshold: psycopg's; ``None`` never prepares statements on the server
                (PgBouncer in transaction mode).
            pool_timeout: seconds a call waits for a connection before failing.
            compress, max_chain: see the class.
        """
        pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            conn_string,
            min_size=min(min_size, pool_size),
            max_size=pool_size,
            kwargs={"autocommit": True, "prepare_threshold": prepare_threshold},
            timeout=pool_timeout,
            open=False,
        )
        await pool.open(wait=True, timeout=pool_timeout)
        try:
            saver = cls(
                pool,
                schema=schema,
                serde=serde,
                retention=retention,
                compress=compress,
                max_chain=max_chain,
            )
            await saver.asetup()
            yield saver
        finally:
            await pool.close()

    @asynccontextmanager
    async def _connection(
        self, what: str, thread_id: str | None = None
    ) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection for one operation; a broken connection raises ConnectionLostError."""
        try:
            if self.pool is not None and self._foreign_loop():
                # A sync call bridged to a private loop while the saver's loop is not running:
                # the pool belongs to that loop, so this call gets a connection of its own.
                async with await self._connect_like_pool(self.pool) as own:
                    yield own
            elif self.pool is not None:
                async with self.pool.connection() as pooled:
                    yield pooled
            else:
                conn = self.conn
                assert conn is not None
                if True:  # ASYNC: tasks of the saver's loop queue on an asyncio lock; a sync
                    # call bridged to a private loop (in another thread) takes the thread lock only
                    home = contextlib.nullcontext() if self._foreign_loop() else self._lock
                    async with home:
                        with self._thread_lock:
                            async with self._committing(conn) as scoped:
                                yield scoped
                else:
                    with self._lock, self._committing(conn) as scoped:
                        yield scoped
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            if not _is_disconnect(exc):
                raise
            if self.pool is not None:
                # drop the pool's other broken connections so the next call works
                with contextlib.suppress(Exception):
                    await self.pool.check()
            where = f" on thread {thread_id!r}" if thread_id is not None else ""
            raise ConnectionLostError(
                f"the PostgreSQL connection broke during {what}{where}: {exc}. The operation may "
                "or may not have been applied; retrying it is safe."
            ) from exc
        except PoolTimeout as exc:
            raise ConnectionLostError(
                f"no PostgreSQL connection available for {what}: {exc}"
            ) from exc

    async def _execute(
        self,
        what: str,
        thread_id: str | None,
        statement: str,
        params: Any,
        *,
        fetch: bool = False,
        binary: bool = False,
        latest: tuple[str, str] | None = None,
    ) -> builtins.list[Row]:
        """Run one single-statement operation; its rows if ``fetch``.

        ``latest=(thread_id, ns)``: the statement reads that namespace's latest checkpoint.
        """
        if True:  # ASYNC
            if self._combiner is not None and not self._foreign_loop():
                return await self._combiner.execute(
                    what, thread_id, statement, params, fetch=fetch, binary=binary, latest=latest
                )
        async with self._connection(what, thread_id) as conn:
            cur = await conn.execute(statement, params, binary=binary)
            return await cur.fetchall() if fetch else []

    def _foreign_loop(self) -> bool:
        """Whether this call runs on another event loop than the saver's (a bridged sync call)."""
        if True:  # ASYNC
            return self.loop is not None and asyncio.get_running_loop() is not self.loop
        return False

    @staticmethod
    async def _connect_like_pool(
        pool: AsyncConnectionPool[AsyncConnection[Any]],
    ) -> AsyncConnection[Any]:
        """A new connection configured like the pool's (its conninfo and kwargs)."""
        conninfo: Any = pool.conninfo
        kwargs: Any = pool.kwargs
        if callable(conninfo):
            conninfo = conninfo()
        if callable(kwargs):
            kwargs = kwargs()
        if True:  # ASYNC: the pool may compute them with coroutines
            if inspect.isawaitable(conninfo):
                conninfo = await conninfo
            if inspect.isawaitable(kwargs):
                kwargs = await kwargs
        return await AsyncConnection.connect(conninfo, **(kwargs or {}))

    @asynccontextmanager
    async def _committing(self, conn: AsyncConnection[Any]) -> AsyncIterator[AsyncConnection[Any]]:
        """Commit (or roll back) after an operation when the connection is not autocommit."""
        try:
            yield conn
        except BaseException:
            if not conn.autocommit and not conn.closed:
                await conn.rollback()
            raise
        if not conn.autocommit:
            await conn.commit()

    async def asetup(self) -> None:
        """Create or migrate the schema (idempotent; also run on first use).

        Several processes may run it at once: each migration runs in its own transaction under
        an advisory lock.

        Raises:
            MigrationError: the schema is newer than this pitstop-checkpoint-postgres.
        """
        if self.is_setup:
            return
        migrations = self._migrations()
        async with self._connection("setup") as conn:
            while True:
                async with conn.transaction():
                    await conn.execute(self._q("ADVISORY_LOCK"), (self._lock_key,))
                    found = await conn.execute(self._q("SCHEMA_EXISTS"), (self.schema,))
                    if await found.fetchone() is None:
                        await conn.execute(self._q("CREATE_SCHEMA"))
                    await conn.execute(self._q("MIGRATIONS_TABLE"))
                    cur = await conn.execute(self._q("SELECT_MIGRATION_VERSION"))
                    row = await cur.fetchone()
                    current = -1 if row is None or row[0] is None else int(row[0])
                    if current >= len(migrations):
                        raise MigrationError(
                            f"the checkpoint schema in {self.schema!r} is version {current}, newer"
                            f" than the {len(migrations) - 1} this pitstop-checkpoint-postgres "
                            "knows; upgrade pitstop-checkpoint-postgres (nothing was modified)"
                        )
                    if current == len(migrations) - 1:
                        break
                    await conn.execute(migrations[current + 1])
                    await conn.execute(self._q("INSERT_MIGRATION"), (current + 1,))
        self.is_setup = True

    # -- reads ---------------------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Return the checkpoint ``config`` names, or the latest of its namespace."""
        await self.asetup()
        sql, params = self._get_query(config)
        latest = (
            None if "checkpoint_id" in params else (params["thread_id"], params["checkpoint_ns"])
        )
        rows = await self._execute(
            "get_tuple", params["thread_id"], sql, params, fetch=True, binary=True, latest=latest
        )
        found = self._decode_page(rows)
        return found[0] if found else None

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Yield matching checkpoints, newest first (by checkpoint id).

        ``config`` may restrict the thread, the namespace (``""`` is the root namespace only; a
        missing key means every namespace) and the checkpoint id. ``filter`` matches metadata
        exactly like :func:`pitstop.checkpoint.base.metadata_matches` (what SQL can decide is
        decided there, the rest in Python); ``before`` keeps ids strictly smaller than its
        ``checkpoint_id``; ``limit`` applies after both. Pages of ``PAGE_SIZE`` checkpoints are
        read one statement at a time (keyset pagination); no connection is held while the
        caller iterates.
        """
        if limit is not None and limit <= 0:
            return
        await self.asetup()
        query = self._list_query(config, filter, before)
        thread_id = query.params.get("thread_id")
        remaining = limit
        after: Row | None = None
        if True:  # ASYNC: the next page is read on the server while this one is decoded
            ahead: asyncio.Future[builtins.list[Row]] | None = None
        while True:
            wanted = PAGE_SIZE
            if remaining is not None and query.filter is None:
                wanted = min(PAGE_SIZE, remaining)
            sql = query.sql if after is None else query.sql_after
            if True:  # ASYNC
                if ahead is None:
                    rows = await self._list_page(sql, query.page_params(after, wanted), thread_id)
                else:
                    rows, ahead = await ahead, None
            else:
                rows = self._list_page(sql, query.page_params(after, wanted), thread_id)
            if True:  # ASYNC: when every row of this page is yielded, the next page is known now
                if len(rows) == wanted and (remaining is None or query.filter is None):
                    left = None if remaining is None else remaining - len(rows)
                    if left is None or left > 0:
                        size = PAGE_SIZE if left is None else min(PAGE_SIZE, left)
                        last = (rows[-1][2], rows[-1][0], rows[-1][1])
                        ahead = asyncio.ensure_future(
                            self._list_page(
                                query.sql_after, query.page_params(last, size), thread_id
                            )
                        )
                        # Left unread if the caller stops iterating: never an unretrieved error.
                        ahead.add_done_callback(_forget)
            for item in self._decode_page(rows, query.filter):
                if item is None:
                    continue
                yield item
                if remaining is not None:
                    remaining -= 1
                    if remaining == 0:
                        return
            if len(rows) < wanted:
                return
            after = (rows[-1][2], rows[-1][0], rows[-1][1])

    async def _list_page(
        self, sql: str, params: dict[str, Any], thread_id: str | None
    ) -> builtins.list[Row]:
        """One page of ``list``: one statement; no connection is held afterwards."""
        async with self._connection("list", thread_id) as conn:
            cur = await conn.execute(sql, params, binary=True)
            return await cur.fetchall()

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Walk the parent chain once for all channels (see the base class).

        Ancestors are read ``CHAIN_CHUNK`` at a time, each with the requested channels it
        stores a value for; then one statement reads the writes, one the seeds. Without a
        ``checkpoint_id`` in ``config`` the latest checkpoint of the namespace is used.
        """
        if not channels:
            return {}
        await self.asetup()
        thread_id, ns, checkpoint_id = self._parse_config(config)
        wanted = builtins.list(dict.fromkeys(channels))
        async with self._connection("get_delta_channel_history", thread_id) as conn:
            if checkpoint_id is None:
                cur = await conn.execute(self._q("SELECT_LATEST_ID"), (thread_id, ns))
                latest = await cur.fetchone()
                if latest is None:
                    return self._decode_history(thread_id, ns, wanted, [], [])
                checkpoint_id = latest[0]
            chain: builtins.list[Row] = []
            start: str | None = checkpoint_id
            first = True
            while start:
                params = {
                    "thread_id": thread_id,
                    "checkpoint_ns": ns,
                    "checkpoint_id": start,
                    "limit": CHAIN_CHUNK,
                    "channels": wanted,
                }
                cur = await conn.execute(self._q("SELECT_CHAIN"), params)
                rows = await cur.fetchall()
                if not rows:
                    break
                chain.extend(rows[1:] if first else rows)
                first = False
                _, _, _, done = plan_history(chain, wanted)
                start = rows[-1][1] if len(rows) > CHAIN_CHUNK and not done else None
            visited, stop, seed_versions, _ = plan_history(chain, wanted)
            writes: Sequence[Row] = []
            seeds: Sequence[Row] = []
            if visited:
                cur = await conn.execute(
                    self._q("SELECT_WRITES_OF_CHECKPOINTS"), (thread_id, ns, visited, wanted)
                )
                writes = order_history(visited, stop, await cur.fetchall())
            if seed_versions:
                names = sorted(seed_versions)
                cur = await conn.execute(
                    self._q("SELECT_SEEDS"),
                    (names, [seed_versions[n] for n in names], thread_id, ns),
                )
                seeds = await cur.fetchall()
        return self._decode_history(thread_id, ns, wanted, writes, seeds)

    # -- writes --------------------------------------------------------------------------------

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint and the values of the channels in ``new_versions`` (one statement).

        If a record a delta value extends was deleted meanwhile (another saver deleted or
        pruned the thread), nothing is written and those values are stored in full.
        """
        await self.asetup()
        params, result = self._put_params(config, checkpoint, metadata, new_versions)
        thread_id = params["thread_id"]
        deltas = "base_c" in params
        rows = await self._execute("put", thread_id, params.pop("statement"), params, fetch=deltas)
        if deltas and (not rows or not rows[0][0]):
            params, result = self._put_params(
                config, checkpoint, metadata, new_versions, full=params["base_c"]
            )
            await self._execute("put", thread_id, params.pop("statement"), params)
        return result

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes against the checkpoint ``config`` names (one statement).

        Regular writes keep the first value stored at each ``(task_id, idx)``; special channels
        (error, interrupt, resume, scheduled) always replace the earlier value.
        """
        params = self._put_writes_params(config, writes, task_id, task_path)
        if not writes:
            return
        await self.asetup()
        await self._execute("put_writes", params["thread_id"], params.pop("statement"), params)

    # -- maintenance ---------------------------------------------------------------------------

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint, write and value of a thread, in every namespace."""
        await self.asetup()
        self._values.forget(str(thread_id))
        async with self._connection("delete_thread", str(thread_id)) as conn, conn.transaction():
            await self._delete_thread(conn, str(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete every checkpoint whose metadata ``run_id`` is listed, with its writes.

        Values still referenced by a surviving checkpoint are kept.
        """
        wanted = [str(r) for r in run_ids]
        if not wanted:
            return
        await self.asetup()
        async with self._connection("delete_for_runs") as conn, conn.transaction():
            cur = await conn.execute(self._q("DELETE_CHECKPOINTS_OF_RUNS"), (wanted,))
            by_ns: dict[tuple[str, str], builtins.list[str]] = {}
            for thread_id, ns, checkpoint_id in await cur.fetchall():
                by_ns.setdefault((thread_id, ns), []).append(checkpoint_id)
            for (thread_id, ns), ids in sorted(by_ns.items()):
                await conn.execute(self._q("DELETE_WRITES_BY_IDS"), (thread_id, ns, ids))
                await self._collect(conn, thread_id, ns)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy a thread's whole history to ``target_thread_id`` (one transaction).

        Checkpoint ids, parents, metadata, values and pending writes are preserved; the source is
        unchanged. Copying from an unknown thread does nothing. The target must have no
        checkpoints: merging two histories is refused with :class:`InvalidArgumentError`.
        """
        source, target = str(source_thread_id), str(target_thread_id)
        if source == target:
            raise InvalidArgumentError("copy_thread: source and target thread are the same")
        await self.asetup()
        async with self._connection("copy_thread", source) as conn, conn.transaction():
            cur = await conn.execute(self._q("SELECT_THREAD_EXISTS"), (target,))
            if await cur.fetchone() is not None:
                raise InvalidArgumentError(
                    f"copy_thread: target thread {target!r} already has checkpoints"
                )
            names = {"source": source, "target": target, "now": self._clock()}
            await conn.execute(self._q("COPY_THREAD"), names)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Drop old checkpoints of the listed threads (one transaction).

        ``keep_latest`` keeps, per namespace, the newest checkpoint with its pending writes, plus
        the ancestors its delta channels need; ``delete`` removes the threads entirely. A value
        a kept checkpoint still references is never deleted. Unknown threads are ignored.
        """
        self._check_prune_strategy(strategy)
        wanted = [str(t) for t in thread_ids]
        if not wanted:
            return
        await self.asetup()
        async with self._connection("prune") as conn, conn.transaction():
            for thread_id in wanted:
                if strategy == "delete":
                    await self._delete_thread(conn, thread_id)
                else:
                    await self._keep_newest(conn, thread_id, 1)

    async def asweep(self, policy: RetentionPolicy | None = None) -> SweepResult:
        """Apply a retention policy once (default: the saver's ``retention``).

        Threads not written (``put``/``put_writes``) for longer than ``max_idle`` are deleted;
        the others keep their newest ``keep_last`` checkpoints per namespace (plus what their
        delta channels need). Call it from a scheduler, a cron job or a background task.
        """
        chosen = self._policy(policy)
        await self.asetup()
        threads = checkpoints = 0
        async with self._connection("sweep") as conn, conn.transaction():
            if chosen.max_idle is not None:
                cutoff = self._clock() - chosen.max_idle.total_seconds()
                cur = await conn.execute(self._q("SELECT_IDLE_THREADS"), (cutoff,))
                for (thread_id,) in await cur.fetchall():
                    checkpoints += await self._delete_thread(conn, thread_id)
                    threads += 1
            if chosen.keep_last is not None:
                cur = await conn.execute(self._q("SELECT_CROWDED_THREADS"), (chosen.keep_last,))
                for (thread_id,) in await cur.fetchall():
                    checkpoints += await self._keep_newest(conn, thread_id, chosen.keep_last)
        return SweepResult(threads_deleted=threads, checkpoints_deleted=checkpoints)

    async def _keep_newest(self, conn: AsyncConnection[Any], thread_id: str, count: int) -> int:
        """Keep each namespace's newest ``count`` checkpoints (and their delta ancestors)."""
        dropped = 0
        cur = await conn.execute(self._q("SELECT_NAMESPACES_OF_THREAD"), (thread_id,))
        for (ns,) in await cur.fetchall():
            cur = await conn.execute(self._q("SELECT_CHECKPOINT_SHAPES"), (thread_id, ns))
            rows = await cur.fetchall()
            if len(rows) <= count:
                continue
            shapes = {
                cid: (parent, set(stored or ()), counters)
                for cid, parent, _, counters, stored in rows
            }
            heads = [row[0] for row in rows[:count]]
            keep = set(heads)
            for head in heads:
                keep |= delta_ancestors(shapes, head)
            doomed = [cid for cid in shapes if cid not in keep]
            if not doomed:
                continue
            await conn.execute(self._q("DELETE_WRITES_BY_IDS"), (thread_id, ns, doomed))
            cur = await conn.execute(self._q("DELETE_CHECKPOINTS_BY_IDS"), (thread_id, ns, doomed))
            dropped += cur.rowcount
            await self._collect(conn, thread_id, ns)
        return dropped

    async def _collect(self, conn: AsyncConnection[Any], thread_id: str, ns: str) -> None:
        """Delete the values of a namespace no checkpoint needs any more (in a transaction).

        Two statements: the first takes the thread's lock, waiting for any ``put`` building
        deltas on the thread (see ``_queries.LOCK_THREAD``); the second, with a newer snapshot
        that sees what those puts committed, deletes the values still unreferenced.
        """
        await conn.execute(self._q("LOCK_THREAD"), (self.lock_key(thread_id),))
        names: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ns}
        await conn.execute(self._q("DELETE_UNREFERENCED_BLOBS"), names)

    async def _delete_thread(self, conn: AsyncConnection[Any], thread_id: str) -> int:
        """Delete a whole thread (in a transaction); how many checkpoints went.

        The thread's lock is taken first, which waits for any ``put`` building deltas on the
        thread; the delete, a later statement, then also removes what those puts wrote (and a
        later ``put`` finds its base gone and stores the value in full).
        """
        self._values.forget(thread_id)
        await conn.execute(self._q("LOCK_THREAD"), (self.lock_key(thread_id),))
        cur = await conn.execute(self._q("DELETE_THREAD"), {"thread_id": thread_id})
        row = await cur.fetchone()
        return int(row[0]) if row else 0
