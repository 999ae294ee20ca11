"""Store data model: items, operations, configuration and the namespace error.

Field names, defaults and positional order match ``langgraph.store.base`` so code written for
LangGraph's store (including code that builds ops positionally) works unchanged.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, NamedTuple, TypeAlias, TypedDict

from pitstop.checkpoint.errors import InvalidArgumentError
from pitstop.store.base.embed import AEmbeddingsFunc, Embeddings, EmbeddingsFunc

__all__ = [
    "NOT_PROVIDED",
    "GetOp",
    "IndexConfig",
    "InvalidNamespaceError",
    "Item",
    "ListNamespacesOp",
    "MatchCondition",
    "NamespaceMatchType",
    "NamespacePath",
    "NotProvided",
    "Op",
    "PutOp",
    "Result",
    "SearchItem",
    "SearchOp",
    "TTLConfig",
]


class InvalidNamespaceError(InvalidArgumentError):
    """A namespace is malformed (empty, a bad label, or rooted at the reserved ``"langgraph"``)."""


class NotProvided:
    """Type of :data:`NOT_PROVIDED`, the "argument omitted" sentinel (falsy)."""

    __slots__ = ()
    _instance: NotProvided | None = None

    def __new__(cls) -> NotProvided:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_PROVIDED"

    def __reduce__(self) -> str:
        return "NOT_PROVIDED"


NOT_PROVIDED = NotProvided()


def _as_datetime(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


class Item:
    """A stored value with its key, namespace and timestamps.

    Equality compares all five fields; the hash uses ``(namespace, key)``. ISO-8601 strings are
    accepted for the timestamps (so an item survives a JSON round trip).
    """

    __slots__ = ("created_at", "key", "namespace", "updated_at", "value")

    value: dict[str, Any]
    key: str
    namespace: tuple[str, ...]
    created_at: datetime
    updated_at: datetime

    def __init__(
        self,
        *,
        value: dict[str, Any],
        key: str,
        namespace: tuple[str, ...],
        created_at: datetime | str,
        updated_at: datetime | str,
    ) -> None:
        self.value = value
        self.key = key
        self.namespace = tuple(namespace)
        self.created_at = _as_datetime(created_at)
        self.updated_at = _as_datetime(updated_at)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Item):
            return NotImplemented
        return (
            self.value == other.value
            and self.key == other.key
            and self.namespace == other.namespace
            and self.created_at == other.created_at
            and self.updated_at == other.updated_at
        )

    def __hash__(self) -> int:
        return hash((self.namespace, self.key))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.dict().items())
        return f"{type(self).__name__}({fields})"

    def dict(self) -> builtins.dict[str, Any]:
        """Return a JSON-friendly dict (namespace as a list, timestamps as ISO strings)."""
        return {
            "namespace": list(self.namespace),
            "key": self.key,
            "value": self.value,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


class SearchItem(Item):
    """An :class:`Item` returned by a search, with its ``score`` (``None`` if not ranked)."""

    __slots__ = ("score",)

    score: float | None

    def __init__(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: builtins.dict[str, Any],
        created_at: datetime | str,
        updated_at: datetime | str,
        score: float | None = None,
    ) -> None:
        super().__init__(
            value=value,
            key=key,
            namespace=namespace,
            created_at=created_at,
            updated_at=updated_at,
        )
        self.score = score

    def dict(self) -> builtins.dict[str, Any]:
        """Return :meth:`Item.dict` plus ``score``."""
        result = super().dict()
        result["score"] = self.score
        return result


class GetOp(NamedTuple):
    """Read one item by namespace and key; the result is an :class:`Item` or ``None``."""

    namespace: tuple[str, ...]
    key: str
    refresh_ttl: bool = True


class SearchOp(NamedTuple):
    """Search items under a namespace prefix; the result is a list of :class:`SearchItem`."""

    namespace_prefix: tuple[str, ...]
    filter: dict[str, Any] | None = None
    limit: int = 10
    offset: int = 0
    query: str | None = None
    refresh_ttl: bool = True


NamespacePath: TypeAlias = tuple[str, ...]
"""A namespace pattern; the label ``"*"`` matches exactly one label."""

NamespaceMatchType: TypeAlias = Literal["prefix", "suffix"]
"""Which end of a namespace a :class:`MatchCondition` is anchored to."""


class MatchCondition(NamedTuple):
    """A namespace pattern anchored at the start (``prefix``) or end (``suffix``)."""

    match_type: NamespaceMatchType
    path: NamespacePath


class ListNamespacesOp(NamedTuple):
    """List namespaces; the result is a sorted list of namespace tuples."""

    match_conditions: tuple[MatchCondition, ...] | None = None
    max_depth: int | None = None
    limit: int = 100
    offset: int = 0


class PutOp(NamedTuple):
    """Write (``value`` is a mapping) or delete (``value is None``) one item.

    ``index``: ``None`` uses the store's configured fields, ``False`` skips embedding, a list of
    paths overrides the fields. ``ttl``: minutes until expiry, ``None`` for no expiry.
    """

    namespace: tuple[str, ...]
    key: str
    value: Mapping[str, Any] | None
    index: Literal[False] | list[str] | None = None  # type: ignore[assignment]
    ttl: float | None = None


Op: TypeAlias = GetOp | SearchOp | PutOp | ListNamespacesOp
Result: TypeAlias = Item | list[Item] | list[SearchItem] | list[tuple[str, ...]] | None


class TTLConfig(TypedDict, total=False):
    """Time-to-live behaviour of a store (all durations in minutes)."""

    refresh_on_read: bool
    """Default of ``refresh_ttl`` for reads (``True`` if absent)."""
    omit_expired: bool
    """Accepted for compatibility; pitstop stores never return expired items."""
    default_ttl: float | None
    """TTL applied by ``put`` when ``ttl`` is omitted (``None``: no expiry)."""
    sweep_interval_minutes: float | None
    """Period of the background sweeper started by ``start_ttl_sweeper`` (default 5)."""


class IndexConfig(TypedDict, total=False):
    """Vector-index configuration: ``dims``, ``embed`` and the ``fields`` to embed."""

    dims: int
    """Length of every embedding vector."""
    embed: Embeddings | EmbeddingsFunc | AEmbeddingsFunc | str
    """Embeddings object (duck-typed), sync or async function, or a ``"provider:model"`` string."""
    fields: list[str] | None
    """Paths to embed (default ``["$"]``, the whole value as JSON)."""
