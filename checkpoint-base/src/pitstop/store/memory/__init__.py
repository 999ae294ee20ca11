"""In-memory store with TTL and optional vector search (data is lost when the process exits).

Semantics (shared with every pitstop store; where LangGraph's ``InMemoryStore`` differs, the
difference is deliberate):

* **Timestamps**: a put on an existing (live) key keeps ``created_at`` and bumps ``updated_at``
  (Postgres behaviour; LangGraph's in-memory and SQLite stores reset ``created_at``).
* **Search without query**: newest ``updated_at`` first, then ``offset``/``limit``;
  ``score`` is ``None`` (LangGraph's in-memory store uses insertion order; the SQL stores, and
  so every pitstop backend, use ``updated_at`` descending).
* **Search with query** (needs ``index``): cosine similarity, max-pooled over an item's embedded
  fields, highest first; items without vectors (``index=False``, nothing to embed) follow with
  ``score=None``, so they fill a page the ranked items leave short. ``offset``/``limit`` slice
  that combined ranking. A query without an index is ignored.
* **TTL** (``supports_ttl = True``): ``put(..., ttl=minutes)`` sets an expiry; omitting ``ttl``
  applies ``ttl_config["default_ttl"]``, ``ttl=None`` means none. A read with ``refresh_ttl``
  pushes the expiry of the items it returns forward by their own ttl. Expired items are never
  returned (``get``, ``search``, ``list_namespaces``) even before ``sweep_ttl()`` deletes them;
  a put on an expired key creates a new item.
* **Batches**: results are index-aligned; every read runs before every write (reads see the
  state before the batch); puts to one key are last-write-wins; embeddings are computed before
  anything is applied, so a failing embedder leaves the store unchanged.
* Values are deep-copied in and out; all access is serialised by a lock (thread-safe).
"""

from __future__ import annotations

import builtins
import copy
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pitstop.store.base import (
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    cosine_similarity,
    expires_at,
    filter_namespaces,
    has_prefix,
    is_expired,
    matches_filter,
    rank_page,
)
from pitstop.store.base._core import Plan
from pitstop.store.base._sides import ThreadSwept

__all__ = ["InMemoryStore"]


@dataclass(slots=True)
class _Record:
    value: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    seq: int  # write order: breaks updated_at ties
    expires_at: datetime | None
    ttl_minutes: float | None
    vectors: dict[str, list[float]]


class InMemoryStore(ThreadSwept):
    """Dictionary-backed store: the reference implementation of pitstop's store semantics.

    Args:
        index: vector-index configuration (``dims``, ``embed``, ``fields``); without it, search
            ignores ``query`` and nothing is embedded.
        ttl: TTL configuration (``default_ttl``, ``refresh_on_read``,
            ``sweep_interval_minutes``).
        clock: returns the current time (timezone-aware); injectable for tests.
    """

    sweeper_name = "pitstop-memory-store-ttl-sweeper"

    def __init__(
        self,
        *,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(index=index, ttl=ttl, clock=clock)
        self._data: dict[tuple[str, ...], dict[str, _Record]] = {}
        self._seq = 0
        self._lock = threading.RLock()

    # -- batch ------------------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> builtins.list[Result]:
        """Run ops in one batch (see the module docstring for the semantics)."""
        plan = self._plan(ops)
        return self._execute(plan, *self._embed(plan))

    async def abatch(self, ops: Iterable[Op]) -> builtins.list[Result]:
        """Run ops in one batch (see the module docstring for the semantics)."""
        plan = self._plan(ops)
        return self._execute(plan, *await self._aembed(plan))

    # -- TTL --------------------------------------------------------------------------------

    def sweep_ttl(self) -> int:
        """Delete every expired item now; return how many were deleted."""
        with self._lock:
            now = self._clock()
            removed = 0
            for namespace in builtins.list(self._data):
                items = self._data[namespace]
                for key in [k for k, rec in items.items() if is_expired(rec.expires_at, now)]:
                    del items[key]
                    removed += 1
                if not items:
                    del self._data[namespace]
            return removed

    async def asweep_ttl(self) -> int:
        """Async twin of :meth:`sweep_ttl` (in memory, nothing blocks)."""
        return self.sweep_ttl()

    # -- execution (under the lock) ---------------------------------------------------------

    def _execute(
        self,
        plan: Plan,
        queries: Mapping[str, builtins.list[float]],
        by_text: Mapping[str, Sequence[float]],
    ) -> builtins.list[Result]:
        with self._lock:
            now = self._clock()
            results: builtins.list[Result] = []
            for op in plan.ops:
                if isinstance(op, GetOp):
                    results.append(self._get(op, now))
                elif isinstance(op, SearchOp):
                    results.append(self._search(op, now, queries))
                elif isinstance(op, ListNamespacesOp):
                    results.append(self._list_namespaces(op, now))
                else:
                    results.append(None)
            for key, op in plan.puts.items():
                vectors = {name: list(by_text[text]) for name, text in plan.fields.get(key, ())}
                self._apply_put(op, now, vectors)
            return results

    def _live(self, namespace: tuple[str, ...], key: str, now: datetime) -> _Record | None:
        record = self._data.get(namespace, {}).get(key)
        if record is None or is_expired(record.expires_at, now):
            return None
        return record

    @staticmethod
    def _refresh(record: _Record, now: datetime) -> None:
        if record.ttl_minutes is not None:
            record.expires_at = expires_at(now, record.ttl_minutes)

    def _get(self, op: GetOp, now: datetime) -> Item | None:
        record = self._live(op.namespace, op.key, now)
        if record is None:
            return None
        if op.refresh_ttl:
            self._refresh(record, now)
        return Item(
            value=copy.deepcopy(record.value),
            key=op.key,
            namespace=op.namespace,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )

    def _search(
        self, op: SearchOp, now: datetime, queries: Mapping[str, builtins.list[float]]
    ) -> builtins.list[SearchItem]:
        matches = [
            (namespace, key, record)
            for namespace, items in self._data.items()
            if has_prefix(namespace, op.namespace_prefix)
            for key, record in items.items()
            if not is_expired(record.expires_at, now) and matches_filter(record.value, op.filter)
        ]
        matches.sort(key=lambda m: (m[2].updated_at, m[2].seq), reverse=True)
        page: builtins.list[tuple[float | None, tuple[tuple[str, ...], str, _Record]]]
        if op.query and self.embeddings is not None:
            query = queries[op.query]
            scored = [
                (max(cosine_similarity(query, v) for v in m[2].vectors.values()), m)
                for m in matches
                if m[2].vectors
            ]
            unscored = [m for m in matches if not m[2].vectors]
            page = rank_page(scored, unscored, offset=op.offset, limit=op.limit)
        else:
            page = [(None, m) for m in matches[op.offset : op.offset + op.limit]]
        results = []
        for score, (namespace, key, record) in page:
            if op.refresh_ttl:
                self._refresh(record, now)
            results.append(
                SearchItem(
                    namespace=namespace,
                    key=key,
                    value=copy.deepcopy(record.value),
                    created_at=record.created_at,
                    updated_at=record.updated_at,
                    score=score,
                )
            )
        return results

    def _list_namespaces(
        self, op: ListNamespacesOp, now: datetime
    ) -> builtins.list[tuple[str, ...]]:
        live = (
            namespace
            for namespace, items in self._data.items()
            if any(not is_expired(r.expires_at, now) for r in items.values())
        )
        return filter_namespaces(live, op)

    def _apply_put(
        self, op: PutOp, now: datetime, vectors: dict[str, builtins.list[float]]
    ) -> None:
        items = self._data.get(op.namespace)
        if op.value is None:
            if items is not None:
                items.pop(op.key, None)
                if not items:
                    del self._data[op.namespace]
            return
        previous = self._live(op.namespace, op.key, now)
        self._seq += 1
        record = _Record(
            value=copy.deepcopy(dict(op.value)),
            created_at=previous.created_at if previous is not None else now,
            updated_at=now,
            seq=self._seq,
            expires_at=expires_at(now, op.ttl),
            ttl_minutes=op.ttl,
            vectors=vectors,
        )
        self._data.setdefault(op.namespace, {})[op.key] = record
