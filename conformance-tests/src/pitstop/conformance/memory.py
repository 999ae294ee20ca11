"""Ready-made factories for pitstop's in-memory saver and store (the suite's own reference).

``pitstop-conformance check pitstop.conformance.memory:saver \
--store pitstop.conformance.memory:store``
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

from pitstop.checkpoint.memory import InMemorySaver
from pitstop.store.memory import InMemoryStore

__all__ = ["langgraph_saver", "saver", "store"]


def saver() -> InMemorySaver:
    """A fresh :class:`InMemorySaver`."""
    return InMemorySaver()


def _reopen(old: InMemorySaver) -> InMemorySaver:
    """Simulate closing and reopening: a new saver over a deep copy of the old one's storage."""
    new = type(old)()
    new.storage = copy.deepcopy(old.storage)
    new.writes = copy.deepcopy(old.writes)
    new.blobs = copy.deepcopy(old.blobs)
    return new


def _stored_bytes(s: InMemorySaver) -> int:
    """Size of everything the saver holds, pickled."""
    return len(pickle.dumps((dict(s.storage), dict(s.writes), s.blobs)))


saver.reopen = _reopen  # type: ignore[attr-defined]
saver.stored_bytes = _stored_bytes  # type: ignore[attr-defined]


def store(*, index: Any = None, ttl: Any = None) -> InMemoryStore:
    """A fresh :class:`InMemoryStore`, with an index and TTL configuration when given."""
    return InMemoryStore(index=index, ttl=ttl)


def langgraph_saver() -> Any:
    """LangGraph's own ``InMemorySaver`` (a baseline for ``pitstop-conformance bench``)."""
    from langgraph.checkpoint.memory import InMemorySaver as LangGraphInMemorySaver

    return LangGraphInMemorySaver()


def _plain(value: Any) -> Any:
    """Nested (default)dicts as plain dicts, so they pickle (LangGraph's hold lambdas)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _langgraph_stored_bytes(s: Any) -> int:
    """Size of everything LangGraph's saver holds, pickled (as for pitstop's saver)."""
    return len(pickle.dumps((_plain(s.storage), _plain(s.writes), _plain(s.blobs))))


langgraph_saver.stored_bytes = _langgraph_stored_bytes  # type: ignore[attr-defined]
