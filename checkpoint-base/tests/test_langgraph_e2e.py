"""LangGraph end-to-end scenarios on pitstop's InMemorySaver, compared with LangGraph's own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

pytest.importorskip("langgraph")
pytest.register_assert_rewrite("langgraph_scenarios")

from langgraph_scenarios import ASYNC_SCENARIOS, SYNC_SCENARIOS, SaverFactory

from pitstop.checkpoint.memory import InMemorySaver

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
def factory() -> Any:
    return InMemorySaver(serde=JsonPlusSerializer())


@pytest.mark.parametrize("scenario", [fn for _, fn in SYNC_SCENARIOS], ids=[n for n, _ in SYNC_SCENARIOS])
def test_sync(scenario: Callable[[SaverFactory], Any]) -> None:
    scenario(factory)


@pytest.mark.parametrize("scenario", [fn for _, fn in ASYNC_SCENARIOS], ids=[n for n, _ in ASYNC_SCENARIOS])
async def test_async(scenario: Callable[[SaverFactory], Awaitable[Any]]) -> None:
    await scenario(factory)
