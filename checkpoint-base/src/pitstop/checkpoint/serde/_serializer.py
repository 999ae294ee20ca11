"""``MsgpackSerializer``: pitstop's default serializer (the policy is in the package docstring)."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from typing import Any

from pitstop.checkpoint.errors import DeserializationError
from pitstop.checkpoint.serde._decode import Decoder
from pitstop.checkpoint.serde._encode import dumps
from pitstop.checkpoint.serde._policy import normalize_allowlist

__all__ = ["MsgpackSerializer", "strict_from_env"]

_TRUE = frozenset({"1", "true", "yes"})
_MAX_CLONES = 32
_EMPTY = b""

_AllowKey = tuple[frozenset[tuple[str, str]], frozenset[type]]


def strict_from_env() -> bool:
    """True if ``PITSTOP_STRICT_SERDE`` or ``LANGGRAPH_STRICT_MSGPACK`` is 1/true/yes."""
    return any(
        os.environ.get(var, "").strip().lower() in _TRUE
        for var in ("PITSTOP_STRICT_SERDE", "LANGGRAPH_STRICT_MSGPACK")
    )


class MsgpackSerializer:
    """Serializes values to ``(type_tag, bytes)`` with msgpack, and loads them back safely.

    Args:
        strict: ``True`` rebuilds only built-in types, LangChain/LangGraph known types,
            registered types and the ``allowlist``; ``False`` also rebuilds any dataclass,
            NamedTuple, Enum or pydantic model whose module is already imported; ``None``
            (default) reads ``PITSTOP_STRICT_SERDE`` / ``LANGGRAPH_STRICT_MSGPACK``.
        allowlist: classes, or ``(module, name)`` pairs, to rebuild in strict mode.

    To allow a class for every serializer (strict ones included), decorate it with
    :func:`~pitstop.checkpoint.serde.register_type`.
    """

    def __init__(
        self,
        *,
        strict: bool | None = None,
        allowlist: Iterable[type | tuple[str, str]] = (),
    ) -> None:
        self._strict = strict_from_env() if strict is None else bool(strict)
        self._names, self._classes = normalize_allowlist(allowlist)
        self._decoder = Decoder(strict=self._strict, names=self._names, classes=self._classes)
        self._clones: dict[_AllowKey, MsgpackSerializer] = {}

    @property
    def strict(self) -> bool:
        """Whether only built-in, known, registered and allowlisted types are rebuilt."""
        return self._strict

    @property
    def allowlist(self) -> frozenset[tuple[str, str]]:
        """The allowlist as ``(module, name)`` pairs (classes are listed by name too)."""
        return self._names

    def __deepcopy__(self, memo: dict[int, Any]) -> MsgpackSerializer:
        return self  # immutable (its caches only ever hold what the policy allows)

    def __repr__(self) -> str:
        return f"MsgpackSerializer(strict={self._strict}, allowlist={len(self._names)} entries)"

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        """Serialize ``obj`` to ``(type_tag, payload)``.

        Tags: ``"null"`` for ``None``, ``"bytes"`` / ``"bytearray"`` for raw binary values,
        ``"msgpack"`` for everything else.

        Raises:
            SerializationError: ``obj`` holds a value that cannot be serialized; ``.path`` says
                where, e.g. ``messages[3].response_metadata["raw"]``.
        """
        if obj is None:
            return "null", _EMPTY
        cls = type(obj)
        if cls is bytes:
            return "bytes", obj
        if cls is bytearray:
            return "bytearray", bytes(obj)
        return "msgpack", dumps(obj)

    def frame(self, count: int, chunks: list[bytes]) -> bytes:
        """Several ``"msgpack"`` payloads in one buffer for :meth:`loads_frame`.

        ``chunks`` join into ``count`` whole payloads (a payload may be given in pieces).
        """
        return self._decoder.frame(count, chunks)

    def loads_frame(self, framed: bytes) -> list[Any]:
        """What each payload of a :meth:`frame` decodes to, in order, by one parser call.

        Raises:
            RefusedTypeError, CorruptRecordError, DeserializationError: as
                :meth:`loads_typed` for any of the payloads.
        """
        found = self._decoder.loads_frame(framed)
        if type(found) is not list:  # pragma: no cover - a frame always holds an array
            raise DeserializationError("a frame did not decode to a list")
        return found

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        """Rebuild a value from ``(type_tag, payload)``.

        Raises:
            RefusedTypeError: the payload names a class this serializer does not rebuild.
            CorruptRecordError: the payload is truncated or not valid msgpack.
            DeserializationError: the tag is unknown (``"pickle"`` is always refused) or a value
                could not be rebuilt.
        """
        tag, payload = data
        if tag == "msgpack":
            return self._decoder.loads(payload)
        if tag == "null":
            return None
        if tag == "bytes":
            return payload if type(payload) is bytes else bytes(payload)
        if tag == "bytearray":
            return bytearray(payload)
        if tag == "pickle":
            raise DeserializationError(
                "refusing a 'pickle' payload: pitstop never unpickles stored data"
            )
        hint = " (an encrypted value: load it with EncryptedSerializer)" if "+" in tag else ""
        raise DeserializationError(f"unknown serialization type tag {tag!r}{hint}")

    def with_allowlist(self, extra: Collection[tuple[str, ...] | type]) -> MsgpackSerializer:
        """Return a serializer whose allowlist also has ``extra`` (``self`` if nothing is new).

        Entries are classes or ``(module, name)`` pairs, equivalently. Clones are memoized, so
        LangGraph calling this on every invocation does not rebuild caches each time.
        """
        names, classes = normalize_allowlist(extra)
        if names <= self._names and classes <= self._classes:
            return self
        key = (names, classes)
        clone = self._clones.get(key)
        if clone is None:
            clone = MsgpackSerializer(
                strict=self._strict, allowlist=[*self._names, *self._classes, *names, *classes]
            )
            if len(self._clones) >= _MAX_CLONES:
                self._clones.clear()
            self._clones[key] = clone
        return clone

    # LangGraph's JsonPlusSerializer spelling.
    with_msgpack_allowlist = with_allowlist
