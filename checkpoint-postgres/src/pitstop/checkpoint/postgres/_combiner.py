"""Group commit for the async PostgreSQL saver: concurrent calls share round trips and commits.

A saver over a pool sends each ``put``, ``put_writes`` and ``get_tuple`` through a
:class:`Combiner`. While few calls are in flight, a call runs on its own connection exactly as
without the combiner (one statement, one round trip). When more calls arrive than there are
lanes (batches in flight at once), they queue; a lane then sends the queued statements together
in one pipeline, in one transaction that commits once (reads of a latest checkpoint go out as
one statement). Each statement is still one whole operation, so a batch never splits an
operation: it commits entirely or not at all.

If a batch fails (a statement raised, a deadlock between two batches, ...), nothing of it was
committed and every operation of it runs again alone, so each caller gets its own result or
its own error and one bad call never fails another. A broken connection fails every
operation of the batch with :class:`ConnectionLostError`, as it would have failed each of them
alone (every saver write is idempotent, so retrying is safe).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Final

from psycopg import AsyncConnection

from pitstop.checkpoint.postgres._base import ConnectionLostError, Row

__all__ = ["Combiner"]

LANES: Final = 2
"""Batches (or lone calls) in flight at once, on as many connections. A few are enough to keep
the server's cores busy; the other calls wait and go out together."""

MAX_BATCH: Final = 64
"""The most operations one batch carries."""


class _Op:
    __slots__ = (
        "binary",
        "fetch",
        "future",
        "latest",
        "params",
        "statement",
        "thread_id",
        "what",
    )

    def __init__(
        self,
        what: str,
        thread_id: str | None,
        statement: str,
        params: Any,
        fetch: bool,
        binary: bool,
        future: asyncio.Future[list[Row]] | None,
        latest: tuple[str, str] | None = None,
    ) -> None:
        self.latest = latest
        self.what = what
        self.thread_id = thread_id
        self.statement = statement
        self.params = params
        self.fetch = fetch
        self.binary = binary
        self.future = future


Connect = Callable[[str, str | None], AbstractAsyncContextManager[AsyncConnection[Any]]]


class Combiner:
    """Runs single-statement operations, combining concurrent ones into shared transactions.

    Args:
        connect: the saver's ``_connection(what, thread_id)``: a pooled connection that turns a
            broken connection into :class:`ConnectionLostError`.
        latest_many: the statement reading the latest checkpoint of several (thread,
            namespace) pairs (parameters ``thread_ids``, ``checkpoint_nss``; rows starting with
            thread id and namespace): a batch's reads of a latest checkpoint go out as one.
        lanes: batches in flight at once (at most the pool's size).
        max_batch: the most operations per batch.
    """

    def __init__(
        self,
        connect: Connect,
        latest_many: str,
        *,
        lanes: int = LANES,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._connect = connect
        self._latest_many = latest_many
        self._lanes = max(1, lanes)
        self._max_batch = max(1, max_batch)
        self._busy = 0
        self._pending: list[_Op] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.batches = 0
        """Batches sent so far (each carrying two operations or more)."""

    async def execute(
        self,
        what: str,
        thread_id: str | None,
        statement: str,
        params: Any,
        *,
        fetch: bool = False,
        binary: bool = False,
        latest: tuple[str, str] | None = None,
    ) -> list[Row]:
        """Run one statement (one whole operation); its rows if ``fetch``.

        ``latest=(thread_id, ns)`` marks a read of that namespace's latest checkpoint
        (``statement`` reads it alone; in a batch it joins the batch's other such reads).
        """
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # first call, or the saver moved to another event loop (the previous one ended):
            # nothing of the old loop's state can run any more
            self._loop, self._busy, self._pending = loop, 0, []
        if self._busy < self._lanes and not self._pending:
            # a free lane and nobody waiting: run now, alone, on this task
            self._busy += 1
            try:
                return await self._run_alone(
                    _Op(what, thread_id, statement, params, fetch, binary, None, latest)
                )
            finally:
                self._busy -= 1
                self._start_lanes()
        future: asyncio.Future[list[Row]] = loop.create_future()
        self._pending.append(_Op(what, thread_id, statement, params, fetch, binary, future, latest))
        self._start_lanes()
        return await future

    def _start_lanes(self) -> None:
        while self._pending and self._busy < self._lanes:
            self._busy += 1
            task = asyncio.get_running_loop().create_task(self._drain(self._pending))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _drain(self, pending: list[_Op]) -> None:
        """A lane: send the queued operations, a batch at a time, until none is left."""
        if pending is not self._pending:  # pragma: no cover - the loop changed meanwhile
            return
        batch: list[_Op] = []
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                batch = [op for op in batch if op.future is not None and not op.future.done()]
                if len(batch) == 1:
                    await self._settle_alone(batch[0])
                elif batch:
                    await self._run_batch(batch)
        except BaseException:
            # the loop is shutting down: whoever still waits must not wait forever
            for op in [*batch, *self._pending]:
                _settle(op, exc=asyncio.CancelledError())
            self._pending.clear()
            raise
        finally:
            if pending is self._pending:
                self._busy -= 1

    async def _run_alone(self, op: _Op) -> list[Row]:
        async with self._connect(op.what, op.thread_id) as conn:
            cur = await conn.execute(op.statement, op.params, binary=op.binary)
            return await cur.fetchall() if op.fetch else []

    async def _settle_alone(self, op: _Op) -> None:
        try:
            rows = await self._run_alone(op)
        except Exception as exc:
            _settle(op, exc=exc)
        else:
            _settle(op, rows=rows)

    async def _run_batch(self, batch: list[_Op]) -> None:
        # one lock order for every batch (by thread; a thread's operations keep their order),
        # so two batches rarely wait on each other's rows
        batch.sort(key=lambda op: op.thread_id or "")
        self.batches += 1
        reads = [op for op in batch if op.latest is not None]
        others = [op for op in batch if op.latest is None] if len(reads) > 1 else batch
        keys: list[tuple[str, str]] = []
        if len(reads) > 1:
            keys = list(dict.fromkeys(op.latest for op in reads if op.latest is not None))
        try:
            async with self._connect(batch[0].what, None) as conn:
                # an explicit transaction: on an error psycopg rolls it back and forgets the
                # statements it meant to prepare in the aborted part of the pipeline
                async with conn.pipeline(), conn.transaction():
                    cursors = [
                        await conn.execute(op.statement, op.params, binary=op.binary)
                        for op in others
                    ]
                    if keys:
                        params = {
                            "thread_ids": [k[0] for k in keys],
                            "checkpoint_nss": [k[1] for k in keys],
                        }
                        many = await conn.execute(self._latest_many, params, binary=True)
                results = [
                    await cur.fetchall() if op.fetch else []
                    for op, cur in zip(others, cursors, strict=True)
                ]
                if keys:
                    found = {(row[0], row[1]): row for row in await many.fetchall()}
                    for op in reads:
                        assert op.latest is not None
                        row = found.get(op.latest)
                        _settle(op, rows=[row] if row is not None else [])
        except ConnectionLostError as exc:
            for op in batch:
                where = f" on thread {op.thread_id!r}" if op.thread_id is not None else ""
                lost = ConnectionLostError(
                    f"the PostgreSQL connection broke during {op.what}{where} (sent with "
                    f"{len(batch) - 1} other operations): {exc.__cause__ or exc}. The operation "
                    "may or may not have been applied; retrying it is safe."
                )
                lost.__cause__ = exc.__cause__ or exc
                _settle(op, exc=lost)
        except Exception:
            # nothing of the batch was committed (a driver error, or one raised while sending
            # a statement): each operation runs again alone and gets its own result or error
            for op in batch:
                if op.future is not None and not op.future.done():
                    await self._settle_alone(op)
        else:
            for op, rows in zip(others, results, strict=True):
                _settle(op, rows=rows)


def _settle(op: _Op, *, rows: list[Row] | None = None, exc: BaseException | None = None) -> None:
    future = op.future
    if future is None or future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(rows or [])
