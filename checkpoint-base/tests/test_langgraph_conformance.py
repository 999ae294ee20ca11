"""LangGraph's published conformance suite against InMemorySaver, through both APIs."""

from __future__ import annotations

import pytest

pytest.importorskip("langgraph.checkpoint.conformance")
pytest.importorskip("pitstop.conformance")

from pitstop.checkpoint.memory import InMemorySaver
from pitstop.conformance.langgraph_suite import run_langgraph_suite


@pytest.mark.parametrize("api", ["async", "sync"])
async def test_langgraph_published_suite(api: str) -> None:
    await run_langgraph_suite(InMemorySaver, api=api, name="InMemorySaver")  # type: ignore[arg-type]
