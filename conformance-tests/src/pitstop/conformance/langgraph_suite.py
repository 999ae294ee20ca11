"""Run LangGraph's published conformance suite against a saver, through either API.

LangGraph's suite (``langgraph-checkpoint-conformance``) only calls async methods.
:class:`SyncRouted` exposes a saver's *sync* methods under those async names, so the same suite
checks the sync API too. Every optional capability the saver implements is claimed.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Literal

from pitstop.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
    RunnableConfig,
)

__all__ = ["CAPABILITIES", "SyncRouted", "run_langgraph_suite"]

CAPABILITIES = frozenset(
    {
        "put",
        "put_writes",
        "get_tuple",
        "list",
        "delete_thread",
        "delete_for_runs",
        "copy_thread",
        "prune",
    }
)


class SyncRouted(BaseCheckpointSaver):
    """Exposes a saver's *sync* methods under the async names LangGraph's suite calls."""

    def __init__(self, inner: BaseCheckpointSaver) -> None:
        super().__init__(serde=inner.serde)
        self.inner = inner

    def get_next_version(self, current: Any, channel: None = None) -> Any:
        """The wrapped saver's versions."""
        return self.inner.get_next_version(current, channel)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Calls ``get_tuple``."""
        return self.inner.get_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Calls ``list``."""
        for item in self.inner.list(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Calls ``put``."""
        return self.inner.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Calls ``put_writes``."""
        self.inner.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        """Calls ``delete_thread``."""
        self.inner.delete_thread(thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Calls ``delete_for_runs``."""
        self.inner.delete_for_runs(run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Calls ``copy_thread``."""
        self.inner.copy_thread(source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Calls ``prune``."""
        self.inner.prune(thread_ids, strategy=strategy)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Calls ``get_delta_channel_history``."""
        return self.inner.get_delta_channel_history(config=config, channels=channels)


async def run_langgraph_suite(
    factory: Callable[[], Any],
    *,
    api: Literal["async", "sync"],
    name: str = "saver",
    capabilities: frozenset[str] = CAPABILITIES,
) -> None:
    """Run LangGraph's suite on savers from ``factory``; raise ``AssertionError`` on any failure.

    ``factory`` returns a saver or a (async) context manager yielding one; it is called once per
    capability, and every call must give empty storage. Each capability in ``capabilities`` must
    be detected by LangGraph's suite and pass.
    """
    from langgraph.checkpoint.conformance import checkpointer_test, validate

    async def fresh() -> AsyncIterator[Any]:
        async with contextlib.AsyncExitStack() as stack:
            made = factory()
            if hasattr(made, "__aenter__"):
                made = await stack.enter_async_context(made)
            elif hasattr(made, "__enter__"):
                made = stack.enter_context(made)
            yield SyncRouted(made) if api == "sync" else made

    registered = checkpointer_test(name=f"{name}-{api}")(fresh)
    report = await validate(registered)
    failures = {
        cap: [str(f)[:300] for f in result.failures[:3]]
        + ([f"... and {len(result.failures) - 3} more"] if len(result.failures) > 3 else [])
        for cap, result in report.results.items()
        if cap in capabilities and result.passed is not True
    }
    assert not failures, f"LangGraph's conformance suite failed ({api} API): {failures}"
    for cap in capabilities:
        result = report.results[cap]
        assert result.detected, f"{cap} not detected by LangGraph's suite"
        assert result.tests_passed > 0, f"{cap}: no test ran"
