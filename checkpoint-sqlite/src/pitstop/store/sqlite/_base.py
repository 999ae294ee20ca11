"""Everything of the SQLite store that does not block: planning, SQL composition, decoding.

Both flavours (``AsyncSqliteStore`` in ``_store_async.py`` and its generated twin
``SqliteStore``) inherit :class:`BaseSqliteStore`; a method of theirs reads as build (here) ->
driver calls -> decode (here). :class:`SyncSide` and :class:`AsyncSide` add what really differs
between the flavours: the other flavour's entry points and the TTL sweeper (a thread or a task).

Filter strategy: every condition that SQLite can decide exactly (strings, booleans, null,
unorderable operands) becomes a ``json_each`` condition with the key and operand bound as
parameters, and paging is then done by SQL (``LIMIT``/``OFFSET``). Numbers, nested objects and
lists are decided in Python by the shared :func:`matches_filter` (numbers are also narrowed in
SQL by a widened range); such a search reads the ordered candidates in chunks until the page is
full, so a page is never short because of filtering.
"""

from __future__ import annotations

import builtins
import importlib
import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pitstop.checkpoint.errors import (
    CorruptRecordError,
    InvalidArgumentError,
    MigrationError,
    SerializationError,
)
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
    expires_at,
    literal_prefix,
    matches_filter,
    rank_page,
)
from pitstop.store.base._core import Plan, StoreCore, decode_vector, encode_vector
from pitstop.store.sqlite import _queries as q

__all__ = [
    "AsyncSide",
    "BaseSqliteStore",
    "NeedsWrite",
    "Plan",
    "Row",
    "SearchQuery",
    "SyncSide",
]

logger = logging.getLogger("pitstop.store.sqlite")


FETCH_CHUNK = 256
"""Rows read at a time when a filter is decided in Python."""
WAL_ATTEMPTS = 200
WAL_RETRY_SECONDS = 0.05
"""Switching a database to WAL is retried for up to 10 s."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MAX_BOUND_NUMBER = 2.0**63


# -- time ---------------------------------------------------------------------------------------


def to_us(moment: datetime) -> int:
    """Microseconds since the Unix epoch (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def from_us(us: int) -> datetime:
    """The UTC datetime of :func:`to_us`'s value (exact)."""
    return _EPOCH + timedelta(microseconds=us)


# -- values, rows and vectors ---------------------------------------------------------------------


def join_namespace(namespace: tuple[str, ...]) -> str:
    """The stored form of a namespace (labels never contain ``"."``)."""
    return ".".join(namespace)


def split_namespace(prefix: str) -> tuple[str, ...]:
    """The namespace of a stored ``prefix``."""
    return tuple(prefix.split("."))


def encode_value(value: Mapping[str, Any], namespace: tuple[str, ...], key: str) -> str:
    """A value as JSON text; non-JSON values (and NaN/infinity) raise ``SerializationError``."""
    try:
        return json.dumps(dict(value), allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"the store keeps values as JSON; item {key!r} in namespace {namespace!r}: {exc}"
        ) from exc


@dataclass(slots=True)
class Row:
    """One item as read from ``pitstop_store``."""

    prefix: str
    key: str
    value: dict[str, Any]
    created_at: int
    updated_at: int
    ttl_minutes: float | None

    @classmethod
    def decode(cls, prefix: str, key: str, raw: Any, created: int, updated: int, ttl: Any) -> Row:
        """Decode one row; a value that is not a JSON object raises ``CorruptRecordError``."""
        try:
            value = json.loads(raw)
        except (TypeError, ValueError) as exc:
            raise _corrupt(prefix, key, f"value is not JSON ({exc})") from exc
        if not isinstance(value, dict):
            raise _corrupt(prefix, key, f"value is a {type(value).__name__}, not an object")
        return cls(prefix, key, value, created, updated, None if ttl is None else float(ttl))

    @property
    def namespace(self) -> tuple[str, ...]:
        """The item's namespace."""
        return split_namespace(self.prefix)

    def item(self) -> Item:
        """As an :class:`Item`."""
        return Item(
            value=self.value,
            key=self.key,
            namespace=self.namespace,
            created_at=from_us(self.created_at),
            updated_at=from_us(self.updated_at),
        )

    def search_item(self, score: float | None) -> SearchItem:
        """As a :class:`SearchItem`."""
        return SearchItem(
            namespace=self.namespace,
            key=self.key,
            value=self.value,
            created_at=from_us(self.created_at),
            updated_at=from_us(self.updated_at),
            score=score,
        )


def _corrupt(prefix: str, key: str, reason: str) -> CorruptRecordError:
    return CorruptRecordError(
        f"corrupt store item {key!r} in namespace {split_namespace(prefix)!r}: {reason}"
    )


def decode_rows(rows: Iterable[Sequence[Any]]) -> builtins.list[Row]:
    """Decode rows of ``SEARCH_ITEMS`` (prefix, key, value, created, updated, ttl)."""
    return [Row.decode(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


def refresh_params(now: datetime, row: Row) -> tuple[int, str, str]:
    """Parameters of ``REFRESH_TTL`` for a row read at ``now`` (its ttl must be set)."""
    expiry = expires_at(now, row.ttl_minutes)
    assert expiry is not None
    return (to_us(expiry), row.prefix, row.key)


# -- SQL composition ------------------------------------------------------------------------------


def namespace_under(prefix: tuple[str, ...]) -> tuple[str, builtins.list[Any]]:
    """The ``NAMESPACE_UNDER`` fragment and its parameters (empty for the root prefix)."""
    if not prefix:
        return "", []
    joined = join_namespace(prefix)
    return q.NAMESPACE_UNDER, [joined, joined + ".", joined + "/"]


def _sql_text(value: str) -> bool:
    """Whether a string compares the same in SQLite as in Python (no lone surrogates)."""
    return not any("\ud800" <= ch <= "\udfff" for ch in value)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _widened(value: float) -> tuple[float, float]:
    """A range around ``value`` that SQLite's decimal parsing of it cannot fall outside."""
    slack = abs(value) * 1e-9 + 1e-300
    return value - slack, value + slack


def _condition_sql(
    key: str, operator: str, operand: Any
) -> tuple[str, builtins.list[Any], bool] | None:
    """One condition as ``(fragment, params, exact)``; ``None`` when SQL cannot help."""
    if operator in ("$eq", "$ne"):
        eq = operator == "$eq"
        if operand is None:
            return (q.FILTER_NULL_EQ if eq else q.FILTER_NULL_NE), [key], True
        if operand is True:
            return (q.FILTER_TRUE_EQ if eq else q.FILTER_TRUE_NE), [key], True
        if operand is False:
            return (q.FILTER_FALSE_EQ if eq else q.FILTER_FALSE_NE), [key], True
        if isinstance(operand, str) and _sql_text(operand):
            return (q.FILTER_TEXT_EQ if eq else q.FILTER_TEXT_NE), [key, operand], True
        if eq and _number(operand) and math.isfinite(operand) and abs(operand) < _MAX_BOUND_NUMBER:
            lo, hi = _widened(float(operand))
            return q.FILTER_NUMBER_RANGE, [key, lo, hi], False
        return None
    # ordering: two numbers or two strings; anything else never matches
    if isinstance(operand, str):
        if not _sql_text(operand):
            return None
        return q.FILTER_TEXT_CMP[operator], [key, operand], True
    if not _number(operand):
        return q.FILTER_NEVER, [], True
    if not math.isfinite(operand) or abs(operand) >= _MAX_BOUND_NUMBER:
        return None
    lo, hi = _widened(float(operand))
    if operator in ("$gt", "$gte"):
        return q.FILTER_NUMBER_RANGE, [key, lo, math.inf], False
    return q.FILTER_NUMBER_RANGE, [key, -math.inf, hi], False


def filter_sql(filter: Mapping[str, Any] | None) -> tuple[str, builtins.list[Any], bool]:
    """A (validated) filter as SQL fragments, their parameters, and whether SQL is exact.

    The fragments are always a necessary condition; when ``exact`` is False the rows they
    select must still go through :func:`matches_filter`.
    """
    sql: builtins.list[str] = []
    params: builtins.list[Any] = []
    exact = True
    for key, condition in (filter or {}).items():
        if isinstance(condition, Mapping) and any(
            isinstance(k, str) and k.startswith("$") for k in condition
        ):
            conditions = builtins.list(condition.items())
        elif isinstance(condition, Mapping | builtins.list | tuple):
            exact = False  # subset / element-wise match: decided in Python
            continue
        else:
            conditions = [("$eq", condition)]
        for operator, operand in conditions:
            compiled = _condition_sql(key, operator, operand)
            if compiled is None:
                exact = False
                continue
            fragment, values, is_exact = compiled
            sql.append(fragment)
            params.extend(values)
            exact = exact and is_exact
    return "".join(sql), params, exact


@dataclass(slots=True)
class SearchQuery:
    """A search's candidate query: live items under the prefix that pass the SQL filter."""

    sql: str
    params: builtins.list[Any]
    vectors_sql: str
    exact: bool
    where: str = ""

    @classmethod
    def build(cls, op: SearchOp, now_us: int) -> SearchQuery:
        """Compose the statements of one search op."""
        ns_sql, ns_params = namespace_under(op.namespace_prefix)
        f_sql, f_params, exact = filter_sql(op.filter)
        where = ns_sql + f_sql
        return cls(
            sql=q.SEARCH_ITEMS + where + q.SEARCH_ORDER,
            params=[now_us, *ns_params, *f_params],
            vectors_sql=q.SEARCH_VECTORS + where,
            exact=exact,
            where=where,
        )

    def scored(self, query: Sequence[float]) -> tuple[str, builtins.list[Any]]:
        """sqlite-vec: the candidates with vectors, best float32 score first."""
        zero = encode_vector([0.0] * len(query))
        sql = q.SEARCH_SCORED + self.where + q.SCORED_ORDER
        return sql, [zero, encode_vector(query), *self.params]

    @property
    def unscored_sql(self) -> str:
        """The candidates without vectors, newest first."""
        return q.SEARCH_ITEMS + self.where + q.WITHOUT_VECTORS + q.SEARCH_ORDER


def list_namespaces_sql(op: ListNamespacesOp, now_us: int) -> tuple[str, builtins.list[Any]]:
    """``LIST_PREFIXES``, narrowed by the literal leading labels of a prefix condition."""
    ns_sql, ns_params = namespace_under(literal_prefix(op))
    return q.LIST_PREFIXES + ns_sql, [now_us, *ns_params]


def rank(
    rows: Sequence[Row],
    vectors: Iterable[Sequence[Any]],
    query: Sequence[float],
    op: SearchOp,
) -> builtins.list[tuple[float | None, Row]]:
    """One page of a vector search over candidate rows (ordered newest first).

    Cosine similarity per stored vector, max-pooled per item; items without vectors follow.
    """
    best: dict[tuple[str, str], float] = {}
    for prefix, key, blob in vectors:
        score = cosine_similarity(query, decode_vector(blob))
        previous = best.get((prefix, key))
        if previous is None or score > previous:
            best[(prefix, key)] = score
    scored = [(best[(r.prefix, r.key)], r) for r in rows if (r.prefix, r.key) in best]
    unscored = [r for r in rows if (r.prefix, r.key) not in best]
    return rank_page(scored, unscored, offset=op.offset, limit=op.limit)


# -- sqlite-vec ---------------------------------------------------------------------------------

SQLITE_VEC_SLACK = 1e-3
"""How far a float32 cosine from sqlite-vec may be from the exact one, with room to spare
(the error of a float32 dot product of normal-sized embeddings is below 1e-4 up to 4096
dimensions). Items scored within this of a page's cutoff are scored again exactly."""
FLOAT32_SAFE_NORMS = (1e-15, 1e15)
"""Norms whose float32 square (and products of two) stay normal numbers (as in ``SEARCH_SCORED``);
a query outside is ranked by the brute-force path."""
VECTORS_CHUNK = 200
"""Items whose vectors are read per statement when re-scoring."""


def sqlite_vec_path() -> str | None:
    """The loadable library of the ``sqlite-vec`` package, or None when it is not installed."""
    try:
        sqlite_vec = importlib.import_module(
            "sqlite_vec"
        )  # optional: pitstop-checkpoint-sqlite[vec]
    except ImportError:
        return None
    return str(sqlite_vec.loadable_path())


def float32_safe(vector: Sequence[float]) -> bool:
    """Whether float32 can square ``vector``'s norm without overflow or underflow."""
    norm = math.sqrt(math.fsum(x * x for x in vector))
    return FLOAT32_SAFE_NORMS[0] <= norm <= FLOAT32_SAFE_NORMS[1]


def vectors_of_sql(count: int) -> str:
    """``VECTORS_OF`` for ``count`` items (placeholders only: keys are bound parameters)."""
    return q.VECTORS_OF + ", ".join(["(?, ?)"] * count) + ")"


@dataclass(slots=True)
class ScoredCandidates:
    """The sqlite-vec path of a vector search: rows read in float32-score order.

    Reading stops at the first row scored more than :data:`SQLITE_VEC_SLACK` below the row
    that fills ``want`` (offset + limit): every item of the exact page is then among the rows
    read, which :func:`rank_exactly` scores again in double precision, exactly as the
    brute-force path does. ``complete`` tells that the page lies within them; otherwise every
    scored candidate was read and items without vectors may be needed after them.
    """

    want: int
    rows: builtins.list[tuple[Row, int]] = field(default_factory=list)
    cutoff: float | None = None
    complete: bool = False
    scored: int = 0
    """Rows taken that float32 could score (the others, NULL, come first and are all taken)."""

    def add(self, raw: Sequence[Any], flt: Mapping[str, Any] | None, exact: bool) -> bool:
        """Take one row of ``SEARCH_SCORED``; False when reading can stop."""
        score = None if raw[6] is None else float(raw[6])
        cutoff = self.cutoff
        if score is not None and cutoff is not None and score < cutoff - SQLITE_VEC_SLACK:
            self.complete = True
            return False
        row = Row.decode(raw[0], raw[1], raw[2], raw[3], raw[4], raw[5])
        if not exact and not matches_filter(row.value, flt):
            return True
        self.rows.append((row, raw[7]))
        if score is not None:
            self.scored += 1
            if self.scored == self.want:
                self.cutoff = score
        return True

    @property
    def unscored_needed(self) -> int:
        """How many items without vectors the page needs after every scored one."""
        return 0 if self.complete else max(0, self.want - len(self.rows))

    def key_chunks(self) -> builtins.list[builtins.list[str]]:
        """Bound parameters of ``vectors_of_sql`` for the rows read, in chunks."""
        keys = [part for row, _ in self.rows for part in (row.prefix, row.key)]
        step = 2 * VECTORS_CHUNK
        return [keys[i : i + step] for i in range(0, len(keys), step)]


def rank_exactly(
    found: ScoredCandidates,
    vectors: Iterable[Sequence[Any]],
    unscored: Sequence[Row],
    query: Sequence[float],
    op: SearchOp,
) -> builtins.list[tuple[float | None, Row]]:
    """The page of :func:`rank` over the sqlite-vec candidates (scores in double precision)."""
    by_recency = sorted(found.rows, key=lambda r: (r[0].updated_at, r[1]), reverse=True)
    return rank([row for row, _ in by_recency] + builtins.list(unscored), vectors, query, op)


def pending_migrations(version: int) -> builtins.list[tuple[int, tuple[str, ...]]]:
    """Migrations after ``version``; a database newer than this code raises ``MigrationError``."""
    latest = len(q.MIGRATIONS) - 1
    if version > latest:
        raise MigrationError(
            f"the SQLite store's schema is at version {version}, newer than this pitstop "
            f"understands ({latest}); upgrade pitstop-checkpoint-sqlite to open it"
        )
    return [(v, q.MIGRATIONS[v]) for v in range(version + 1, latest + 1)]


class NeedsWrite(Exception):
    """A read-only transaction found items to refresh: run the batch again as a write."""


# -- plans ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class PutRows:
    """Parameters of the statements that apply a batch's puts."""

    deletes: builtins.list[tuple[str, str]] = field(default_factory=list)
    touched: builtins.list[tuple[str, str]] = field(default_factory=list)
    upserts: builtins.list[tuple[Any, ...]] = field(default_factory=list)
    vectors: builtins.list[tuple[str, str, str, bytes]] = field(default_factory=list)


class BaseSqliteStore(StoreCore):
    """Configuration and the non-blocking half of every method of the SQLite stores."""

    def __init__(
        self,
        *,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        clock: Callable[[], datetime] | None = None,
        sqlite_vec: bool | None = None,
    ) -> None:
        super().__init__(index=index, ttl=ttl, clock=clock)
        if sqlite_vec is not None and not isinstance(sqlite_vec, bool):
            raise InvalidArgumentError(f"sqlite_vec must be True, False or None: {sqlite_vec!r}")
        self.sqlite_vec = sqlite_vec
        self.uses_sqlite_vec = False
        """Whether vector search is scored by ``sqlite-vec`` (known after setup)."""

    def _scores_in_sql(self, query: Sequence[float]) -> bool:
        """Whether sqlite-vec ranks this query's candidates (else the brute-force path)."""
        return self.uses_sqlite_vec and float32_safe(query)

    def _sqlite_vec_unavailable(self, reason: str) -> bool:
        """Refuse (``sqlite_vec=True``) or fall back to the brute-force path, saying why."""
        if self.sqlite_vec:
            raise InvalidArgumentError(f"sqlite_vec=True, but sqlite-vec cannot be used: {reason}")
        logger.warning("sqlite-vec cannot be used (%s): vector search scores in Python", reason)
        return False

    def _put_rows(
        self, plan: Plan, now: datetime, seq: int, vectors: Mapping[str, Sequence[float]]
    ) -> PutRows:
        rows = PutRows()
        now_us = to_us(now)
        for (namespace, key), op in plan.puts.items():
            prefix = join_namespace(namespace)
            rows.touched.append((prefix, key))
            if op.value is None:
                rows.deletes.append((prefix, key))
                continue
            seq += 1
            expiry = expires_at(now, op.ttl)
            rows.upserts.append(
                (
                    prefix,
                    key,
                    encode_value(op.value, namespace, key),
                    now_us,
                    now_us,
                    seq,
                    None if expiry is None else to_us(expiry),
                    op.ttl,
                )
            )
            for name, text in plan.fields.get((namespace, key), ()):
                rows.vectors.append((prefix, key, name, encode_vector(vectors[text])))
        return rows

    @staticmethod
    def _item(rows: Sequence[Sequence[Any]], op: GetOp) -> Row | None:
        if not rows:
            return None
        raw, created, updated, ttl = rows[0]
        return Row.decode(join_namespace(op.namespace), op.key, raw, created, updated, ttl)


# -- the two flavours ------------------------------------------------------------------------------


class SyncSide(BaseSqliteStore, _sides.SyncSide):
    """``SqliteStore``: async entry points in a worker thread (the connection is shared, under a
    lock), and a sweeper thread."""

    sweeper_name = "pitstop-sqlite-store-ttl-sweeper"


class AsyncSide(BaseSqliteStore, _sides.AsyncSide):
    """``AsyncSqliteStore``: sync entry points run on its loop, and a sweeper task."""

    sweeper_name = "pitstop-sqlite-store-ttl-sweeper"
