"""LangGraph's published conformance suite against InMemorySaver, through both APIs.

The suite only calls async methods; :class:`SyncRouted` routes each of them to the wrapped saver's
sync method, so the sync API is checked too. Every optional capability is claimed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import pytest

pytest.importorskip("langgraph.checkpoint.conformance")

from langgraph.checkpoint.conformance import checkpointer_test, validate

from pitstop.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
    RunnableConfig,
)
from pitstop.checkpoint.memory import InMemorySaver

CAPABILITIES = {
    "put",
    "put_writes",
    "get_tuple",
    "list",
    "delete_thread",
    "delete_for_runs",
    "copy_thread",
    "prune",
}


class SyncRouted(BaseCheckpointSaver):
    """Exposes a saver's *sync* methods under the async names the suite calls."""

    def __init__(self, inner: BaseCheckpointSaver) -> None:
        super().__init__(serde=inner.serde)
        self.inner = inner

    def get_next_version(self, current: Any, channel: None = None) -> Any:
        return self.inner.get_next_version(current, channel)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self.inner.get_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        items: Iterator[CheckpointTuple] = self.inner.list(
            config, filter=filter, before=before, limit=limit
        )
        for item in items:
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self.inner.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self.inner.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        self.inner.delete_thread(thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        self.inner.delete_for_runs(run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self.inner.copy_thread(source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self.inner.prune(thread_ids, strategy=strategy)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        return self.inner.get_delta_channel_history(config=config, channels=channels)


async def _run(name: str, make: Any) -> None:
    @checkpointer_test(name=name)
    async def factory() -> Any:
        yield make()

    report = await validate(factory)
    failures = {
        cap: [f"{f}" for f in result.failures]
        for cap, result in report.results.items()
        if result.passed is not True
    }
    assert set(report.results) >= CAPABILITIES
    assert not failures, failures
    for cap in CAPABILITIES:
        assert report.results[cap].detected, f"{cap} not detected"
        assert report.results[cap].tests_passed > 0


async def test_official_suite_async_api() -> None:
    await _run("pitstop-InMemorySaver-async", InMemorySaver)


async def test_official_suite_sync_api() -> None:
    await _run("pitstop-InMemorySaver-sync", lambda: SyncRouted(InMemorySaver()))
