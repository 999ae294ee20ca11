"""Group commit in the async saver: concurrent calls share round trips and commits, and yet
each gets its own result or its own error."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import psycopg
import pytest
from pg_saver_env import URI, new_schema, require_server
from psycopg_pool import AsyncConnectionPool

from pitstop.checkpoint.base import empty_checkpoint
from pitstop.checkpoint.postgres import AsyncPostgresSaver

require_server()


def _cfg(thread: str, parent: str | None = None) -> dict[str, Any]:
    configurable: dict[str, Any] = {"thread_id": thread, "checkpoint_ns": ""}
    if parent:
        configurable["checkpoint_id"] = parent
    return {"configurable": configurable}


async def _put(saver: AsyncPostgresSaver, thread: str, step: int) -> dict[str, Any]:
    cp = empty_checkpoint()
    cp["channel_values"] = {"messages": [f"m{i}" for i in range(step + 1)], "step": step}
    cp["channel_versions"] = {"messages": f"{step + 1:032}.0", "step": f"{step + 1:032}.0"}
    stored = await saver.aput(_cfg(thread), cp, {"step": step}, dict(cp["channel_versions"]))
    return dict(stored)


async def _saver(pool_size: int) -> tuple[AsyncConnectionPool[Any], AsyncPostgresSaver]:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        URI, min_size=1, max_size=pool_size, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    saver = AsyncPostgresSaver(pool, schema=new_schema())
    await saver.asetup()
    return pool, saver


async def test_concurrent_calls_are_combined_and_each_gets_its_own_result() -> None:
    pool, saver = await _saver(2)
    try:
        assert saver._combiner is not None
        threads = [f"t{i}" for i in range(60)]
        for step in range(3):
            stored = await asyncio.gather(*(_put(saver, t, step) for t in threads))
            got = await asyncio.gather(*(saver.aget_tuple(_cfg(t)) for t in threads))
            for thread, config, item in zip(threads, stored, got, strict=True):
                assert item is not None
                assert item.config["configurable"]["thread_id"] == thread
                assert item.checkpoint["id"] == config["configurable"]["checkpoint_id"]
                assert item.checkpoint["channel_values"]["step"] == step
                assert len(item.checkpoint["channel_values"]["messages"]) == step + 1
            await asyncio.gather(
                *(
                    saver.aput_writes(c, [("x", t), ("__interrupt__", 1)], "task")
                    for t, c in zip(threads, stored, strict=True)
                )
            )
            got = await asyncio.gather(*(saver.aget_tuple(_cfg(t)) for t in threads))
            for thread, item in zip(threads, got, strict=True):
                assert item is not None
                assert sorted(w[1:] for w in item.pending_writes) == [
                    ("__interrupt__", 1),
                    ("x", thread),
                ]
        assert saver._combiner.batches > 0
    finally:
        await pool.close()


async def test_one_failing_call_fails_alone() -> None:
    pool, saver = await _saver(2)
    try:
        assert saver._combiner is not None
        # a thread id too long for a btree index entry: the server refuses that put
        bad = secrets.token_hex(8000)
        for _ in range(3):
            threads = [f"ok{i}" for i in range(40)]
            calls = [_put(saver, t, 0) for t in threads]
            calls.insert(20, _put(saver, bad, 0))
            results = await asyncio.gather(*calls, return_exceptions=True)
            failed = results.pop(20)
            assert isinstance(failed, psycopg.errors.ProgramLimitExceeded)
            for thread, result in zip(threads, results, strict=True):
                assert isinstance(result, dict), result
                item = await saver.aget_tuple(_cfg(thread))
                assert item is not None
                assert item.checkpoint["id"] == result["configurable"]["checkpoint_id"]
        assert saver._combiner.batches > 0
        assert await saver.aget_tuple(_cfg(bad)) is None
    finally:
        await pool.close()


async def test_cancelled_callers_do_not_disturb_the_others() -> None:
    pool, saver = await _saver(1)
    try:
        threads = [f"c{i}" for i in range(30)]
        tasks = [asyncio.ensure_future(_put(saver, t, 0)) for t in threads]
        await asyncio.sleep(0)
        for task in tasks[5::3]:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for thread, result in zip(threads, results, strict=True):
            item = await saver.aget_tuple(_cfg(thread))
            if isinstance(result, dict):
                assert item is not None
                assert item.checkpoint["id"] == result["configurable"]["checkpoint_id"]
            else:
                assert isinstance(result, asyncio.CancelledError)
    finally:
        await pool.close()


@pytest.mark.parametrize("pool_size", [1, 3])
async def test_combined_puts_of_one_thread_keep_their_order(pool_size: int) -> None:
    pool, saver = await _saver(pool_size)
    try:
        # many threads at once, each writing its own chain of growing (delta) values
        async def chain(thread: str) -> None:
            parent = None
            for step in range(6):
                cp = empty_checkpoint()
                cp["channel_values"] = {"messages": list(range(step + 1))}
                cp["channel_versions"] = {"messages": f"{step + 1:032}.0"}
                stored = await saver.aput(
                    _cfg(thread, parent), cp, {"step": step}, dict(cp["channel_versions"])
                )
                parent = stored["configurable"]["checkpoint_id"]

        threads = [f"o{i}" for i in range(25)]
        await asyncio.gather(*(chain(t) for t in threads))
        fresh = AsyncPostgresSaver(pool, schema=saver.schema)
        for thread in threads:
            items = [item async for item in fresh.alist(_cfg(thread))]
            assert [len(i.checkpoint["channel_values"]["messages"]) for i in items] == [
                6,
                5,
                4,
                3,
                2,
                1,
            ]
    finally:
        await pool.close()
