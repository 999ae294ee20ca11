"""Value types the serializer itself produces: delta snapshots and inert revived exceptions."""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["DeltaSnapshot", "RevivedException"]


class DeltaSnapshot(NamedTuple):
    """Snapshot blob of a delta channel (msgpack ext code 7).

    Mirrors LangGraph's ``langgraph.checkpoint.serde.types._DeltaSnapshot``. Loading decodes
    ext 7 to LangGraph's class when ``langgraph.checkpoint.serde.types`` is already imported,
    and to this class otherwise. Both encode the same way, and compare equal as tuples.
    """

    value: Any


class RevivedException(Exception):
    """Inert stand-in for a stored exception whose class pitstop does not rebuild.

    Built-in exception classes (``ValueError``, ``KeyError``, ...) come back as themselves;
    any other exception class comes back as this, carrying the original class name
    (``type_name``, ``"module.QualName"``), the message (``str(exc)`` at save time) and the
    original ``args`` (as far as they were serializable). No code of the original class runs.
    Serializing a ``RevivedException`` again writes the original class name, so it is stable.
    """

    def __init__(self, type_name: str, message: str = "", args: tuple[Any, ...] = ()) -> None:
        super().__init__(*args)
        self.type_name = type_name
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"RevivedException({self.type_name!r}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RevivedException):
            return NotImplemented
        return (self.type_name, self.message, self.args) == (
            other.type_name,
            other.message,
            other.args,
        )

    def __hash__(self) -> int:
        return hash((self.type_name, self.message))
