"""What both PostgreSQL savers share and that never blocks: SQL, parameters, decoding.

A saver method reads as: build the parameters here, one statement on a connection, decode the
rows here.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import json
import math
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Final

from psycopg import sql

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
from pitstop.checkpoint.errors import ConnectionLostError
from pitstop.checkpoint.postgres import _queries as q
from pitstop.checkpoint.serde.base import SerializerProtocol

__all__ = [
    "CHAIN_CHUNK",
    "PAGE_SIZE",
    "BasePostgresSaver",
    "ConnectionLostError",
    "ListQuery",
    "compile_filter",
    "jsonb_metadata",
]

PAGE_SIZE: Final = 100
"""Checkpoints read per round trip by ``list()``; nothing is held while the caller iterates."""

TOUCH_INTERVAL: Final = 60.0
"""Seconds between two updates of a thread's last-write time by one saver: retention's
``max_idle`` has this resolution, and most puts skip that extra row write."""

CHAIN_CHUNK: Final = 256
"""Ancestors read per round trip by the delta-history walk."""

_SAFE_INT: Final = 2**53
"""Numbers beyond this are left to Python: JSONB compares exact decimals, Python compares an
int and a float exactly too but a float's JSON text is its shortest repr, not its value."""

Row = tuple[Any, ...]


def _strip_nul(value: Any) -> tuple[Any, bool]:
    """``value`` as JSON-ready data, and whether that is faithful for ``metadata_matches``."""
    if isinstance(value, str):
        return (value.replace("\x00", ""), False) if "\x00" in value else (value, True)
    if value is None or isinstance(value, bool | int):
        return value, True
    if isinstance(value, float):
        return (value, True) if math.isfinite(value) else (None, False)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        exact = True
        for key, item in value.items():
            if not isinstance(key, str):
                return None, False
            clean_key, key_ok = _strip_nul(key)
            clean, ok = _strip_nul(item)
            if clean_key in out:
                ok = False
            out[clean_key] = clean
            exact = exact and ok and key_ok
        return out, exact
    if isinstance(value, builtins.list | tuple):
        items = [_strip_nul(item) for item in value]
        return [v for v, _ in items], all(ok for _, ok in items)
    return None, False


def jsonb_metadata(metadata: Mapping[str, Any]) -> tuple[str, bool]:
    """JSON text JSONB accepts (no NUL, no NaN, no opaque objects), and whether it is faithful."""
    clean, exact = _strip_nul(metadata)
    return json.dumps(clean, ensure_ascii=False, allow_nan=False), exact


def _decidable(value: Any) -> bool:
    """Whether JSONB equality decides ``_json_equal(x, value)`` exactly for faithful rows."""
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, int):
        return -_SAFE_INT <= value <= _SAFE_INT
    if isinstance(value, float):
        return math.isfinite(value) and -_SAFE_INT <= value <= _SAFE_INT
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _decidable(k) and _decidable(v) for k, v in value.items())
    if isinstance(value, builtins.list | tuple):
        return all(_decidable(v) for v in value)
    return False


def compile_filter(filter: Mapping[str, Any] | None) -> str | None:
    """The SQL-decidable part of a metadata filter, as JSON ``[[key, value], ...]``.

    Every row ``metadata_matches`` accepts passes it; the exact check runs in Python on what comes
    back. The keys and values travel as one bound JSONB parameter, never as SQL text.
    """
    if not filter:
        return None
    terms = [
        [key, value]
        for key, value in filter.items()
        if isinstance(key, str) and "\x00" not in key and _decidable(value)
    ]
    return json.dumps(terms, ensure_ascii=False) if terms else None


def _render(template: str, schema: str, **pieces: str) -> str:
    """Fill ``{schema}`` with a quoted identifier and the other slots with constant pieces."""
    parts: dict[str, sql.Composable] = {k: sql.SQL(v) for k, v in pieces.items()}
    return sql.SQL(template).format(schema=sql.Identifier(schema), **parts).as_string(None)


class ListQuery:
    """A compiled ``list()`` call: the SQL of its pages, their parameters, the Python filter."""

    __slots__ = ("filter", "params", "sql", "sql_after")

    def __init__(
        self, sql: str, sql_after: str, params: dict[str, Any], filter: Mapping[str, Any] | None
    ) -> None:
        self.sql = sql
        self.sql_after = sql_after
        self.params = params
        self.filter = filter

    def page_params(self, after: Row | None, wanted: int) -> dict[str, Any]:
        """Parameters of the page after the row ``(checkpoint_id, thread_id, ns)``."""
        params = dict(self.params)
        params["limit"] = wanted
        if after is not None:
            params["after_id"], params["after_thread"], params["after_ns"] = after
        return params


class BasePostgresSaver(BaseCheckpointSaver):
    """Shared state and non-blocking logic of :class:`PostgresSaver` and
    :class:`AsyncPostgresSaver`.

    Attributes:
        schema: the PostgreSQL schema holding the tables (created by ``setup()`` if missing).
        retention: the policy :meth:`sweep` applies when called without one.
        is_setup: whether :meth:`setup` has run for this saver.
    """

    def __init__(
        self,
        *,
        schema: str = "public",
        serde: SerializerProtocol | None = None,
        retention: RetentionPolicy | None = None,
        clock: Callable[[], float] = time.time,
        compress: str | None = None,
        max_chain: int = 32,
    ) -> None:
        super().__init__(serde=serde)
        self._values = DeltaEncoder(self.serde, max_chain=max_chain, compress=compress)
        if not isinstance(schema, str) or not schema or "\x00" in schema:
            raise InvalidArgumentError(f"invalid schema name {schema!r}")
        self.schema = schema
        self.retention = retention
        self.is_setup = False
        self._clock = clock
        self._sql = _statements(schema)
        self._touched: dict[str, float] = {}
        digest = hashlib.blake2b(f"pitstop-checkpoint:{schema}".encode(), digest_size=8).digest()
        self._lock_key = int.from_bytes(digest, "big", signed=True)

    def _q(self, name: str) -> str:
        return self._sql[name]

    def lock_key(self, thread_id: str) -> int:
        """The key of the advisory lock between a thread's delta puts and its collections."""
        digest = hashlib.blake2b(
            f"{self.schema}\x00{thread_id}".encode(), digest_size=8, person=b"pitstop-gc"
        ).digest()
        return int.from_bytes(digest, "big", signed=True)

    def _touch(self, thread_id: str, now: float) -> bool:
        """Whether this write should also update the thread's last-write time."""
        last = self._touched.get(thread_id)
        if last is not None and 0 <= now - last < TOUCH_INTERVAL:
            return False
        if len(self._touched) >= 10_000:
            self._touched.clear()
        self._touched[thread_id] = now
        return True

    def _migrations(self) -> builtins.list[str]:
        return [_render(m, self.schema) for m in q.MIGRATIONS]

    # -- building parameters -------------------------------------------------------------------

    def _put_params(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
        full: Collection[str] = (),
    ) -> tuple[dict[str, Any], RunnableConfig]:
        """The ``put`` statement's parameters (``statement`` included) and the result config.

        Growing lists become deltas (:class:`DeltaEncoder`); channels in ``full`` are stored as
        full values (their delta base turned out to be gone).
        """
        thread_id, ns, parent_id = self._parse_config(config)
        checkpoint_id = checkpoint["id"]
        values = checkpoint["channel_values"]
        channels: builtins.list[str] = []
        versions: builtins.list[str] = []
        types: builtins.list[str] = []
        blobs: builtins.list[bytes] = []
        chains: builtins.list[builtins.list[str] | None] = []
        bases: dict[str, builtins.list[str]] = {"c": [], "v": []}
        for channel in sorted(new_versions):
            if channel not in values:
                self._values.forget_channel(thread_id, ns, channel)
                continue

            def dump(value: Any, channel: str = channel) -> tuple[str, bytes]:
                return self._dump(
                    value, channel=channel, thread_id=thread_id, checkpoint_id=checkpoint_id
                )

            version = str(new_versions[channel])
            chain: builtins.list[str] = []
            if channel in full:
                self._values.forget_channel(thread_id, ns, channel)
                type_, blob = self._values.full(values[channel], dump)
            else:
                (type_, blob), chain = self._values.encode(
                    thread_id, ns, channel, version, values[channel], dump
                )
            channels.append(channel)
            versions.append(version)
            types.append(type_)
            blobs.append(blob)
            chains.append(chain or None)
            if chain:
                bases["c"].append(channel)
                bases["v"].append(chain[-1])
        bare = {k: v for k, v in checkpoint.items() if k != "channel_values"}
        type_, blob = self._dump(bare, thread_id=thread_id, checkpoint_id=checkpoint_id)
        merged = get_checkpoint_metadata(config, metadata)
        meta_type, meta_blob = self._dump(dict(merged), thread_id=thread_id, channel="metadata")
        meta_json, exact = jsonb_metadata(merged)
        run_id = merged.get("run_id")
        now = self._clock()
        params: dict[str, Any] = {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint_id,
            "parent_id": parent_id,
            "type": type_,
            "checkpoint": blob,
            "channel_versions": json.dumps(
                {ch: str(v) for ch, v in checkpoint["channel_versions"].items()}
            ),
            "metadata": meta_json,
            "metadata_exact": exact,
            "metadata_type": meta_type,
            "metadata_blob": meta_blob,
            "run_id": str(run_id) if run_id is not None else None,
            "now": now,
        }
        touched = self._touch(thread_id, now)
        columns: dict[str, builtins.list[Any]] = {
            "c": channels,
            "v": versions,
            "t": types,
            "b": blobs,
        }
        if bases["c"]:
            params["statement"] = _put_deltas_sql(self.schema, len(blobs), touched)
            params["lock"] = self.lock_key(thread_id)
            params.update({"base_" + k: v for k, v in bases.items()})
            if len(blobs) <= q.VALUES_MAX:
                columns["d"] = chains
            else:  # arrays of arrays must be rectangular: each chain as a JSON array
                columns["d"] = [json.dumps(c) if c is not None else None for c in chains]
            _row_params(params, "", columns)
        else:
            params["statement"] = _put_sql(self.schema, len(blobs), touched)
            _row_params(params, "", columns)
        return params, self._make_config(thread_id, ns, checkpoint_id)

    def _put_writes_params(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> dict[str, Any]:
        thread_id, ns, checkpoint_id = self._parse_config(config)
        if checkpoint_id is None:
            raise InvalidArgumentError("put_writes needs config['configurable']['checkpoint_id']")
        rows, _ = self._write_rows(writes)
        now = self._clock()
        keep: dict[str, builtins.list[Any]] = {"idx": [], "channels": [], "types": [], "blobs": []}
        replace: dict[int, tuple[str, str, bytes]] = {}  # last value per special idx wins
        for idx, channel, value in rows:
            type_, blob = self._dump(
                value, channel=channel, thread_id=thread_id, checkpoint_id=checkpoint_id
            )
            if idx < 0:
                replace[idx] = (channel, type_, blob)
            else:
                keep["idx"].append(idx)
                keep["channels"].append(channel)
                keep["types"].append(type_)
                keep["blobs"].append(blob)
        n_keep, n_replace = len(keep["idx"]), len(replace)
        params: dict[str, Any] = {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint_id,
            "task_id": str(task_id),
            "task_path": task_path or "",
            "now": now,
        }
        if rows:  # no rows: nothing is sent
            params["statement"] = _put_writes_sql(
                self.schema, n_keep, n_replace, self._touch(thread_id, now)
            )
        if n_keep:
            _row_params(
                params,
                "k",
                {"i": keep["idx"], "c": keep["channels"], "t": keep["types"], "b": keep["blobs"]},
            )
        if n_replace:
            _row_params(
                params,
                "r",
                {
                    "i": builtins.list(replace),
                    "c": [r[0] for r in replace.values()],
                    "t": [r[1] for r in replace.values()],
                    "b": [r[2] for r in replace.values()],
                },
            )
        return params

    # -- reading -------------------------------------------------------------------------------

    def _list_query(
        self,
        config: RunnableConfig | None,
        filter: Mapping[str, Any] | None,
        before: RunnableConfig | None,
    ) -> ListQuery:
        thread_id, ns, checkpoint_id, before_id, params = list_selection(config, before)
        compiled = compile_filter(filter)
        if compiled is not None:
            params["filter"] = compiled
        flags = (
            thread_id is not None,
            ns is not None,
            bool(checkpoint_id),
            bool(before_id),
            compiled is not None,
        )
        return ListQuery(
            _list_sql(self.schema, *flags, False),
            _list_sql(self.schema, *flags, True),
            params,
            filter or None,
        )

    def _get_query(self, config: RunnableConfig) -> tuple[str, dict[str, Any]]:
        """SQL and parameters reading the one checkpoint ``get_tuple(config)`` means."""
        thread_id, ns, checkpoint_id = self._parse_config(config)
        params: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ns, "limit": 1}
        if checkpoint_id:
            params["checkpoint_id"] = checkpoint_id
        return _list_sql(self.schema, True, True, bool(checkpoint_id), False, False, False), params

    def _decode_page(
        self, rows: Sequence[Row], filter: Mapping[str, Any] | None = None
    ) -> builtins.list[CheckpointTuple | None]:
        """Checkpoint tuples of a page, in order; ``None`` for rows the filter rejects."""
        result: builtins.list[CheckpointTuple | None] = []
        # chain records come once per page (with the first row needing them): keep them all
        page_chains: dict[tuple[str, str], dict[tuple[str, str], tuple[str, bytes]]] = {}
        page_parsed: dict[tuple[str, str, str], dict[str, Any]] = {}
        for row in rows:
            (thread_id, ns, checkpoint_id, parent_id, type_, blob, meta_type, meta_blob) = row[:8]
            v_channels, v_types, v_blobs, v_versions = row[8:12]
            w_tasks, w_channels, w_types, w_blobs = row[12:16]
            d_channels, d_versions, d_types, d_blobs = row[16:20]
            chains = page_chains.setdefault((thread_id, ns), {})
            if d_channels:
                for ch, v, t, b in zip(d_channels, d_versions, d_types, d_blobs, strict=True):
                    chains[(ch, v)] = (t, bytes(b))
            where = {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}
            metadata = self._load((meta_type, bytes(meta_blob)), channel="metadata", **where)
            if not isinstance(metadata, dict):
                raise CorruptRecordError("metadata is not a mapping", **where)
            if filter and not metadata_matches(metadata, filter):
                result.append(None)
                continue
            checkpoint = self._load((type_, bytes(blob)), **where)
            if not isinstance(checkpoint, dict):
                raise CorruptRecordError("checkpoint is not a mapping", **where)
            checkpoint["channel_values"] = (
                {
                    ch: self._value(
                        (t, bytes(b)),
                        (thread_id, ns, ch, v),
                        chains,
                        where,
                        page_parsed.setdefault((thread_id, ns, ch), {}),
                    )
                    for ch, t, b, v in zip(v_channels, v_types, v_blobs, v_versions, strict=True)
                }
                if v_channels
                else {}
            )
            pending: builtins.list[PendingWrite] = (
                [
                    (task, ch, self._load((t, bytes(b)), channel=ch, **where))
                    for task, ch, t, b in zip(w_tasks, w_channels, w_types, w_blobs, strict=True)
                ]
                if w_tasks
                else []
            )
            result.append(
                CheckpointTuple(
                    config=self._make_config(thread_id, ns, checkpoint_id),
                    checkpoint=checkpoint,  # type: ignore[arg-type]
                    metadata=metadata,  # type: ignore[arg-type]
                    parent_config=(
                        self._make_config(thread_id, ns, parent_id) if parent_id else None
                    ),
                    pending_writes=pending,
                )
            )
        return result

    def _decode_history(
        self,
        thread_id: str,
        ns: str,
        channels: Sequence[str],
        writes: Sequence[Row],
        seeds: Sequence[Row],
    ) -> dict[str, DeltaChannelHistory]:
        where = {"thread_id": thread_id, "checkpoint_ns": ns}
        result: dict[str, DeltaChannelHistory] = {ch: {"writes": []} for ch in channels}
        for task_id, channel, type_, value in writes:
            loaded = self._load((type_, bytes(value)), channel=channel, **where)
            result[channel]["writes"].append((task_id, channel, loaded))
        for channel, type_, blob, version, d_versions, d_types, d_blobs in seeds:
            chains = (
                {
                    (channel, v): (t, bytes(b))
                    for v, t, b in zip(d_versions, d_types, d_blobs, strict=True)
                }
                if d_versions
                else {}
            )
            key = (thread_id, ns, channel, version)
            result[channel]["seed"] = self._value((type_, bytes(blob)), key, chains, where)
        return result

    def _value(
        self,
        record: tuple[str, bytes],
        key: tuple[str, str, str, str],
        chains: Mapping[tuple[str, str], tuple[str, bytes]],
        where: Mapping[str, Any],
        parsed: dict[str, Any] | None = None,
    ) -> Any:
        """Decode a value record; a delta is rebuilt from the chain records read with it.

        ``parsed``: the channel's chain records already parsed on this page (shared by the
        page's rows of one thread, namespace and channel).
        """
        channel = key[2]

        def load(typed: tuple[str, bytes]) -> Any:
            return self._load(typed, channel=channel, **where)

        def fetch(versions: builtins.list[str]) -> dict[str, tuple[str, bytes]]:
            found = ((v, chains.get((channel, v))) for v in versions)
            return {v: r for v, r in found if r is not None}

        try:
            return self._values.decode(record, fetch, load=load, remember=key, parsed=parsed)
        except CorruptRecordError as exc:
            if exc.thread_id is not None:
                raise
            raise CorruptRecordError(exc.reason, channel=channel, **where) from exc


def plan_history(
    chain: Sequence[Row], channels: Sequence[str]
) -> tuple[builtins.list[str], dict[str, int], dict[str, str], bool]:
    """Walk ``(checkpoint_id, parent_id, seeded_channels, versions)`` rows of a parent chain.

    Returns the ancestors visited (newest first), ``{channel: index of its seed ancestor}``,
    ``{channel: seed version}``, and whether every channel found its seed.
    """
    remaining = set(channels)
    visited: builtins.list[str] = []
    stop: dict[str, int] = {}
    seed_versions: dict[str, str] = {}
    for checkpoint_id, _, seeded, versions in chain:
        visited.append(checkpoint_id)
        for ch in sorted(remaining.intersection(seeded or ())):
            stop[ch] = len(visited) - 1
            seed_versions[ch] = versions[ch]
            remaining.discard(ch)
        if not remaining:
            break
    return visited, stop, seed_versions, not remaining


def order_history(
    chain: Sequence[str], stop: Mapping[str, int], writes: Sequence[Row]
) -> builtins.list[Row]:
    """Writes ``(checkpoint_id, task_id, channel, type, blob)`` of the chain, oldest first,
    each from an ancestor at or below its channel's seed."""
    index = {cid: i for i, cid in enumerate(chain)}
    grouped: dict[str, builtins.list[Row]] = {}
    for cid, task_id, channel, type_, blob in writes:
        if index[cid] <= stop.get(channel, len(chain)):
            grouped.setdefault(cid, []).append((task_id, channel, type_, blob))
    ordered: builtins.list[Row] = []
    for cid in reversed(chain):
        ordered.extend(grouped.get(cid, ()))
    return ordered


def delta_ancestors(shapes: Mapping[str, tuple[str | None, set[str], Any]], head: str) -> set[str]:
    """Ancestors a kept head needs to rebuild its delta channels (as ``InMemorySaver`` keeps)."""
    counters = shapes[head][2]
    open_channels = set(counters) if isinstance(counters, dict) else set()
    keep: set[str] = set()
    cursor = shapes[head][0]
    while open_channels and cursor is not None and cursor in shapes:
        keep.add(cursor)
        parent, stored, _ = shapes[cursor]
        open_channels -= stored
        cursor = parent
    return keep


@functools.lru_cache(maxsize=256)
def _list_sql(
    schema: str,
    thread: bool,
    ns: bool,
    checkpoint_id: bool,
    before: bool,
    filtered: bool,
    after: bool,
) -> str:
    """Join the constant pieces of the page query (never any user input but the schema)."""
    parts = []
    if thread:
        parts.append(q.LIST_THREAD)
    if ns:
        parts.append(q.LIST_NS)
    if checkpoint_id:
        parts.append(q.LIST_ID)
    if before:
        parts.append(q.LIST_BEFORE)
    if after:
        parts.append(q.LIST_AFTER_IN_NS if thread and ns else q.LIST_AFTER)
    if filtered:
        parts.append(q.LIST_FILTER)
    return _render(q.SELECT_PAGE, schema, where="".join(parts))


def _row_params(
    params: dict[str, Any], prefix: str, columns: dict[str, builtins.list[Any]]
) -> None:
    """Add the parameters of the rows ``_queries._rows`` reads: one per cell for a ``VALUES``
    list (``<prefix><key><row>``), else one array per column (``<prefix><key>``)."""
    n = len(columns["b"])
    if n <= q.VALUES_MAX:
        for key, items in columns.items():
            for i, item in enumerate(items):
                params[f"{prefix}{key}{i}"] = item
    else:
        for key, items in columns.items():
            params[prefix + key] = items


def _put_sql(schema: str, values: int, touched: bool) -> str:
    """The rendered ``put`` statement (every count above ``VALUES_MAX`` shares the array form)."""
    return _write_sql(schema, "put", min(values, q.VALUES_MAX + 1), 0, touched)


@functools.lru_cache(maxsize=64)
def _put_deltas_sql(schema: str, values: int, touched: bool) -> str:
    """The rendered ``put`` statement of a checkpoint with delta values (every count above
    ``VALUES_MAX`` shares the array form)."""
    return _render(q.put_deltas(min(values, q.VALUES_MAX + 1), touched), schema)


def _put_writes_sql(schema: str, keep: int, replace: int, touched: bool) -> str:
    """The rendered ``put_writes`` statement (counts above ``VALUES_MAX`` use arrays)."""
    cap = q.VALUES_MAX + 1
    return _write_sql(schema, "put_writes", min(keep, cap), min(replace, cap), touched)


@functools.lru_cache(maxsize=512)
def _write_sql(schema: str, kind: str, first: int, second: int, touched: bool) -> str:
    text = q.put(first, touched) if kind == "put" else q.put_writes(first, second, touched)
    return _render(text, schema)


_STATEMENTS: Final = (
    "ADVISORY_LOCK",
    "COPY_THREAD",
    "CREATE_SCHEMA",
    "DELETE_CHECKPOINTS_BY_IDS",
    "DELETE_CHECKPOINTS_OF_RUNS",
    "DELETE_THREAD",
    "DELETE_UNREFERENCED_BLOBS",
    "DELETE_WRITES_BY_IDS",
    "INSERT_MIGRATION",
    "LOCK_THREAD",
    "MIGRATIONS_TABLE",
    "SELECT_CHAIN",
    "SELECT_CHECKPOINT_COUNT",
    "SELECT_CHECKPOINT_SHAPES",
    "SELECT_CROWDED_THREADS",
    "SELECT_IDLE_THREADS",
    "SELECT_LATEST_ID",
    "SELECT_LATEST_MANY",
    "SELECT_MIGRATION_VERSION",
    "SELECT_NAMESPACES_OF_THREAD",
    "SELECT_SEEDS",
    "SELECT_THREAD_EXISTS",
    "SELECT_WRITES_OF_CHECKPOINTS",
    "SCHEMA_EXISTS",
)


@functools.lru_cache(maxsize=64)
def _statements(schema: str) -> dict[str, str]:
    """Every named statement rendered for one schema (once per schema, not per call)."""
    return {name: _render(getattr(q, name), schema) for name in _STATEMENTS}
