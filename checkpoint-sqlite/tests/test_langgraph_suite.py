"""LangGraph's published conformance suite against both SQLite savers.

The suite only calls async methods: ``AsyncSqliteSaver`` is checked directly, ``SqliteSaver``
through :class:`SyncRouted`, which routes each async name to the sync method (called directly,
not through a thread), so the sync API is what is checked. Every optional capability is claimed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
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
from pitstop.checkpoint.sqlite import AsyncSqliteSaver, SqliteSaver

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
        for item in self.inner.list(config, filter=filter, before=before, limit=limit):
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


async def _check(name: str, factory: Any) -> None:
    report = await validate(checkpointer_test(name=name)(factory))
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


async def test_official_suite_async_saver(tmp_path: Any) -> None:
    async def factory() -> AsyncIterator[AsyncSqliteSaver]:
        fd, path = tempfile.mkstemp(suffix=".db", dir=tmp_path)
        os.close(fd)
        async with AsyncSqliteSaver.from_conn_string(path) as saver:
            yield saver

    await _check("pitstop-AsyncSqliteSaver", factory)


async def test_official_suite_sync_saver(tmp_path: Any) -> None:
    async def factory() -> AsyncIterator[SyncRouted]:
        fd, path = tempfile.mkstemp(suffix=".db", dir=tmp_path)
        os.close(fd)
        with SqliteSaver.from_conn_string(path) as saver:
            yield SyncRouted(saver)

    await _check("pitstop-SqliteSaver-sync", factory)
