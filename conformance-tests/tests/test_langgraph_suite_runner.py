"""The LangGraph-suite runner passes a correct saver and fails a broken one, on either API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("langgraph.checkpoint.conformance")

from pitstop.checkpoint.base import CheckpointTuple, RunnableConfig
from pitstop.checkpoint.memory import InMemorySaver
from pitstop.conformance.langgraph_suite import run_langgraph_suite


class IgnoresBefore(InMemorySaver):
    """Sync ``list`` drops ``before`` (the async API stays correct)."""

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        return super().list(config, filter=filter, limit=limit)

    async def alist(self, config: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        for item in InMemorySaver.list(self, config, **kwargs):
            yield item


async def test_sync_route_catches_a_sync_only_bug() -> None:
    await run_langgraph_suite(IgnoresBefore, api="async")
    with pytest.raises(AssertionError, match="sync API"):
        await run_langgraph_suite(IgnoresBefore, api="sync")
