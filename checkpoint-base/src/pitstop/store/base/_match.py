"""Pure matching logic every pitstop store shares: search filters, namespaces, ranking.

Filter semantics (the reference every backend is tested against):

* A filter is an AND over top-level keys of ``item.value`` (a missing key reads as ``None``).
* A plain value means equality. Equality is JSON equality: numbers compare by value
  (``1 == 1.0``), booleans only equal booleans, objects and arrays compare structurally.
* A nested plain dict is a *subset* match (every key given must match, recursively); a list
  matches element-wise and needs the same length.
* An operator dict (any key starting with ``$``) applies every operator:
  ``$eq`` / ``$ne`` (JSON equality, so a missing key satisfies ``$ne``) and
  ``$gt`` / ``$gte`` / ``$lt`` / ``$lte``, which order two numbers numerically (``10 > 9``) or
  two strings lexicographically; any other pair (``None``, booleans, mixed types) does not match.
* An unknown operator raises :class:`InvalidArgumentError` naming it, before any item is read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from pitstop.checkpoint.errors import InvalidArgumentError
from pitstop.store.base._types import ListNamespacesOp, MatchCondition

__all__ = [
    "FILTER_OPERATORS",
    "filter_namespaces",
    "has_prefix",
    "json_equal",
    "literal_prefix",
    "matches_filter",
    "namespace_matches",
    "rank_page",
    "validate_filter",
]

FILTER_OPERATORS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"})

_T = TypeVar("_T")


def _is_operator_dict(condition: Mapping[Any, Any]) -> bool:
    return any(isinstance(k, str) and k.startswith("$") for k in condition)


def _validate_condition(condition: Any, where: str) -> None:
    if isinstance(condition, Mapping):
        if _is_operator_dict(condition):
            for operator in condition:
                if operator not in FILTER_OPERATORS:
                    raise InvalidArgumentError(
                        f"unsupported filter operator {operator!r} for {where!r}; "
                        f"supported: {', '.join(sorted(FILTER_OPERATORS))}"
                    )
        else:
            for key, sub in condition.items():
                _validate_condition(sub, f"{where}.{key}")
    elif isinstance(condition, list | tuple):
        for i, sub in enumerate(condition):
            _validate_condition(sub, f"{where}[{i}]")


def validate_filter(filter: Mapping[str, Any] | None) -> None:
    """Raise :class:`InvalidArgumentError` for a non-mapping filter or an unknown operator."""
    if filter is None:
        return
    if not isinstance(filter, Mapping):
        raise InvalidArgumentError(
            f"a search filter must be a mapping, got {type(filter).__name__}"
        )
    for key, condition in filter.items():
        if not isinstance(key, str):
            raise InvalidArgumentError(f"filter keys must be strings, got {key!r}")
        _validate_condition(condition, key)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def json_equal(a: Any, b: Any) -> bool:
    """Equality of two JSON-like values (numbers by value, booleans distinct from numbers)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping | list | tuple) or isinstance(b, Mapping | list | tuple):
        return False
    return bool(a == b)


def _order(a: Any, b: Any) -> int | None:
    """-1/0/1 comparing two numbers or two strings; ``None`` if they are not comparable."""
    if _is_number(a) and _is_number(b):
        if math.isnan(a) or math.isnan(b):
            return None
    elif not (isinstance(a, str) and isinstance(b, str)):
        return None
    return -1 if a < b else (1 if a > b else 0)


def _apply_operator(actual: Any, operator: str, operand: Any) -> bool:
    if operator == "$eq":
        return json_equal(actual, operand)
    if operator == "$ne":
        return not json_equal(actual, operand)
    order = _order(actual, operand)
    if order is None:
        return False
    if operator == "$gt":
        return order > 0
    if operator == "$gte":
        return order >= 0
    if operator == "$lt":
        return order < 0
    if operator == "$lte":
        return order <= 0
    raise InvalidArgumentError(f"unsupported filter operator {operator!r}")


def _matches(actual: Any, condition: Any) -> bool:
    if isinstance(condition, Mapping):
        if _is_operator_dict(condition):
            return all(_apply_operator(actual, op, operand) for op, operand in condition.items())
        if not isinstance(actual, Mapping):
            return False
        return all(_matches(actual.get(k), sub) for k, sub in condition.items())
    if isinstance(condition, list | tuple):
        return (
            isinstance(actual, list | tuple)
            and len(actual) == len(condition)
            and all(_matches(a, c) for a, c in zip(actual, condition, strict=True))
        )
    return json_equal(actual, condition)


def matches_filter(value: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """Whether a stored value satisfies a (validated) search filter."""
    if not filter:
        return True
    return all(_matches(value.get(key), condition) for key, condition in filter.items())


def has_prefix(namespace: tuple[str, ...], prefix: tuple[str, ...]) -> bool:
    """Element-wise tuple prefix test (``("foo",)`` is not a prefix of ``("foobar",)``)."""
    return namespace[: len(prefix)] == prefix


def namespace_matches(namespace: tuple[str, ...], condition: MatchCondition) -> bool:
    """Whether ``namespace`` matches one condition (``"*"`` matches exactly one label)."""
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        labels = namespace[: len(path)]
    elif condition.match_type == "suffix":
        labels = namespace[len(namespace) - len(path) :]
    else:
        raise InvalidArgumentError(f"unsupported namespace match type {condition.match_type!r}")
    return all(p == "*" or p == label for p, label in zip(path, labels, strict=True))


def filter_namespaces(
    namespaces: Iterable[tuple[str, ...]], op: ListNamespacesOp
) -> list[tuple[str, ...]]:
    """Apply a :class:`ListNamespacesOp` to the namespaces that hold at least one item.

    Conditions are ANDed, ``max_depth`` truncates and de-duplicates, the result is sorted
    ascending and then sliced by ``offset``/``limit``.
    """
    conditions = op.match_conditions or ()
    matched = {ns for ns in namespaces if all(namespace_matches(ns, c) for c in conditions)}
    if op.max_depth is not None:
        matched = {ns[: op.max_depth] for ns in matched}
    return sorted(matched)[op.offset : op.offset + op.limit]


def literal_prefix(op: ListNamespacesOp) -> tuple[str, ...]:
    """The longest run of literal leading labels of ``op``'s prefix conditions.

    Every namespace :func:`filter_namespaces` keeps starts with it, so a backend can narrow
    its read to that prefix before filtering.
    """
    literal: tuple[str, ...] = ()
    for condition in op.match_conditions or ():
        if condition.match_type == "prefix":
            labels: list[str] = []
            for label in condition.path:
                if label == "*":
                    break
                labels.append(label)
            if len(labels) > len(literal):
                literal = tuple(labels)
    return literal


def rank_page(
    scored: Sequence[tuple[float, _T]],
    unscored: Sequence[_T],
    *,
    offset: int,
    limit: int,
) -> list[tuple[float | None, _T]]:
    """One page of a vector search: scored entries by score (desc, stable), then unscored ones.

    Unscored entries (not embedded, or ``index=False``) only appear once the scored ones are
    exhausted, so they fill a page that would otherwise be short.
    """
    ranked: list[tuple[float | None, _T]] = [
        (score, entry) for score, entry in sorted(scored, key=lambda pair: -pair[0])
    ]
    ranked.extend((None, entry) for entry in unscored)
    return ranked[offset : offset + limit]
