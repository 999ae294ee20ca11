"""LangGraph's published conformance suite against both Redis savers, through both APIs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("langgraph.checkpoint.conformance")

from redis_factories import _PENDING, URL, new_prefix

from pitstop.checkpoint.redis import AsyncRedisSaver, RedisSaver
from pitstop.conformance.langgraph_suite import run_langgraph_suite


def _fresh(opener: Callable[..., Any]) -> Callable[[], Any]:
    """A factory opening a saver on a new key prefix on every call."""

    def make() -> Any:
        prefix = new_prefix()
        _PENDING.append(prefix)
        return opener(URL, prefix=prefix)

    return make


async def test_official_suite_async_saver() -> None:
    # Only the async API: on its own event loop, the async saver's sync methods raise
    # InvalidStateError by design (LangGraph's convention).
    await run_langgraph_suite(
        _fresh(AsyncRedisSaver.from_conn_string), api="async", name="AsyncRedisSaver"
    )


@pytest.mark.parametrize("api", ["async", "sync"])
async def test_official_suite_sync_saver(api: Any) -> None:
    await run_langgraph_suite(_fresh(RedisSaver.from_conn_string), api=api, name="RedisSaver")
