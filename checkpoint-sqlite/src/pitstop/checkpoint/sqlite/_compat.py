"""The other API of each saver: sync methods for the async saver, async ones for the sync saver.

Hand-written (not generated): each mixin exists in one flavour only. The rename table maps
``AsyncSqliteBridge`` (mixed into :class:`AsyncSqliteSaver`) onto ``SqliteBridge`` (mixed into
:class:`SqliteSaver`), so the generated saver picks the right one.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

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

__all__ = ["AsyncSqliteBridge", "SqliteBridge"]

T = TypeVar("T")

_SYNC_ON_LOOP = (
    "Synchronous calls to AsyncSqliteSaver are only allowed from a different thread than "
    "its event loop's. From async code, use the async interface, e.g. "
    "`await checkpointer.aget_tuple(...)` or `await graph.ainvoke(...)`; or use SqliteSaver."
)


class AsyncSqliteBridge(BaseCheckpointSaver):
    """Sync methods of the async saver.

    Called from another thread while the saver's event loop runs, they run the async method on
    that loop and wait (LangGraph's convention). Called on the loop's own thread they raise
    :class:`asyncio.InvalidStateError` instead of deadlocking. When the saver's loop is not
    running (a script that created the saver with ``asyncio.run`` and then calls ``get_tuple``),
    the async method runs on a private event loop: every operation is one self-contained hop
    to aiosqlite's thread, so it does not depend on which loop awaits it.
    """

    loop: asyncio.AbstractEventLoop | None

    def _sync(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        loop = self.loop
        if running is not None and running is loop:
            coro.close()
            raise asyncio.InvalidStateError(_SYNC_ON_LOOP)
        if loop is not None and loop.is_running() and not loop.is_closed():
            return asyncio.run_coroutine_threadsafe(coro, loop).result()
        if running is None:
            return asyncio.run(coro)
        with ThreadPoolExecutor(max_workers=1) as pool:  # another loop runs on this thread
            return pool.submit(asyncio.run, coro).result()

    async def asetup(self) -> None:
        """Create or migrate the schema (declared here; implemented by the saver)."""
        raise NotImplementedError

    def setup(self) -> None:
        """Create or migrate the schema (idempotent; also run on first use)."""
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


class SqliteBridge(BaseCheckpointSaver):
    """Async methods of the sync saver: each runs the sync method in a worker thread.

    Lets one ``SqliteSaver`` serve ``ainvoke`` too without blocking the event loop (LangGraph's
    own ``SqliteSaver`` raises ``NotImplementedError`` there). For async applications
    :class:`AsyncSqliteSaver` is the native choice. ``alist`` reads the whole result in the
    worker thread, then yields it.
    """

    def setup(self) -> None:
        """Create or migrate the schema (declared here; implemented by the saver)."""
        raise NotImplementedError

    async def asetup(self) -> None:
        """Create or migrate the schema (idempotent; also run on first use)."""
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
