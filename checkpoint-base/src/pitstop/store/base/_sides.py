"""The flavour-specific halves of a store backend: the other flavour's entry points and the sweeper.

A backend writes its store once (``_store_async.py``) and generates the sync twin; the two
classes then differ only in what is here:

- :class:`SyncSide` (a store whose ``batch``/``sweep_ttl`` block): ``abatch``/``asweep_ttl``
  run the sync method in a worker thread; the TTL sweeper is a daemon thread.
- :class:`AsyncSide` (a store whose ``abatch``/``asweep_ttl`` are coroutines): ``batch``/
  ``sweep_ttl`` run the coroutine on the store's loop (:func:`run_on_loop`); the TTL sweeper is
  a task on the running loop.

:class:`ThreadSwept` gives any store with a blocking ``sweep_ttl`` its sweeper thread (the
in-memory store too).
Sweepers hold the store weakly: a store that is no longer referenced stops being swept.
"""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import logging
import threading
import weakref
from abc import abstractmethod
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

from pitstop.checkpoint.errors import InvalidArgumentError
from pitstop.store.base._core import Plan, StoreCore
from pitstop.store.base._loop import run_on_loop
from pitstop.store.base._types import Op, TTLConfig

__all__ = [
    "DEFAULT_SWEEP_INTERVAL_MINUTES",
    "AsyncSide",
    "SyncSide",
    "ThreadSwept",
    "ThreadSweeper",
    "sweep_interval_seconds",
]

logger = logging.getLogger("pitstop.store")

_T = TypeVar("_T")

DEFAULT_SWEEP_INTERVAL_MINUTES = 5.0


def sweep_interval_seconds(ttl_config: TTLConfig | None, minutes: float | None) -> float:
    """The sweep interval: ``minutes``, else ``ttl_config["sweep_interval_minutes"]``, else 5."""
    interval = minutes
    if interval is None and ttl_config:
        interval = ttl_config.get("sweep_interval_minutes")
    if interval is None:
        interval = DEFAULT_SWEEP_INTERVAL_MINUTES
    if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
        raise InvalidArgumentError(f"sweep interval must be positive, got {interval!r}")
    return float(interval) * 60.0


class _Sweepable(Protocol):
    def sweep_ttl(self) -> int: ...


class _ASweepable(Protocol):
    async def asweep_ttl(self) -> int: ...


class ThreadSweeper:
    """A daemon thread that calls a store's ``sweep_ttl`` every interval until stopped."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._done: concurrent.futures.Future[None] | None = None
        self._stop = threading.Event()

    def start(self, store: _Sweepable, interval_seconds: float) -> concurrent.futures.Future[None]:
        """Start sweeping ``store``; the future completes when the thread ends.

        Starting while running returns the running thread's future.
        """
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                assert self._done is not None
                return self._done
            done: concurrent.futures.Future[None] = concurrent.futures.Future()
            self._stop = threading.Event()
            self._done = done
            self._thread = threading.Thread(
                target=_sweep_thread,
                args=(weakref.ref(store), self._stop, interval_seconds, done),
                name=self.name,
                daemon=True,
            )
            self._thread.start()
            return done

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the thread; return whether it ended within ``timeout`` seconds."""
        with self._lock:
            thread = self._thread
            self._stop.set()
        if thread is None:
            return True
        thread.join(timeout)
        stopped = not thread.is_alive()
        if stopped:
            with self._lock:
                if self._thread is thread:
                    self._thread = None
        return stopped


def _sweep_thread(
    store_ref: weakref.ref[_Sweepable],
    stop: threading.Event,
    interval_seconds: float,
    done: concurrent.futures.Future[None],
) -> None:
    try:
        while not stop.wait(interval_seconds):
            store = store_ref()
            if store is None:
                return
            try:
                store.sweep_ttl()
            except Exception:  # keep sweeping: one failure must not stop expiry for good
                logger.exception("TTL sweep failed")
            del store
    finally:
        done.set_result(None)


async def _sweep_task(
    store_ref: weakref.ref[_ASweepable], stop: asyncio.Event, interval_seconds: float
) -> None:
    while True:
        try:
            await asyncio.wait_for(stop.wait(), interval_seconds)
            return
        except TimeoutError:
            pass
        store = store_ref()
        if store is None:
            return
        try:
            await store.asweep_ttl()
        except Exception:  # keep sweeping: one failure must not stop expiry for good
            logger.exception("TTL sweep failed")
        del store


class ThreadSwept(StoreCore):
    """A store whose blocking ``sweep_ttl`` is called by a sweeper thread."""

    sweeper_name: ClassVar[str] = "pitstop-store-ttl-sweeper"
    """Name of the sweeper thread."""
    _thread_sweeper: ThreadSweeper | None = None

    @abstractmethod
    def sweep_ttl(self) -> int:
        """Delete every expired item now; return how many were deleted."""

    def start_ttl_sweeper(
        self, sweep_interval_minutes: float | None = None
    ) -> concurrent.futures.Future[None]:
        """Start a daemon thread that calls :meth:`sweep_ttl` periodically.

        The interval defaults to ``ttl_config["sweep_interval_minutes"]``, else 5 minutes. The
        returned future completes when the sweeper stops. Starting twice returns the same one.
        """
        interval = sweep_interval_seconds(self.ttl_config, sweep_interval_minutes)
        with _SWEEPER_CREATION:
            if self._thread_sweeper is None:
                self._thread_sweeper = ThreadSweeper(self.sweeper_name)
            sweeper = self._thread_sweeper
        return sweeper.start(self, interval)

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper thread; return whether it stopped within ``timeout`` seconds."""
        sweeper = self._thread_sweeper
        return True if sweeper is None else sweeper.stop(timeout)


class SyncSide(ThreadSwept):
    """A blocking store's async entry points (a worker thread) and its sweeper thread."""

    def _embed_plan(
        self, plan: Plan
    ) -> tuple[dict[str, builtins.list[float]], dict[str, Sequence[float]]]:
        """The store's embedding step (the embedder's sync methods; see ``StoreCore._embed``)."""
        return self._embed(plan)

    async def abatch(self, ops: Iterable[Op]) -> builtins.list[Any]:
        """Run ops in one batch, in a worker thread."""
        return await asyncio.to_thread(self.batch, builtins.list(ops))

    async def asweep_ttl(self) -> int:
        """Delete every expired item now, in a worker thread; return how many were deleted."""
        return await asyncio.to_thread(self.sweep_ttl)


_SWEEPER_CREATION = threading.Lock()


class AsyncSide(StoreCore):
    """An async store's sync entry points (run on its loop) and its sweeper task."""

    sweeper_name: ClassVar[str] = "pitstop-store-ttl-sweeper"
    """Name of the sweeper task."""
    loop: asyncio.AbstractEventLoop | None = None
    """The loop the store was created on (its sync entry points run coroutines there)."""
    _sweeper_task: asyncio.Task[None] | None = None
    _sweeper_stop: asyncio.Event | None = None

    @abstractmethod
    async def asweep_ttl(self) -> int:
        """Delete every expired item now; return how many were deleted."""

    async def _embed_plan(
        self, plan: Plan
    ) -> tuple[dict[str, builtins.list[float]], dict[str, Sequence[float]]]:
        """The store's embedding step (the embedder's async methods; see ``StoreCore._embed``)."""
        return await self._aembed(plan)

    def _run(self, coro: Coroutine[Any, Any, _T], method: str) -> _T:
        """Run a coroutine on the store's loop from synchronous code (see ``run_on_loop``)."""
        return run_on_loop(self.loop, coro, owner=type(self).__name__, method=method)

    def batch(self, ops: Iterable[Op]) -> builtins.list[Any]:
        """Run ops in one batch on the store's event loop (never from that loop's thread)."""
        return self._run(self.abatch(builtins.list(ops)), "batch")

    def sweep_ttl(self) -> int:
        """Delete every expired item now; return how many were deleted."""
        return self._run(self.asweep_ttl(), "sweep_ttl")

    async def start_ttl_sweeper(
        self, sweep_interval_minutes: float | None = None
    ) -> asyncio.Task[None]:
        """Start a task that calls :meth:`asweep_ttl` periodically (interval as for the sync
        store). Starting twice returns the same task."""
        interval = sweep_interval_seconds(self.ttl_config, sweep_interval_minutes)
        if self._sweeper_task is not None and not self._sweeper_task.done():
            return self._sweeper_task
        self._sweeper_stop = asyncio.Event()
        self._sweeper_task = asyncio.create_task(
            _sweep_task(weakref.ref(self), self._sweeper_stop, interval),
            name=self.sweeper_name,
        )
        return self._sweeper_task

    async def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Stop the sweeper task; return whether it stopped within ``timeout`` seconds."""
        task = self._sweeper_task
        if task is None:
            return True
        assert self._sweeper_stop is not None
        self._sweeper_stop.set()
        done, _ = await asyncio.wait([task], timeout=timeout)
        if task in done:
            self._sweeper_task = None
            return True
        return False
