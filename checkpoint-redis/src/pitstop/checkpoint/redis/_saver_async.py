"""The Redis checkpoint saver: ``AsyncRedisSaver`` (redis.asyncio) and, generated, ``RedisSaver``.

``_saver_async.py`` is the source; ``_saver.py`` is its sync twin (``make generate``).
"""

from __future__ import annotations

import builtins
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import redis.asyncio
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
from pitstop.checkpoint.redis import _base
from pitstop.checkpoint.redis import _keys as k
from pitstop.checkpoint.redis import _scripts as lua
from pitstop.checkpoint.redis._base import MAX_RETRIES, PAGE_SIZE, BaseRedisSaver, Snapshot, resp
from pitstop.checkpoint.redis._compat import AsyncRedisBridge
from pitstop.checkpoint.serde.base import SerializerProtocol
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["AsyncRedisSaver"]


class AsyncRedisSaver(AsyncRedisBridge, BaseRedisSaver):
    """A checkpoint saver on plain Redis 6.2+ / Valkey (strings, hashes, sorted sets, Lua).

    Every key of a thread shares one hash tag, so each operation is one atomic Lua script on one
    slot: ``put``, ``put_writes`` and ``get_tuple`` are one round trip each, ``list`` pages
    through a sorted set of checkpoint ids. Channel values are stored once per (thread,
    namespace, channel, version). Works with a standalone server, Sentinel (pass the master
    client) and Redis Cluster.

    Args:
        client: the client to use; the caller keeps ownership (``from_conn_string`` opens and
            closes its own). It must not decode responses.
        serde: serializer for checkpoints, values and writes (default: secure msgpack).
        prefix: first segment of every key (several savers can share a database).
        ttl: expire whole threads this long after their last write (a ``timedelta`` or
            minutes); every key of the thread gets its expiry in the script that writes it.
        refresh_on_read: reads push the thread's expiry back too.
        retention: the policy :meth:`sweep` applies when called without one.
        clock: seconds since the epoch (injectable for retention tests).
        compress: ``"zstd"`` compresses stored values (default ``None``: off).
        max_chain: a growing list is stored as a delta against an earlier version, in full
            every ``max_chain + 1`` versions (``0`` stores every value in full); see
            :mod:`pitstop.checkpoint.base.values`.
    """

    client: redis.asyncio.Redis | redis.asyncio.RedisCluster

    def __init__(
        self,
        client: redis.asyncio.Redis | redis.asyncio.RedisCluster,
        *,
        serde: SerializerProtocol | None = None,
        prefix: str = "pitstop",
        ttl: timedelta | float | None = None,
        refresh_on_read: bool = False,
        retention: RetentionPolicy | None = None,
        clock: Callable[[], float] = time.time,
        compress: str | None = None,
        max_chain: int = 32,
    ) -> None:
        super().__init__(
            serde=serde,
            prefix=prefix,
            ttl=ttl,
            refresh_on_read=refresh_on_read,
            retention=retention,
            clock=clock,
            cluster=isinstance(client, redis.asyncio.RedisCluster),
            compress=compress,
            max_chain=max_chain,
        )
        kwargs: dict[str, Any] = getattr(client, "get_connection_kwargs", dict)()
        if kwargs.get("decode_responses"):
            raise InvalidArgumentError("the Redis client must not use decode_responses=True")
        self.client = client
        self._cmd: Any = client
        if True:  # ASYNC: the loop sync calls are bridged to (see AsyncRedisBridge)
            self._init_bridge()
        if True:  # ASYNC: redis.asyncio replies cost more, so Lua takes larger values
            self._inline_max = _base.INLINE_VALUES_MAX_ASYNC
        else:
            self._inline_max = _base.INLINE_VALUES_MAX

    @classmethod
    @asynccontextmanager
    async def from_conn_string(
        cls,
        conn_string: str,
        *,
        cluster: bool = False,
        serde: SerializerProtocol | None = None,
        prefix: str = "pitstop",
        ttl: timedelta | float | None = None,
        refresh_on_read: bool = False,
        retention: RetentionPolicy | None = None,
        compress: str | None = None,
        max_chain: int = 32,
    ) -> AsyncIterator[AsyncRedisSaver]:
        """Open a saver on a ``redis://`` / ``rediss://`` URL; the client closes on exit.

        ``cluster=True`` connects a ``RedisCluster`` through the given node. Otherwise the pool
        holds at most 64 connections and callers beyond that wait for one (not fail).
        """
        client: redis.asyncio.Redis | redis.asyncio.RedisCluster
        if cluster:
            client = redis.asyncio.RedisCluster.from_url(conn_string)
        else:
            pool = redis.asyncio.BlockingConnectionPool.from_url(conn_string, max_connections=64)
            client = redis.asyncio.Redis(connection_pool=pool)
        try:
            yield cls(
                client,
                serde=serde,
                prefix=prefix,
                ttl=ttl,
                refresh_on_read=refresh_on_read,
                retention=retention,
                compress=compress,
                max_chain=max_chain,
            )
        finally:
            await client.aclose()

    async def _eval(self, script: lua.Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """``EVALSHA``, loading the script with ``EVAL`` when the server does not know it."""
        if self.cluster:
            try:
                return await self._cmd.evalsha(script.sha, len(keys), *keys, *args)
            except NoScriptError:
                return await self._cmd.eval(script.text, len(keys), *keys, *args)
        try:
            (reply,) = await self._send([("EVALSHA", script.sha, len(keys), *keys, *args)])
        except NoScriptError:
            (reply,) = await self._send([("EVAL", script.body, len(keys), *keys, *args)])
        return reply

    async def _send(self, commands: Sequence[Sequence[Any]]) -> builtins.list[Any]:
        """Send ``commands`` as one write on one pooled connection; their replies, in order.

        Standalone and Sentinel clients only (a cluster goes through its client). It skips
        the client's per-command machinery (one buffer, one ``sendall``, no reply callbacks).
        Every reply is read before a server error is raised, so the connection stays in sync;
        a connection error or timeout closes the connection and retries once on a fresh one
        (every request sent here is idempotent).
        """
        return await self._send_packed(resp(commands), len(commands))

    async def _send_packed(self, packed: bytes, count: int) -> builtins.list[Any]:
        """:meth:`_send` of a request already packed (``count`` commands)."""
        pool = self._cmd.connection_pool
        for attempt in range(2):
            conn = await pool.get_connection()
            try:
                await conn.send_packed_command([packed])
                replies: builtins.list[Any] = []
                error: ResponseError | None = None
                for _ in range(count):
                    try:
                        replies.append(await conn.read_response())
                    except ResponseError as exc:
                        error = error or exc
                        replies.append(exc)
            except (RedisConnectionError, RedisTimeoutError):
                await conn.disconnect()
                if attempt:
                    raise
                continue
            except BaseException:
                await conn.disconnect()
                raise
            finally:
                await pool.release(conn)
            if error is not None:
                raise error
            return replies
        raise AssertionError("unreachable")

    async def _eval_indexed(
        self,
        script: lua.Script,
        keys: Sequence[str],
        args: Sequence[Any],
        thread_id: str,
        run_id: str | None = None,
    ) -> Any:
        """Cluster only: a write script and the global index updates in one pipelined send.

        The global keys live in other slots (other nodes, usually), so they cannot be in the
        script; the cluster pipeline writes every node's commands before reading any reply, so
        the whole write costs one round trip. The index updates are idempotent and applied
        even if the script fails: a thread listed without checkpoints lists nothing.
        """
        if True:  # ASYNC: the async client learns its slot map on first use
            await self._cmd.initialize()
        for load in (False, True):
            pipe = self._cmd.pipeline(transaction=False)
            # redis-py blocks its eval methods on cluster pipelines (not the commands) and
            # would ask the server for a script's keys: the node is named instead
            code = ("EVAL", script.body) if load else ("EVALSHA", script.sha)
            node = self._cmd.get_node_from_key(keys[0])
            pipe.execute_command(*code, len(keys), *keys, *args, target_nodes=node)
            pipe.zadd(k.threads_key(self.prefix), {thread_id: self._now_ms()})
            if run_id is not None:
                pipe.sadd(k.run_key(self.prefix, run_id), thread_id)
            if self.ttl_ms:
                pipe.pexpire(k.threads_key(self.prefix), self.ttl_ms)
                if run_id is not None:
                    pipe.pexpire(k.run_key(self.prefix, run_id), self.ttl_ms)
            replies = await pipe.execute(raise_on_error=False)
            if isinstance(replies[0], NoScriptError) and not load:
                continue  # the node does not know the script: send its text once
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            return replies[0]
        raise AssertionError("unreachable")

    async def _unindex_thread(self, thread_id: str, runs: Sequence[str]) -> None:
        """Remove a deleted thread from the run sets (and, on a cluster, the thread index)."""
        if not runs and not self.cluster:
            return
        pipe = self._cmd.pipeline(transaction=False)
        if self.cluster:
            pipe.zrem(k.threads_key(self.prefix), thread_id)
        for run in runs:
            pipe.srem(k.run_key(self.prefix, run), thread_id)
        await pipe.execute()

    async def asetup(self) -> None:
        """Nothing to create: keys appear on first write (kept for LangGraph's API)."""

    # -- reads ---------------------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Return the checkpoint ``config`` names, or the latest of its namespace."""
        thread_id, ns, checkpoint_id = self._parse_config(config)
        rng = self._exact_range(ns, checkpoint_id)
        keys = self._thread_keys(thread_id)
        args = [rng.mode, rng.max, rng.min, 1, *self._refresh_args(thread_id)]
        hint = self._cv_seen.get((thread_id, ns))
        page = None
        known: dict[bytes, bytes | None] = {}
        if hint is not None:  # standalone only: the values by HMGET, not through Lua
            # No MULTI (two replies fewer): the two commands arrive in one buffer and run back
            # to back; value fields are immutable, so only a prune or delete in between could
            # differ, and then a value is missing and the read is done again in one script.
            cv, fields, chains = hint
            try:
                reply, values = await self._send_packed(
                    self._hinted_request(thread_id, ns, checkpoint_id, hint, keys, args), 2
                )
            except NoScriptError:
                pass  # the server lost its scripts: load it below
            else:
                if isinstance(reply, bytes):  # the guess was right: record and writes, packed
                    if all(values):
                        record, *writes = self._unpack_flat(thread_id, reply)
                        entry = [record, cv, values[: len(fields)], writes]
                        known.update(zip(chains, values[len(fields) :], strict=True))
                        if self._holds_chains(fields, entry[2], known):
                            return self._decode_entry(thread_id, entry, known=known)
                        page = [entry]
                else:
                    page, known = self._page_reply(reply)
        if page is None:
            page, known = self._page_reply(await self._eval(lua.PAGE, keys, args))
        if not page:
            return None
        known.update(await self._fetch_chains(keys[5], page, known))
        self._remember_cv(thread_id, ns, page[0][1], self._entry_chains(page[0]))
        return self._decode_entry(thread_id, page[0], known=known)

    async def _fetch_chains(
        self, values_key: str, page: Sequence[Any], known: Mapping[bytes, bytes | None]
    ) -> dict[bytes, bytes | None]:
        """The page's values, plus the chain records its delta records need that neither it nor
        ``known`` holds (one HMGET, only for records stored before their chain led them)."""
        values = self._page_values(page)
        missing = self._missing_chains(page, known)
        if missing:
            found = await self._cmd.hmget(values_key, missing)
            values.update(zip(missing, found, strict=True))
        return values

    async def _threads(self) -> builtins.list[str]:
        """Every indexed thread id (the one cross-slot read of ``list`` without a thread)."""
        raw = await self._cmd.zrange(k.threads_key(self.prefix), 0, -1)
        return sorted(t.decode() for t in raw)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Yield matching checkpoints, newest first (by checkpoint id within a thread).

        ``config`` may restrict the thread, the namespace (``""`` is the root namespace only; a
        missing key means every namespace) and the checkpoint id. ``filter`` matches metadata
        exactly like :func:`pitstop.checkpoint.base.metadata_matches`; ``before`` keeps ids
        strictly smaller than its ``checkpoint_id``; ``limit`` applies after both. Without a
        thread, threads are listed one after the other (sorted by thread id) from the global
        thread index, a ``ZRANGE`` of ``<prefix>:threads``. Each page
        is one script call; nothing is held while the caller iterates.
        """
        if limit is not None and limit <= 0:
            return
        thread_id, ns, checkpoint_id, before_id = self._list_scope(config, before)
        first = self._list_range(ns, checkpoint_id, before_id)
        if first is None:
            return
        threads = [thread_id] if thread_id is not None else await self._threads()
        remaining = limit
        for tid in threads:
            keys = self._thread_keys(tid)
            rng = first
            while True:
                wanted = PAGE_SIZE
                if remaining is not None and not filter:
                    wanted = min(PAGE_SIZE, remaining)
                page, known = self._page_reply(
                    await self._eval(
                        lua.PAGE,
                        keys,
                        [rng.mode, rng.max, rng.min, wanted, *self._refresh_args(tid)],
                    )
                )
                known.update(await self._fetch_chains(keys[5], page, known))
                for entry in page:
                    item = self._decode_entry(tid, entry, filter, known)
                    if item is None:
                        continue
                    yield item
                    if remaining is not None:
                        remaining -= 1
                        if remaining == 0:
                            return
                if len(page) < wanted:
                    break
                rng = self._next_range(rng, page[-1])

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Walk the parent chain collecting each delta channel's writes and seed.

        Without a ``checkpoint_id`` in ``config`` the latest checkpoint of the namespace is used.
        One script walks up to ``PAGE_SIZE`` ancestors per round trip (returning only the values
        of channels still without a seed), until every channel found its seed.
        """
        if not channels:
            return {}
        thread_id, ns, checkpoint_id = self._parse_config(config)
        keys = k.thread_keys(self.prefix, thread_id)
        found: builtins.list[CheckpointTuple] = []
        cursor, skip = checkpoint_id or "", "1"
        while True:
            reply = await self._eval(
                lua.HISTORY, keys, [k.part(ns), cursor, skip, PAGE_SIZE, *channels]
            )
            entries, known = self._page_reply(reply)
            known.update(await self._fetch_chains(keys[5], entries, known))
            for entry in entries:
                item = self._decode_entry(thread_id, entry, known=known)
                if item is not None:
                    found.append(item)
            if not reply[2]:
                break
            cursor, skip = reply[2].decode(), "0"
        return self._history(thread_id, channels, found)

    # -- writes --------------------------------------------------------------------------------

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint and the values of the channels in ``new_versions``."""
        for _ in range(2):
            thread_id, run_id, keys, args, result = self._put_args(
                config, checkpoint, metadata, new_versions
            )
            ns = result["configurable"]["checkpoint_ns"]
            if await self._put_once(thread_id, run_id, keys, args):
                self._remember_cv(thread_id, ns, args[6], self._put_chains(thread_id, ns, args))
                return result
            # a delta's base is gone (deleted or pruned meanwhile): store in full
            self._retry_in_full(thread_id, ns, new_versions)
        raise AssertionError("unreachable: a put in full has no base to miss")

    async def _put_once(
        self, thread_id: str, run_id: str | None, keys: Sequence[str], args: Sequence[Any]
    ) -> bool:
        """One round trip; False when a delta's base was missing (nothing was stored)."""
        if self.cluster:
            return bool(await self._eval_indexed(lua.PUT, keys, args, thread_id, run_id))
        head, full, deltas = self._split_put_args(args)
        if sum(map(len, full)) <= self._inline_max:  # small: one script, values as ARGV
            return bool(await self._eval(lua.PUT, keys, args))
        # One round trip, atomic: full values go to a plain HSET (never through Lua, where
        # large arguments are slow to copy), the rest (small delta records) to PUT (EVAL: a
        # NOSCRIPT inside MULTI would leave the HSET applied alone). When PUT finds a base
        # missing, the HSET stored only full values nothing references yet.
        commands: builtins.list[Sequence[Any]] = [
            ("MULTI",),
            ("HSET", keys[5], *full),
            ("EVAL", lua.PUT.body, len(keys), *keys, *head, *deltas),
            ("EXEC",),
        ]
        replies = (await self._send(commands))[-1]
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise reply
        return bool(replies[-1])

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
        thread_id, keys, args = self._writes_args(config, writes, task_id, task_path)
        if not writes:
            return
        if self.cluster:
            await self._eval_indexed(lua.PUT_WRITES, keys, args, thread_id)
        else:
            await self._eval(lua.PUT_WRITES, keys, args)

    # -- maintenance ---------------------------------------------------------------------------

    async def _delete(self, thread_id: str, cutoff: int | None = None) -> int | None:
        """Delete a thread (if idle since ``cutoff``); the number of checkpoints it had."""
        self._values.forget(thread_id)
        found = await self._eval(
            lua.DELETE,
            self._thread_keys(thread_id),
            [thread_id, "" if cutoff is None else cutoff],
        )
        if found is None:
            return None
        count, runs = found
        await self._unindex_thread(thread_id, [r.decode() for r in runs])
        return int(count)

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint, write and value of a thread, in every namespace."""
        await self._delete(str(thread_id))

    async def _read_snapshot(self, thread_id: str) -> Snapshot:
        return self._snapshot(await self._eval(lua.SNAPSHOT, self._thread_keys(thread_id), []))

    async def _drop(self, thread_id: str, choose: Callable[[Snapshot], set[bytes]]) -> int:
        """Drop the checkpoints ``choose`` picks, atomically against concurrent writes."""
        keys = self._thread_keys(thread_id)
        for _ in range(MAX_RETRIES):
            snap = await self._read_snapshot(thread_id)
            doomed = choose(snap)
            if not doomed:
                return 0
            ops = self._plan_drop(snap, doomed)
            args = self._apply_args(snap.gen.decode(), self.ttl_ms, thread_id, ops)
            done = await self._eval(lua.APPLY, keys, args)
            if done == 2:
                await self._unindex_thread(thread_id, self._runs_of(snap))
            if done:
                return len(doomed)
        raise InvalidArgumentError(f"thread {thread_id!r} kept changing; maintenance gave up")

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete every checkpoint whose metadata ``run_id`` is listed, with its writes.

        Values still referenced by a surviving checkpoint are kept.
        """
        wanted = {str(r) for r in run_ids}
        if not wanted:
            return
        threads: set[str] = set()
        for run in wanted:  # one set per run: never a cross-slot SUNION
            threads.update(
                t.decode() for t in await self._cmd.smembers(k.run_key(self.prefix, run))
            )

        def choose(snap: Snapshot) -> set[bytes]:
            return {f for f, rec in snap.records.items() if rec[7] is not None and rec[7] in wanted}

        for thread_id in sorted(threads):
            await self._drop(thread_id, choose)
        if threads:
            pipe = self._cmd.pipeline(transaction=False)
            for run in wanted:
                pipe.srem(k.run_key(self.prefix, run), *threads)
            await pipe.execute()

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy a thread's whole history to ``target_thread_id``.

        Checkpoint ids, parents, metadata, values and pending writes are preserved; the source is
        unchanged. Copying from an unknown thread does nothing. The target must have no
        checkpoints: merging two histories is refused with :class:`InvalidArgumentError`.
        """
        source, target = str(source_thread_id), str(target_thread_id)
        if source == target:
            raise InvalidArgumentError("copy_thread: source and target thread are the same")
        snap = await self._read_snapshot(source)
        if not snap.records:
            return
        args = self._apply_args("empty", self.ttl_ms, target, self._plan_copy(snap))
        if not await self._eval(lua.APPLY, self._thread_keys(target), args):
            raise InvalidArgumentError(
                f"copy_thread: target thread {target!r} already has checkpoints"
            )
        pipe = self._cmd.pipeline(transaction=False)
        pipe.zadd(k.threads_key(self.prefix), {target: self._now_ms()})
        for run in self._runs_of(snap):
            pipe.sadd(k.run_key(self.prefix, run), target)
        await pipe.execute()

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Drop old checkpoints of the listed threads.

        ``keep_latest`` keeps, per namespace, the newest checkpoint with its pending writes, plus
        the ancestors its delta channels need; ``delete`` removes the threads entirely. A value
        a kept checkpoint still references is never deleted. Unknown threads are ignored.
        """
        self._check_prune_strategy(strategy)
        for thread_id in map(str, thread_ids):
            if strategy == "delete":
                await self._delete(thread_id)
            else:
                await self._drop(thread_id, lambda snap: self._plan_keep_newest(snap, 1))

    async def asweep(self, policy: RetentionPolicy | None = None) -> SweepResult:
        """Apply a retention policy once (default: the saver's ``retention``).

        Threads not written (``put``/``put_writes``) for longer than ``max_idle`` are deleted
        (found through the global thread index, whose score is the last write); the others keep
        their newest ``keep_last`` checkpoints per namespace (plus what their delta channels
        need), which reads every thread once. Call it from a scheduler or a background task.
        """
        chosen = self._policy(policy)
        threads_deleted = checkpoints_deleted = 0
        index = k.threads_key(self.prefix)
        if chosen.max_idle is not None:
            cutoff = self._now_ms() - int(chosen.max_idle.total_seconds() * 1000)
            for raw in await self._cmd.zrangebyscore(index, "-inf", f"({cutoff}"):
                count = await self._delete(raw.decode(), cutoff)
                if count:
                    threads_deleted += 1
                    checkpoints_deleted += count
        if chosen.keep_last is not None:
            keep = chosen.keep_last
            for thread_id in await self._threads():
                checkpoints_deleted += await self._drop(
                    thread_id, lambda snap: self._plan_keep_newest(snap, keep)
                )
        return SweepResult(threads_deleted=threads_deleted, checkpoints_deleted=checkpoints_deleted)

    async def amemory_usage(self, thread_id: str) -> int:
        """Bytes the server uses for a thread's keys (``MEMORY USAGE``, summed)."""
        total = 0
        for key in k.thread_keys(self.prefix, str(thread_id)):
            total += int(await self._cmd.memory_usage(key, samples=0) or 0)
        return total
