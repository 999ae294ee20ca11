"""Storage-independent default implementations, written once against the async saver API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pitstop.checkpoint.base import (
        BaseCheckpointSaver,
        DeltaChannelHistory,
        PendingWrite,
        RunnableConfig,
    )


async def adelta_channel_history_via_get_tuple(
    saver: BaseCheckpointSaver, config: RunnableConfig, channels: Sequence[str]
) -> Mapping[str, DeltaChannelHistory]:
    """Delta-channel history of any conformant saver, by following ``parent_config``.

    Each ancestor is fetched once for all channels; a channel stops at the nearest ancestor that
    stores a value for it (its ``seed``), whose own writes are still included. Relies on
    ``pending_writes`` coming back in ``writes_sort_key`` order.
    """
    if not channels:
        return {}
    collected: dict[str, list[PendingWrite]] = {ch: [] for ch in channels}
    seeds: dict[str, Any] = {}
    remaining = set(channels)
    target = await saver.aget_tuple(config)
    cursor = target.parent_config if target else None
    while cursor is not None and remaining:
        ancestor = await saver.aget_tuple(cursor)
        if ancestor is None:
            break
        for write in reversed(ancestor.pending_writes or ()):
            if write[1] in remaining:
                collected[write[1]].append(write)
        values = ancestor.checkpoint["channel_values"]
        for ch in [ch for ch in remaining if ch in values]:
            seeds[ch] = values[ch]
            remaining.discard(ch)
        cursor = ancestor.parent_config
    from pitstop.checkpoint.base import delta_channel_histories

    return delta_channel_histories(channels, collected, seeds)
