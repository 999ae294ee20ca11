"""Capability names, and detection of the optional ones from a saver or store."""

from __future__ import annotations

from typing import Any

__all__ = [
    "ALL",
    "GROUPS",
    "OPTIONAL",
    "REQUIRED",
    "detect_saver_capabilities",
    "is_overridden",
]

REQUIRED: tuple[str, ...] = (
    "put",
    "put_writes",
    "get_tuple",
    "list",
    "delete_thread",
    "sync_api",
    "async_api",
)
"""Every saver must pass these."""

OPTIONAL: tuple[str, ...] = (
    "delete_for_runs",
    "copy_thread",
    "prune",
    "delta_history",
    "ttl",
    "store",
    "store_vector",
    "multiprocess",
)
"""Checked only when claimed (declared by the author, or detected)."""

GROUPS: tuple[str, ...] = ("durability", "graphs")
"""Check groups that run when their prerequisites exist (a ``reopen``; LangGraph + scenarios)."""

ALL: tuple[str, ...] = REQUIRED + OPTIONAL + GROUPS

# optional saver capability -> the methods whose override signals it
_SAVER_METHODS: dict[str, tuple[str, ...]] = {
    "delete_for_runs": ("delete_for_runs", "adelete_for_runs"),
    "copy_thread": ("copy_thread", "acopy_thread"),
    "prune": ("prune", "aprune"),
}


def _base_classes() -> list[type]:
    bases: list[type] = []
    from pitstop.checkpoint.base import BaseCheckpointSaver

    bases.append(BaseCheckpointSaver)
    try:
        from langgraph.checkpoint.base import BaseCheckpointSaver as LangGraphSaver
    except ImportError:  # LangGraph is optional
        pass
    else:
        bases.append(LangGraphSaver)
    return bases


def is_overridden(cls: type, method: str) -> bool:
    """Whether ``cls.method`` exists and is not the default of pitstop's or LangGraph's base."""
    impl = getattr(cls, method, None)
    if impl is None:
        return False
    return all(impl is not getattr(base, method, None) for base in _base_classes())


def detect_saver_capabilities(saver: Any) -> frozenset[str]:
    """Return the capabilities a saver appears to offer.

    The required ones are always claimed. An optional method counts as present when its sync or
    async form is overridden from the base class. Delta-channel history counts as present when
    the method exists at all: both bases ship a generic implementation that is correct for any
    conformant saver.
    """
    found = set(REQUIRED)
    cls = type(saver)
    for capability, methods in _SAVER_METHODS.items():
        if any(is_overridden(cls, m) for m in methods):
            found.add(capability)
    if hasattr(cls, "get_delta_channel_history") and hasattr(cls, "aget_delta_channel_history"):
        found.add("delta_history")
    return frozenset(found)
