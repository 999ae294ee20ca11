"""Running an async store's coroutine from synchronous code (its sync entry points)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_on_loop"]

_T = TypeVar("_T")


def run_on_loop(
    loop: asyncio.AbstractEventLoop | None,
    coro: Coroutine[Any, Any, _T],
    *,
    owner: str,
    method: str,
) -> _T:
    """Run ``coro`` on an async store's ``loop`` from synchronous code.

    From another thread while the loop runs: hand it over and wait. With the loop idle (a script
    or test between ``run`` calls): run it there. On a running loop's own thread that would
    deadlock, so :class:`asyncio.InvalidStateError` is raised, naming ``owner.method``.
    Without a loop: a fresh one (``asyncio.run``).
    """
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if loop is not None and loop.is_running() and running is not loop:
        return asyncio.run_coroutine_threadsafe(coro, loop).result()
    if running is not None:
        coro.close()
        raise asyncio.InvalidStateError(
            f"synchronous {owner}.{method}() called on a running event loop's "
            f"thread, which would deadlock: use 'await store.a{method}(...)'"
        )
    if loop is not None and not loop.is_closed():
        return loop.run_until_complete(coro)
    return asyncio.run(coro)
