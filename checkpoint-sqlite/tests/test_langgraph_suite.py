"""LangGraph's published conformance suite against both SQLite savers, through both APIs.

The suite only calls async methods; for ``SqliteSaver``, ``api="sync"`` routes each of them to
the saver's sync method (called directly, not through a thread), so the sync API is what is
checked there. Every optional capability is claimed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langgraph.checkpoint.conformance")

from pitstop.checkpoint.sqlite import AsyncSqliteSaver, SqliteSaver
from pitstop.conformance.langgraph_suite import run_langgraph_suite


def _files(tmp_path: Path, opener: Callable[[str], Any]) -> Callable[[], Any]:
    """A factory opening a new database file on every call."""
    count = iter(range(1_000_000))
    return lambda: opener(str(tmp_path / f"checkpoints-{next(count)}.db"))


async def test_official_suite_async_saver(tmp_path: Path) -> None:
    # Only the async API: on its own event loop, the async saver's sync methods raise
    # InvalidStateError by design (LangGraph's convention), which the sync route would hit.
    factory = _files(tmp_path, AsyncSqliteSaver.from_conn_string)
    await run_langgraph_suite(factory, api="async", name="AsyncSqliteSaver")


@pytest.mark.parametrize("api", ["async", "sync"])
async def test_official_suite_sync_saver(tmp_path: Path, api: Any) -> None:
    factory = _files(tmp_path, SqliteSaver.from_conn_string)
    await run_langgraph_suite(factory, api=api, name="SqliteSaver")
