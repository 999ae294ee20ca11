"""The other API of a saver: sync methods for an async saver, async ones for a sync saver.

Backends write their saver once, async, and generate the sync twin (``tools/async_to_sync.py``).
The async saver mixes in :class:`AsyncSaverSyncAPI`, which the rename table turns into
:class:`SyncSaverAsyncAPI` in the generated sync saver, so each flavour also offers the other
API. Custom backends can use the same mixins.
"""

from __future__ import annotations

import asyncio
import builtins
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from pitstop.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
    RetentionPolicy,
    RunnableConfig,
    SweepResult,
)

__all__ = ["AsyncSaverSyncAPI", "SyncSaverAsyncAPI"]

T = TypeVar("T")


class AsyncSaverSyncAPI(BaseCheckpointSaver):
    """Sync methods of an async saver.

    An async driver connection (``redis.asyncio``, psycopg's ``AsyncConnection``) belongs to the
    event loop that opened it, so every call runs on the saver's loop (the one running when it
    was created). From another thread while that loop runs, the call is submitted to it and
    waited for (LangGraph's convention). On the loop's own thread it raises
    :class:`asyncio.InvalidStateError` instead of deadlocking. When the loop exists but is idle
    (a script between ``asyncio.run``-style steps, a test session), the calling thread drives it
    for the duration of the call, one caller at a time.
    """

    loop: asyncio.AbstractEventLoop | None
    sync_twin: ClassVar[str] = ""
    """Name of the sync saver to suggest in the error raised on the loop's own thread."""

    def _sync_on_loop_message(self) -> str:
        twin = f"; or use {self.sync_twin}" if self.sync_twin else ""
        return (
            f"Synchronous calls to {type(self).__name__} are only allowed from a different "
            "thread than its event loop's. From async code, use the async interface, e.g. "
            f"`await checkpointer.aget_tuple(...)` or `await graph.ainvoke(...)`{twin}."
        )

    def _init_bridge(self) -> None:
        """Remember the running loop (if any); call from the async saver's ``__init__``."""
        try:
            self.loop = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None
        self._drive_lock = threading.Lock()
        self._driving = False

    def _sync(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and running is self.loop:
            coro.close()
            raise asyncio.InvalidStateError(self._sync_on_loop_message())
        loop = self.loop
        if loop is not None and loop.is_running() and not self._driving:
            return asyncio.run_coroutine_threadsafe(coro, loop).result()
        with self._drive_lock:
            loop = self.loop
            if loop is not None and loop.is_running():
                return asyncio.run_coroutine_threadsafe(coro, loop).result()
            if loop is None or loop.is_closed():
                loop = self.loop = asyncio.new_event_loop()
            if running is not None:  # another loop runs on this thread: drive ours elsewhere
                box: builtins.list[T] = []
                worker = threading.Thread(target=lambda: box.append(self._drive(loop, coro)))
                worker.start()
                worker.join()
                return box[0]
            return self._drive(loop, coro)

    def _drive(self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
        self._driving = True
        try:
            return loop.run_until_complete(coro)
        finally:
            self._driving = False

    async def asetup(self) -> None:
        """Create or migrate the storage (declared here; implemented by the saver)."""
        raise NotImplementedError

    def setup(self) -> None:
        """Create or migrate the storage (idempotent; also run on first use)."""
        self._sync(self.asetup())

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Return the checkpoint ``config`` names (latest of its namespace when no id)."""
        return self._sync(self.aget_tuple(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Yield matching checkpoints, newest first (collected on the loop, then yielded)."""

        async def collect() -> builtins.list[CheckpointTuple]:
            return [
                item async for item in self.alist(config, filter=filter, before=before, limit=limit)
            ]

        yield from self._sync(collect())

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint; return its config."""
        return self._sync(self.aput(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes against a checkpoint."""
        self._sync(self.aput_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint, write and value of a thread."""
        self._sync(self.adelete_thread(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints of the given runs, with their writes."""
        self._sync(self.adelete_for_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy a thread's whole history to an empty thread."""
        self._sync(self.acopy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Drop old checkpoints of the listed threads."""
        self._sync(self.aprune(thread_ids, strategy=strategy))

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Collect each delta channel's writes and seed along the parent chain."""
        return self._sync(self.aget_delta_channel_history(config=config, channels=channels))

    def sweep(self, policy: RetentionPolicy | None = None) -> SweepResult:
        """Apply a retention policy once."""
        return self._sync(self.asweep(policy))


class SyncSaverAsyncAPI(BaseCheckpointSaver):
    """Async methods of a sync saver: each runs the sync method in a worker thread.

    Lets one sync saver serve ``ainvoke`` too without blocking the event loop; for async
    applications the async saver is the native choice. ``alist`` reads the whole result in the
    worker thread, then yields it.
    """

    def setup(self) -> None:
        """Create or migrate the storage (declared here; implemented by the saver)."""
        raise NotImplementedError

    async def asetup(self) -> None:
        """Create or migrate the storage (idempotent; also run on first use)."""
        await asyncio.to_thread(self.setup)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Return the checkpoint ``config`` names (latest of its namespace when no id)."""
        return await asyncio.to_thread(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Yield matching checkpoints, newest first."""

        def collect() -> builtins.list[CheckpointTuple]:
            return builtins.list(self.list(config, filter=filter, before=before, limit=limit))

        for item in await asyncio.to_thread(collect):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint; return its config."""
        return await asyncio.to_thread(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes against a checkpoint."""
        await asyncio.to_thread(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint, write and value of a thread."""
        await asyncio.to_thread(self.delete_thread, thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints of the given runs, with their writes."""
        await asyncio.to_thread(self.delete_for_runs, run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy a thread's whole history to an empty thread."""
        await asyncio.to_thread(self.copy_thread, source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Drop old checkpoints of the listed threads."""
        await asyncio.to_thread(lambda: self.prune(thread_ids, strategy=strategy))

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Collect each delta channel's writes and seed along the parent chain."""
        return await asyncio.to_thread(
            lambda: self.get_delta_channel_history(config=config, channels=channels)
        )

    async def asweep(self, policy: RetentionPolicy | None = None) -> SweepResult:
        """Apply a retention policy once."""
        return await asyncio.to_thread(self.sweep, policy)
