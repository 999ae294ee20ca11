"""Non-blocking store logic shared by the sync and async APIs and by every backend.

Building and validating ops, namespace rules, normalising LangGraph's op tuples into pitstop's,
and TTL arithmetic. Nothing here does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from pitstop.checkpoint.errors import InvalidArgumentError
from pitstop.store.base._match import validate_filter
from pitstop.store.base._types import (
    GetOp,
    InvalidNamespaceError,
    ListNamespacesOp,
    MatchCondition,
    NamespacePath,
    NotProvided,
    Op,
    PutOp,
    SearchOp,
    TTLConfig,
)

__all__ = [
    "delete_op",
    "ensure_refresh",
    "ensure_ttl",
    "expires_at",
    "get_op",
    "is_expired",
    "is_not_provided",
    "list_namespaces_op",
    "normalize_op",
    "normalize_ops",
    "put_op",
    "search_op",
    "validate_namespace",
    "validate_namespace_labels",
    "validate_op_namespace",
    "validate_ttl",
]

RESERVED_ROOT = "langgraph"


# --- namespaces --------------------------------------------------------------------------------


def validate_namespace_labels(namespace: object) -> tuple[str, ...]:
    """Check every label is a non-empty ``str`` without ``"."`` or NUL; return the tuple.

    A list is accepted and converted. Raises :class:`InvalidNamespaceError`.
    """
    if not isinstance(namespace, tuple | list):
        raise InvalidNamespaceError(
            f"a namespace must be a tuple of strings, got {type(namespace).__name__}: {namespace!r}"
        )
    for label in namespace:
        if not isinstance(label, str):
            raise InvalidNamespaceError(
                f"invalid namespace {tuple(namespace)!r}: label {label!r} is a "
                f"{type(label).__name__}, labels must be strings"
            )
        if not label:
            raise InvalidNamespaceError(
                f"invalid namespace {tuple(namespace)!r}: labels cannot be empty"
            )
        if "." in label:
            raise InvalidNamespaceError(
                f"invalid namespace {tuple(namespace)!r}: label {label!r} contains '.'"
            )
        if "\x00" in label:
            raise InvalidNamespaceError(
                f"invalid namespace {tuple(namespace)!r}: label {label!r} contains a NUL byte"
            )
    return tuple(namespace)


def validate_namespace(namespace: object) -> tuple[str, ...]:
    """Check a namespace that is about to be written (``put``); return it as a tuple.

    Beyond :func:`validate_namespace_labels`: it must be non-empty and its first label must not
    be the reserved ``"langgraph"`` (``("x", "langgraph")`` is fine).
    """
    ns = validate_namespace_labels(namespace)
    if not ns:
        raise InvalidNamespaceError("a namespace cannot be empty")
    if ns[0] == RESERVED_ROOT:
        raise InvalidNamespaceError(
            f"invalid namespace {ns!r}: the root label {RESERVED_ROOT!r} is reserved"
        )
    return ns


# --- defaults ----------------------------------------------------------------------------------


def is_not_provided(value: object) -> bool:
    """Whether ``value`` is pitstop's or LangGraph's ``NOT_PROVIDED`` sentinel."""
    return isinstance(value, NotProvided) or type(value).__name__ == "NotProvided"


def ensure_refresh(ttl_config: TTLConfig | None, refresh_ttl: bool | None) -> bool:
    """Resolve a read's ``refresh_ttl``: ``None`` ⇒ ``ttl_config["refresh_on_read"]`` or True."""
    if refresh_ttl is not None:
        return bool(refresh_ttl)
    if ttl_config is not None:
        return bool(ttl_config.get("refresh_on_read", True))
    return True


def ensure_ttl(ttl_config: TTLConfig | None, ttl: float | NotProvided | None) -> float | None:
    """Resolve a write's ``ttl`` (omitted ⇒ ``ttl_config["default_ttl"]``, else ``None``)."""
    if isinstance(ttl, NotProvided) or is_not_provided(ttl):
        return ttl_config.get("default_ttl") if ttl_config else None
    return ttl


def validate_ttl(ttl: object) -> float | None:
    """Check a TTL: ``None`` or a positive, finite number of minutes (returned as a float)."""
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl):
        raise InvalidArgumentError(f"ttl must be a number of minutes or None, got {ttl!r}")
    if ttl <= 0:
        raise InvalidArgumentError(f"ttl must be positive (minutes), got {ttl!r}")
    return float(ttl)


def expires_at(now: datetime, ttl_minutes: float | None) -> datetime | None:
    """The expiry of an item written or refreshed at ``now`` (``None``: never expires)."""
    return None if ttl_minutes is None else now + timedelta(minutes=ttl_minutes)


def is_expired(expiry: datetime | None, now: datetime) -> bool:
    """Whether an item with this expiry is expired at ``now`` (an expiry equal to now is)."""
    return expiry is not None and expiry <= now


# --- op builders (used by the convenience API) -------------------------------------------------


def get_op(
    ttl_config: TTLConfig | None, namespace: tuple[str, ...], key: str, refresh_ttl: bool | None
) -> GetOp:
    """Build the op behind ``get``."""
    return GetOp(
        validate_namespace_labels(namespace), str(key), ensure_refresh(ttl_config, refresh_ttl)
    )


def search_op(
    ttl_config: TTLConfig | None,
    namespace_prefix: tuple[str, ...],
    *,
    query: str | None,
    filter: dict[str, Any] | None,
    limit: int,
    offset: int,
    refresh_ttl: bool | None,
) -> SearchOp:
    """Build the op behind ``search``."""
    return _normalize_search(
        SearchOp(
            validate_namespace_labels(namespace_prefix),
            filter,
            limit,
            offset,
            query,
            ensure_refresh(ttl_config, refresh_ttl),
        )
    )


def put_op(
    *,
    store_name: str,
    supports_ttl: bool,
    ttl_config: TTLConfig | None,
    namespace: tuple[str, ...],
    key: str,
    value: Mapping[str, Any],
    index: Literal[False] | list[str] | None,
    ttl: float | NotProvided | None,
) -> PutOp:
    """Build the op behind ``put``.

    Raises:
        InvalidNamespaceError: the namespace is empty, reserved or has a bad label.
        NotImplementedError: a ``ttl`` was given to a store without TTL support.
    """
    ns = validate_namespace(namespace)
    if not is_not_provided(ttl) and ttl is not None and not supports_ttl:
        raise NotImplementedError(
            f"TTL is not supported by {store_name}; use a store that supports TTL or ttl=None"
        )
    if value is None:  # as in LangGraph: a put of None deletes
        return PutOp(ns, str(key), None)
    op = PutOp(ns, str(key), value, index, ensure_ttl(ttl_config, ttl))
    return _normalize_put(op)


def delete_op(namespace: tuple[str, ...], key: str) -> PutOp:
    """Build the op behind ``delete`` (a put of ``None``)."""
    return PutOp(validate_namespace_labels(namespace), str(key), None)


def list_namespaces_op(
    *,
    prefix: NamespacePath | None,
    suffix: NamespacePath | None,
    max_depth: int | None,
    limit: int,
    offset: int,
) -> ListNamespacesOp:
    """Build the op behind ``list_namespaces`` (``prefix``/``suffix`` become match conditions)."""
    conditions: list[MatchCondition] = []
    if prefix:
        conditions.append(MatchCondition("prefix", validate_namespace_labels(prefix)))
    if suffix:
        conditions.append(MatchCondition("suffix", validate_namespace_labels(suffix)))
    op = ListNamespacesOp(tuple(conditions), max_depth, limit, offset)
    return _normalize_list(op)


# --- normalising ops given to batch() ---------------------------------------------------------

_OP_TYPES: dict[str, type[Op]] = {
    "GetOp": GetOp,
    "SearchOp": SearchOp,
    "PutOp": PutOp,
    "ListNamespacesOp": ListNamespacesOp,
}


def _count(value: object, what: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


def _convert(op: object) -> Op:
    if isinstance(op, GetOp | SearchOp | PutOp | ListNamespacesOp):
        return op
    cls = _OP_TYPES.get(type(op).__name__)
    if cls is None or not isinstance(op, tuple) or not hasattr(op, "_fields"):
        raise InvalidArgumentError(
            f"unknown store operation {type(op).__module__}.{type(op).__qualname__}"
        )
    # A LangGraph op (same field names); copy field by field so extra fields are ignored.
    fields = {name: getattr(op, name) for name in cls._fields if hasattr(op, name)}
    return cls(**fields)


def _condition(condition: object) -> MatchCondition:
    if not isinstance(condition, tuple) or not hasattr(condition, "match_type"):
        raise InvalidArgumentError(f"expected a MatchCondition, got {condition!r}")
    match_type = getattr(condition, "match_type", None)
    if match_type not in ("prefix", "suffix"):
        raise InvalidArgumentError(f"unsupported namespace match type {match_type!r}")
    path = validate_namespace_labels(getattr(condition, "path", None))
    return MatchCondition(match_type, path)


def _normalize_get(op: GetOp) -> GetOp:
    return GetOp(validate_namespace_labels(op.namespace), str(op.key), bool(op.refresh_ttl))


def _normalize_search(op: SearchOp) -> SearchOp:
    validate_filter(op.filter)
    if op.query is not None and not isinstance(op.query, str):
        raise InvalidArgumentError(f"a search query must be a string, got {op.query!r}")
    return SearchOp(
        validate_namespace_labels(op.namespace_prefix),
        op.filter,
        _count(op.limit, "limit"),
        _count(op.offset, "offset"),
        op.query,
        bool(op.refresh_ttl),
    )


def _normalize_put(op: PutOp) -> PutOp:
    if op.value is not None and not isinstance(op.value, Mapping):
        raise InvalidArgumentError(
            f"a stored value must be a mapping, got {type(op.value).__name__}"
        )
    index = op.index
    if index is not None and index is not False:
        if isinstance(index, str) or not isinstance(index, list | tuple):
            raise InvalidArgumentError(f"index must be False, None or a list, got {index!r}")
        if not all(isinstance(path, str) for path in index):
            raise InvalidArgumentError(f"index paths must be strings, got {index!r}")
        index = list(index)
    return PutOp(
        validate_namespace_labels(op.namespace),
        str(op.key),
        op.value,
        index,
        None if op.value is None else validate_ttl(op.ttl),
    )


def _normalize_list(op: ListNamespacesOp) -> ListNamespacesOp:
    conditions = op.match_conditions
    if conditions is not None:
        if isinstance(conditions, MatchCondition) or not isinstance(conditions, Iterable):
            raise InvalidArgumentError(
                f"match_conditions must be a sequence of MatchCondition, got {conditions!r}"
            )
        conditions = tuple(_condition(c) for c in conditions)
    max_depth = None if op.max_depth is None else _count(op.max_depth, "max_depth", minimum=1)
    return ListNamespacesOp(
        conditions, max_depth, _count(op.limit, "limit"), _count(op.offset, "offset")
    )


def normalize_op(op: object) -> Op:
    """Validate one op and return it as a pitstop op (LangGraph's op tuples are converted).

    Labels are checked for every op (a label such as ``"a.b"`` must never address a different
    namespace in a backend that joins labels with dots); puts through ``batch`` may use the
    reserved root, as in LangGraph.
    """
    op = _convert(op)
    if isinstance(op, GetOp):
        return _normalize_get(op)
    if isinstance(op, SearchOp):
        return _normalize_search(op)
    if isinstance(op, PutOp):
        return _normalize_put(op)
    return _normalize_list(op)


def normalize_ops(ops: Iterable[object]) -> list[Op]:
    """:func:`normalize_op` over a batch (an invalid op fails the whole batch before any work)."""
    return [normalize_op(op) for op in ops]


def validate_op_namespace(op: object) -> None:
    """Validate the namespace labels an op carries (LangGraph-compatible name)."""
    normalize_op(op)
