"""What both Redis stores share and that never blocks: planning, encoding, ranking, decoding."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgpack

from pitstop.checkpoint.errors import CorruptRecordError, InvalidArgumentError
from pitstop.checkpoint.serde import MsgpackSerializer
from pitstop.store.base import (
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    SearchItem,
    SearchOp,
    TTLConfig,
    _sides,
    cosine_similarity,
    filter_namespaces,
    has_prefix,
    literal_prefix,
    matches_filter,
    rank_page,
)
from pitstop.store.base._core import AsItem, Plan, StoreCore, decode_vector, encode_vector
from pitstop.store.redis import _scripts as s

__all__ = ["AsyncSide", "BaseRedisStore", "Plan", "Stored", "SyncSide"]

SEARCH_CHUNK = 128
"""Items a filtered search reads by its first script call (at least offset + limit); each
further call reads twice as many, up to :data:`SEARCH_CHUNK_MAX`."""
SEARCH_CHUNK_MAX = 8192


def _from_us(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def _to_us(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass
class Stored(AsItem):
    """One item as read back."""

    member: bytes
    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    seq: int
    ttl: float | None
    vectors: builtins.list[builtins.list[float]]


class BaseRedisStore(StoreCore):
    """Shared state and non-blocking logic of :class:`RedisStore` and :class:`AsyncRedisStore`."""

    def __init__(
        self,
        *,
        prefix: str = "pitstop",
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not prefix or "{" in prefix or "}" in prefix:
            raise InvalidArgumentError(f"prefix must be non-empty without braces: {prefix!r}")
        self.prefix = prefix
        self.keys = s.store_keys(prefix)
        super().__init__(index=index, ttl=ttl, clock=clock)
        self._serde = MsgpackSerializer()
        self._indexed = False

    # -- encoding -----------------------------------------------------------------------------

    def _put_args(
        self, plan: Plan, by_text: Mapping[str, Sequence[float]], now: datetime
    ) -> builtins.list[Any]:
        """ARGV of the ``PUT`` script for every write of the batch."""
        now_us = _to_us(now)
        if now_us < 0:
            raise InvalidArgumentError(f"the store's clock reads {now}, before 1970")
        args: builtins.list[Any] = [now_us, now_us // 1000]
        for key, op in plan.puts.items():
            m = s.member(op.namespace, op.key)
            if op.value is None:
                args += [m, "", ""]
                continue
            tag, blob = self._serde.dumps_typed(dict(op.value))
            vectors = [encode_vector(by_text[text]) for _, text in plan.fields.get(key, ())]
            record = msgpack.packb(
                [builtins.list(op.namespace), op.key, tag, blob, op.ttl, vectors],
                use_bin_type=True,
            )
            expiry = "" if op.ttl is None else now_us // 1000 + round(op.ttl * 60_000)
            args += [m, record, expiry]
        return args

    # -- decoding -----------------------------------------------------------------------------

    def _decode(self, entry: Sequence[bytes], now_ms: int) -> Stored | None:
        """An item from a ``READ`` entry; None when it expired (or vanished meanwhile)."""
        raw_member, raw_record, raw_ts, raw_exp = entry
        if not raw_record or (raw_exp and float(raw_exp) <= now_ms):
            return None
        try:
            ns, key, tag, blob, ttl, vectors = msgpack.unpackb(raw_record, raw=False)
            created, updated, seq = raw_ts.split(b":")
            value = self._serde.loads_typed((tag, blob))
        except Exception as exc:
            raise CorruptRecordError(f"store item {raw_member!r}: {exc}") from exc
        return Stored(
            member=raw_member,
            namespace=tuple(ns),
            key=key,
            value=value,
            created_at=_from_us(int(created)),
            updated_at=_from_us(int(updated)),
            seq=int(seq),
            ttl=ttl,
            vectors=[decode_vector(v) for v in vectors],
        )

    @staticmethod
    def _range_of(namespace: tuple[str, ...], key: str | None = None) -> tuple[bytes, bytes]:
        """ZRANGEBYLEX bounds of one item, or of every item under a namespace prefix."""
        if key is not None:
            exact = b"[" + s.member(namespace, key).encode()
            return exact, exact
        if not namespace:
            return b"-", b"+"
        enc = s.ns_enc(namespace).encode()
        return b"[" + enc, b"(" + enc + b"\xff"

    def _get_result(
        self, op: GetOp, entries: Sequence[Any], now_ms: int, refresh: builtins.list[Stored]
    ) -> Item | None:
        found = self._decode(entries[0], now_ms) if entries else None
        if found is None:
            return None
        if op.refresh_ttl and found.ttl is not None:
            refresh.append(found)
        return found.item()

    def _search_args(self, op: SearchOp) -> tuple[bool, int, int]:
        """``(vector, skip, want)`` of a search's first ``SEARCH`` call.

        A vector search reads every candidate (brute force); a search without filter lets the
        script skip the offset and stop at the page; a filtered one reads chunks in recency
        order until the page is full.
        """
        if op.query and self.embeddings is not None:
            return True, 0, 0
        if op.filter:
            return False, 0, max(SEARCH_CHUNK, op.offset + op.limit)
        return False, op.offset, op.limit

    def _matches(self, op: SearchOp, entries: Sequence[Any], now_ms: int) -> builtins.list[Stored]:
        """The entries of a ``SEARCH`` reply that are live and pass the filter (order kept)."""
        return [
            item
            for item in (self._decode(e, now_ms) for e in entries)
            if item is not None
            and has_prefix(item.namespace, op.namespace_prefix)
            and matches_filter(item.value, op.filter)
        ]

    def _search_result(
        self,
        op: SearchOp,
        matches: Sequence[Stored],
        skipped: int,
        queries: Mapping[str, Sequence[float]],
        refresh: builtins.list[Stored],
    ) -> builtins.list[SearchItem]:
        """Order (vector search) and page the matches (newest first, ``skipped`` already)."""
        page: builtins.list[tuple[float | None, Stored]]
        if op.query and self.embeddings is not None:
            query = queries[op.query]
            scored = [
                (max(cosine_similarity(query, v) for v in m.vectors), m)
                for m in matches
                if m.vectors
            ]
            unscored = [m for m in matches if not m.vectors]
            page = rank_page(scored, unscored, offset=op.offset, limit=op.limit)
        else:
            start = op.offset - skipped
            page = [(None, m) for m in matches[start : start + op.limit]]
        for _, item in page:
            if op.refresh_ttl and item.ttl is not None:
                refresh.append(item)
        return [item.search_item(score) for score, item in page]

    @staticmethod
    def _namespace_bounds(op: ListNamespacesOp) -> tuple[bytes, bytes]:
        """ZRANGEBYLEX bounds over the namespace index: the op's literal prefix."""
        literal = literal_prefix(op)
        if not literal:
            return b"-", b"+"
        enc = s.ns_enc(literal).encode()
        return b"[" + enc, b"(" + enc + b"\xff"

    @staticmethod
    def _namespaces_result(
        op: ListNamespacesOp, encoded: Sequence[bytes]
    ) -> builtins.list[tuple[str, ...]]:
        return filter_namespaces((s.namespace_of(e) for e in encoded), op)

    @staticmethod
    def _refresh_args(items: Sequence[Stored], now: datetime) -> builtins.list[Any]:
        now_ms = _to_us(now) // 1000
        args: builtins.list[Any] = []
        for item in items:
            assert item.ttl is not None
            args += [now_ms + round(item.ttl * 60_000), item.member]
        return args


class SyncSide(BaseRedisStore, _sides.SyncSide):
    """``RedisStore``: async entry points in a worker thread, and a sweeper thread."""

    sweeper_name = "pitstop-redis-store-ttl-sweeper"


class AsyncSide(BaseRedisStore, _sides.AsyncSide):
    """``AsyncRedisStore``: sync entry points run on its loop, and a sweeper task."""

    sweeper_name = "pitstop-redis-store-ttl-sweeper"
