"""What every store backend shares before it touches storage: configuration and batch plans.

:class:`StoreCore` validates ``index``/``ttl``/``clock`` the same way for every store, and turns
a batch into a :class:`Plan` (normalized ops, last-write-wins puts, the texts to embed and the
queries to embed). The float32 vector encoding used by the SQL and Redis stores is here too.
"""

from __future__ import annotations

import builtins
import sys
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pitstop.checkpoint.errors import InvalidArgumentError
from pitstop.store.base import BaseStore
from pitstop.store.base._shared import normalize_ops, validate_ttl
from pitstop.store.base._types import (
    IndexConfig,
    Item,
    Op,
    PutOp,
    SearchItem,
    SearchOp,
    TTLConfig,
)
from pitstop.store.base.embed import (
    EmbeddingsAdapter,
    ensure_embeddings,
    extract_texts,
    tokenize_fields,
)

__all__ = ["AsItem", "Plan", "StoreCore", "decode_vector", "encode_vector"]

_Key = tuple[tuple[str, ...], str]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def encode_vector(vector: Sequence[float]) -> bytes:
    """A vector as little-endian float32 bytes."""
    packed = array("f", vector)
    if sys.byteorder == "big":  # pragma: no cover - depends on the machine
        packed.byteswap()
    return packed.tobytes()


def decode_vector(blob: bytes) -> builtins.list[float]:
    """The vector of :func:`encode_vector`'s bytes."""
    packed = array("f")
    packed.frombytes(blob)
    if sys.byteorder == "big":  # pragma: no cover - depends on the machine
        packed.byteswap()
    return packed.tolist()


class _ItemFields(Protocol):
    @property
    def namespace(self) -> tuple[str, ...]: ...
    @property
    def key(self) -> str: ...
    @property
    def value(self) -> dict[str, Any]: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


class AsItem:
    """Mixin of a backend's decoded row (``namespace``, ``key``, ``value``, timestamps)."""

    __slots__ = ()

    def item(self: _ItemFields) -> Item:
        """As an :class:`Item`."""
        return Item(
            value=self.value,
            key=self.key,
            namespace=self.namespace,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )

    def search_item(self: _ItemFields, score: float | None) -> SearchItem:
        """As a :class:`SearchItem`."""
        return SearchItem(
            namespace=self.namespace,
            key=self.key,
            value=self.value,
            created_at=self.created_at,
            updated_at=self.updated_at,
            score=score,
        )


@dataclass(slots=True)
class Plan:
    """A validated batch and the embedding work it needs (done before any lock is taken)."""

    ops: builtins.list[Op]
    puts: dict[_Key, PutOp]
    fields: dict[_Key, builtins.list[tuple[str, str]]] = field(default_factory=dict)
    """Per put: ``(field path, text)`` pairs to embed."""
    texts: builtins.list[str] = field(default_factory=list)
    """Distinct texts to embed, in first-use order."""
    queries: builtins.list[str] = field(default_factory=list)
    """Distinct search queries to embed."""

    @property
    def writes(self) -> bool:
        """Whether the batch writes for sure (puts); refreshes are found while reading."""
        return bool(self.puts)


class StoreCore(BaseStore):
    """Configuration and batch planning shared by every store backend.

    Args:
        index: vector-index configuration (``dims``, ``embed``, ``fields``).
        ttl: TTL configuration (``default_ttl``, ``refresh_on_read``,
            ``sweep_interval_minutes``).
        clock: returns the current time; injectable for tests.
    """

    supports_ttl = True

    def __init__(
        self,
        *,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.index_config: IndexConfig | None = None
        self.embeddings: EmbeddingsAdapter | None = None
        self._fields: builtins.list[tuple[str, builtins.list[str]]] = []
        if index:
            self.index_config = IndexConfig(**index)
            dims = index.get("dims")
            if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
                raise InvalidArgumentError(f"index 'dims' must be a positive integer, got {dims!r}")
            self.embeddings = ensure_embeddings(index.get("embed"))
            self._fields = tokenize_fields(index.get("fields"))
        self.ttl_config = TTLConfig(**ttl) if ttl else None
        if ttl:
            validate_ttl(ttl.get("default_ttl"))
        self._clock = clock or _utcnow

    def _now(self) -> datetime:
        """The clock's time (a naive time is taken as UTC)."""
        now = self._clock()
        return now if now.tzinfo is not None else now.replace(tzinfo=UTC)

    def _plan(self, ops: Iterable[Op]) -> Plan:
        normalized = normalize_ops(ops)
        puts: dict[_Key, PutOp] = {}
        for op in normalized:
            if isinstance(op, PutOp):
                puts.pop((op.namespace, op.key), None)  # last write wins, in its position
                puts[(op.namespace, op.key)] = op
        plan = Plan(normalized, puts)
        if self.embeddings is None:
            return plan
        plan.queries = builtins.list(
            dict.fromkeys(op.query for op in normalized if isinstance(op, SearchOp) and op.query)
        )
        texts: dict[str, None] = {}
        for key, op in puts.items():
            if op.value is None or op.index is False:
                continue
            paths = self._fields if op.index is None else tokenize_fields(op.index)
            pairs = extract_texts(op.value, paths)
            plan.fields[key] = pairs
            texts.update(dict.fromkeys(text for _, text in pairs))
        plan.texts = builtins.list(texts)
        return plan

    def _check_dims(self, vectors: Iterable[Sequence[float]]) -> None:
        """Raise ``InvalidArgumentError`` for an embedder vector of the wrong length."""
        if self.index_config is None:
            return
        dims = self.index_config["dims"]
        for vector in vectors:
            if len(vector) != dims:
                raise InvalidArgumentError(
                    f"the embedder returned a vector of {len(vector)} dimensions, "
                    f"the index is configured for {dims}"
                )

    def _embed(
        self, plan: Plan
    ) -> tuple[dict[str, builtins.list[float]], dict[str, Sequence[float]]]:
        """Embed a plan's queries and texts: ``(vector by query, vector by text)``, checked."""
        queries: dict[str, builtins.list[float]] = {}
        documents: builtins.list[builtins.list[float]] = []
        if self.embeddings is not None:
            for query in plan.queries:
                queries[query] = self.embeddings.embed_query(query)
            if plan.texts:
                documents = self.embeddings.embed_documents(plan.texts)
        return queries, self._vectors_by_text(plan, queries, documents)

    async def _aembed(
        self, plan: Plan
    ) -> tuple[dict[str, builtins.list[float]], dict[str, Sequence[float]]]:
        """Async twin of :meth:`_embed` (the embedder's async methods)."""
        queries: dict[str, builtins.list[float]] = {}
        documents: builtins.list[builtins.list[float]] = []
        if self.embeddings is not None:
            for query in plan.queries:
                queries[query] = await self.embeddings.aembed_query(query)
            if plan.texts:
                documents = await self.embeddings.aembed_documents(plan.texts)
        return queries, self._vectors_by_text(plan, queries, documents)

    def _vectors_by_text(
        self,
        plan: Plan,
        queries: Mapping[str, Sequence[float]],
        documents: Sequence[Sequence[float]],
    ) -> dict[str, Sequence[float]]:
        """Check the embedder's output and map each embedded text to its vector."""
        self._check_dims([*queries.values(), *documents])
        if len(documents) != len(plan.texts):
            raise InvalidArgumentError(
                f"the embedder returned {len(documents)} vectors for {len(plan.texts)} texts"
            )
        return dict(zip(plan.texts, documents, strict=True))
