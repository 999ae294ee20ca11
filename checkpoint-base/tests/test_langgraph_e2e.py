"""LangGraph end-to-end scenarios on pitstop's InMemorySaver, compared with LangGraph's own.

The scenarios live in ``pitstop.conformance.scenarios`` (saver-agnostic); this file only
supplies the factory. Each scenario runs once through the sync API and once through the async API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

pytest.importorskip("langgraph")
pytest.importorskip("pitstop.conformance")
# Readable assertion messages from the scenario module; must precede its import.
pytest.register_assert_rewrite("pitstop.conformance.scenarios")

from pitstop.checkpoint.memory import InMemorySaver  # noqa: E402
from pitstop.conformance.scenarios import ASYNC_SCENARIOS, SYNC_SCENARIOS  # noqa: E402


@pytest.mark.parametrize(
    "scenario", [fn for _, fn in SYNC_SCENARIOS], ids=[name for name, _ in SYNC_SCENARIOS]
)
def test_sync(scenario: Callable[..., Any]) -> None:
    scenario(InMemorySaver)


@pytest.mark.parametrize(
    "scenario", [fn for _, fn in ASYNC_SCENARIOS], ids=[name for name, _ in ASYNC_SCENARIOS]
)
async def test_async(scenario: Callable[..., Awaitable[Any]]) -> None:
    await scenario(InMemorySaver)
