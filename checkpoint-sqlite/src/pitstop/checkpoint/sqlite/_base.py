"""What both SQLite savers share and that never blocks: building rows, choosing SQL, decoding.

A saver method reads as: build the rows here, one call into :mod:`._ops` (the database work,
one transaction), decode the result here.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
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
from pitstop.checkpoint.base.values import NOT_LOADED, DeltaEncoder, Prepared
from pitstop.checkpoint.serde.base import SerializerProtocol
from pitstop.checkpoint.sqlite import _queries as q
from pitstop.checkpoint.sqlite._ops import Page, Row, Stamp

__all__ = ["PAGE_SIZE", "RECENT_BYTES", "RECENT_READS", "BaseSqliteSaver", "ListQuery"]

PAGE_SIZE: Final = 100
"""Checkpoints read per round trip by ``list()``; nothing is held while the caller iterates."""

PARSED_CHANNELS: Final = 64
"""Channels whose parsed chain records a saver keeps between reads (see ``_value``)."""

RECENT_READS: Final = 64
RECENT_BYTES: Final = 64 * 2**20
"""``get_tuple`` reads a saver keeps, parsed, for reading them again while the database is
unchanged (see ``BaseSqliteSaver._recent_read``): by default this many (the ``recent_reads``
option), and at most about this many bytes."""


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


@contextlib.contextmanager
def _naming(channel: str, where: Mapping[str, Any]) -> Iterator[None]:
    """A :class:`CorruptRecordError` of the value layer, raised again naming the channel and
    the checkpoint (one that already names its record is left as it is)."""
    try:
        yield
    except CorruptRecordError as exc:
        if exc.thread_id is not None:
            raise
        raise CorruptRecordError(exc.reason, channel=channel, **where) from exc


class _Ready:
    """A checkpoint read and parsed (``BaseSqliteSaver._prepare_page``), not yet decoded.

    ``row`` is its checkpoint row, ``channels`` its values ``(channel, version, prepared)``,
    ``writes`` its pending writes ``(task_id, channel, record)``, ``doc`` every ``"msgpack"``
    record among them (checkpoint, values, writes, in that order) framed as one document by
    the serializer (``MsgpackSerializer.frame``; ``None`` with a serializer that cannot), and
    ``size`` what it holds in bytes. Each ``_materialize`` builds new objects from it, so a
    reader may keep it while the stored rows are unchanged.
    """

    __slots__ = ("channels", "count", "doc", "row", "writes")

    def __init__(
        self,
        row: Row,
        channels: builtins.list[tuple[str, str, Prepared]],
        writes: builtins.list[tuple[str, str, tuple[str, bytes]]],
        serde: Any,
    ) -> None:
        self.row = row
        self.channels = channels
        self.writes = writes
        chunks: builtins.list[bytes] = []
        count = 0
        if row[5] == "msgpack":
            chunks.append(row[6])
            count += 1
        for _, _, prepared in channels:
            if prepared.chunks is not None:
                chunks.extend(prepared.chunks)
                count += 1
        for _, _, record in writes:
            if record[0] == "msgpack":
                chunks.append(record[1])
                count += 1
        self.count = count
        # Only a serializer that frames payloads checks that each decodes whole (no item of
        # one read as part of another); with any other, each record is decoded alone.
        frame = getattr(serde, "frame", None)
        self.doc = frame(count, chunks) if count and callable(frame) else None

    @property
    def size(self) -> int:
        """About the bytes it holds."""
        return 2 * len(self.doc or b"") + len(self.row[6]) + sum(len(r[1]) for *_, r in self.writes)

    def decode_joined(self, serde: Any) -> builtins.list[Any] | None:
        """Every ``"msgpack"`` record decoded by one serializer call, in ``doc`` order;
        ``None`` when there is none or the call fails (each record is then decoded alone)."""
        if self.doc is None:
            return None
        try:
            objects = serde.loads_frame(self.doc)
        except Exception:
            return None
        if type(objects) is not list or len(objects) != self.count:
            return None
        return objects


class BaseSqliteSaver(BaseCheckpointSaver):
    """Shared state and non-blocking logic of :class:`SqliteSaver` and :class:`AsyncSqliteSaver`.

    Attributes:
        retention: the policy :meth:`sweep` applies when called without one.
        is_setup: whether :meth:`setup` has run on this connection.
        recent_reads: how many ``get_tuple`` results are kept for reading again (see the
            ``recent_reads`` option of the savers).
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
        recent_reads: int = RECENT_READS,
    ) -> None:
        super().__init__(serde=serde)
        if recent_reads < 0:
            raise InvalidArgumentError("recent_reads must be >= 0")
        self.recent_reads = recent_reads
        self._values = DeltaEncoder(self.serde, max_chain=max_chain, compress=compress)
        self.retention = retention
        self.busy_timeout = busy_timeout
        self.is_setup = False
        self._clock = clock
        # (thread, ns, channel) -> {version: (stored record, its parsed chain part)}: a read
        # re-parses a chain record only when the stored bytes differ from what was parsed.
        self._parsed: dict[tuple[str, str, str], dict[str, tuple[Any, Any]]] = {}
        # (thread, ns, checkpoint id or "") -> (stamp, checkpoint): recent get_tuple reads.
        self._recent: OrderedDict[tuple[str, str, str], tuple[Stamp, _Ready]] = OrderedDict()
        self._recent_bytes = 0
        self._recent_lock = threading.Lock()

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
    ) -> tuple[Row, builtins.list[Row], builtins.list[Row], Row, RunnableConfig]:
        """``(checkpoint row, value rows, delta bases, touch row, result)``.

        A value row is its key, its record and, for a delta, its chain as a JSON array of
        versions (``None`` for a full value).

        Channels in ``full`` are stored as full values (their delta base turned out to be gone).
        """
        thread_id, ns, parent_id = self._parse_config(config)
        checkpoint_id = checkpoint["id"]
        values = checkpoint["channel_values"]
        blob_rows: builtins.list[Row] = []
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
            if chain:
                blob_rows.append((*key, *record, json.dumps(chain)))
                bases.append((thread_id, ns, channel, chain[-1]))
            else:
                blob_rows.append((*key, *record, None))
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
        return row, blob_rows, bases, touch, self._make_config(thread_id, ns, checkpoint_id)

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

    def _latest_query(
        self, config: RunnableConfig
    ) -> tuple[str, dict[str, Any], tuple[str, str, str], tuple[Stamp, _Ready] | None]:
        """SQL and parameters reading the one checkpoint ``get_tuple(config)`` means, the key
        of that read, and what the last read of that key found (see ``_recent_read``)."""
        thread_id, ns, checkpoint_id = self._parse_config(config)
        params: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ns, "limit": 1}
        if checkpoint_id:
            params["checkpoint_id"] = checkpoint_id
        sql = _list_sql(True, True, bool(checkpoint_id), False, False, False, True)
        key = (thread_id, ns, checkpoint_id or "")
        with self._recent_lock:
            kept = self._recent.get(key)
        return sql, params, key, kept

    def _recent_read(
        self,
        key: tuple[str, str, str],
        kept: tuple[Stamp, _Ready] | None,
        read: tuple[Stamp, Page | None],
    ) -> CheckpointTuple | None:
        """The result of ``get_tuple`` from what ``_ops.read_page_unless`` returned.

        No page means the database is unchanged since ``kept`` was read (its stamp is the
        current one: nothing committed by any connection, no row changed through this one), so
        the kept checkpoint is decoded again: new objects, without the statement and the chain
        parsing. A page read is kept for next time, under the stamp taken before it was read.
        """
        stamp, page = read
        if page is None:
            if kept is None:  # pragma: no cover - only a kept read is compared
                raise AssertionError("no page and nothing kept")
            ready = kept[1]
            with self._recent_lock:
                if key in self._recent:
                    self._recent.move_to_end(key)
            return self._materialize(ready)
        found = builtins.list(self._prepare_page(page))
        if not found or found[0][0] is None:
            return None
        ready = found[0][0]
        if self.recent_reads and (size := ready.size) <= RECENT_BYTES // 4:
            with self._recent_lock:
                recent = self._recent
                old = recent.pop(key, None)
                if old is not None:
                    self._recent_bytes -= old[1].size
                recent[key] = (stamp, ready)
                self._recent_bytes += size
                while recent and (
                    len(recent) > self.recent_reads or self._recent_bytes > RECENT_BYTES
                ):
                    self._recent_bytes -= recent.popitem(last=False)[1][1].size
        return self._materialize(ready)

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
        result: builtins.list[CheckpointTuple | None] = []
        for ready, metadata in self._prepare_page(page, filter):
            result.append(None if ready is None else self._materialize(ready, metadata))
        return result

    def _prepare_page(
        self, page: Page, filter: Mapping[str, Any] | None = None
    ) -> Iterator[tuple[_Ready | None, Any]]:
        """``(ready, metadata)`` for each checkpoint of a page, in order: ``(None, None)`` for
        rows the filter rejects; ``metadata`` is decoded only when a filter needed it.

        One at a time: a checkpoint's parsed records are garbage once it is decoded, before
        the next is prepared (a page of them kept alive would be traversed by every young
        garbage collection meanwhile, and promoted to the old generations).
        """
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
        # The items each chain record adds, parsed once per page and channel: a listing's
        # checkpoints share most of their chains.
        parsed: dict[tuple[str, str, str], dict[str, Any]] = {}
        for row in rows:
            rowid, thread_id, ns, checkpoint_id = row[:4]
            metadata: Any = None
            if filter:
                metadata = self._decode_metadata(row)
                if not metadata_matches(metadata, filter):
                    yield None, None
                    continue
            if row[10]:  # its channel versions are not a JSON object: no value was looked up
                raise self._corrupt(ValueError("not a JSON object"), row, "channel versions")
            where = {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}
            channels: builtins.list[tuple[str, str, Prepared]] = []
            for _, channel, vtype, vblob, version in values.get(rowid, ()):
                if vtype == "msgpack":  # a full value, uncompressed: no delta layer involved
                    prepared = Prepared((vtype, vblob), None, [], None)
                else:
                    prepared = self._prepare_value(
                        (vtype, vblob), (thread_id, ns, channel, version), chains, where, parsed
                    )
                channels.append((channel, version, prepared))
            pending = [(w[1], w[2], (w[3], w[4])) for w in writes.get(rowid, ())]
            yield _Ready(row, channels, pending, self.serde), metadata
        # Once per page and channel (not per value): what the page parsed, for the next read.
        for channel_key, cache in parsed.items():
            if cache:
                self._keep_parsed(channel_key, cache, chains)

    def _materialize(self, ready: _Ready, metadata: Any = None) -> CheckpointTuple:
        """The checkpoint tuple of a prepared checkpoint, every object built anew.

        Its ``"msgpack"`` records (the checkpoint, the values, the writes) are decoded by one
        serializer call, as one array; if that fails, each is decoded alone, and the first
        that fails raises the error naming it.
        """
        row = ready.row
        thread_id, ns, checkpoint_id, parent_id, type_, blob = row[1:7]
        where = {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}
        if metadata is None:
            metadata = self._decode_metadata(row)
        objects = ready.decode_joined(self.serde)
        take = iter(objects).__next__ if objects is not None else None
        load = self._load

        def one(record: tuple[str, bytes], **named: Any) -> Any:
            if take is not None and record[0] == "msgpack":
                return take()
            return load(record, **named, **where)

        checkpoint = one((type_, blob))
        if not isinstance(checkpoint, dict):
            raise self._corrupt(TypeError("not a mapping"), row, "checkpoint")
        channel_values: dict[str, Any] = {}
        for channel, version, prepared in ready.channels:
            loaded: Any = NOT_LOADED
            if prepared.chunks is not None and take is not None:
                loaded = take()
                if prepared.parts is None and type(loaded) is not list:
                    channel_values[channel] = loaded  # a full value, nothing to remember
                    continue
            key = (thread_id, ns, channel, version)
            channel_values[channel] = self._finish(prepared, key, where, loaded)
        checkpoint["channel_values"] = channel_values
        pending: builtins.list[PendingWrite] = [
            (task_id, channel, one(record, channel=channel))
            for task_id, channel, record in ready.writes
        ]
        make_config = self._make_config
        return CheckpointTuple(
            config=make_config(thread_id, ns, checkpoint_id),
            checkpoint=checkpoint,  # type: ignore[arg-type]
            metadata=metadata,
            parent_config=make_config(thread_id, ns, parent_id) if parent_id else None,
            pending_writes=pending,
        )

    def _prepare_value(
        self,
        record: tuple[str, bytes],
        key: tuple[str, str, str, str],
        chains: Mapping[tuple[str, str, str, str], tuple[str, bytes]],
        where: Mapping[str, Any],
        parsed: dict[tuple[str, str, str], dict[str, Any]] | None = None,
    ) -> Prepared:
        """Prepare a value record; a delta's chain comes from the records read with it."""
        thread_id, ns, channel, _ = key

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
        with _naming(channel, where):
            return self._values.prepare(record, fetch, parsed=cache)

    def _value(
        self,
        record: tuple[str, bytes],
        key: tuple[str, str, str, str],
        chains: Mapping[tuple[str, str, str, str], tuple[str, bytes]],
        where: Mapping[str, Any],
    ) -> Any:
        """Decode a value record; a delta is rebuilt from the chain records read with it."""
        return self._finish(self._prepare_value(record, key, chains, where), key, where)

    def _finish(
        self,
        prepared: Prepared,
        key: tuple[str, str, str, str],
        where: Mapping[str, Any],
        loaded: Any = NOT_LOADED,
    ) -> Any:
        """The value of a prepared record at ``key`` (``DeltaEncoder.finish``); an error
        names the channel and checkpoint."""
        channel = key[2]

        def load(part: tuple[str, bytes]) -> Any:
            return self._load(part, channel=channel, **where)

        with _naming(channel, where):
            return self._values.finish(prepared, load=load, remember=key, loaded=loaded)

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

    def _decode_metadata(self, row: Row) -> CheckpointMetadata:
        text, meta_type, meta_blob = row[7:10]
        if meta_type is not None:
            where = {"thread_id": row[1], "checkpoint_ns": row[2], "checkpoint_id": row[3]}
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
