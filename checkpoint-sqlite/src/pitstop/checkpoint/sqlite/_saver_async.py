"""The SQLite checkpoint saver: ``AsyncSqliteSaver`` (aiosqlite) and, generated, ``SqliteSaver``.

``_saver_async.py`` is the source; ``_saver.py`` is its sync twin (``make generate``).
"""

from __future__ import annotations

import asyncio  # ASYNC
import builtins
import sqlite3  # ASYNC
import threading
import time
import weakref  # ASYNC
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

import aiosqlite

from pitstop.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
    InvalidArgumentError,
    RetentionPolicy,
    RunnableConfig,
    SweepResult,
)
from pitstop.checkpoint.base.bridge import AsyncSaverSyncAPI
from pitstop.checkpoint.serde.base import SerializerProtocol
from pitstop.checkpoint.sqlite import _ops
from pitstop.checkpoint.sqlite._base import PAGE_SIZE, RECENT_READS, BaseSqliteSaver
from pitstop.checkpoint.sqlite._ops import Page

__all__ = ["AsyncSqliteSaver"]

T = TypeVar("T")


if True:  # ASYNC: the sync saver has no loops (see `AsyncSqliteSaver._write`)

    class _Flusher:
        """An event loop's queued writes and the task sending them."""

        __slots__ = ("queued", "task")

        def __init__(self) -> None:
            self.queued: builtins.list[_ops.Write] = []
            self.task: asyncio.Future[None] | None = None


class AsyncSqliteSaver(AsyncSaverSyncAPI, BaseSqliteSaver):
    """A checkpoint saver storing everything in one SQLite file (or ``":memory:"``).

    Channel values are stored once per (thread, namespace, channel, version), so a value that
    did not change is never written again, and a list that grows by appending (a chat history)
    is stored as a delta against an earlier version (:mod:`pitstop.checkpoint.base.values`);
    each ``put`` is one transaction. Several threads and
    processes can share the file: writes take the lock up front (``BEGIN IMMEDIATE``), wait up
    to ``busy_timeout`` and retry a bounded number of times. ``list()`` reads a page, releases
    the connection, then yields. The schema is created (or migrated) on first use.

    Args:
        conn: the connection to use. The caller keeps ownership: the saver never closes it.
            (``from_conn_string`` opens and closes its own.)
        serde: serializer for checkpoints, values and writes (default: secure msgpack).
        retention: the policy :meth:`sweep` applies when called without one.
        busy_timeout: seconds a statement waits for another connection's lock.
        clock: seconds since the epoch (injectable for retention tests).
        compress: ``"zstd"`` compresses stored values (default ``None``: off).
        max_chain: a growing list is stored in full every ``max_chain + 1`` versions
            (``0`` stores every value in full).
        recent_reads: how many ``get_tuple`` results to keep, parsed, for reading them again
            while the database is unchanged (``0``: none). A kept result is used only when
            ``PRAGMA data_version`` (commits by other connections and processes) and the
            connection's ``total_changes`` (rows written through it by anyone) are what they
            were when it was read, and is decoded anew each time: callers never share objects.
    """

    conn: aiosqlite.Connection
    sync_twin = "SqliteSaver"  # ASYNC

    def __init__(
        self,
        conn: aiosqlite.Connection,
        *,
        serde: SerializerProtocol | None = None,
        retention: RetentionPolicy | None = None,
        busy_timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
        compress: str | None = None,
        max_chain: int = 32,
        recent_reads: int = RECENT_READS,
    ) -> None:
        super().__init__(
            serde=serde,
            retention=retention,
            busy_timeout=busy_timeout,
            clock=clock,
            compress=compress,
            max_chain=max_chain,
            recent_reads=recent_reads,
        )
        self.conn = conn
        self._lock = threading.Lock()
        # Writes waiting to be committed (group commit, see `_write`).
        self._queue_lock = threading.Lock()
        if True:  # ASYNC: per event loop, its queued writes and the task sending them
            self._flushers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Flusher] = (
                weakref.WeakKeyDictionary()
            )
        else:
            self._queued: builtins.list[_ops.Write] = []
        if True:  # ASYNC: reads and writes on the loop's thread (see `_read_page`, `_write`)
            self._on_loop = True
        if True:  # ASYNC: the loop sync calls are bridged to (see AsyncSaverSyncAPI)
            self._init_bridge()

    @classmethod
    @asynccontextmanager
    async def from_conn_string(
        cls,
        conn_string: str,
        *,
        serde: SerializerProtocol | None = None,
        retention: RetentionPolicy | None = None,
        busy_timeout: float = 30.0,
        compress: str | None = None,
        max_chain: int = 32,
        recent_reads: int = RECENT_READS,
    ) -> AsyncIterator[AsyncSqliteSaver]:
        """Open a saver on a file path (or ``":memory:"``); the connection closes on exit."""
        conn = await aiosqlite.connect(conn_string, check_same_thread=False, isolation_level=None)
        try:
            saver = cls(
                conn,
                serde=serde,
                retention=retention,
                busy_timeout=busy_timeout,
                compress=compress,
                max_chain=max_chain,
                recent_reads=recent_reads,
            )
            await saver.asetup()
            yield saver
        finally:
            await conn.close()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(sqlite3_connection, *args)``: one transaction, nothing interleaved."""
        if True:  # ASYNC: one hop to aiosqlite's thread, which owns the sqlite3 connection
            # aiosqlite has no public "run this on the connection thread"; `_execute` is what
            # each of its own methods uses. One hop per operation instead of one per statement.
            # Under `_lock` (held on aiosqlite's thread): a read on the loop (`_read_page`) only
            # runs while no hop is using the connection.
            result: T = await self.conn._execute(_ops.under, self._lock, fn, self.conn._conn, *args)  # type: ignore[no-untyped-call]
        else:
            with self._lock:
                result = fn(self.conn, *args)
        return result

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a write (``_ops.put``/``_ops.put_writes``) in a transaction it may share.

        Group commit: the writes queued when a transaction has the write lock all go into it,
        each in its own savepoint, and commit once (``_ops.run_writes``); each call returns
        its own result or raises its own error, after the commit that holds its write.
        """
        if True:  # ASYNC: on the loop's thread when idle, else one hop carries a batch
            loop = asyncio.get_running_loop()
            flusher = self._flushers.get(loop)
            if flusher is None:
                flusher = self._flushers[loop] = _Flusher()
            # With nothing queued and no hop using the connection, the write runs here: one
            # commit costs less than the hop to aiosqlite's thread and back. It never waits
            # for the write lock (another connection holding it: the hop, which may wait).
            if not flusher.queued and (flusher.task is None or flusher.task.done()):
                now = _ops.Write(fn, args)
                if self._now(_ops.write_now, now, int(self.busy_timeout * 1000)):
                    return cast("T", now.outcome())
            write = _ops.Write(fn, args, loop.create_future())
            with self._queue_lock:
                flusher.queued.append(write)
            if flusher.task is None or flusher.task.done():
                flusher.task = asyncio.ensure_future(self._flush(flusher))
            result: T = await write.waiter
        else:
            write = _ops.Write(fn, args)
            with self._queue_lock:
                self._queued.append(write)
            with self._lock:  # whoever holds the connection commits every queued write
                if not write.done:
                    _ops.run_writes(self.conn, lambda: self._take(self._queued))
            result = cast("T", write.outcome())
        return result

    def _take(self, queued: builtins.list[_ops.Write]) -> builtins.list[_ops.Write]:
        """Empty a queue of writes; return what it held."""
        with self._queue_lock:
            taken = queued[:]
            queued.clear()
        return taken

    async def _read_page(
        self, sql: str, params: dict[str, Any], known: _ops.Stamp | None
    ) -> tuple[_ops.Stamp, Page | None]:
        """``get_tuple``'s read (``_ops.read_page_unless``): no page if unchanged since
        ``known``; without a stamp when no read is kept."""
        stamped = self.recent_reads > 0
        if True:  # ASYNC: on the loop's thread when the connection is idle, else one hop
            # A one-checkpoint read is ~40 us of SQLite work on cached pages, less than a hop
            # to aiosqlite's thread and back (~60 us idle, more under load) and less than the
            # decoding that follows on the loop anyway. It runs only if no hop holds the
            # connection (`_lock`), never waits for a lock (busy: one hop instead), and needs a
            # connection usable from this thread (`check_same_thread=False`, as
            # `from_conn_string` opens it); otherwise, and for listings, reads take the hop.
            read = self._now(
                _ops.read_page_now, sql, params, known, stamped, int(self.busy_timeout * 1000)
            )
            if read is not None:
                return read
        return await self._run(_ops.read_page_unless, sql, params, known, stamped)

    if True:  # ASYNC: the sync saver always runs on the caller's thread

        def _now(self, fn: Callable[..., T], *args: Any) -> T | None:
            """``fn(sqlite3_connection, *args)`` on the loop's thread, if the connection is
            idle (no hop holds it) and usable from this thread; else ``None`` (take the hop).

            A connection bound to aiosqlite's thread (``check_same_thread``) or closed is
            noticed on first use; bound, it is never tried here again.
            """
            if not (self._on_loop and self._lock.acquire(blocking=False)):
                return None
            try:
                return fn(self.conn._conn, *args)
            except sqlite3.ProgrammingError as exc:
                if "thread" in str(exc):
                    self._on_loop = False
                return None
            finally:
                self._lock.release()

    if True:  # ASYNC: the sync saver commits on the caller's thread (see `_write`)

        async def _flush(self, flusher: _Flusher) -> None:
            """Send a loop's queued writes, one batch per hop, until none is left."""
            while flusher.queued:
                taken: builtins.list[_ops.Write] = []

                def take(taken: builtins.list[_ops.Write] = taken) -> builtins.list[_ops.Write]:
                    taken.extend(self._take(flusher.queued))  # on aiosqlite's thread
                    return taken

                try:
                    await self.conn._execute(  # type: ignore[no-untyped-call]
                        _ops.under, self._lock, _ops.run_writes, self.conn._conn, take
                    )
                except BaseException as exc:  # the connection closed, the loop is ending...
                    error = exc if isinstance(exc, Exception) else asyncio.CancelledError()
                    for write in [*taken, *self._take(flusher.queued)]:
                        if not write.waiter.done():
                            write.waiter.set_exception(error)
                    if not isinstance(exc, Exception):
                        raise
                    return  # each caller has the error; the task itself ends cleanly
                for write in taken:
                    if write.waiter.done():  # its caller was cancelled meanwhile
                        continue
                    if write.error is not None:
                        write.waiter.set_exception(write.error)
                    else:
                        write.waiter.set_result(write.result)

    async def asetup(self) -> None:
        """Create or migrate the schema (idempotent; also run on first use).

        Raises:
            MigrationError: the database was written by a newer pitstop-checkpoint-sqlite.
        """
        if self.is_setup:
            return
        await self._run(_ops.setup, int(self.busy_timeout * 1000), self._clock())
        self.is_setup = True

    # -- reads ---------------------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Return the checkpoint ``config`` names, or the latest of its namespace."""
        await self.asetup()
        sql, params, key, kept = self._latest_query(config)
        read = await self._read_page(sql, params, kept[0] if kept else None)
        return self._recent_read(key, kept, read)

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
        exactly like :func:`pitstop.checkpoint.base.metadata_matches`; ``before`` keeps ids
        strictly smaller than its ``checkpoint_id``; ``limit`` applies after both. Pages of
        ``PAGE_SIZE`` rows are read one at a time (the async saver reads the next page while
        the current one is decoded and yielded); no lock is held while the caller iterates.
        """
        if limit is not None and limit <= 0:
            return
        await self.asetup()
        query = self._list_query(config, filter, before, limit)
        remaining = limit
        after: tuple[str, str, str] | None = None
        if True:  # ASYNC: the next page is read on aiosqlite's thread while this one is decoded
            ahead: asyncio.Future[Page] | None = None
        while True:
            wanted = PAGE_SIZE
            if remaining is not None and query.filter is None:
                wanted = min(PAGE_SIZE, remaining)
            sql = query.sql if after is None else query.sql_after
            if True:  # ASYNC
                if ahead is None:
                    page = await self._run(_ops.read_page, sql, query.page_params(after, wanted))
                else:
                    page, ahead = await ahead, None
            else:
                page = self._run(_ops.read_page, sql, query.page_params(after, wanted))
            rows = page[0]
            full = len(rows) == wanted
            if full:
                after = (rows[-1][3], rows[-1][1], rows[-1][2])
            if True:  # ASYNC: when every row of this page is yielded, the next page is known now
                if full and (remaining is None or query.filter is None):
                    left = None if remaining is None else remaining - len(rows)
                    if left is None or left > 0:
                        size = PAGE_SIZE if left is None else min(PAGE_SIZE, left)
                        read = self._run(
                            _ops.read_page, query.sql_after, query.page_params(after, size)
                        )
                        ahead = asyncio.ensure_future(read)
                        # Left unread if the caller stops iterating: never an unretrieved error.
                        ahead.add_done_callback(self._forget)
            for item in self._decode_page(page, query.filter):
                if item is None:
                    continue
                yield item
                if remaining is not None:
                    remaining -= 1
                    if remaining == 0:
                        return
            if not full:
                return

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Walk the parent chain once for all channels (see the base class).

        Without a ``checkpoint_id`` in ``config`` the latest checkpoint of the namespace is used.
        """
        if not channels:
            return {}
        await self.asetup()
        thread_id, ns, checkpoint_id = self._parse_config(config)
        raw = await self._run(
            _ops.delta_history, thread_id, ns, checkpoint_id, builtins.list(channels)
        )
        return self._decode_history(thread_id, ns, channels, raw)

    # -- writes --------------------------------------------------------------------------------

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint and the values of the channels in ``new_versions``."""
        await self.asetup()
        row, blobs, bases, touch, result = self._put_rows(
            config, checkpoint, metadata, new_versions
        )
        missing = await self._write(_ops.put, row, blobs, bases, touch)
        if missing:  # a delta's base was deleted meanwhile: store those channels in full
            row, blobs, bases, touch, result = self._put_rows(
                config, checkpoint, metadata, new_versions, full=missing
            )
            await self._write(_ops.put, row, blobs, [], touch)
        return result

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes against the checkpoint ``config`` names.

        Regular writes keep the first value stored at each ``(task_id, idx)``; special channels
        (error, interrupt, resume, scheduled) always replace the earlier value.
        """
        keep_first, replace, touch = self._write_rows_of(config, writes, task_id, task_path)
        if not writes:
            return
        await self.asetup()
        await self._write(_ops.put_writes, keep_first, replace, touch)

    # -- maintenance ---------------------------------------------------------------------------

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint, write and value of a thread, in every namespace."""
        await self.asetup()
        self._values.forget(str(thread_id))
        await self._run(_ops.delete_thread, str(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete every checkpoint whose metadata ``run_id`` is listed, with its writes.

        Values still referenced by a surviving checkpoint are kept.
        """
        wanted = [str(r) for r in run_ids]
        if not wanted:
            return
        await self.asetup()
        await self._run(_ops.delete_for_runs, wanted)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy a thread's whole history to ``target_thread_id``.

        Checkpoint ids, parents, metadata, values and pending writes are preserved; the source is
        unchanged. Copying from an unknown thread does nothing. The target must have no
        checkpoints: merging two histories is refused with :class:`InvalidArgumentError`.
        """
        source, target = str(source_thread_id), str(target_thread_id)
        if source == target:
            raise InvalidArgumentError("copy_thread: source and target thread are the same")
        await self.asetup()
        await self._run(_ops.copy_thread, source, target, self._clock())

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Drop old checkpoints of the listed threads, then give the space back to the file.

        ``keep_latest`` keeps, per namespace, the newest checkpoint with its pending writes, plus
        the ancestors its delta channels need; ``delete`` removes the threads entirely. A value
        a kept checkpoint still references is never deleted. Unknown threads are ignored.
        """
        self._check_prune_strategy(strategy)
        wanted = [str(t) for t in thread_ids]
        if not wanted:
            return
        await self.asetup()
        await self._run(_ops.prune, wanted, strategy)

    async def asweep(self, policy: RetentionPolicy | None = None) -> SweepResult:
        """Apply a retention policy once (default: the saver's ``retention``).

        Threads not written (``put``/``put_writes``) for longer than ``max_idle`` are deleted;
        the others keep their newest ``keep_last`` checkpoints per namespace (plus what their
        delta channels need). Call it from a scheduler, a cron job or a background task.
        """
        chosen = self._policy(policy)
        await self.asetup()
        cutoff = None
        if chosen.max_idle is not None:
            cutoff = self._clock() - chosen.max_idle.total_seconds()
        threads, checkpoints = await self._run(_ops.sweep, cutoff, chosen.keep_last)
        return SweepResult(threads_deleted=threads, checkpoints_deleted=checkpoints)
