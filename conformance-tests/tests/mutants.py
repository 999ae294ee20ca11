"""Single-bug variants of pitstop's in-memory saver and store: each must fail the suite.

Every mutant is a bug a real backend author could plausibly write. ``SAVER_MUTANTS`` and
``STORE_MUTANTS`` map a name to ``(factory, only)``: ``only`` is the spec subset that is run
(by capability or spec name) to keep the mutation tests fast; the real saver/store must pass
that same subset.
"""

from __future__ import annotations

import builtins
import copy
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from pitstop.checkpoint.base import (
    CheckpointTuple,
    RunnableConfig,
    get_checkpoint_id,
    metadata_matches,
    next_version,
)
from pitstop.checkpoint.memory import InMemorySaver
from pitstop.store.base import SearchOp
from pitstop.store.memory import InMemoryStore

# -- saver mutants ------------------------------------------------------------------------------


class LimitBeforeFilter(InMemorySaver):
    """``list`` applies ``limit`` to the candidates, then filters."""

    def list(
        self, config: Any, *, filter: Any = None, before: Any = None, limit: Any = None
    ) -> Iterator[CheckpointTuple]:
        rows = builtins.list(super().list(config, before=before, limit=limit))
        return iter([r for r in rows if metadata_matches(r.metadata, filter)])


class DeleteByPrefix(InMemorySaver):
    """``delete_thread`` removes every thread whose id starts with the given one."""

    def delete_thread(self, thread_id: str) -> None:
        for tid in [t for t in builtins.list(self.storage) if t.startswith(str(thread_id))]:
            super().delete_thread(tid)


class _ListifyingSerde:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @classmethod
    def _fix(cls, value: Any) -> Any:
        if isinstance(value, tuple | builtins.list):
            return [cls._fix(v) for v in value]
        if isinstance(value, dict):
            return {k: cls._fix(v) for k, v in value.items()}
        return value

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return self.inner.dumps_typed(self._fix(obj))  # type: ignore[no-any-return]

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        return self.inner.loads_typed(data)


def tuples_as_lists() -> InMemorySaver:
    """A JSON-minded serializer wrapper that turns tuples into lists."""
    saver = InMemorySaver()
    saver.serde = _ListifyingSerde(saver.serde)  # type: ignore[assignment]
    return saver


class DropsLargeValues(InMemorySaver):
    """Values over 1 MiB are silently not stored (a row-size limit)."""

    def _dump(self, value: Any, **kwargs: Any) -> tuple[str, bytes]:
        typed = super()._dump(value, **kwargs)
        return ("empty", b"") if len(typed[1]) > 1024 * 1024 else typed


class RacyPutWrites(InMemorySaver):
    """``put_writes`` reads, copies and writes back the write map without the lock."""

    def put_writes(
        self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        key = self._parse_config(config)
        current = dict(self.writes.get((key[0], key[1], key[2] or ""), {}))
        time.sleep(0)
        scratch = InMemorySaver(serde=self.serde)
        scratch.writes[(key[0], key[1], key[2] or "")] = current
        scratch.put_writes(config, writes, task_id, task_path)
        time.sleep(0)
        self.writes[(key[0], key[1], key[2] or "")] = scratch.writes[(key[0], key[1], key[2] or "")]


class SpecialWritesKeepFirst(InMemorySaver):
    """Special channels (error/interrupt/resume) are insert-or-ignore like regular ones."""

    def put_writes(
        self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        thread, ns, cid = self._parse_config(config)
        stored = self.writes.get((thread, ns, cid or ""), {})
        rows, _ = self._write_rows(writes)
        keep = [
            w for (idx, ch, v), w in zip(rows, writes, strict=True) if (task_id, idx) not in stored
        ]
        if keep:
            super().put_writes(config, keep, task_id, task_path)


class RegularWritesOverwrite(InMemorySaver):
    """Regular writes replace the earlier value at the same ``(task_id, idx)``."""

    def put_writes(
        self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        thread, ns, cid = self._parse_config(config)
        stored = self.writes.get((thread, ns, cid or ""), {})
        for i, (ch, _) in enumerate(writes):
            stored.pop((task_id, i), None) if ch not in ("__error__",) else None
        super().put_writes(config, writes, task_id, task_path)


class BeforeInclusive(InMemorySaver):
    """``before`` keeps ids ``<=`` the given one."""

    def list(
        self, config: Any, *, filter: Any = None, before: Any = None, limit: Any = None
    ) -> Iterator[CheckpointTuple]:
        bid = get_checkpoint_id(before)
        if bid:
            before = {"configurable": {"checkpoint_id": bid + "\uffff"}}
        return super().list(config, filter=filter, before=before, limit=limit)


class EmptyNamespaceMeansAll(InMemorySaver):
    """``list`` treats ``checkpoint_ns=""`` like an absent namespace."""

    def list(
        self, config: Any, *, filter: Any = None, before: Any = None, limit: Any = None
    ) -> Iterator[CheckpointTuple]:
        if config and config.get("configurable", {}).get("checkpoint_ns") == "":
            config = {
                "configurable": {
                    k: v for k, v in config["configurable"].items() if k != "checkpoint_ns"
                }
            }
        return super().list(config, filter=filter, before=before, limit=limit)


class LatestByInsertion(InMemorySaver):
    """The latest checkpoint is the last one put, not the greatest id."""

    def get_tuple(self, config: Any) -> CheckpointTuple | None:
        thread, ns, cid = self._parse_config(config)
        if cid is None:
            checkpoints = self.storage.get(thread, {}).get(ns)
            if not checkpoints:
                return None
            last = builtins.list(checkpoints)[-1]
            return self._tuple(thread, ns, last, checkpoints[last])
        return super().get_tuple(config)


class PendingWritesUnsorted(InMemorySaver):
    """Pending writes come back in insertion order."""

    def _tuple(self, thread_id: str, ns: str, checkpoint_id: str, stored: Any) -> CheckpointTuple:
        tup = super()._tuple(thread_id, ns, checkpoint_id, stored)
        raw = self.writes.get((thread_id, ns, checkpoint_id), {})
        where = {"thread_id": thread_id}
        pending = [(w.task_id, w.channel, self._load(w.value, **where)) for w in raw.values()]
        return tup._replace(pending_writes=pending)


class NoParentConfig(InMemorySaver):
    """``parent_config`` is never filled in."""

    def _tuple(self, thread_id: str, ns: str, checkpoint_id: str, stored: Any) -> CheckpointTuple:
        return super()._tuple(thread_id, ns, checkpoint_id, stored)._replace(parent_config=None)


class NoMetadataMerge(InMemorySaver):
    """``put`` stores the metadata argument only, ignoring the config's keys."""

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> RunnableConfig:
        stripped = {
            "configurable": {
                k: v
                for k, v in config["configurable"].items()
                if k in ("thread_id", "checkpoint_ns", "checkpoint_id")
            }
        }
        return super().put(stripped, checkpoint, metadata, new_versions)  # type: ignore[arg-type]


class KeepsNul(InMemorySaver):
    """NUL characters in metadata strings are stored as is."""

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> RunnableConfig:
        result = super().put(config, checkpoint, metadata, new_versions)
        thread, ns, _ = self._parse_config(config)
        stored = self.storage[thread][ns][checkpoint["id"]]
        merged = self._load(stored.metadata)
        merged.update({k: v for k, v in metadata.items() if isinstance(v, str)})
        self.storage[thread][ns][checkpoint["id"]] = stored._replace(metadata=self._dump(merged))
        return result


class PruneDropsSharedBlobs(InMemorySaver):
    """``prune(keep_latest)`` deletes every value written by a pruned checkpoint."""

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        if strategy == "keep_latest":
            for tid in map(str, thread_ids):
                for ns, cps in self.storage.get(tid, {}).items():
                    head = max(cps)
                    for cid, stored in cps.items():
                        if cid != head:
                            for ch, v in stored.versions.items():
                                self.blobs.pop((tid, ns, ch, str(v)), None)
        super().prune(thread_ids, strategy=strategy)


class CopyWithoutWrites(InMemorySaver):
    """``copy_thread`` copies checkpoints and values but not pending writes."""

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        super().copy_thread(source_thread_id, target_thread_id)
        for key in [k for k in self.writes if k[0] == str(target_thread_id)]:
            del self.writes[key]


class DeleteRunsWholeThread(InMemorySaver):
    """``delete_for_runs`` deletes the whole thread of any matching checkpoint."""

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        wanted = set(map(str, run_ids))
        doomed = {
            tid
            for tid, nss in self.storage.items()
            for cps in nss.values()
            for s in cps.values()
            if s.run_id is not None and str(s.run_id) in wanted
        }
        for tid in doomed:
            self.delete_thread(tid)


class AsyncListIgnoresLimit(InMemorySaver):
    """``alist`` forgets to pass ``limit`` on (sync and async disagree)."""

    async def alist(
        self, config: Any, *, filter: Any = None, before: Any = None, limit: Any = None
    ) -> AsyncIterator[CheckpointTuple]:
        for item in self.list(config, filter=filter, before=before):
            yield item


class CachedTuples(InMemorySaver):
    """``get_tuple`` caches decoded tuples and hands out the same mutable objects."""

    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[Any, CheckpointTuple | None] = {}

    def put(self, *args: Any, **kwargs: Any) -> RunnableConfig:
        self._cache.clear()
        return super().put(*args, **kwargs)

    def put_writes(self, *args: Any, **kwargs: Any) -> None:
        self._cache.clear()
        super().put_writes(*args, **kwargs)

    def get_tuple(self, config: Any) -> CheckpointTuple | None:
        key = repr(self._parse_config(config))
        if key not in self._cache:
            self._cache[key] = super().get_tuple(config)
        return self._cache[key]


class DeleteKeepsWrites(InMemorySaver):
    """``delete_thread`` removes checkpoints and values but forgets pending writes."""

    def delete_thread(self, thread_id: str) -> None:
        saved = {k: v for k, v in self.writes.items() if k[0] == str(thread_id)}
        super().delete_thread(thread_id)
        self.writes.update(saved)


class FilterTrueIsOne(InMemorySaver):
    """The metadata filter uses Python ``==`` (``True == 1``)."""

    def list(
        self, config: Any, *, filter: Any = None, before: Any = None, limit: Any = None
    ) -> Iterator[CheckpointTuple]:
        rows = super().list(config, before=before)
        out = [r for r in rows if all(r.metadata.get(k) == v for k, v in (filter or {}).items())]
        return iter(out[:limit] if limit else out)


class DeterministicVersions(InMemorySaver):
    """``get_next_version`` drops the random part: forked branches collide."""

    def get_next_version(self, current: Any, channel: None = None) -> Any:
        return next_version(current).split(".")[0]


class DeltaHistoryIncludesTarget(InMemorySaver):
    """Delta history starts at the target checkpoint instead of its parent."""

    def get_delta_channel_history(self, *, config: Any, channels: Sequence[str]) -> Any:
        thread, ns, cid = self._parse_config(config)
        kids = [
            c for c, s in self.storage.get(thread, {}).get(ns, {}).items() if s.parent_id == cid
        ]
        if kids:
            return super().get_delta_channel_history(
                config={
                    "configurable": {
                        "thread_id": thread,
                        "checkpoint_ns": ns,
                        "checkpoint_id": kids[0],
                    }
                },
                channels=channels,
            )
        return super().get_delta_channel_history(config=config, channels=channels)


class NamespaceIgnoredOnWrites(InMemorySaver):
    """``put_writes`` files every write under the root namespace."""

    def put_writes(
        self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        conf = copy.deepcopy(config)
        conf["configurable"]["checkpoint_ns"] = ""
        super().put_writes(conf, writes, task_id, task_path)


class ListLeaksOtherThreads(InMemorySaver):
    """``list`` matches the thread id case-insensitively."""

    def list(
        self, config: Any, *, filter: Any = None, before: Any = None, limit: Any = None
    ) -> Iterator[CheckpointTuple]:
        tid = (config or {}).get("configurable", {}).get("thread_id")
        if tid is None:
            return super().list(config, filter=filter, before=before, limit=limit)
        rows = [
            r
            for r in super().list(None, filter=filter, before=before)
            if r.config["configurable"]["thread_id"].lower() == str(tid).lower()
            and (
                "checkpoint_ns" not in config["configurable"]
                or r.config["configurable"]["checkpoint_ns"]
                == config["configurable"]["checkpoint_ns"]
            )
        ]
        return iter(rows[:limit] if limit else rows)


def _new(cls: type[InMemorySaver]) -> Callable[[], InMemorySaver]:
    return cls


SAVER_MUTANTS: dict[str, tuple[Callable[[], Any], tuple[str, ...]]] = {
    "list applies limit before filter": (_new(LimitBeforeFilter), ("list",)),
    "delete_thread by prefix": (_new(DeleteByPrefix), ("delete_thread",)),
    "tuples serialized as lists": (tuples_as_lists, ("values.rich_python_types",)),
    "values over 1 MiB dropped": (_new(DropsLargeValues), ("values.large_values",)),
    "put_writes loses writes under concurrency": (
        _new(RacyPutWrites),
        ("concurrency.concurrent_writes_one_checkpoint",),
    ),
    "special writes do not overwrite": (_new(SpecialWritesKeepFirst), ("put_writes",)),
    "regular writes overwrite": (_new(RegularWritesOverwrite), ("put_writes",)),
    "before is inclusive": (_new(BeforeInclusive), ("list",)),
    'checkpoint_ns="" means all namespaces': (_new(EmptyNamespaceMeansAll), ("list",)),
    "latest by insertion, not id": (_new(LatestByInsertion), ("get_tuple",)),
    "pending writes unsorted": (_new(PendingWritesUnsorted), ("put_writes",)),
    "parent_config missing": (_new(NoParentConfig), ("put",)),
    "metadata merge skips config keys": (_new(NoMetadataMerge), ("put",)),
    "NUL not stripped from metadata": (_new(KeepsNul), ("put",)),
    "prune keep_latest drops shared values": (_new(PruneDropsSharedBlobs), ("prune",)),
    "copy_thread does not copy writes": (_new(CopyWithoutWrites), ("copy_thread",)),
    "delete_for_runs deletes whole threads": (_new(DeleteRunsWholeThread), ("delete_for_runs",)),
    "sync list differs from async list": (_new(AsyncListIgnoresLimit), ("list",)),
    "get_tuple returns cached mutable objects": (_new(CachedTuples), ("get_tuple",)),
    "delete_thread keeps pending writes": (_new(DeleteKeepsWrites), ("delete_thread",)),
    "metadata filter: True equals 1": (_new(FilterTrueIsOne), ("list",)),
    "versions not unique across branches": (_new(DeterministicVersions), ("put",)),
    "delta history includes the target's writes": (
        _new(DeltaHistoryIncludesTarget),
        ("delta_history",),
    ),
    "put_writes ignores the namespace": (
        _new(NamespaceIgnoredOnWrites),
        ("put_writes", "get_tuple"),
    ),
    "list matches thread ids case-insensitively": (
        _new(ListLeaksOtherThreads),
        ("list", "delete_thread"),
    ),
}


# -- store mutants ------------------------------------------------------------------------------


def _as_str(value: Any) -> str:
    return str(value)


class StringNumberFilters(InMemoryStore):
    """Operator filters compare numbers as strings (``"10" < "9"``)."""

    def _search(self, op: SearchOp, now: Any, queries: Any) -> Any:
        flt = op.filter or {}
        if not any(isinstance(v, dict) for v in flt.values()):
            return super()._search(op, now, queries)
        rows = super()._search(op._replace(filter=None, limit=10**6, offset=0), now, queries)
        checks = {
            "$gt": str.__gt__,
            "$gte": str.__ge__,
            "$lt": str.__lt__,
            "$lte": str.__le__,
            "$eq": str.__eq__,
            "$ne": str.__ne__,
        }

        def ok(item: Any) -> bool:
            for key, cond in flt.items():
                value = item.value.get(key)
                if isinstance(cond, dict):
                    if value is None or not all(
                        checks[o](_as_str(value), _as_str(x)) for o, x in cond.items()
                    ):
                        return False
                elif value != cond:
                    return False
            return True

        kept = [r for r in rows if ok(r)]
        return kept[op.offset : op.offset + op.limit]


class PrefixIgnoresBoundary(InMemoryStore):
    """Search matches namespaces by string prefix (``("foo",)`` matches ``("foobar",)``)."""

    def _search(self, op: SearchOp, now: Any, queries: Any) -> Any:
        rows = super()._search(
            op._replace(namespace_prefix=(), limit=10**6, offset=0), now, queries
        )
        prefix = ".".join(op.namespace_prefix)
        kept = [r for r in rows if ".".join(r.namespace).startswith(prefix)]
        return kept[op.offset : op.offset + op.limit]


class RefreshIgnored(InMemoryStore):
    """Reads never refresh the TTL."""

    def _get(self, op: Any, now: Any) -> Any:
        return super()._get(op._replace(refresh_ttl=False), now)

    def _search(self, op: SearchOp, now: Any, queries: Any) -> Any:
        return super()._search(op._replace(refresh_ttl=False), now, queries)


class WritesBeforeReads(InMemoryStore):
    """A batch applies its puts first, so its reads see them."""

    def batch(self, ops: Any) -> Any:
        ops = builtins.list(ops)
        puts = [i for i, op in enumerate(ops) if type(op).__name__ == "PutOp"]
        results: builtins.list[Any] = [None] * len(ops)
        if puts:
            super().batch([ops[i] for i in puts])
        rest = [i for i in range(len(ops)) if i not in puts]
        for i, r in zip(rest, super().batch([ops[i] for i in rest]), strict=True):
            results[i] = r
        return results

    async def abatch(self, ops: Any) -> Any:
        return self.batch(ops)


class UnsortedNamespaces(InMemoryStore):
    """``list_namespaces`` with ``max_depth`` does not de-duplicate."""

    def _list_namespaces(self, op: Any, now: Any) -> Any:
        if op.max_depth is None:
            return super()._list_namespaces(op, now)
        full = super()._list_namespaces(op._replace(max_depth=None, limit=10**6, offset=0), now)
        return [ns[: op.max_depth] for ns in full][op.offset : op.offset + op.limit]


def _store(cls: type[InMemoryStore]) -> Callable[..., InMemoryStore]:
    def create(*, index: Any = None, ttl: Any = None) -> InMemoryStore:
        return cls(index=index, ttl=ttl)

    return create


STORE_MUTANTS: dict[str, tuple[Callable[..., Any], tuple[str, ...]]] = {
    "store filters compare numbers as strings": (_store(StringNumberFilters), ("store.filters",)),
    "store search ignores namespace boundary": (
        _store(PrefixIgnoresBoundary),
        ("store.namespace_boundaries",),
    ),
    "TTL refresh ignored": (_store(RefreshIgnored), ("ttl",)),
    "batch writes before reads": (_store(WritesBeforeReads), ("store.batch",)),
    "max_depth not de-duplicated": (_store(UnsortedNamespaces), ("store.list_namespaces",)),
}
