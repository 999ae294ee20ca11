"""The other API of each Redis saver, plus the Redis-only ``memory_usage``.

Hand-written (not generated): each mixin exists in one flavour only. The rename table maps
``AsyncRedisBridge`` (mixed into :class:`AsyncRedisSaver`) onto ``RedisBridge`` (mixed into
:class:`RedisSaver`), so the generated saver picks the right one. Everything but
``memory_usage`` comes from :mod:`pitstop.checkpoint.base.bridge`.
"""

from __future__ import annotations

import asyncio

from pitstop.checkpoint.base.bridge import AsyncSaverSyncAPI, SyncSaverAsyncAPI

__all__ = ["AsyncRedisBridge", "RedisBridge"]


class AsyncRedisBridge(AsyncSaverSyncAPI):
    """Sync methods of the async saver (see :class:`AsyncSaverSyncAPI`)."""

    sync_twin = "RedisSaver"

    async def amemory_usage(self, thread_id: str) -> int:
        """Bytes used by a thread (declared here; implemented by the saver)."""
        raise NotImplementedError

    def memory_usage(self, thread_id: str) -> int:
        """Bytes the server uses for a thread's keys (``MEMORY USAGE``, summed)."""
        return self._sync(self.amemory_usage(thread_id))


class RedisBridge(SyncSaverAsyncAPI):
    """Async methods of the sync saver (see :class:`SyncSaverAsyncAPI`)."""

    def memory_usage(self, thread_id: str) -> int:
        """Bytes used by a thread (declared here; implemented by the saver)."""
        raise NotImplementedError

    async def amemory_usage(self, thread_id: str) -> int:
        """Bytes the server uses for a thread's keys (``MEMORY USAGE``, summed)."""
        return await asyncio.to_thread(self.memory_usage, thread_id)
