"""Everything of the PostgreSQL store that does not block: planning, SQL composition, decoding.

Both flavours (``AsyncPostgresStore`` in ``_store_async.py`` and its generated twin
``PostgresStore``) inherit :class:`BasePostgresStore`; a method of theirs reads as build (here)
-> driver calls -> decode (here). :class:`SyncSide` and :class:`AsyncSide` add what really
differs between the flavours: the other flavour's entry points and the TTL sweeper.

Filter strategy: a filter compiles to one exact SQL condition over JSONB paths (numbers compare
as numbers, strings by code point, other pairs never match; nested subset and element-wise
matches included), with every key and operand bound as a parameter; paging is then done by
SQL (``LIMIT``/``OFFSET``), so a filtered page is never short. The results equal
:func:`~pitstop.store.base.matches_filter`'s, with one JSONB caveat: a float is stored as its
shortest decimal (JSONB ``numeric``), so floats beyond 2**53 compare as that decimal.
"""

from __future__ import annotations

import builtins
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg import sql

from pitstop.checkpoint.errors import (
    CorruptRecordError,
    InvalidArgumentError,
    MigrationError,
    SerializationError,
)
from pitstop.store.base import (
    GetOp,
    IndexConfig,
    ListNamespacesOp,
    SearchOp,
    TTLConfig,
    _sides,
    cosine_similarity,
    expires_at,
    literal_prefix,
    rank_page,
)
from pitstop.store.base._core import AsItem, Plan, StoreCore, decode_vector, encode_vector
from pitstop.store.postgres import _queries as q

__all__ = [
    "AsyncSide",
    "BasePostgresStore",
    "Frag",
    "Plan",
    "Queries",
    "Row",
    "SyncSide",
    "compile_filter",
]

STORE_TABLE = "pitstop_store"


def utc(moment: datetime) -> datetime:
    """A timestamp read from the server, in UTC (the session's time zone does not matter)."""
    return moment.astimezone(UTC)


# -- SQL composition with parameters in placeholder order ----------------------------------------

_PLACEHOLDER = re.compile(r"\{(\w+)\}|%s")


@dataclass(frozen=True, slots=True)
class Frag:
    """A composed SQL fragment and its parameters, in the order of its ``%s`` placeholders."""

    sql: sql.SQL | sql.Composed
    params: tuple[Any, ...] = ()

    @classmethod
    def of(cls, template: str, *params: Any, **parts: Frag) -> Frag:
        """Fill ``template``: ``{name}`` with ``parts[name]``, ``%s`` with ``params`` in order.

        A part used twice contributes its parameters twice, so the result's parameters always
        follow the placeholders of the final text.
        """
        own = iter(params)
        ordered: builtins.list[Any] = []
        for match in _PLACEHOLDER.finditer(template):
            name = match.group(1)
            if name is None:
                ordered.append(next(own))
            else:
                ordered.extend(parts[name].params)
        rest = builtins.list(own)
        assert not rest, f"unused parameters {rest!r} for {template!r}"
        composed = sql.SQL(template).format(**{k: v.sql for k, v in parts.items()})
        return cls(composed, tuple(ordered))

    def __add__(self, other: Frag) -> Frag:
        return Frag(sql.Composed([self.sql, other.sql]), self.params + other.params)


_COMPARISONS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_operand(value: Any) -> str | None:
    """An equality operand as JSON text; ``None`` when no stored value can equal it."""
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return None  # NaN, infinities, non-JSON types: equal to nothing a store can hold
    if "\\u0000" in text:
        return None  # JSONB cannot hold NUL, so no stored value contains one
    return text


def _is_operator_dict(condition: Mapping[Any, Any]) -> bool:
    return any(isinstance(k, str) and k.startswith("$") for k in condition)


def _equal(e: Frag, operand: Any) -> Frag:
    if operand is None:
        return Frag.of(q.FILTER_EQ_NULL, e=e)
    text = _json_operand(operand)
    if text is None:
        return Frag.of(q.FILTER_FALSE)
    return Frag.of(q.FILTER_EQ, text, e=e)


def _ordered(e: Frag, operator: str, operand: Any) -> Frag:
    op = Frag(sql.SQL(_COMPARISONS[operator]))
    typ = Frag.of(q.FILTER_TYPE, e=e)
    if isinstance(operand, str):
        if "\x00" in operand:  # beyond any stored string's reach: compare in a NUL-free space
            prefix = operand.split("\x00", 1)[0]
            # s < prefix+NUL... <=> s <= prefix; s > prefix+NUL... <=> s > prefix
            operator = {"$gt": "$gt", "$gte": "$gt", "$lt": "$lte", "$lte": "$lte"}[operator]
            op = Frag(sql.SQL(_COMPARISONS[operator]))
            operand = prefix
        return Frag.of(q.FILTER_TEXT_CMP, operand, type=typ, e=e, op=op)
    if not _is_number(operand) or math.isnan(operand):
        return Frag.of(q.FILTER_FALSE)
    if math.isinf(operand):
        # every stored number is finite: "< inf" holds for all of them, "> -inf" too
        below = (operator in ("$lt", "$lte")) == (operand > 0)
        if not below:
            return Frag.of(q.FILTER_FALSE)
        return Frag.of(q.FILTER_NUMBER_CMP, "0", type=typ, e=Frag.of("0"), op=Frag(sql.SQL("=")))
    return Frag.of(q.FILTER_NUMBER_CMP, repr(operand), type=typ, e=e, op=op)


def _all(conditions: Sequence[Frag]) -> Frag:
    if not conditions:
        return Frag.of(q.FILTER_TRUE)
    out = Frag(sql.SQL("("), ())
    for i, cond in enumerate(conditions):
        if i:
            out = out + Frag(sql.SQL(q.BOOL_AND))
        out = out + cond
    return out + Frag(sql.SQL(")"))


def _condition(e: Frag, condition: Any) -> Frag:
    """``matches_filter``'s ``_matches(actual, condition)`` for the JSONB at ``e``."""
    if isinstance(condition, Mapping):
        if _is_operator_dict(condition):
            parts: builtins.list[Frag] = []
            for operator, operand in condition.items():
                if operator == "$eq":
                    parts.append(_equal(e, operand))
                elif operator == "$ne":
                    parts.append(Frag.of(q.FILTER_NE, cond=_equal(e, operand)))
                elif operator in _COMPARISONS:
                    parts.append(_ordered(e, operator, operand))
                else:  # validated before: unreachable
                    raise InvalidArgumentError(f"unsupported filter operator {operator!r}")
            return _all(parts)
        subs = [_condition(Frag.of(q.JSON_MEMBER, k, e=e), c) for k, c in condition.items()]
        return Frag.of(q.FILTER_OBJECT, type=Frag.of(q.FILTER_TYPE, e=e), sub=_all(subs))
    if isinstance(condition, list | tuple):
        subs = [_condition(Frag.of(q.JSON_INDEX, i, e=e), c) for i, c in enumerate(condition)]
        return Frag.of(
            q.FILTER_ARRAY, len(condition), type=Frag.of(q.FILTER_TYPE, e=e), e=e, sub=_all(subs)
        )
    return _equal(e, condition)


def compile_filter(filter: Mapping[str, Any] | None) -> Frag | None:
    """A (validated) filter as one exact SQL condition on ``s.value``, or ``None`` if empty."""
    if not filter:
        return None
    return _all([_condition(Frag.of(q.TOP_MEMBER, key), c) for key, c in filter.items()])


# -- values, rows and vectors ---------------------------------------------------------------------


def join_namespace(namespace: tuple[str, ...]) -> str:
    """The stored form of a namespace (labels never contain ``"."``)."""
    return ".".join(namespace)


def split_namespace(prefix: str) -> tuple[str, ...]:
    """The namespace of a stored ``prefix``."""
    return tuple(prefix.split("."))


def encode_value(value: Mapping[str, Any], namespace: tuple[str, ...], key: str) -> str:
    """A value as JSON text; what JSONB cannot hold raises ``SerializationError``."""
    try:
        text = json.dumps(dict(value), allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"the store keeps values as JSON; item {key!r} in namespace {namespace!r}: {exc}"
        ) from exc
    if "\\u0000" in text:
        raise SerializationError(
            f"item {key!r} in namespace {namespace!r}: PostgreSQL JSONB cannot hold the NUL "
            "character (\\u0000) in a string"
        )
    return text


def pgvector_text(vector: Sequence[float]) -> str:
    """A vector in pgvector's text input form."""
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


@dataclass(slots=True)
class Row(AsItem):
    """One item as read from ``pitstop_store``."""

    prefix: str
    key: str
    value: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    ttl_minutes: float | None

    @classmethod
    def decode(
        cls, prefix: str, key: str, value: Any, created: datetime, updated: datetime, ttl: Any
    ) -> Row:
        """Decode one row; a value that is not a JSON object raises ``CorruptRecordError``."""
        if not isinstance(value, dict):
            raise CorruptRecordError(
                f"corrupt store item {key!r} in namespace {split_namespace(prefix)!r}: value is "
                f"a {type(value).__name__}, not an object"
            )
        ttl_minutes = None if ttl is None else float(ttl)
        return cls(prefix, key, value, utc(created), utc(updated), ttl_minutes)

    @property
    def namespace(self) -> tuple[str, ...]:
        """The item's namespace."""
        return split_namespace(self.prefix)


def decode_rows(rows: Iterable[Sequence[Any]]) -> builtins.list[Row]:
    """Decode rows of ``SEARCH_ITEMS`` (prefix, key, value, created, updated, ttl)."""
    return [Row.decode(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


def refresh_params(now: datetime, row: Row) -> tuple[datetime, str, str]:
    """Parameters of ``REFRESH_TTL`` for a row read at ``now`` (its ttl must be set)."""
    expiry = expires_at(now, row.ttl_minutes)
    assert expiry is not None
    return (expiry, row.prefix, row.key)


# -- statements of one store ----------------------------------------------------------------------


def _regclass(schema: str | None, name: str) -> str:
    """A quoted (schema-qualified) name, as text for ``::regclass`` (a bound value)."""
    quoted = '"' + name.replace('"', '""') + '"'
    if schema is None:
        return quoted
    return '"' + schema.replace('"', '""') + '".' + quoted


class Queries:
    """The statements of ``_queries.py`` with this store's table names filled in."""

    def __init__(self, schema: str | None) -> None:
        def ident(name: str) -> sql.Identifier:
            return sql.Identifier(name) if schema is None else sql.Identifier(schema, name)

        self.schema = schema
        self._names: dict[str, sql.Composable] = {
            "store": ident(STORE_TABLE),
            "vectors": ident("pitstop_store_vectors"),
            "pgvectors": ident("pitstop_store_pgvectors"),
            "migrations": ident("pitstop_store_migrations"),
            "seq": ident("pitstop_store_seq"),
            "seq_name": sql.Literal(_regclass(schema, "pitstop_store_seq")),
            "schema": sql.Identifier(schema or "public"),
        }
        self.lock_key = f"pitstop_store:{schema or ''}"
        """The advisory lock name of ``setup()`` (one per schema)."""
        c = self.compose
        self.create_schema = c(q.CREATE_SCHEMA)
        self.create_migrations_table = c(q.CREATE_MIGRATIONS_TABLE)
        self.select_migration_version = c(q.SELECT_MIGRATION_VERSION)
        self.insert_migration = c(q.INSERT_MIGRATION)
        self.migrations = [[c(s) for s in m] for m in q.MIGRATIONS]
        self.create_pgvectors = c(q.CREATE_PGVECTORS)
        self.delete_pgvectors = c(q.DELETE_PGVECTORS)
        self.insert_pgvector = c(q.INSERT_PGVECTOR)
        self.next_seqs = c(q.NEXT_SEQS)
        self.upsert_item = c(q.UPSERT_ITEM)
        self.delete_item = c(q.DELETE_ITEM)
        self.delete_vectors = c(q.DELETE_VECTORS)
        self.insert_vector = c(q.INSERT_VECTOR)
        self.refresh_ttl = c(q.REFRESH_TTL)
        self.delete_expired = c(q.DELETE_EXPIRED)
        self.get_item = c(q.GET_ITEM)

    def compose(self, template: str) -> sql.Composed:
        """A template of ``_queries.py`` with the table names filled in."""
        return sql.SQL(template).format(**self._names)

    def frag(self, template: str, *params: Any, **parts: Frag) -> Frag:
        """:meth:`Frag.of` with the table names available too."""
        names = {k: Frag(sql.Composed([v])) for k, v in self._names.items()}
        names.update(parts)
        used = {m.group(1) for m in _PLACEHOLDER.finditer(template) if m.group(1)}
        return Frag.of(template, *params, **{k: v for k, v in names.items() if k in used})

    def search(self, op: SearchOp, now: datetime) -> tuple[Frag, Frag]:
        """The candidate query of a search (ordered, unpaged) and its ``WHERE`` tail."""
        where = namespace_under(op.namespace_prefix)
        condition = compile_filter(op.filter)
        if condition is not None:
            where = where + Frag(sql.SQL(" AND ")) + condition
        items = self.frag(q.SEARCH_ITEMS, now) + where + Frag(sql.SQL(q.SEARCH_ORDER))
        return items, where

    def list_namespaces(self, op: ListNamespacesOp, now: datetime) -> Frag:
        """``LIST_PREFIXES``, narrowed by the literal leading labels of a prefix condition."""
        return self.frag(q.LIST_PREFIXES, now) + namespace_under(literal_prefix(op))


def namespace_under(prefix: tuple[str, ...]) -> Frag:
    """The ``NAMESPACE_UNDER`` fragment (empty for the root prefix)."""
    if not prefix:
        return Frag(sql.SQL(""))
    joined = join_namespace(prefix)
    return Frag.of(q.NAMESPACE_UNDER, joined, joined + ".", joined + "/")


def rank(
    rows: Sequence[Row],
    scores: Iterable[Sequence[Any]],
    op: SearchOp,
) -> builtins.list[tuple[float | None, Row]]:
    """One page of a vector search over candidate rows (ordered newest first).

    ``scores`` holds (prefix, key, similarity) per stored vector: max-pooled per item; items
    without vectors follow.
    """
    best: dict[tuple[str, str], float] = {}
    for prefix, key, score in scores:
        previous = best.get((prefix, key))
        if previous is None or score > previous:
            best[(prefix, key)] = float(score)
    scored = [(best[(r.prefix, r.key)], r) for r in rows if (r.prefix, r.key) in best]
    unscored = [r for r in rows if (r.prefix, r.key) not in best]
    return rank_page(scored, unscored, offset=op.offset, limit=op.limit)


def cosine_scores(
    vectors: Iterable[Sequence[Any]], query: Sequence[float]
) -> builtins.list[tuple[str, str, float]]:
    """(prefix, key, cosine similarity) of each stored float32 vector (the fallback)."""
    return [
        (prefix, key, cosine_similarity(query, decode_vector(bytes(blob))))
        for prefix, key, blob in vectors
    ]


def pending_migrations(version: int) -> builtins.list[int]:
    """Migrations after ``version``; a database newer than this code raises ``MigrationError``."""
    latest = len(q.MIGRATIONS) - 1
    if version > latest:
        raise MigrationError(
            f"the PostgreSQL store's schema is at version {version}, newer than this pitstop "
            f"understands ({latest}); upgrade pitstop-checkpoint-postgres to open it"
        )
    return builtins.list(range(version + 1, latest + 1))


# -- plans ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class PutRows:
    """Parameters of the statements that apply a batch's puts (in key order: no deadlocks)."""

    deletes: builtins.list[tuple[str, str]] = field(default_factory=list)
    touched: builtins.list[tuple[str, str]] = field(default_factory=list)
    upserts: builtins.list[tuple[Any, ...]] = field(default_factory=list)
    vectors: builtins.list[tuple[str, str, str, Sequence[float]]] = field(default_factory=list)


class BasePostgresStore(StoreCore):
    """Configuration and the non-blocking half of every method of the PostgreSQL stores."""

    def __init__(
        self,
        *,
        schema: str | None = None,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(index=index, ttl=ttl, clock=clock)
        if schema is not None and (not isinstance(schema, str) or not schema):
            raise InvalidArgumentError(f"schema must be a non-empty string, got {schema!r}")
        self.schema = schema
        self.queries = Queries(schema)
        self.is_setup = False
        self.uses_pgvector = False
        """Whether embeddings are stored and scored by ``pgvector`` (known after setup)."""

    def _put_rows(
        self,
        plan: Plan,
        now: datetime,
        seqs: Sequence[int],
        vectors: Mapping[str, Sequence[float]],
    ) -> PutRows:
        """Rows to write; ``seqs`` (increasing) are handed out in the batch's put order."""
        rows = PutRows()
        upserts: builtins.list[tuple[Any, ...]] = []
        seq = iter(seqs)
        for (namespace, key), op in plan.puts.items():
            prefix = join_namespace(namespace)
            rows.touched.append((prefix, key))
            if op.value is None:
                rows.deletes.append((prefix, key))
                continue
            expiry = expires_at(now, op.ttl)
            value = encode_value(op.value, namespace, key)
            upserts.append((prefix, key, value, now, now, next(seq), expiry, op.ttl))
            for name, text in plan.fields.get((namespace, key), ()):
                rows.vectors.append((prefix, key, name, vectors[text]))
        # Rows are locked in key order by every writer, so two batches never deadlock.
        rows.touched.sort()
        rows.deletes.sort()
        rows.upserts = sorted(upserts, key=lambda r: (r[0], r[1]))
        rows.vectors.sort(key=lambda r: (r[0], r[1], r[2]))
        return rows

    def _put_count(self, plan: Plan) -> int:
        return sum(1 for op in plan.puts.values() if op.value is not None)

    def _vector_params(self, rows: PutRows) -> builtins.list[tuple[str, str, str, Any]]:
        if self.uses_pgvector:
            return [(p, k, n, pgvector_text(v)) for p, k, n, v in rows.vectors]
        return [(p, k, n, encode_vector(v)) for p, k, n, v in rows.vectors]

    @staticmethod
    def _item(rows: Sequence[Sequence[Any]], op: GetOp) -> Row | None:
        if not rows:
            return None
        value, created, updated, ttl = rows[0]
        return Row.decode(join_namespace(op.namespace), op.key, value, created, updated, ttl)


# -- the two flavours ------------------------------------------------------------------------------


class SyncSide(BasePostgresStore, _sides.SyncSide):
    """``PostgresStore``: async entry points in a worker thread, and a sweeper thread."""

    sweeper_name = "pitstop-postgres-store-ttl-sweeper"


class AsyncSide(BasePostgresStore, _sides.AsyncSide):
    """``AsyncPostgresStore``: sync entry points run on its loop, and a sweeper task."""

    sweeper_name = "pitstop-postgres-store-ttl-sweeper"
