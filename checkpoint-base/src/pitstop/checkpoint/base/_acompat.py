"""Paired sync/async primitives, for I/O code written once, async, with a generated sync twin.

Every async name here has a sync twin spelled without its ``a``/``A`` prefix (``ALock`` and
``Lock``, ``asleep`` and ``sleep``...): ``tools/async_to_sync.py`` renames one into the other,
so a ``*_async.py`` module imports the async name from here and its generated twin imports
the sync one. Anything that has no twin belongs in an ``if True:  # ASYNC`` fence instead.
"""

from __future__ import annotations

import asyncio
import threading
from asyncio import Event as AEvent
from asyncio import Lock as ALock
from asyncio import sleep as asleep
from contextlib import aclosing, closing
from threading import Event, Lock
from time import sleep
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

__all__ = [
    "AEvent",
    "ALock",
    "AWorker",
    "Event",
    "Lock",
    "Worker",
    "aclosing",
    "agather",
    "asleep",
    "aspawn",
    "closing",
    "gather",
    "sleep",
    "spawn",
]

AWorker: TypeAlias = "asyncio.Task[None]"
"""A concurrent unit of work: a task; its sync twin is a thread (`Worker`)."""


class Worker(threading.Thread):
    """A daemon thread that keeps what its function raised, for `gather` to re-raise."""

    def __init__(
        self, func: Callable[..., None], args: tuple[Any, ...], name: str | None = None
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._func = func
        self._args = args
        self.exception: BaseException | None = None

    def run(self) -> None:
        try:
            self._func(*self._args)
        except BaseException as exc:
            self.exception = exc


def aspawn(
    func: Callable[..., Coroutine[Any, Any, None]], *args: Any, name: str | None = None
) -> AWorker:
    """Run ``func(*args)`` concurrently, as a task."""
    return asyncio.create_task(func(*args), name=name)


def spawn(func: Callable[..., None], *args: Any, name: str | None = None) -> Worker:
    """Run ``func(*args)`` concurrently, in a daemon thread."""
    worker = Worker(func, args, name)
    worker.start()
    return worker


async def agather(*workers: AWorker) -> None:
    """Wait for every worker, then re-raise the first exception one of them raised.

    For a time limit, wrap the call in ``asyncio.timeout()`` (inside an ``# ASYNC`` fence).
    """
    await asyncio.gather(*workers)


def gather(*workers: Worker) -> None:
    """Wait for every worker, then re-raise the first exception one of them raised."""
    for worker in workers:
        worker.join()
    for worker in workers:
        if worker.exception is not None:
            raise worker.exception
