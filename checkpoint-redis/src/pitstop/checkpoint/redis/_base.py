"""What both Redis savers share and that never blocks: script arguments, decoding, plans.

A saver method reads as: build the ``KEYS``/``ARGV`` here, one script call, decode here.
Maintenance (prune, delete_for_runs, copy, retention) reads a thread's snapshot in one script,
plans the change here, and applies it in one script that checks the thread's write generation.
"""

from __future__ import annotations

import builtins
import functools
import inspect
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

import msgpack

from pitstop.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    ConnectionLostError,
    CorruptRecordError,
    DeltaChannelHistory,
    InvalidArgumentError,
    PendingWrite,
    RetentionPolicy,
    RunnableConfig,
    delta_channel_histories,
    get_checkpoint_id,
    get_checkpoint_metadata,
    metadata_matches,
    writes_sort_key,
)
from pitstop.checkpoint.base.values import DELTA_TAG, ZSTD_SUFFIX, DeltaEncoder, delta_chain
from pitstop.checkpoint.redis import _keys as k
from pitstop.checkpoint.redis import _scripts as lua
from pitstop.checkpoint.serde.base import SerializerProtocol
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = [
    "PAGE_SIZE",
    "BaseRedisSaver",
    "ListRange",
    "Snapshot",
    "resp",
    "ttl_ms",
]

PAGE_SIZE: Final = 100
"""Checkpoints read per round trip by ``list()`` when a filter is set or no limit is given, and
ancestors walked per round trip by ``get_delta_channel_history``."""

INLINE_VALUES_MAX: Final = 8 * 1024
"""Up to this many bytes of new full values a standalone ``put`` is one ``EVALSHA`` of ``PUT``
(values as ARGV); above, ``MULTI``/``HSET`` (full values)/``EVAL PUT`` (delta records)/``EXEC``:
Lua copies arguments at about 1 us per KB, while each extra reply costs a few us (redis-py)."""

INLINE_VALUES_MAX_ASYNC: Final = 16 * 1024
"""The same for ``redis.asyncio``, where each reply costs more (about 15 us)."""

CV_HINTS: Final = 4096
"""Namespaces whose last ``cv`` a saver remembers for ``get_tuple`` (cleared when full)."""

PARSED_CHANNELS: Final = 256
"""Channels whose parsed chain records a saver keeps for the next read (cleared when full)."""

MAX_RETRIES: Final = 50
"""Attempts of a maintenance change that lost the race to a concurrent write."""

_EMPTY: Final = b"empty\x00"
_DELTA: Final = DELTA_TAG.encode()
_DELTA_TAGS: Final = (_DELTA, _DELTA + ZSTD_SUFFIX.encode())
_CHAINED: Final = b"\x01"
"""First byte of a delta record stored with its chain's versions in front (see ``_scripts``)."""


def _chain_header(blob: bytes) -> tuple[builtins.list[bytes], int]:
    """The chain versions in front of a stored delta record, and where its record starts."""
    versions: builtins.list[bytes] = []
    pos = 1
    while blob[pos] != 0:
        colon = blob.index(b":", pos)
        end = colon + 1 + int(blob[pos:colon])
        versions.append(blob[colon + 1 : end])
        pos = end
    return versions, pos + 1


def _stored(tag: str, data: bytes, chain: Sequence[str] = ()) -> bytes:
    """How a value record is stored: ``<tag>\\0<bytes>``, a delta with its chain in front.

    A chain with a NUL in a version stays only inside the record (read like a record stored
    before chains led it), so the first NUL of a chained record always ends its chain.
    """
    if not chain or any("\x00" in v for v in chain):
        return tag.encode() + b"\x00" + data
    head = b"".join(k.part(v).encode() for v in chain)
    return _CHAINED + head + b"\x00" + tag.encode() + b"\x00" + data


def _split(blob: bytes) -> tuple[str, bytes]:
    """A stored value as a record ``(tag, bytes)``."""
    start = 0
    if blob[:1] == _CHAINED:
        # no chain version holds a NUL (see _stored): the first NUL ends the chain, and the
        # parts need no parsing (a chain read for each record of a long chain adds up)
        end = blob.index(b"\x00", 1)
        sep = blob.find(b"\x00", end + 1)
        if sep > 0 and blob[end + 1 : sep] in _DELTA_TAGS:
            return blob[end + 1 : sep].decode(), blob[sep + 1 :]
        start = _chain_header(blob)[1]  # (not a delta tag there: parse the parts)
    sep = blob.index(b"\x00", start)
    return blob[start:sep].decode(), blob[sep + 1 :]


def _is_delta(blob: bytes) -> bool:
    return blob[:1] == _CHAINED or blob.startswith(_DELTA)


def _chain_fields(value_field: bytes, blob: bytes | None) -> builtins.list[bytes]:
    """Value fields a stored delta record needs (``[]`` for a full value or none).

    A value field is ``<ns part><channel part><version>``; a chain lists versions of the same
    namespace and channel.
    """
    if not blob or not _is_delta(blob):
        return []
    if blob[:1] == _CHAINED:
        chain = _chain_header(blob)[0]
    else:  # stored before chains led the record
        chain = [v.encode() for v in delta_chain(_split(blob))]
    if not chain:
        return []
    prefix = _ns_part_of(value_field)
    rest = value_field[len(prefix) :]
    channel_part = _ns_part_of(rest)
    return [prefix + channel_part + v for v in chain]


def ttl_ms(ttl: timedelta | float | None) -> int:
    """A TTL in milliseconds: a ``timedelta``, or a number of minutes (LangGraph's convention)."""
    if ttl is None:
        return 0
    seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl) * 60.0
    if seconds <= 0:
        raise InvalidArgumentError(f"ttl must be positive, got {ttl!r}")
    return max(1, round(seconds * 1000))


def _pack_lua(value: Any) -> bytes:
    """msgpack that Lua's ``cmsgpack`` reads (bytes as raw strings, no ``bin`` type)."""
    return msgpack.packb(value, use_bin_type=False)  # type: ignore[no-any-return]


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


def _unpack(blob: bytes) -> Any:
    return msgpack.unpackb(blob, raw=False, strict_map_key=False)


def resp(commands: Iterable[Sequence[Any]]) -> bytes:
    """``commands`` as one RESP request buffer (str as UTF-8, int as decimal, bytes as is).

    One buffer means one ``sendall`` per round trip, whatever the number of commands.
    """
    out: builtins.list[bytes] = []
    for command in commands:
        out.append(b"*%d\r\n" % len(command))
        for arg in command:
            if isinstance(arg, str):
                arg = arg.encode()
            elif isinstance(arg, int):
                arg = b"%d" % arg
            elif not isinstance(arg, bytes):
                raise TypeError(f"cannot send {type(arg).__name__} to Redis")
            out.append(b"$%d\r\n" % len(arg))
            out.append(arg)
            out.append(b"\r\n")
    return b"".join(out)


def _channel_prefix(field: bytes) -> bytes:
    """``<ns part><channel part>`` of a value field: what every version of a channel shares."""
    ns_part = _ns_part_of(field)
    return ns_part + _ns_part_of(field[len(ns_part) :])


def _ns_part_of(field: bytes) -> bytes:
    """The leading ``<len>:<text>`` part of a field (as bytes)."""
    colon = field.index(b":")
    return field[: colon + 1 + int(field[:colon])]


@dataclass
class ListRange:
    """The sorted-set range one ``list()`` call reads, page after page."""

    mode: str  # "ns": the thread's per-namespace index; "all": its cross-namespace index
    max: bytes
    min: bytes


@dataclass
class Snapshot:
    """A whole thread as read by the ``SNAPSHOT`` script (maintenance only)."""

    gen: bytes
    meta: dict[bytes, bytes]
    records: dict[bytes, builtins.list[Any]]  # cp field -> checkpoint record
    raw_records: dict[bytes, bytes]
    cv: dict[bytes, bytes]
    values: dict[bytes, bytes]
    writes: dict[bytes, bytes]
    write_owner: dict[bytes, tuple[str, str]] = field(default_factory=dict)

    def by_namespace(self) -> dict[str, builtins.list[bytes]]:
        """cp fields per namespace, newest checkpoint first."""
        grouped: dict[str, builtins.list[tuple[str, bytes]]] = {}
        for cp_field, rec in self.records.items():
            grouped.setdefault(rec[0], []).append((rec[1], cp_field))
        return {ns: [f for _, f in sorted(items, reverse=True)] for ns, items in grouped.items()}

    def value_fields(self, cp_field: bytes) -> dict[str, bytes]:
        """channel -> value field of one checkpoint."""
        raw = self.cv.get(cp_field)
        if not raw:
            return {}
        return {ch: f.encode() for ch, f in _unpack(raw)}


_LOST = (RedisConnectionError, RedisTimeoutError)

#: Public methods whose connection errors become :class:`ConnectionLostError` (each also with
#: an ``a`` prefix).
_PUBLIC = (
    "setup",
    "get_tuple",
    "list",
    "get_delta_channel_history",
    "put",
    "put_writes",
    "delete_thread",
    "delete_for_runs",
    "copy_thread",
    "prune",
    "sweep",
    "memory_usage",
)


def _lost(exc: Exception) -> ConnectionLostError:
    return ConnectionLostError(f"connection to Redis lost: {type(exc).__name__}: {exc}")


def _raising_lost(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` raising :class:`ConnectionLostError` (chained) for redis-py's connection
    errors and timeouts, after every retry redis-py and the saver do."""
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def agen(*args: Any, **kwargs: Any) -> Any:
            try:
                async for item in method(*args, **kwargs):
                    yield item
            except _LOST as exc:
                raise _lost(exc) from exc

        return agen
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def coro(*args: Any, **kwargs: Any) -> Any:
            try:
                return await method(*args, **kwargs)
            except _LOST as exc:
                raise _lost(exc) from exc

        return coro
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def gen(*args: Any, **kwargs: Any) -> Any:
            try:
                yield from method(*args, **kwargs)
            except _LOST as exc:
                raise _lost(exc) from exc

        return gen

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except _LOST as exc:
            raise _lost(exc) from exc

    return call


class BaseRedisSaver(BaseCheckpointSaver):
    """Shared state and non-blocking logic of :class:`RedisSaver` and :class:`AsyncRedisSaver`.

    Attributes:
        prefix: the first segment of every key this saver reads or writes.
        ttl_ms: expiry of a whole thread in milliseconds, ``0`` for none.
        refresh_on_read: whether reads also push a thread's expiry back.
        retention: the policy :meth:`sweep` applies when called without one.
        cluster: whether the client is a ``RedisCluster`` (global indexes updated separately).

    A connection that breaks during a public method (server stopped or restarted, network
    down, timeout), once redis-py's retries and the saver's one retry on a fresh pooled
    connection are spent, raises :class:`~pitstop.checkpoint.errors.ConnectionLostError`
    chained from redis-py's ``ConnectionError``/``TimeoutError``.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in _PUBLIC:
            for attr in (name, "a" + name):
                method = cls.__dict__.get(attr)
                if callable(method) and not getattr(method, "_pitstop_lost", False):
                    wrapped = _raising_lost(method)
                    wrapped._pitstop_lost = True  # type: ignore[attr-defined]
                    setattr(cls, attr, wrapped)

    def __init__(
        self,
        *,
        serde: SerializerProtocol | None = None,
        prefix: str = "pitstop",
        ttl: timedelta | float | None = None,
        refresh_on_read: bool = False,
        retention: RetentionPolicy | None = None,
        clock: Callable[[], float] = time.time,
        cluster: bool = False,
        compress: str | None = None,
        max_chain: int = 32,
    ) -> None:
        super().__init__(serde=serde)
        self._values = DeltaEncoder(self.serde, max_chain=max_chain, compress=compress)
        if not prefix or "{" in prefix or "}" in prefix:
            raise InvalidArgumentError(f"prefix must be non-empty without braces: {prefix!r}")
        self.prefix = prefix
        self.ttl_ms = ttl_ms(ttl)
        self.refresh_on_read = refresh_on_read
        self.retention = retention
        self.cluster = cluster
        self._clock = clock
        # (thread_id, ns) -> (cv, its value fields, chain fields its delta records need)
        self._cv_seen: dict[
            tuple[str, str], tuple[bytes, builtins.list[bytes], builtins.list[bytes]]
        ] = {}
        # (thread_id, ns) -> (the hint it was built from, packed get_tuple request)
        self._requests: dict[tuple[str, str], tuple[Any, bytes]] = {}
        # (thread_id, ns, channel) -> (chain version -> stored record, version -> its parse):
        # the chain records of the channel's last delta read, parsed; a later read reuses a
        # parse only for a byte-identical record (never mutated once stored here)
        self._parsed: dict[tuple[str, str, str], tuple[dict[str, bytes], dict[str, Any]]] = {}
        # value field -> (its delta record, the chain fields it needs), see _holds_chains
        self._chains_of: dict[bytes, tuple[bytes, builtins.list[bytes]]] = {}

    # -- keys ----------------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _thread_keys(self, thread_id: str, *, run_id: str | None = None) -> builtins.list[str]:
        """A thread's keys; on a standalone server also the global index (and the run's set)."""
        keys = k.thread_keys(self.prefix, thread_id)
        if not self.cluster:
            keys.append(k.threads_key(self.prefix))
            if run_id is not None:
                keys.append(k.run_key(self.prefix, run_id))
        return keys

    # -- value-field hints of get_tuple -------------------------------------------------------

    def _remember_cv(
        self, thread_id: str, ns: str, cv: bytes, chains: Sequence[bytes] = ()
    ) -> None:
        """Remember the ``cv`` (channel -> value field) last written or read in a namespace.

        ``get_tuple`` sends it as a guess: when the checkpoint it reads has exactly this ``cv``,
        the values come from a plain ``HMGET`` in the same ``MULTI`` instead of through Lua.
        ``chains`` are the fields its delta records need; the same ``HMGET`` reads them, so the
        common read stays one round trip. A wrong guess only costs speed.
        """
        if self.cluster or not cv:
            return
        seen = self._cv_seen
        known = seen.get((thread_id, ns))
        if known is not None and known[0] == cv and known[2] == builtins.list(chains):
            return
        if len(seen) >= CV_HINTS and (thread_id, ns) not in seen:
            seen.clear()
        fields = [f if isinstance(f, bytes) else f.encode() for _, f in _unpack(cv)]
        if fields:
            seen[(thread_id, ns)] = (cv, fields, builtins.list(chains))
        else:
            seen.pop((thread_id, ns), None)

    # -- put -----------------------------------------------------------------------------------

    def _put_args(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> tuple[str, str | None, builtins.list[str], builtins.list[Any], RunnableConfig]:
        """``(thread_id, run_id, KEYS, ARGV, returned config)`` of a ``put``.

        ARGV is the 9 head arguments (the 9th: how many check fields follow), the value fields
        the new delta records need (the script stores nothing when one is missing: the caller
        then forgets those channels and puts again, in full), then value field/value pairs.
        """
        thread_id, ns, parent_id = self._parse_config(config)
        checkpoint_id = checkpoint["id"]
        if "\x00" in checkpoint_id:
            raise InvalidArgumentError(f"checkpoint id {checkpoint_id!r} contains NUL")
        where = {"thread_id": thread_id, "checkpoint_id": checkpoint_id}
        values = checkpoint["channel_values"]
        nsp = k.part(ns)  # value fields are k.value_field(ns, channel, version), inlined
        args: builtins.list[Any] = []
        checks: builtins.list[bytes] = []
        for channel, version in new_versions.items():
            chp = nsp + k.part(channel)
            args.append(chp + str(version))
            if channel in values:
                (tag, data), chain = self._values.encode(
                    thread_id,
                    ns,
                    channel,
                    str(version),
                    values[channel],
                    self._dumper(channel, where),
                )
                args.append(_stored(tag, data, chain))
                checks.extend((chp + v).encode() for v in chain)
            else:
                args.append(_EMPTY)
                self._values.forget_channel(thread_id, ns, channel)
        bare = {key: v for key, v in checkpoint.items() if key != "channel_values"}
        ck_type, ck_blob = self._dump(bare, **where)
        merged = get_checkpoint_metadata(config, metadata)
        meta_type, meta_blob = self._dump(dict(merged), **where)
        run = merged.get("run_id")
        run_id = str(run) if run is not None else None
        delta = builtins.list(merged.get("counters_since_delta_snapshot") or ())
        record = _pack(
            [ns, checkpoint_id, parent_id, ck_type, ck_blob, meta_type, meta_blob, run_id, delta]
        )
        cv = _pack_lua(
            [[ch, nsp + k.part(ch) + str(v)] for ch, v in checkpoint["channel_versions"].items()]
        )
        cp_field = k.cp_field(ns, checkpoint_id)
        head = [
            self.ttl_ms,
            self._now_ms(),
            thread_id,
            cp_field,
            k.all_member(ns, checkpoint_id),
            record,
            cv,
            run_id or "",
            len(checks),
        ]
        keys = self._thread_keys(thread_id, run_id=run_id)
        return (
            thread_id,
            run_id,
            keys,
            head + checks + args,
            self._make_config(thread_id, ns, checkpoint_id),
        )

    def _dumper(self, channel: str, where: Mapping[str, Any]) -> Callable[[Any], tuple[str, bytes]]:
        def dump(value: Any) -> tuple[str, bytes]:
            return self._dump(value, channel=channel, **where)

        return dump

    @staticmethod
    def _split_put_args(
        args: Sequence[Any],
    ) -> tuple[builtins.list[Any], builtins.list[Any], builtins.list[Any]]:
        """``(head with checks, full value pairs, delta value pairs)`` of ``put`` ARGV."""
        n = 9 + int(args[8])
        head = builtins.list(args[:n])
        full: builtins.list[Any] = []
        deltas: builtins.list[Any] = []
        for i in range(n, len(args), 2):
            (deltas if _is_delta(args[i + 1]) else full).extend(args[i : i + 2])
        return head, full, deltas

    def _put_chains(self, thread_id: str, ns: str, args: Sequence[Any]) -> builtins.list[bytes]:
        """The chain records the values of a ``put`` need, as far as this saver knows.

        The check fields of its ARGV (what its new delta records need), plus the remembered
        chains of the channels it did not write (their values are the ones read or written
        before in this namespace).
        """
        n = 9 + int(args[8])
        chains = builtins.list(args[n - int(args[8]) : n])
        known = self._cv_seen.get((thread_id, ns))
        if known is not None and known[2]:
            written = {_channel_prefix(f.encode()) for f in args[n::2]}
            chains += [c for c in known[2] if _channel_prefix(c) not in written]
        return chains

    def _retry_in_full(self, thread_id: str, ns: str, new_versions: ChannelVersions) -> None:
        """A delta's base was gone (the thread was deleted or pruned): encode in full."""
        for channel in new_versions:
            self._values.forget_channel(thread_id, ns, channel)

    def _writes_args(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> tuple[str, builtins.list[str], builtins.list[Any]]:
        """``(thread_id, KEYS, ARGV)`` of a ``put_writes``; special channels replace."""
        thread_id, ns, checkpoint_id = self._parse_config(config)
        if checkpoint_id is None:
            raise InvalidArgumentError("put_writes needs config['configurable']['checkpoint_id']")
        rows, _ = self._write_rows(writes)
        args: builtins.list[Any] = [self.ttl_ms, self._now_ms(), thread_id]
        for idx, channel, value in rows:
            tag, data = self._dump(
                value, channel=channel, thread_id=thread_id, checkpoint_id=checkpoint_id
            )
            args.append("r" if idx < 0 else "k")
            args.append(k.write_field(ns, checkpoint_id, task_id, idx))
            args.append(_pack([task_path, task_id, idx, channel, tag, data, ns, checkpoint_id]))
        return thread_id, self._thread_keys(thread_id), args

    # -- reads ---------------------------------------------------------------------------------

    def _refresh_args(self, thread_id: str) -> builtins.list[Any]:
        if not (self.refresh_on_read and self.ttl_ms):
            return [0, 0, thread_id]  # (the time is not used: the same request every time)
        return [self.ttl_ms, self._now_ms(), thread_id]

    def _hinted_request(
        self,
        thread_id: str,
        ns: str,
        checkpoint_id: str | None,
        hint: tuple[bytes, builtins.list[bytes], builtins.list[bytes]],
        keys: Sequence[str],
        args: Sequence[Any],
    ) -> bytes:
        """The packed ``PAGE`` + ``HMGET`` request of a hinted ``get_tuple``.

        The request of the latest checkpoint is the same until the hint changes (without
        ``refresh_on_read``), so it is packed once per hint.
        """
        cv, fields, chains = hint
        cacheable = checkpoint_id is None and not args[4]
        if cacheable:
            cached = self._requests.get((thread_id, ns))
            if cached is not None and cached[0] is hint:
                return cached[1]
        packed = resp(
            [
                ("EVALSHA", lua.PAGE.sha, len(keys), *keys, *args, cv),
                ("HMGET", keys[5], *fields, *chains),
            ]
        )
        if cacheable:
            if len(self._requests) >= CV_HINTS:
                self._requests.clear()
            self._requests[(thread_id, ns)] = (hint, packed)
        return packed

    @staticmethod
    def _exact_range(ns: str, checkpoint_id: str | None) -> ListRange:
        """The range ``get_tuple`` reads: one id, or the newest of a namespace."""
        nsp = k.part(ns).encode()
        if checkpoint_id:
            exact = b"[" + nsp + checkpoint_id.encode()
            return ListRange("ns", exact, exact)
        return ListRange("ns", b"[" + nsp + b"\xff", b"[" + nsp)

    @staticmethod
    def _list_range(
        ns: str | None, checkpoint_id: str | None, before_id: str | None
    ) -> ListRange | None:
        """The range of one thread that ``list`` reads, or None when nothing can match."""
        if checkpoint_id and before_id and not checkpoint_id < before_id:
            return None
        if ns is not None:
            nsp = k.part(ns).encode()
            if checkpoint_id:
                exact = b"[" + nsp + checkpoint_id.encode()
                return ListRange("ns", exact, exact)
            high = b"(" + nsp + before_id.encode() if before_id else b"[" + nsp + b"\xff"
            return ListRange("ns", high, b"[" + nsp)
        if checkpoint_id:
            raw = checkpoint_id.encode()
            return ListRange("all", b"(" + raw + b"\x01", b"[" + raw + b"\x00")
        return ListRange("all", b"(" + before_id.encode() if before_id else b"+", b"-")

    @staticmethod
    def _next_range(current: ListRange, last: Sequence[Any]) -> ListRange:
        """The range of the page after the ``PAGE`` entry ``last``."""
        ns, checkpoint_id = _unpack(last[0])[:2]
        if current.mode == "ns":
            high = b"(" + k.cp_field(ns, checkpoint_id).encode()
        else:
            high = b"(" + k.all_member(ns, checkpoint_id).encode()
        return ListRange(current.mode, high, current.min)

    @staticmethod
    def _list_scope(
        config: RunnableConfig | None, before: RunnableConfig | None
    ) -> tuple[str | None, str | None, str | None, str | None]:
        """``(thread_id, ns, checkpoint_id, before_id)`` of a ``list`` call (None: any)."""
        configurable = (config or {}).get("configurable") or {}
        thread_id = configurable.get("thread_id")
        ns = configurable.get("checkpoint_ns")
        return (
            str(thread_id) if thread_id is not None else None,
            str(ns) if ns is not None else None,
            get_checkpoint_id(config),
            get_checkpoint_id(before),
        )

    @staticmethod
    def _missing_chains(
        entries: Sequence[Sequence[Any]], known: Mapping[bytes, bytes | None] | None = None
    ) -> builtins.list[bytes]:
        """Value fields the delta records of ``PAGE`` entries need that were not read."""
        have: set[bytes] = set(known or ())
        wanted: dict[bytes, None] = {}
        pairs = []
        for entry in entries:
            raw_cv, vals = entry[1], entry[2]
            if not raw_cv or not isinstance(vals, builtins.list):
                continue
            for (_, f), blob in zip(_unpack(raw_cv), vals, strict=False):
                if blob:  # (None: not read, e.g. a channel HISTORY no longer needed)
                    field = f if isinstance(f, bytes) else f.encode()
                    have.add(field)
                    pairs.append((field, blob))
        for field, blob in pairs:
            for dep in _chain_fields(field, blob):
                if dep not in have:
                    wanted[dep] = None
        return builtins.list(wanted)

    @staticmethod
    def _page_reply(reply: Sequence[Any]) -> tuple[Any, dict[bytes, bytes | None]]:
        """``(entries, chain records)`` of a ``PAGE``/``HISTORY`` reply."""
        extra = reply[1]
        return reply[0], dict(zip(extra[::2], extra[1::2], strict=True))

    def _history(
        self,
        thread_id: str,
        channels: Sequence[str],
        found: Iterable[CheckpointTuple],
    ) -> dict[str, DeltaChannelHistory]:
        """Delta-channel history from the ancestors ``HISTORY`` returned, nearest first.

        A channel collects the writes of each ancestor until (and including) the nearest one
        that stores a value for it, its seed.
        """
        collected: dict[str, builtins.list[PendingWrite]] = {ch: [] for ch in channels}
        seeds: dict[str, Any] = {}
        remaining = set(channels)
        for ancestor in found:
            if not remaining:
                break
            for write in reversed(ancestor.pending_writes or ()):
                if write[1] in remaining:
                    collected[write[1]].append(write)
            values = ancestor.checkpoint["channel_values"]
            for ch in [ch for ch in remaining if ch in values]:
                seeds[ch] = values[ch]
                remaining.discard(ch)
        return delta_channel_histories(channels, collected, seeds)

    def _holds_chains(
        self, fields: Sequence[bytes], values: Sequence[bytes], known: Mapping[bytes, Any]
    ) -> bool:
        """Whether ``fields`` and ``known`` hold every chain record the ``values`` need.

        The chain fields of the last delta record checked per value field are kept (reused
        only for the same stored bytes): a long chain costs a parse of all its versions.
        """
        seen = self._chains_of
        for value_field, blob in zip(fields, values, strict=True):
            if blob[:1] == _CHAINED or blob.startswith(_DELTA):
                kept = seen.get(value_field)
                if kept is not None and kept[0] == blob:
                    deps = kept[1]
                else:
                    deps = _chain_fields(value_field, blob)
                    if len(seen) >= PARSED_CHANNELS:
                        seen.clear()
                    seen[value_field] = (blob, deps)
                for dep in deps:
                    if dep not in known and dep not in fields:
                        return False
        return True

    @staticmethod
    def _unpack_flat(thread_id: str, reply: bytes) -> builtins.list[Any]:
        """The record and write records of the packed ``PAGE`` reply, unpacked in one call."""
        try:
            items = _unpack(reply)
        except Exception as exc:
            raise CorruptRecordError(
                f"checkpoint record: {type(exc).__name__}: {exc}", thread_id=thread_id
            ) from exc
        if type(items) is not builtins.list or not items:
            raise CorruptRecordError("checkpoint record: not a msgpack array", thread_id=thread_id)
        return items

    @staticmethod
    def _page_values(entries: Sequence[Sequence[Any]]) -> dict[bytes, bytes | None]:
        """value field -> stored value, of every value the ``PAGE`` entries returned."""
        out: dict[bytes, bytes | None] = {}
        for entry in entries:
            raw_cv, vals = entry[1], entry[2]
            if not raw_cv or not isinstance(vals, builtins.list):
                continue
            for (_, f), blob in zip(_unpack(raw_cv), vals, strict=False):
                if blob:
                    out[f if isinstance(f, bytes) else f.encode()] = blob
        return out

    @staticmethod
    def _entry_chains(entry: Sequence[Any]) -> builtins.list[bytes]:
        """Every value field the delta records of one ``PAGE`` entry need."""
        raw_cv, vals = entry[1], entry[2]
        if not raw_cv or not isinstance(vals, builtins.list):
            return []
        out: dict[bytes, None] = {}
        for (_, f), blob in zip(_unpack(raw_cv), vals, strict=False):
            field = f if isinstance(f, bytes) else f.encode()
            for dep in _chain_fields(field, blob):
                out[dep] = None
        return builtins.list(out)

    def _decode_entry(
        self,
        thread_id: str,
        entry: Sequence[Any],
        filter: Mapping[str, Any] | None = None,
        known: Mapping[bytes, bytes | None] | None = None,
    ) -> CheckpointTuple | None:
        """A checkpoint tuple from one ``PAGE`` entry; None if the filter rejects it.

        The entry's record and write records are the stored bytes, or already unpacked (the
        packed reply of a hinted ``get_tuple``, see :meth:`_unpack_flat`).

        ``known`` maps value fields to stored values read besides the entry's own (the chains
        of its delta records).
        """
        raw_record, raw_cv, vals, writes = entry
        try:
            rec = raw_record if type(raw_record) is builtins.list else _unpack(raw_record)
            ns, checkpoint_id, parent_id, ck_type, ck_blob, meta_type, meta_blob = rec[:7]
        except Exception as exc:
            raise CorruptRecordError(
                f"checkpoint record: {type(exc).__name__}: {exc}", thread_id=thread_id
            ) from exc
        where = {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}
        metadata = self._load((meta_type, meta_blob), **where)
        if filter and not metadata_matches(metadata, filter):
            return None
        checkpoint = self._load((ck_type, ck_blob), **where)
        if not isinstance(checkpoint, dict):
            raise CorruptRecordError("checkpoint is not a mapping", **where)
        channel_values: dict[str, Any] = {}
        if raw_cv:
            cv_pairs = _unpack(raw_cv)
            found: dict[bytes, bytes | None] = dict(known or {})
            fields = [f if isinstance(f, bytes) else f.encode() for _, f in cv_pairs]
            found.update((f, v) for f, v in zip(fields, vals, strict=False) if v)
            for (channel, _), field, blob in zip(cv_pairs, fields, vals, strict=False):
                if not blob:
                    continue
                record = _split(blob)
                if record[0] == "empty":
                    continue
                if record[0].startswith(DELTA_TAG) or record[0].endswith(ZSTD_SUFFIX):
                    value = self._value(thread_id, ns, channel, field, record, found, where)
                else:  # a full value: no chain to fetch (remembered only if a list)
                    value = self._load(record, channel=channel, **where)
                    if isinstance(value, builtins.list):
                        self._remember_full(thread_id, ns, channel, field, record, value)
                channel_values[channel] = value
        checkpoint["channel_values"] = channel_values
        rows = [w if type(w) is builtins.list else _unpack(w) for w in writes if w]
        if len(rows) > 1:
            rows.sort(key=lambda r: writes_sort_key(r[0], r[1], r[2]))
        pending: builtins.list[PendingWrite] = [
            (r[1], r[3], self._load((r[4], r[5]), channel=r[3], **where)) for r in rows
        ]
        return CheckpointTuple(
            config=self._make_config(thread_id, ns, checkpoint_id),
            checkpoint=checkpoint,  # type: ignore[arg-type]
            metadata=metadata,
            parent_config=self._make_config(thread_id, ns, parent_id) if parent_id else None,
            pending_writes=pending,
        )

    def _remember_full(
        self,
        thread_id: str,
        ns: str,
        channel: str,
        field: bytes,
        record: tuple[str, bytes],
        value: builtins.list[Any],
    ) -> None:
        """Let a later ``put`` of the channel write a delta against this full list value."""
        version = field.decode()[len(k.part(ns) + k.part(channel)) :]
        self._values.decode(
            record, lambda _: {}, load=lambda _: value, remember=(thread_id, ns, channel, version)
        )

    def _value(
        self,
        thread_id: str,
        ns: str,
        channel: str,
        field: bytes,
        record: tuple[str, bytes],
        found: Mapping[bytes, bytes | None],
        where: Mapping[str, Any],
    ) -> Any:
        """Decode a stored value (a delta is rebuilt from the chain records in ``found``)."""
        chp = k.part(ns) + k.part(channel)
        version = field.decode()[len(chp) :]
        prefix = chp.encode()
        # A chain record parsed by the last read of this channel is parsed again only when
        # its stored bytes differ (the parse depends on nothing else): long chains share
        # most of their records from one version to the next.
        key = (thread_id, ns, channel)
        blobs: dict[str, bytes] = {}
        parsed: dict[str, Any] = {}
        kept = self._parsed.get(key)
        if kept is not None:
            kept_blobs, kept_parsed = kept
            for v, old in kept_blobs.items():
                blob = found.get(prefix + v.encode())
                if blob is not None and blob == old:
                    blobs[v] = blob
                    parsed[v] = kept_parsed[v]

        def fetch(versions: builtins.list[str]) -> dict[str, tuple[str, bytes]]:
            out: dict[str, tuple[str, bytes]] = {}
            for v in versions:
                blob = found.get(prefix + v.encode())
                if blob:
                    out[v] = _split(blob)
                    blobs[v] = blob
            return out

        def load(rec: tuple[str, bytes]) -> Any:
            return self._load(rec, channel=channel, **where)

        try:
            value = self._values.decode(
                record, fetch, load=load, remember=(thread_id, ns, channel, version), parsed=parsed
            )
        except CorruptRecordError as exc:
            if exc.thread_id is not None:
                raise
            raise CorruptRecordError(exc.reason, channel=channel, **where) from exc
        if parsed:
            if len(self._parsed) >= PARSED_CHANNELS and key not in self._parsed:
                self._parsed.clear()
            self._parsed[key] = ({v: blobs[v] for v in parsed if v in blobs}, parsed)
        return value

    # -- maintenance plans ---------------------------------------------------------------------

    @staticmethod
    def _snapshot(raw: Sequence[Any]) -> Snapshot:
        def pairs(flat: Sequence[bytes]) -> dict[bytes, bytes]:
            return dict(zip(flat[::2], flat[1::2], strict=True))

        gen, meta, cp, cv, values, writes = raw
        raw_records = pairs(cp)
        snap = Snapshot(
            gen=gen,
            meta=pairs(meta),
            records={f: _unpack(r) for f, r in raw_records.items()},
            raw_records=raw_records,
            cv=pairs(cv),
            values=pairs(values),
            writes=pairs(writes),
        )
        for wf, blob in snap.writes.items():
            rec = _unpack(blob)
            snap.write_owner[wf] = (rec[6], rec[7])
        return snap

    @staticmethod
    def _delta_ancestors(snap: Snapshot, by_id: Mapping[str, bytes], head: bytes) -> set[bytes]:
        """cp fields of the ancestors a kept head needs to rebuild its delta channels."""
        open_channels = set(snap.records[head][8] or ())
        keep: set[bytes] = set()
        cursor = snap.records[head][2]
        while open_channels and cursor is not None and cursor in by_id:
            cp_field = by_id[cursor]
            keep.add(cp_field)
            fields = snap.value_fields(cp_field)
            for ch in builtins.list(open_channels):
                blob = snap.values.get(fields.get(ch, b""))
                if blob is not None and not blob.startswith(_EMPTY):
                    open_channels.discard(ch)
            cursor = snap.records[cp_field][2]
        return keep

    def _plan_keep_newest(self, snap: Snapshot, count: int) -> set[bytes]:
        """cp fields to drop so each namespace keeps its newest ``count`` (and delta ancestors)."""
        doomed: set[bytes] = set()
        for fields in snap.by_namespace().values():
            by_id = {snap.records[f][1]: f for f in fields}
            keep = set(fields[:count])
            for head in fields[:count]:
                keep |= self._delta_ancestors(snap, by_id, head)
            doomed.update(f for f in fields if f not in keep)
        return doomed

    @staticmethod
    def _plan_drop(snap: Snapshot, doomed: Collection[bytes]) -> builtins.list[Any]:
        """APPLY ops removing checkpoints with their writes, and values nobody references."""
        if not doomed:
            return []
        gone = {(snap.records[f][0], snap.records[f][1]) for f in doomed}
        touched = {_ns_part_of(f) for f in doomed}
        referenced: set[bytes] = set()
        for cp_field in snap.records:
            if cp_field not in doomed and _ns_part_of(cp_field) in touched:
                referenced.update(snap.value_fields(cp_field).values())
        # a delta record needs every record of its chain
        for value_field in builtins.list(referenced):
            referenced.update(_chain_fields(value_field, snap.values.get(value_field)))
        values = [f for f in snap.values if _ns_part_of(f) in touched and f not in referenced]
        writes = [wf for wf, owner in snap.write_owner.items() if owner in gone]
        members = [k.all_member(*pair).encode() for pair in gone]
        fields = builtins.list(doomed)
        ops: builtins.list[Any] = [
            ["ZREM", 2, *fields],
            ["ZREM", 3, *members],
            ["HDEL", 4, *fields],
            ["HDEL", 5, *fields],
        ]
        if values:
            ops.append(["HDEL", 6, *values])
        if writes:
            ops.extend([["ZREM", 7, *writes], ["HDEL", 8, *writes]])
        return ops

    def _plan_copy(self, snap: Snapshot) -> builtins.list[Any]:
        """APPLY ops writing a snapshot into an empty thread."""

        def flat(mapping: Mapping[bytes, bytes]) -> builtins.list[bytes]:
            return [x for pair in mapping.items() for x in pair]

        def scored(members: Iterable[bytes]) -> builtins.list[Any]:
            return [x for m in members for x in (0, m)]

        meta: builtins.list[Any] = ["HSET", 1, "touched", self._now_ms()]
        meta += [x for f in snap.meta if f.startswith(b"r:") for x in (f, 1)]
        ops: builtins.list[Any] = [
            meta,
            ["ZADD", 2, *scored(snap.records)],
            ["ZADD", 3, *scored(k.all_member(r[0], r[1]).encode() for r in snap.records.values())],
            ["HSET", 4, *flat(snap.raw_records)],
        ]
        if snap.cv:
            ops.append(["HSET", 5, *flat(snap.cv)])
        if snap.values:
            ops.append(["HSET", 6, *flat(snap.values)])
        if snap.writes:
            ops.append(["ZADD", 7, *scored(snap.writes)])
            ops.append(["HSET", 8, *flat(snap.writes)])
        return ops

    @staticmethod
    def _apply_args(check: str, ttl: int, thread_id: str, ops: Any) -> builtins.list[Any]:
        return [check, ttl, thread_id, _pack_lua(ops)]

    @staticmethod
    def _runs_of(snap: Snapshot) -> builtins.list[str]:
        return [f[2:].decode() for f in snap.meta if f.startswith(b"r:")]
