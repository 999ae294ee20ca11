"""``InMemorySaver``: the reference implementation of every saver method.

Values are serialized even in memory, so serializer behaviour (and its errors) is the same as in
the persistent backends, and every read returns fresh objects. Channel values are stored once per
``(thread, namespace, channel, version)``; a checkpoint references them through its
``channel_versions``. A list that grows by appending is stored as a delta against an earlier
version (:mod:`pitstop.checkpoint.base.values`), so a chat history grows linearly. All methods
are thread-safe; the async methods run the sync ones (there is no I/O to wait for).
"""

from __future__ import annotations

import builtins
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from pitstop.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    CorruptRecordError,
    DeltaChannelHistory,
    InvalidArgumentError,
    PendingWrite,
    RetentionPolicy,
    RunnableConfig,
    SweepResult,
    delta_channel_histories,
    get_checkpoint_id,
    get_checkpoint_metadata,
    metadata_matches,
    writes_sort_key,
)
from pitstop.checkpoint.base.values import DeltaEncoder, delta_chain
from pitstop.checkpoint.serde.base import SerializerProtocol

__all__ = ["InMemorySaver", "MemorySaver"]

_EMPTY: tuple[str, bytes] = ("empty", b"")


class _Stored(NamedTuple):
    checkpoint: tuple[str, bytes]  # the checkpoint without channel_values
    metadata: tuple[str, bytes]
    parent_id: str | None
    versions: dict[str, Any]  # channel_versions, kept decoded for reachability
    delta_channels: frozenset[str]  # channels with delta-snapshot counters in metadata
    run_id: Any


class _Write(NamedTuple):
    task_id: str
    channel: str
    value: tuple[str, bytes]
    task_path: str


_Key = tuple[str, str]  # (thread_id, checkpoint_ns)


class InMemorySaver(BaseCheckpointSaver):
    """A checkpoint saver that keeps everything in process memory.

    Meant for tests, notebooks and as the reference the other backends are checked against.

    Args:
        serde: serializer for values, checkpoints and metadata (default: secure msgpack).
        retention: what :meth:`sweep` keeps by default.
        clock: seconds since the epoch; injectable for tests of ``max_idle``.
        compress: ``"zstd"`` compresses stored values (default ``None``: off).
        max_chain: a growing list is stored in full every ``max_chain + 1`` versions
            (``0`` stores every value in full).
    """

    def __init__(
        self,
        *,
        serde: SerializerProtocol | None = None,
        retention: RetentionPolicy | None = None,
        clock: Callable[[], float] = time.time,
        compress: str | None = None,
        max_chain: int = 32,
    ) -> None:
        super().__init__(serde=serde)
        self._values = DeltaEncoder(self.serde, max_chain=max_chain, compress=compress)
        self.retention = retention
        self._clock = clock
        self._touched: dict[str, float] = {}  # thread_id -> time of its last write
        self._lock = threading.RLock()
        # thread_id -> checkpoint_ns -> checkpoint_id -> stored checkpoint
        self.storage: defaultdict[str, dict[str, dict[str, _Stored]]] = defaultdict(dict)
        # (thread_id, checkpoint_ns, checkpoint_id) -> (task_id, idx) -> write
        self.writes: defaultdict[tuple[str, str, str], dict[tuple[str, int], _Write]] = defaultdict(
            dict
        )
        # (thread_id, checkpoint_ns, channel, version) -> value record (full, delta, or empty)
        self.blobs: dict[tuple[str, str, str, str], tuple[str, bytes]] = {}

    def __enter__(self) -> InMemorySaver:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    async def __aenter__(self) -> InMemorySaver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    # -- reads ---------------------------------------------------------------------------------

    def _tuple(
        self, thread_id: str, ns: str, checkpoint_id: str, stored: _Stored
    ) -> CheckpointTuple:
        where = {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}
        checkpoint = self._load(stored.checkpoint, **where)
        values: dict[str, Any] = {}
        for channel, version in stored.versions.items():
            blob = self.blobs.get((thread_id, ns, channel, str(version)))
            if blob is None or blob[0] == "empty":
                continue
            values[channel] = self._value(thread_id, ns, channel, str(version), blob, where)
        checkpoint["channel_values"] = values
        writes = sorted(
            self.writes.get((thread_id, ns, checkpoint_id), {}).items(),
            key=lambda item: writes_sort_key(item[1].task_path, *item[0]),
        )
        pending: builtins.list[PendingWrite] = [
            (w.task_id, w.channel, self._load(w.value, channel=w.channel, **where))
            for _, w in writes
        ]
        return CheckpointTuple(
            config=self._make_config(thread_id, ns, checkpoint_id),
            checkpoint=checkpoint,
            metadata=self._load(stored.metadata, **where),
            parent_config=(
                self._make_config(thread_id, ns, stored.parent_id) if stored.parent_id else None
            ),
            pending_writes=pending,
        )

    def _value(
        self,
        thread_id: str,
        ns: str,
        channel: str,
        version: str,
        blob: tuple[str, bytes],
        where: Mapping[str, Any],
    ) -> Any:
        """Decode a value record (a delta is rebuilt from its chain)."""

        def fetch(versions: builtins.list[str]) -> dict[str, tuple[str, bytes]]:
            found = ((v, self.blobs.get((thread_id, ns, channel, v))) for v in versions)
            return {v: record for v, record in found if record is not None}

        def load(record: tuple[str, bytes]) -> Any:
            return self._load(record, channel=channel, **where)

        try:
            return self._values.decode(
                blob, fetch, load=load, remember=(thread_id, ns, channel, version)
            )
        except CorruptRecordError as exc:
            if exc.thread_id is not None:
                raise
            raise CorruptRecordError(exc.reason, channel=channel, **where) from exc

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Return the checkpoint ``config`` names, or the latest of its namespace."""
        thread_id, ns, checkpoint_id = self._parse_config(config)
        with self._lock:
            checkpoints = self.storage.get(thread_id, {}).get(ns)
            if not checkpoints:
                return None
            if checkpoint_id is None:
                checkpoint_id = max(checkpoints)
            stored = checkpoints.get(checkpoint_id)
            if stored is None:
                return None
            return self._tuple(thread_id, ns, checkpoint_id, stored)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Yield matching checkpoints, newest first (by checkpoint id, across namespaces).

        ``config`` may restrict the thread, the namespace (``""`` is the root namespace only; a
        missing key means every namespace) and the checkpoint id. ``filter`` matches metadata
        (see :func:`pitstop.checkpoint.base.metadata_matches`); ``before`` keeps ids strictly
        smaller than its ``checkpoint_id``; ``limit`` applies after both.
        """
        if limit is not None and limit <= 0:
            return
        configurable = (config or {}).get("configurable") or {}
        thread_filter = configurable.get("thread_id")
        ns_filter = configurable.get("checkpoint_ns")
        id_filter = get_checkpoint_id(config)
        before_id = get_checkpoint_id(before)
        with self._lock:
            candidates: builtins.list[tuple[str, str, str, _Stored]] = []
            threads = (
                [str(thread_filter)] if thread_filter is not None else builtins.list(self.storage)
            )
            for thread_id in threads:
                for ns, checkpoints in self.storage.get(thread_id, {}).items():
                    if ns_filter is not None and ns != ns_filter:
                        continue
                    for checkpoint_id, stored in checkpoints.items():
                        if id_filter and checkpoint_id != id_filter:
                            continue
                        if before_id and not checkpoint_id < before_id:
                            continue
                        candidates.append((checkpoint_id, thread_id, ns, stored))
            candidates.sort(key=lambda c: c[0], reverse=True)
            results: builtins.list[CheckpointTuple] = []
            for checkpoint_id, thread_id, ns, stored in candidates:
                if filter:
                    where = {"thread_id": thread_id, "checkpoint_ns": ns}
                    metadata = self._load(stored.metadata, checkpoint_id=checkpoint_id, **where)
                    if not metadata_matches(metadata, filter):
                        continue
                results.append(self._tuple(thread_id, ns, checkpoint_id, stored))
                if limit is not None and len(results) >= limit:
                    break
        yield from results

    # -- writes --------------------------------------------------------------------------------

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint and the values of the channels in ``new_versions``."""
        thread_id, ns, parent_id = self._parse_config(config)
        checkpoint_id = checkpoint["id"]
        where = {"thread_id": thread_id, "checkpoint_id": checkpoint_id}
        values = checkpoint["channel_values"]
        blobs: dict[tuple[str, str, str, str], tuple[str, bytes]] = {}
        bases: builtins.list[tuple[str, str, str, str]] = []  # (key of a delta, its base)
        for channel, version in new_versions.items():
            key = (thread_id, ns, channel, str(version))
            if channel not in values:
                blobs[key] = _EMPTY
                self._values.forget_channel(thread_id, ns, channel)
                continue
            blobs[key], chain = self._values.encode(
                thread_id, ns, channel, str(version), values[channel], self._dumper(channel, where)
            )
            if chain:
                bases.append((*key[:3], chain[-1]))
        merged = get_checkpoint_metadata(config, metadata)
        bare = {k: v for k, v in checkpoint.items() if k != "channel_values"}
        stored = _Stored(
            checkpoint=self._dump(bare, **where),
            metadata=self._dump(merged, **where),
            parent_id=parent_id,
            versions=dict(checkpoint["channel_versions"]),
            delta_channels=frozenset(merged.get("counters_since_delta_snapshot") or ()),
            run_id=merged.get("run_id"),
        )
        with self._lock:
            for base in bases:  # a delta's base is gone (the thread was deleted): store in full
                if base not in self.blobs:
                    key = (*base[:3], str(new_versions[base[2]]))
                    dump = self._dumper(base[2], where)
                    blobs[key] = self._values.full(values[base[2]], dump)
                    self._values.forget_channel(thread_id, ns, base[2])
            self.blobs.update(blobs)
            self.storage[thread_id].setdefault(ns, {})[checkpoint_id] = stored
            self._touched[thread_id] = self._clock()
        return self._make_config(thread_id, ns, checkpoint_id)

    def _dumper(self, channel: str, where: Mapping[str, Any]) -> Callable[[Any], tuple[str, bytes]]:
        def dump(value: Any) -> tuple[str, bytes]:
            return self._dump(value, channel=channel, **where)

        return dump

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes against the checkpoint ``config`` names.

        Regular writes keep the first value stored at each ``(task_id, idx)``; special channels
        (error, interrupt, resume, scheduled) always replace the earlier value.
        """
        thread_id, ns, checkpoint_id = self._parse_config(config)
        if checkpoint_id is None:
            raise InvalidArgumentError("put_writes needs config['configurable']['checkpoint_id']")
        if not writes:
            return
        rows, _ = self._write_rows(writes)
        where = {"thread_id": thread_id, "checkpoint_id": checkpoint_id}
        encoded = [
            (idx, _Write(task_id, ch, self._dump(value, channel=ch, **where), task_path))
            for idx, ch, value in rows
        ]
        with self._lock:
            self._touched[thread_id] = self._clock()
            stored = self.writes[(thread_id, ns, checkpoint_id)]
            for idx, write in encoded:
                if idx >= 0 and (task_id, idx) in stored:
                    continue
                stored[(task_id, idx)] = write

    # -- maintenance ---------------------------------------------------------------------------

    def _collect_blobs(self, keys: set[_Key]) -> None:
        """Drop the values of the given (thread, namespace)s that no checkpoint references."""
        referenced: set[tuple[str, str, str, str]] = set()
        for thread_id, ns in keys:
            for stored in self.storage.get(thread_id, {}).get(ns, {}).values():
                referenced.update((thread_id, ns, ch, str(v)) for ch, v in stored.versions.items())
        # a delta record needs every record of its chain
        for key in builtins.list(referenced):
            for dep in delta_chain(self.blobs.get(key)):
                referenced.add((*key[:3], dep))
        for key in [k for k in self.blobs if (k[0], k[1]) in keys and k not in referenced]:
            del self.blobs[key]

    def _drop(self, thread_id: str, ns: str, checkpoint_ids: Sequence[str]) -> None:
        checkpoints = self.storage.get(thread_id, {}).get(ns, {})
        for checkpoint_id in checkpoint_ids:
            checkpoints.pop(checkpoint_id, None)
            self.writes.pop((thread_id, ns, checkpoint_id), None)

    def _forget_empty(self, thread_id: str) -> None:
        namespaces = self.storage.get(thread_id)
        if namespaces is None:
            return
        for ns in [ns for ns, cps in namespaces.items() if not cps]:
            del namespaces[ns]
        if not namespaces:
            del self.storage[thread_id]

    def delete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint, write and value of a thread, in every namespace."""
        thread_id = str(thread_id)
        with self._lock:
            self._values.forget(thread_id)
            self.storage.pop(thread_id, None)
            self._touched.pop(thread_id, None)
            for key in [k for k in self.writes if k[0] == thread_id]:
                del self.writes[key]
            for blob_key in [k for k in self.blobs if k[0] == thread_id]:
                del self.blobs[blob_key]

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete every checkpoint whose metadata ``run_id`` is listed, with its writes.

        Values still referenced by a surviving checkpoint are kept.
        """
        wanted = {str(r) for r in run_ids}
        if not wanted:
            return
        with self._lock:
            touched: set[_Key] = set()
            for thread_id, namespaces in builtins.list(self.storage.items()):
                for ns, checkpoints in namespaces.items():
                    doomed = [
                        cid
                        for cid, stored in checkpoints.items()
                        if stored.run_id is not None and str(stored.run_id) in wanted
                    ]
                    if doomed:
                        self._drop(thread_id, ns, doomed)
                        touched.add((thread_id, ns))
                self._forget_empty(thread_id)
            self._collect_blobs(touched)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy a thread's whole history to ``target_thread_id``.

        Checkpoint ids, parents, metadata, values and pending writes are preserved; the source is
        unchanged. Copying from an unknown thread does nothing. The target must have no
        checkpoints: merging two histories is refused with :class:`InvalidArgumentError`.
        """
        source, target = str(source_thread_id), str(target_thread_id)
        if source == target:
            raise InvalidArgumentError("copy_thread: source and target thread are the same")
        with self._lock:
            if self.storage.get(target):
                raise InvalidArgumentError(
                    f"copy_thread: target thread {target!r} already has checkpoints"
                )
            namespaces = self.storage.get(source)
            if not namespaces:
                return
            self.storage[target] = {ns: dict(cps) for ns, cps in namespaces.items()}
            self._touched[target] = self._clock()
            for (thread_id, ns, cid), writes in builtins.list(self.writes.items()):
                if thread_id == source:
                    self.writes[(target, ns, cid)] = dict(writes)
            for (thread_id, ns, ch, version), blob in builtins.list(self.blobs.items()):
                if thread_id == source:
                    self.blobs[(target, ns, ch, version)] = blob

    def _delta_ancestors(self, thread_id: str, ns: str, head: str) -> set[str]:
        """Ids of the ancestors a kept head needs to rebuild its delta channels."""
        checkpoints = self.storage[thread_id][ns]
        open_channels = set(checkpoints[head].delta_channels)
        keep: set[str] = set()
        cursor = checkpoints[head].parent_id
        while open_channels and cursor is not None and cursor in checkpoints:
            keep.add(cursor)
            stored = checkpoints[cursor]
            for ch in builtins.list(open_channels):
                version = stored.versions.get(ch)
                blob = self.blobs.get((thread_id, ns, ch, str(version)))
                if version is not None and blob is not None and blob[0] != "empty":
                    open_channels.discard(ch)
            cursor = stored.parent_id
        return keep

    def _keep_newest(self, thread_id: str, count: int) -> int:
        """Keep each namespace's newest ``count`` checkpoints (and their delta ancestors)."""
        namespaces = self.storage.get(thread_id)
        if not namespaces:
            return 0
        dropped = 0
        for ns, checkpoints in namespaces.items():
            heads = sorted(checkpoints, reverse=True)[:count]
            keep = set(heads)
            for head in heads:
                keep |= self._delta_ancestors(thread_id, ns, head)
            doomed = [c for c in checkpoints if c not in keep]
            self._drop(thread_id, ns, doomed)
            dropped += len(doomed)
        self._collect_blobs({(thread_id, ns) for ns in namespaces})
        return dropped

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Drop old checkpoints of the listed threads.

        ``keep_latest`` keeps, per namespace, the newest checkpoint with its pending writes (so a
        pending interrupt survives), plus the ancestors its delta channels need to be rebuilt;
        ``delete`` removes the threads' checkpoints entirely. Unknown threads are ignored.
        """
        self._check_prune_strategy(strategy)
        with self._lock:
            for thread_id in map(str, thread_ids):
                if strategy == "delete":
                    self.delete_thread(thread_id)
                else:
                    self._keep_newest(thread_id, 1)

    def sweep(self, policy: RetentionPolicy | None = None) -> SweepResult:
        """Apply a retention policy once (default: the saver's ``retention``).

        Threads idle longer than ``max_idle`` are deleted; the others keep their newest
        ``keep_last`` checkpoints per namespace (plus what their delta channels need).
        """
        chosen = self._policy(policy)
        threads_deleted = checkpoints_deleted = 0
        with self._lock:
            if chosen.max_idle is not None:
                cutoff = self._clock() - chosen.max_idle.total_seconds()
                for thread_id in [t for t, at in self._touched.items() if at < cutoff]:
                    namespaces = self.storage.get(thread_id, {})
                    checkpoints_deleted += sum(len(c) for c in namespaces.values())
                    self.delete_thread(thread_id)
                    threads_deleted += 1
            if chosen.keep_last is not None:
                for thread_id in builtins.list(self.storage):
                    checkpoints_deleted += self._keep_newest(thread_id, chosen.keep_last)
        return SweepResult(threads_deleted, checkpoints_deleted)

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Walk the parent chain once for all channels (see the base class).

        Without a ``checkpoint_id`` in ``config`` the latest checkpoint of the namespace is used.
        """
        if not channels:
            return {}
        thread_id, ns, checkpoint_id = self._parse_config(config)
        collected: dict[str, builtins.list[PendingWrite]] = {ch: [] for ch in channels}
        seeds: dict[str, Any] = {}
        remaining = set(channels)
        with self._lock:
            checkpoints = self.storage.get(thread_id, {}).get(ns, {})
            if checkpoint_id is None and checkpoints:
                checkpoint_id = max(checkpoints)
            target = checkpoints.get(checkpoint_id) if checkpoint_id else None
            cursor = target.parent_id if target else None
            while cursor is not None and remaining and cursor in checkpoints:
                stored = checkpoints[cursor]
                where = {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": cursor}
                ordered = sorted(
                    self.writes.get((thread_id, ns, cursor), {}).items(),
                    key=lambda item: writes_sort_key(item[1].task_path, *item[0]),
                    reverse=True,
                )
                for _, w in ordered:
                    if w.channel in remaining:
                        value = self._load(w.value, channel=w.channel, **where)
                        collected[w.channel].append((w.task_id, w.channel, value))
                for ch in builtins.list(remaining):
                    if ch not in stored.versions:
                        continue
                    blob = self.blobs.get((thread_id, ns, ch, str(stored.versions[ch])))
                    if blob is not None and blob[0] != "empty":
                        version = str(stored.versions[ch])
                        seeds[ch] = self._value(thread_id, ns, ch, version, blob, where)
                        remaining.discard(ch)
                cursor = stored.parent_id
        return delta_channel_histories(channels, collected, seeds)

    # -- async: nothing to wait for, so the async methods run the sync ones --------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Async :meth:`get_tuple`."""
        return self.get_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Async :meth:`list`."""
        for item in self.list(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Async :meth:`put`."""
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Async :meth:`put_writes`."""
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        """Async :meth:`delete_thread`."""
        self.delete_thread(thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Async :meth:`delete_for_runs`."""
        self.delete_for_runs(run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Async :meth:`copy_thread`."""
        self.copy_thread(source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Async :meth:`prune`."""
        self.prune(thread_ids, strategy=strategy)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Async :meth:`get_delta_channel_history`."""
        return self.get_delta_channel_history(config=config, channels=channels)

    async def asweep(self, policy: RetentionPolicy | None = None) -> SweepResult:
        """Async :meth:`sweep`."""
        return self.sweep(policy)


MemorySaver = InMemorySaver
"""Alias matching LangGraph's older name."""
