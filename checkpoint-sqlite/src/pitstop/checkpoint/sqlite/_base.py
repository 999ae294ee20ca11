"""What both SQLite savers share and that never blocks: building rows, choosing SQL, decoding.

A saver method reads as: build the rows here, one call into :mod:`._ops` (the database work,
one transaction), decode the result here.
"""

from __future__ import annotations

import builtins
import functools
import json
import math
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Final

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
    get_checkpoint_metadata,
    list_selection,
    metadata_matches,
)
from pitstop.checkpoint.base.values import DeltaEncoder
from pitstop.checkpoint.serde.base import SerializerProtocol
from pitstop.checkpoint.sqlite import _queries as q
from pitstop.checkpoint.sqlite._ops import Page, Row

__all__ = ["PAGE_SIZE", "BaseSqliteSaver", "ListQuery"]

PAGE_SIZE: Final = 100
"""Checkpoints read per round trip by ``list()``; nothing is held while the caller iterates."""

PARSED_CHANNELS: Final = 64
"""Channels whose parsed chain records a saver keeps between reads (see ``_value``)."""


class ListQuery:
    """A compiled ``list()`` call: the SQL of its pages, their parameters, the Python filter."""

    __slots__ = ("filter", "in_namespace", "limit", "params", "sql", "sql_after")

    def __init__(
        self,
        sql: str,
        sql_after: str,
        params: dict[str, Any],
        filter: Mapping[str, Any] | None,
        limit: int | None,
        in_namespace: bool,
    ) -> None:
        self.sql = sql
        self.sql_after = sql_after
        self.params = params
        self.filter = filter
        self.limit = limit
        self.in_namespace = in_namespace

    def page_params(self, after: tuple[str, str, str] | None, wanted: int) -> dict[str, Any]:
        """Parameters of the page after the row ``(checkpoint_id, thread_id, ns)``."""
        params = dict(self.params)
        params["limit"] = wanted
        if after is not None:
            params["after_id"], params["after_thread"], params["after_ns"] = after
        return params


@functools.lru_cache(maxsize=64)
def _list_sql(
    thread: bool,
    ns: bool,
    checkpoint_id: bool,
    before: bool,
    after: bool,
    filtered: bool,
    single: bool = False,
) -> str:
    """Join the constant pieces of the list query (never any user input).

    ``single``: the page holds at most one checkpoint (``LIMIT 1``).
    """
    parts = [q.LIST_SELECT]
    if thread:
        parts.append(q.LIST_WHERE_THREAD)
    if ns:
        parts.append(q.LIST_WHERE_NS)
    if checkpoint_id:
        parts.append(q.LIST_WHERE_ID)
    if before:
        parts.append(q.LIST_WHERE_BEFORE)
    if after:
        parts.append(q.LIST_WHERE_AFTER_IN_NS if thread and ns else q.LIST_WHERE_AFTER)
    if filtered:
        parts.append(q.LIST_WHERE_FILTER)
    parts.append(q.LIST_ORDER_ONE if single else q.LIST_ORDER)
    return "".join(parts)


def _json_path(key: str) -> str | None:
    """A JSON path naming the top-level key ``key`` literally, or None if SQL cannot.

    The path is bound as a parameter, never spliced into SQL. Keys SQLite's JSON path syntax
    cannot quote (``"``, backslashes, non-ASCII, control characters) are left to Python.
    """
    if not key or not key.isascii() or not key.isprintable() or '"' in key or "\\" in key:
        return None
    return f'$."{key}"'


def compile_filter(filter: Mapping[str, Any] | None) -> str | None:
    """The SQL-decidable part of a metadata filter, as JSON ``[[path, kind, value], ...]``.

    Every row that matches the filter (see ``metadata_matches``) passes this; the exact check
    runs in Python on what comes back.
    """
    if not filter:
        return None
    terms: list[list[Any]] = []
    for key, value in filter.items():
        path = _json_path(key) if isinstance(key, str) else None
        if path is None:
            continue
        if value is None:
            terms.append([path, "null"])
        elif value is True:
            terms.append([path, "true"])
        elif value is False:
            terms.append([path, "false"])
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if isinstance(value, float) and not math.isfinite(value):
                continue
            if isinstance(value, int) and not -(2**63) <= value < 2**63:
                continue
            terms.append([path, "number", value])
        elif isinstance(value, str):
            terms.append([path, "text", value])
    return json.dumps(terms) if terms else None


def _json_exact(value: Any, depth: int) -> bool:
    """Whether JSON text gives ``value`` back equal, decided from plain types alone.

    Only exact built-in types qualify (``str``, ``bool``, ``None``, ``int`` within 64 bits,
    finite ``float``, ``list``, ``dict`` with ``str`` keys), nested at most 32 deep; anything
    else (tuples, subclasses, other keys) is left to the round-trip check.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-(2**63) <= value < 2**63)
    if kind is float:
        return math.isfinite(value)
    if depth >= 32:
        return False
    if kind is dict:
        return all(type(k) is str and _json_exact(v, depth + 1) for k, v in value.items())
    if kind is list:
        return all(_json_exact(v, depth + 1) for v in value)
    return False


class BaseSqliteSaver(BaseCheckpointSaver):
    """Shared state and non-blocking logic of :class:`SqliteSaver` and :class:`AsyncSqliteSaver`.

    Attributes:
        retention: the policy :meth:`sweep` applies when called without one.
        is_setup: whether :meth:`setup` has run on this connection.
    """

    def __init__(
        self,
        *,
        serde: SerializerProtocol | None = None,
        retention: RetentionPolicy | None = None,
        busy_timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
        compress: str | None = None,
        max_chain: int = 32,
    ) -> None:
        super().__init__(serde=serde)
        self._values = DeltaEncoder(self.serde, max_chain=max_chain, compress=compress)
        self.retention = retention
        self.busy_timeout = busy_timeout
        self.is_setup = False
        self._clock = clock
        # (thread, ns, channel) -> {version: (stored record, its parsed chain part)}: a read
        # re-parses a chain record only when the stored bytes differ from what was parsed.
        self._parsed: dict[tuple[str, str, str], dict[str, tuple[Any, Any]]] = {}

    @staticmethod
    def _forget(future: Any) -> None:
        """Done callback of a page read ahead: retrieve its outcome (nobody may ask for it)."""
        if not future.cancelled():
            future.exception()

    # -- building rows -------------------------------------------------------------------------

    def _encode_metadata(self, merged: Mapping[str, Any]) -> tuple[str, str | None, bytes | None]:
        """JSON text for filters; the serialized metadata too when JSON is not exact."""
        if type(merged) is dict and _json_exact(merged, 0):
            # What the check below would conclude, without parsing the text back.
            return json.dumps(merged, ensure_ascii=True, allow_nan=False), None, None
        try:
            text = json.dumps(merged, ensure_ascii=True, allow_nan=False)
            if json.loads(text) == merged:
                return text, None, None
        except (TypeError, ValueError):
            text = json.dumps(merged, ensure_ascii=True, default=lambda _: None)
        type_, blob = self._dump(dict(merged))
        return text, type_, blob

    def _put_rows(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
        full: Collection[str] = (),
    ) -> tuple[
        Row, builtins.list[Row], builtins.list[Row], builtins.list[Row], Row, RunnableConfig
    ]:
        """``(checkpoint row, value rows, chain rows, delta bases, touch row, result)``.

        A chain row is a delta value's key and its chain as a JSON array of versions.

        Channels in ``full`` are stored as full values (their delta base turned out to be gone).
        """
        thread_id, ns, parent_id = self._parse_config(config)
        checkpoint_id = checkpoint["id"]
        values = checkpoint["channel_values"]
        blob_rows: builtins.list[Row] = []
        dep_rows: builtins.list[Row] = []
        bases: builtins.list[Row] = []
        for channel, version in new_versions.items():
            if channel not in values:
                self._values.forget_channel(thread_id, ns, channel)
                continue

            def dump(value: Any, channel: str = channel) -> tuple[str, bytes]:
                return self._dump(
                    value, channel=channel, thread_id=thread_id, checkpoint_id=checkpoint_id
                )

            key = (thread_id, ns, channel, str(version))
            chain: builtins.list[str] = []
            if channel in full:
                self._values.forget_channel(thread_id, ns, channel)
                record = self._values.full(values[channel], dump)
            else:
                record, chain = self._values.encode(*key, values[channel], dump)
            blob_rows.append((*key, *record))
            if chain:
                dep_rows.append((*key, json.dumps(chain)))
                bases.append((thread_id, ns, channel, chain[-1]))
        bare = {k: v for k, v in checkpoint.items() if k != "channel_values"}
        type_, blob = self._dump(bare, thread_id=thread_id, checkpoint_id=checkpoint_id)
        versions = json.dumps({ch: str(v) for ch, v in checkpoint["channel_versions"].items()})
        merged = get_checkpoint_metadata(config, metadata)
        text, meta_type, meta_blob = self._encode_metadata(merged)
        run_id = merged.get("run_id")
        now = self._clock()
        row = (
            thread_id,
            ns,
            checkpoint_id,
            parent_id,
            type_,
            blob,
            versions,
            text,
            meta_type,
            meta_blob,
            str(run_id) if run_id is not None else None,
            now,
        )
        touch = (thread_id, now)
        return (
            row,
            blob_rows,
            dep_rows,
            bases,
            touch,
            self._make_config(thread_id, ns, checkpoint_id),
        )

    def _write_rows_of(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> tuple[builtins.list[Row], builtins.list[Row], Row]:
        """``(keep-first rows, replace rows, touch row)`` of a ``put_writes`` call."""
        thread_id, ns, checkpoint_id = self._parse_config(config)
        if checkpoint_id is None:
            raise InvalidArgumentError("put_writes needs config['configurable']['checkpoint_id']")
        rows, _ = self._write_rows(writes)
        keep_first: builtins.list[Row] = []
        replace: builtins.list[Row] = []
        for idx, channel, value in rows:
            type_, blob = self._dump(
                value, channel=channel, thread_id=thread_id, checkpoint_id=checkpoint_id
            )
            row = (thread_id, ns, checkpoint_id, task_id, idx, channel, type_, blob, task_path)
            (replace if idx < 0 else keep_first).append(row)
        return keep_first, replace, (thread_id, self._clock())

    # -- reading -------------------------------------------------------------------------------

    def _list_query(
        self,
        config: RunnableConfig | None,
        filter: Mapping[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> ListQuery:
        thread_id, ns, checkpoint_id, before_id, params = list_selection(config, before)
        compiled = compile_filter(filter)
        if compiled is not None:
            params["filter"] = compiled
        in_namespace = thread_id is not None and ns is not None

        def sql(after: bool) -> str:
            return _list_sql(
                thread_id is not None,
                ns is not None,
                bool(checkpoint_id),
                bool(before_id),
                after,
                compiled is not None,
            )

        return ListQuery(sql(False), sql(True), params, filter or None, limit, in_namespace)

    def _latest_query(self, config: RunnableConfig) -> tuple[str, dict[str, Any]]:
        """SQL and parameters reading the one checkpoint ``get_tuple(config)`` means."""
        thread_id, ns, checkpoint_id = self._parse_config(config)
        params: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ns, "limit": 1}
        if checkpoint_id:
            params["checkpoint_id"] = checkpoint_id
        return _list_sql(True, True, bool(checkpoint_id), False, False, False, True), params

    def _corrupt(self, exc: Exception, row: Row, what: str) -> CorruptRecordError:
        return CorruptRecordError(
            f"{what}: {type(exc).__name__}: {exc}",
            thread_id=row[1],
            checkpoint_ns=row[2],
            checkpoint_id=row[3],
        )

    def _decode_page(
        self, page: Page, filter: Mapping[str, Any] | None = None
    ) -> builtins.list[CheckpointTuple | None]:
        """Checkpoint tuples of a page, in order; ``None`` for rows the filter rejects."""
        rows, value_rows, write_rows, dep_rows = page
        chains: dict[tuple[str, str, str, str], tuple[str, bytes]] = {
            (t, n, ch, v): (ty, b) for t, n, ch, v, ty, b in dep_rows
        }
        values: dict[int, builtins.list[Row]] = {}
        for value_row in value_rows:
            found = values.get(value_row[0])
            if found is None:
                values[value_row[0]] = [value_row]
            else:
                found.append(value_row)
        writes: dict[int, builtins.list[Row]] = {}
        for write_row in write_rows:
            found = writes.get(write_row[0])
            if found is None:
                writes[write_row[0]] = [write_row]
            else:
                found.append(write_row)
        # The serializer is called directly; only a failure goes through `_load` again, which
        # raises the error naming the record (same result, without a wrapper per value).
        loads = self.serde.loads_typed
        load = self._load
        make_config = self._make_config
        # The items each chain record adds, parsed once per page and channel: a listing's
        # checkpoints share most of their chains.
        parsed: dict[tuple[str, str, str], dict[str, Any]] = {}
        json_loads = json.loads
        result: builtins.list[CheckpointTuple | None] = []
        for row in rows:
            rowid, thread_id, ns, checkpoint_id, parent_id, type_, blob, text, meta_type = row[:9]
            where = {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}
            metadata: Any = None
            if meta_type is None:
                try:
                    metadata = json_loads(text)
                except ValueError:
                    metadata = None
            if type(metadata) is not dict:
                metadata = self._decode_metadata(row, where)
            if filter and not metadata_matches(metadata, filter):
                result.append(None)
                continue
            try:
                checkpoint = loads((type_, blob))
            except Exception:
                checkpoint = load((type_, blob), **where)
            if not isinstance(checkpoint, dict):
                raise self._corrupt(TypeError("not a mapping"), row, "checkpoint")
            channel_values: dict[str, Any] = {}
            for _, channel, vtype, vblob, version in values.get(rowid, ()):
                if vtype == "msgpack":  # a full value, uncompressed: no delta layer involved
                    try:
                        value = loads((vtype, vblob))
                    except Exception:
                        value = load((vtype, vblob), channel=channel, **where)
                    if isinstance(value, list):
                        self._values.remember_read((thread_id, ns, channel, version), value)
                    channel_values[channel] = value
                    continue
                channel_values[channel] = self._value(
                    (vtype, vblob), (thread_id, ns, channel, version), chains, where, parsed
                )
            checkpoint["channel_values"] = channel_values
            pending: builtins.list[PendingWrite] = []
            for _, task_id, channel, wtype, wblob in writes.get(rowid, ()):
                try:
                    value = loads((wtype, wblob))
                except Exception:
                    value = load((wtype, wblob), channel=channel, **where)
                pending.append((task_id, channel, value))
            result.append(
                CheckpointTuple(
                    config=make_config(thread_id, ns, checkpoint_id),
                    checkpoint=checkpoint,  # type: ignore[arg-type]
                    metadata=metadata,
                    parent_config=make_config(thread_id, ns, parent_id) if parent_id else None,
                    pending_writes=pending,
                )
            )
        # Once per page and channel (not per value): what the page parsed, for the next read.
        for channel_key, cache in parsed.items():
            if cache:
                self._keep_parsed(channel_key, cache, chains)
        return result

    def _value(
        self,
        record: tuple[str, bytes],
        key: tuple[str, str, str, str],
        chains: Mapping[tuple[str, str, str, str], tuple[str, bytes]],
        where: Mapping[str, Any],
        parsed: dict[tuple[str, str, str], dict[str, Any]] | None = None,
    ) -> Any:
        """Decode a value record; a delta is rebuilt from the chain records read with it."""
        thread_id, ns, channel, _ = key
        loads = self.serde.loads_typed

        def load(typed: tuple[str, bytes]) -> Any:
            # The serializer directly; only a failure goes through `_load` again, which raises
            # the error naming the record.
            try:
                return loads(typed)
            except Exception:
                return self._load(typed, channel=channel, **where)

        def fetch(versions: builtins.list[str]) -> dict[str, tuple[str, bytes]]:
            found = ((v, chains.get((thread_id, ns, channel, v))) for v in versions)
            return {v: r for v, r in found if r is not None}

        cache = None
        if parsed is not None:
            channel_key = (thread_id, ns, channel)
            cache = parsed.get(channel_key)
            if cache is None:
                # Parts parsed by an earlier read, kept only where the record read now is the
                # very same (type and bytes): the result is what parsing it again would give.
                cache = parsed[channel_key] = {}
                kept = self._parsed.get(channel_key)
                if kept:
                    for version, (source, part) in kept.items():
                        if chains.get((thread_id, ns, channel, version)) == source:
                            cache[version] = part
        try:
            value = self._values.decode(record, fetch, load=load, remember=key, parsed=cache)
        except CorruptRecordError as exc:
            if exc.thread_id is not None:
                raise
            raise CorruptRecordError(exc.reason, channel=channel, **where) from exc
        return value  # the page keeps its parsed parts once, at the end (see _decode_page)

    def _keep_parsed(
        self,
        channel_key: tuple[str, str, str],
        cache: Mapping[str, Any],
        chains: Mapping[tuple[str, str, str, str], tuple[str, bytes]],
    ) -> None:
        """Keep a channel's parsed chain parts with the records they were parsed from."""
        thread_id, ns, channel = channel_key
        kept = {}
        for version, part in cache.items():
            source = chains.get((thread_id, ns, channel, version))
            if source is not None:
                kept[version] = (source, part)
        store = self._parsed
        store.pop(channel_key, None)
        store[channel_key] = kept  # newest last: the oldest channel is dropped first
        while len(store) > PARSED_CHANNELS:
            try:
                del store[next(iter(store))]
            except (KeyError, RuntimeError, StopIteration):  # another thread trimmed it
                break

    def _decode_metadata(self, row: Row, where: Mapping[str, Any]) -> CheckpointMetadata:
        text, meta_type, meta_blob = row[7:10]
        if meta_type is not None:
            loaded = self._load((meta_type, meta_blob), **where)
        else:
            try:
                loaded = json.loads(text)
            except ValueError as exc:
                raise self._corrupt(exc, row, "metadata") from exc
        if not isinstance(loaded, dict):
            raise self._corrupt(TypeError("not a mapping"), row, "metadata")
        return loaded  # type: ignore[return-value]

    def _decode_history(
        self,
        thread_id: str,
        ns: str,
        channels: Sequence[str],
        raw: tuple[builtins.list[Row], dict[str, Row], builtins.list[Row]],
    ) -> dict[str, DeltaChannelHistory]:
        writes, seeds, dep_rows = raw
        chains = {(thread_id, ns, ch, v): (ty, b) for ch, v, ty, b in dep_rows}
        where = {"thread_id": thread_id, "checkpoint_ns": ns}
        result: dict[str, DeltaChannelHistory] = {ch: {"writes": []} for ch in channels}
        for task_id, channel, type_, value in writes:
            loaded = self._load((type_, value), channel=channel, **where)
            result[channel]["writes"].append((task_id, channel, loaded))
        for channel, (type_, blob, version) in seeds.items():
            key = (thread_id, ns, channel, version)
            result[channel]["seed"] = self._value((type_, blob), key, chains, where)
        return result
