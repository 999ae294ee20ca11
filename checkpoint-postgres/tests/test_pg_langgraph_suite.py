"""LangGraph's published conformance suite against both PostgreSQL savers.

The suite only calls async methods; for ``PostgresSaver``, ``api="sync"`` routes each of them to
the saver's sync method (called directly), so the sync API is what is checked there. Every
optional capability is claimed. Each factory call gets a fresh schema.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("langgraph.checkpoint.conformance")

from pg_saver_env import URI, new_schema, require_server

from pitstop.checkpoint.postgres import AsyncPostgresSaver, PostgresSaver
from pitstop.conformance.langgraph_suite import run_langgraph_suite

require_server()


async def test_official_suite_async_saver() -> None:
    def factory() -> Any:
        return AsyncPostgresSaver.from_conn_string(URI, schema=new_schema(), pool_size=4)

    await run_langgraph_suite(factory, api="async", name="AsyncPostgresSaver")


@pytest.mark.parametrize("api", ["async", "sync"])
async def test_official_suite_sync_saver(api: Any) -> None:
    def factory() -> Any:
        return PostgresSaver.from_conn_string(
            URI, schema=new_schema(), pool_size=4, prepare_threshold=None
        )

    await run_langgraph_suite(factory, api=api, name="PostgresSaver")
