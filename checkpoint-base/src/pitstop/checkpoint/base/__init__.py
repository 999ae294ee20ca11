"""Checkpoint data model, channel versions and the saver base class.

Everything here is runtime-agnostic: it works without LangGraph installed. When LangGraph *is*
installed, :class:`BaseCheckpointSaver` subclasses LangGraph's ``BaseCheckpointSaver``, so every
pitstop saver can be passed to ``StateGraph.compile(checkpointer=...)``.
"""

from __future__ import annotations

import builtins
import copy
import logging
import random
from collections.abc import AsyncIterator, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import (
    TYPE_CHECKING,
    Any,
    Literal,
    NamedTuple,
    NotRequired,
    Protocol,
    TypeAlias,
    TypedDict,
)

from pitstop.checkpoint.base.id import uuid6
from pitstop.checkpoint.errors import (
    ConflictError,
    ConnectionLostError,
    CorruptRecordError,
    DecryptionError,
    DeserializationError,
    InvalidArgumentError,
    MigrationError,
    NotSetUpError,
    PitstopError,
    RefusedTypeError,
    SerializationError,
)
from pitstop.checkpoint.serde.base import SerializerProtocol

if TYPE_CHECKING:
    _SaverBase: TypeAlias = object
else:  # pragma: no branch - depends on the environment
    try:
        from langgraph.checkpoint.base import BaseCheckpointSaver as _SaverBase
    except ImportError:  # LangGraph is optional
        _SaverBase = object

__all__ = [
    "ERROR",
    "EXCLUDED_METADATA_KEYS",
    "INTERRUPT",
    "NULL_TASK_ID",
    "RESUME",
    "SCHEDULED",
    "TASKS",
    "WRITES_IDX_MAP",
    "BaseCheckpointSaver",
    "ChannelVersions",
    "Checkpoint",
    "CheckpointMetadata",
    "CheckpointSaverProtocol",
    "CheckpointTuple",
    "ConflictError",
    "ConnectionLostError",
    "CorruptRecordError",
    "DecryptionError",
    "DeltaChannelHistory",
    "delta_channel_histories",
    "DeserializationError",
    "InvalidArgumentError",
    "MigrationError",
    "NotSetUpError",
    "PendingWrite",
    "PitstopError",
    "RefusedTypeError",
    "RetentionPolicy",
    "RunnableConfig",
    "SerializationError",
    "SweepResult",
    "copy_checkpoint",
    "empty_checkpoint",
    "get_checkpoint_id",
    "list_selection",
    "ListSelection",
    "get_checkpoint_metadata",
    "metadata_matches",
    "next_version",
    "uuid6",
    "writes_sort_key",
]

logger = logging.getLogger(__name__)

# --- reserved write channels -------------------------------------------------------------------

ERROR = "__error__"
SCHEDULED = "__scheduled__"
INTERRUPT = "__interrupt__"
RESUME = "__resume__"
TASKS = "__pregel_tasks"
NULL_TASK_ID = "00000000-0000-0000-0000-000000000000"

WRITES_IDX_MAP: Mapping[str, int] = {ERROR: -1, SCHEDULED: -2, INTERRUPT: -3, RESUME: -4}
"""Fixed negative storage indices of the special channels; regular writes use their position."""

EXCLUDED_METADATA_KEYS = frozenset(
    {
        "thread_id",
        "checkpoint_id",
        "checkpoint_ns",
        "checkpoint_map",
        "langgraph_step",
        "langgraph_node",
        "langgraph_triggers",
        "langgraph_path",
        "langgraph_checkpoint_ns",
    }
)

# --- data model --------------------------------------------------------------------------------

ChannelVersions = dict[str, str | int | float]
PendingWrite = tuple[str, str, Any]


class RunnableConfig(TypedDict, total=False):
    """The run configuration a saver receives; mirrors LangChain's ``RunnableConfig``."""

    tags: builtins.list[str]
    metadata: dict[str, Any]
    callbacks: Any
    run_name: str
    max_concurrency: int | None
    recursion_limit: int
    configurable: dict[str, Any]
    run_id: Any


class CheckpointMetadata(TypedDict, total=False):
    """Metadata stored with a checkpoint (``source``, ``step``, ``parents``, user keys)."""

    source: Literal["input", "loop", "update", "fork"]
    step: int
    parents: dict[str, str]
    run_id: str
    counters_since_delta_snapshot: dict[str, Any]


class Checkpoint(TypedDict):
    """State snapshot at a given point in time."""

    v: int
    id: str
    ts: str
    channel_values: dict[str, Any]
    channel_versions: ChannelVersions
    versions_seen: dict[str, ChannelVersions]
    updated_channels: builtins.list[str] | None


class CheckpointTuple(NamedTuple):
    """A checkpoint with its config, metadata, parent config and pending writes."""

    config: RunnableConfig
    checkpoint: Checkpoint
    metadata: CheckpointMetadata
    parent_config: RunnableConfig | None = None
    pending_writes: builtins.list[PendingWrite] | None = None


class DeltaChannelHistory(TypedDict):
    """What one delta channel contributed along the ancestor chain of a checkpoint.

    ``writes`` are oldest first; ``seed`` is the stored value of the nearest ancestor that has
    one, absent when the walk reached the root without finding any.
    """

    writes: builtins.list[PendingWrite]
    seed: NotRequired[Any]


def delta_channel_histories(
    channels: Sequence[str],
    collected: Mapping[str, builtins.list[PendingWrite]],
    seeds: Mapping[str, Any],
) -> dict[str, DeltaChannelHistory]:
    """The result of ``get_delta_channel_history`` from a walk towards the root.

    ``collected[ch]`` holds the channel's writes newest first (the order a walk meets them);
    ``seeds[ch]`` the stored value it stopped at, when it found one.
    """
    result: dict[str, DeltaChannelHistory] = {}
    for ch in channels:
        entry: DeltaChannelHistory = {"writes": collected[ch][::-1]}
        if ch in seeds:
            entry["seed"] = seeds[ch]
        result[ch] = entry
    return result


def writes_sort_key(task_path: str, task_id: str = "", idx: int = 0) -> tuple[str, str, int]:
    """Order of the writes of one superstep: the order the runtime applies them in."""
    return (task_path, task_id, idx)


def copy_checkpoint(checkpoint: Checkpoint) -> Checkpoint:
    """Return a copy of ``checkpoint`` whose containers can be mutated independently."""
    result: dict[str, Any] = dict(checkpoint)
    result["channel_values"] = dict(checkpoint["channel_values"])
    result["channel_versions"] = dict(checkpoint["channel_versions"])
    result["versions_seen"] = {k: dict(v) for k, v in checkpoint["versions_seen"].items()}
    updated = checkpoint.get("updated_channels")
    result["updated_channels"] = builtins.list(updated) if updated is not None else None
    return result  # type: ignore[return-value]


def empty_checkpoint() -> Checkpoint:
    """Return a new checkpoint with no channels."""
    from datetime import UTC, datetime

    return Checkpoint(
        v=4,
        id=str(uuid6(clock_seq=-2)),
        ts=datetime.now(UTC).isoformat(),
        channel_values={},
        channel_versions={},
        versions_seen={},
        updated_channels=None,
    )


# --- config and metadata helpers ---------------------------------------------------------------


def get_checkpoint_id(config: Mapping[str, Any] | None) -> str | None:
    """Return the ``checkpoint_id`` of a config; ``None``, ``""`` and absent all mean not given."""
    if not config:
        return None
    value = (config.get("configurable") or {}).get("checkpoint_id")
    return str(value) if value else None


class ListSelection(NamedTuple):
    """What a ``list(config, before=...)`` call selects, and the SQL parameters naming it.

    ``params`` holds ``thread_id``, ``checkpoint_ns``, ``checkpoint_id`` and ``before`` for the
    parts given (the same key names every SQL backend binds).
    """

    thread_id: str | None
    ns: str | None
    checkpoint_id: str | None
    before_id: str | None
    params: dict[str, Any]


def list_selection(
    config: Mapping[str, Any] | None, before: Mapping[str, Any] | None
) -> ListSelection:
    """The thread, namespace and checkpoint bounds a ``list`` call selects."""
    configurable = (config or {}).get("configurable") or {}
    raw_thread = configurable.get("thread_id")
    raw_ns = configurable.get("checkpoint_ns")
    thread_id = None if raw_thread is None else str(raw_thread)
    ns = None if raw_ns is None else str(raw_ns)
    checkpoint_id = get_checkpoint_id(config)
    before_id = get_checkpoint_id(before)
    params: dict[str, Any] = {}
    if thread_id is not None:
        params["thread_id"] = thread_id
    if ns is not None:
        params["checkpoint_ns"] = ns
    if checkpoint_id:
        params["checkpoint_id"] = checkpoint_id
    if before_id:
        params["before"] = before_id
    return ListSelection(thread_id, ns, checkpoint_id, before_id, params)


def get_checkpoint_metadata(
    config: Mapping[str, Any], metadata: Mapping[str, Any]
) -> CheckpointMetadata:
    """Merge a checkpoint's metadata with the primitive keys of the run config.

    Explicit metadata wins; then ``config["metadata"]``, then ``config["configurable"]`` add keys
    that are not reserved, not ``__``-prefixed, and whose value is a str, int, float or bool. NUL
    characters are removed from top-level strings. The arguments are never modified.
    """
    merged: dict[str, Any] = {
        k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in metadata.items()
    }
    for source in (config.get("metadata"), config.get("configurable")):
        if not source:
            continue
        for key, value in source.items():
            if key in merged or key in EXCLUDED_METADATA_KEYS or key.startswith("__"):
                continue
            if isinstance(value, str):
                merged[key] = value.replace("\x00", "")
            elif isinstance(value, int | float | bool):
                merged[key] = value
    return merged  # type: ignore[return-value]


def _json_equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(_json_equal(left[k], right[k]) for k in left)
    if isinstance(left, builtins.list | tuple) and isinstance(right, builtins.list | tuple):
        return len(left) == len(right) and all(map(_json_equal, left, right))
    return bool(type(left) is type(right) and left == right)


def metadata_matches(metadata: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """Return whether checkpoint metadata matches a ``list`` filter.

    Every filter key must be a top-level metadata key whose value equals the filter value as JSON
    (``True`` is not ``1``; ``1`` equals ``1.0``; nested objects and lists compare whole). A filter
    value of ``None`` also matches a missing key. Keys are literal: ``"a.b"`` is the key ``a.b``.
    """
    if not filter:
        return True
    for key, expected in filter.items():
        if key not in metadata:
            if expected is None:
                continue
            return False
        if not _json_equal(metadata[key], expected):
            return False
    return True


def next_version(current: str | int | float | None) -> str:
    """Return the channel version after ``current``.

    A 32-digit zero-padded counter (so versions sort as strings like their counters) plus a
    random fraction, so two branches forked from one checkpoint never produce the same version.
    An int or float ``current`` (a thread written with integer versions) is accepted.
    """
    if current is None:
        counter = 0
    elif isinstance(current, int | float):
        counter = int(current)
    else:
        counter = int(current.split(".", 1)[0])
    return f"{counter + 1:032}.{random.random():016}"


def _thread_ns_id(config: Mapping[str, Any]) -> tuple[str, str, str | None]:
    configurable = config.get("configurable")
    if not configurable or configurable.get("thread_id") is None:
        raise MissingThreadIdError(
            "config['configurable']['thread_id'] is required for this operation"
        )
    return (
        str(configurable["thread_id"]),
        str(configurable.get("checkpoint_ns") or ""),
        get_checkpoint_id(config),
    )


class MissingThreadIdError(InvalidArgumentError, KeyError):
    """A config lacked ``configurable.thread_id`` (a ``KeyError`` too, as LangGraph raises)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# --- retention ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionPolicy:
    """How much history a saver keeps; applied by ``sweep()`` / ``asweep()``.

    Attributes:
        keep_last: per thread and namespace, keep the newest N checkpoints (with their pending
            writes, and the older checkpoints their delta channels still need); ``None`` keeps all.
        max_idle: delete whole threads whose last write (``put`` or ``put_writes``) is older than
            this; ``None`` never expires threads.
    """

    keep_last: int | None = None
    max_idle: timedelta | None = None

    def __post_init__(self) -> None:
        if self.keep_last is not None and self.keep_last < 1:
            raise InvalidArgumentError(f"keep_last must be at least 1, got {self.keep_last}")
        if self.max_idle is not None and self.max_idle <= timedelta(0):
            raise InvalidArgumentError(f"max_idle must be positive, got {self.max_idle}")


@dataclass(frozen=True)
class SweepResult:
    """What a retention sweep removed."""

    threads_deleted: int = 0
    checkpoints_deleted: int = 0


# --- the saver protocol ------------------------------------------------------------------------


class CheckpointSaverProtocol(Protocol):
    """What LangGraph needs of a saver: type a custom backend against it without subclassing."""

    serde: SerializerProtocol

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None: ...

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]: ...

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig: ...

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None: ...

    def delete_thread(self, thread_id: str) -> None: ...

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None: ...

    def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]: ...

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig: ...

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None: ...

    async def adelete_thread(self, thread_id: str) -> None: ...

    def get_next_version(self, current: Any, channel: None = None) -> Any: ...


# --- the base class ----------------------------------------------------------------------------

PruneStrategy = Literal["keep_latest", "delete"]


class BaseCheckpointSaver(_SaverBase):
    """Base class of every pitstop checkpoint saver.

    Subclasses implement storage; this class holds everything that does not touch storage:
    config parsing, the metadata merge, write indices, (de)serialization with errors that name the
    thread, checkpoint and channel, version generation, and the default method set.

    Attributes:
        serde: the serializer values are stored through (a secure msgpack serializer by default).
    """

    serde: SerializerProtocol

    def __init__(self, *, serde: SerializerProtocol | None = None) -> None:
        if serde is None:
            from pitstop.checkpoint.serde import MsgpackSerializer

            serde = MsgpackSerializer()
        self.serde = serde

    @property
    def config_specs(self) -> builtins.list[Any]:
        """Configuration fields the saver reads from ``configurable`` (none beyond the ids)."""
        return []

    # -- required methods ----------------------------------------------------------------------

    def get(self, config: RunnableConfig) -> Checkpoint | None:
        """Return the checkpoint ``config`` names (the latest when it names none), or ``None``."""
        tup = self.get_tuple(config)
        return tup.checkpoint if tup else None

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Return the checkpoint tuple ``config`` names (latest of the namespace when no id)."""
        raise NotImplementedError

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Yield matching checkpoints, newest first."""
        raise NotImplementedError

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint whose parent is ``config``'s ``checkpoint_id``; return its config."""
        raise NotImplementedError

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store the writes a task made while running from the checkpoint ``config`` names."""
        raise NotImplementedError

    def delete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint, write and value of a thread, in every namespace."""
        raise NotImplementedError

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints whose metadata ``run_id`` is in ``run_ids``, with their writes."""
        raise NotImplementedError

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy a thread's whole history (ids, metadata, values, writes) to an empty thread."""
        raise NotImplementedError

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Drop old checkpoints: ``keep_latest`` keeps each namespace's newest; ``delete`` all."""
        raise NotImplementedError

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Walk the parent chain of a checkpoint collecting each channel's writes and seed."""
        from pitstop.checkpoint.base._generic import delta_channel_history_via_get_tuple

        return delta_channel_history_via_get_tuple(self, config, channels)

    # -- async twins ---------------------------------------------------------------------------

    async def aget(self, config: RunnableConfig) -> Checkpoint | None:
        """Async :meth:`get`."""
        tup = await self.aget_tuple(config)
        return tup.checkpoint if tup else None

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Async :meth:`get_tuple`."""
        raise NotImplementedError

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Async :meth:`list`."""
        raise NotImplementedError
        yield  # pragma: no cover - makes this an async generator

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Async :meth:`put`."""
        raise NotImplementedError

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Async :meth:`put_writes`."""
        raise NotImplementedError

    async def adelete_thread(self, thread_id: str) -> None:
        """Async :meth:`delete_thread`."""
        raise NotImplementedError

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Async :meth:`delete_for_runs`."""
        raise NotImplementedError

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Async :meth:`copy_thread`."""
        raise NotImplementedError

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Async :meth:`prune`."""
        raise NotImplementedError

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Async :meth:`get_delta_channel_history`."""
        from pitstop.checkpoint.base._generic_async import adelta_channel_history_via_get_tuple

        return await adelta_channel_history_via_get_tuple(self, config, channels)

    # -- retention -----------------------------------------------------------------------------

    def sweep(self, policy: RetentionPolicy | None = None) -> SweepResult:
        """Apply a retention policy (default: the saver's own ``retention``) once."""
        raise NotImplementedError

    async def asweep(self, policy: RetentionPolicy | None = None) -> SweepResult:
        """Async :meth:`sweep`."""
        raise NotImplementedError

    def _policy(self, policy: RetentionPolicy | None) -> RetentionPolicy:
        chosen = policy or getattr(self, "retention", None)
        if chosen is None:
            raise InvalidArgumentError("no retention policy: pass one or construct with retention=")
        return chosen

    # -- versions and serializer ---------------------------------------------------------------

    def get_next_version(self, current: Any, channel: None = None) -> Any:
        """Return the next version of a channel (see :func:`next_version`)."""
        return next_version(current)

    def with_allowlist(self, extra_allowlist: Collection[tuple[str, ...]]) -> BaseCheckpointSaver:
        """Return a shallow clone whose serializer also revives the given ``(module, name)`` types.

        LangGraph calls this in its strict msgpack mode with the types of the graph's state. The
        clone shares storage and connections with this saver.
        """
        extend = getattr(self.serde, "with_allowlist", None)
        if extend is None:
            logger.warning(
                "Serializer %s has no with_allowlist(); strict type checks are not extended.",
                type(self.serde).__name__,
            )
            return self
        serde = extend(extra_allowlist)
        if serde is self.serde:
            return self
        clone = copy.copy(self)
        clone.serde = serde
        return clone

    # -- shared helpers for backends -----------------------------------------------------------

    @staticmethod
    def _parse_config(config: Mapping[str, Any]) -> tuple[str, str, str | None]:
        """Return ``(thread_id, checkpoint_ns, checkpoint_id or None)`` of a config."""
        return _thread_ns_id(config)

    @staticmethod
    def _make_config(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> RunnableConfig:
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": checkpoint_id,
            }
        }

    @staticmethod
    def _write_rows(
        writes: Sequence[tuple[str, Any]],
    ) -> tuple[builtins.list[tuple[int, str, Any]], bool]:
        """Return ``[(idx, channel, value)]`` and whether every write is a special channel.

        A call of special channels only replaces earlier rows (latest state of the task); any
        other call keeps the first value stored at each ``(task_id, idx)``.
        """
        rows = [(WRITES_IDX_MAP.get(ch, i), ch, value) for i, (ch, value) in enumerate(writes)]
        return rows, all(ch in WRITES_IDX_MAP for ch, _ in writes)

    def _dump(
        self,
        value: Any,
        *,
        thread_id: str | None = None,
        checkpoint_id: str | None = None,
        channel: str | None = None,
    ) -> tuple[str, bytes]:
        """Serialize a value; a failure names the channel and where the value was going."""
        try:
            return self.serde.dumps_typed(value)
        except SerializationError as exc:
            raise exc.with_context(
                channel=channel, thread_id=thread_id, checkpoint_id=checkpoint_id
            ) from exc.__cause__
        except Exception as exc:
            raise SerializationError(
                f"{type(exc).__name__}: {exc}",
                channel=channel,
                thread_id=thread_id,
                checkpoint_id=checkpoint_id,
            ) from exc

    def _load(
        self,
        typed: tuple[str, bytes],
        *,
        thread_id: str | None = None,
        checkpoint_ns: str | None = None,
        checkpoint_id: str | None = None,
        channel: str | None = None,
    ) -> Any:
        """Deserialize a stored value; a failure names the thread, checkpoint and channel."""
        try:
            return self.serde.loads_typed(typed)
        except DeserializationError as exc:
            raise exc.with_context(
                thread_id=thread_id,
                checkpoint_ns=checkpoint_ns,
                checkpoint_id=checkpoint_id,
                channel=channel,
            ) from exc.__cause__
        except Exception as exc:
            raise CorruptRecordError(
                f"{type(exc).__name__}: {exc}",
                thread_id=thread_id,
                checkpoint_ns=checkpoint_ns,
                checkpoint_id=checkpoint_id,
                channel=channel,
            ) from exc

    @staticmethod
    def _check_prune_strategy(strategy: str) -> None:
        if strategy not in ("keep_latest", "delete"):
            raise InvalidArgumentError(
                f"unknown prune strategy {strategy!r}; expected 'keep_latest' or 'delete'"
            )
