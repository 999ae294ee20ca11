"""Deterministic checkpoints, configs and histories for the specs and the throughput suite."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pitstop.conformance.driver import SaverDriver

__all__ = ["TS", "cfg", "cid", "ckpt", "put_chain", "ver"]

TS = "2024-07-31T20:14:19.804150+00:00"


def cid(n: int) -> str:
    """A UUID-shaped checkpoint id that sorts like ``n`` (as the runtime's uuid6 ids do)."""
    return f"{n:08x}-0000-6000-8000-{n:012x}"


def ver(n: int) -> str:
    """A channel version string that sorts like ``n``."""
    return f"{n:032}.{0:016}"


def cfg(thread: str, ns: str | None = "", checkpoint_id: str | None = None) -> dict[str, Any]:
    """A config; ``ns=None`` leaves ``checkpoint_ns`` out, ``checkpoint_id=None`` leaves it out."""
    configurable: dict[str, Any] = {"thread_id": thread}
    if ns is not None:
        configurable["checkpoint_ns"] = ns
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def ckpt(
    n: int,
    values: dict[str, Any] | None = None,
    versions: dict[str, Any] | None = None,
    seen: dict[str, dict[str, Any]] | None = None,
    *,
    v: int = 4,
    updated: list[str] | None = None,
) -> dict[str, Any]:
    """A checkpoint with id ``cid(n)``; versions default to ``ver(n)`` for every value."""
    values = dict(values or {})
    return {
        "v": v,
        "id": cid(n),
        "ts": TS,
        "channel_values": values,
        "channel_versions": dict(versions)
        if versions is not None
        else dict.fromkeys(values, ver(n)),
        "versions_seen": seen if seen is not None else {},
        "updated_channels": updated,
    }


def put_chain(
    d: SaverDriver,
    thread: str,
    count: int,
    *,
    ns: str = "",
    start: int = 1,
    metadata: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Put ``count`` linked checkpoints (ids ``start..``) whose channel ``x`` changes each step.

    Returns the configs ``put`` returned, oldest first. Metadata carries ``step`` and the
    given extra keys.
    """
    configs: list[dict[str, Any]] = []
    parent: str | None = None
    for i in range(start, start + count):
        checkpoint = ckpt(i, {"x": f"{thread}/{ns}/{i}"})
        meta = {"source": "loop", "step": i - start, **(metadata or {})}
        configs.append(d.put(cfg(thread, ns, parent), checkpoint, meta, {"x": ver(i)}))
        parent = checkpoint["id"]
    return configs
