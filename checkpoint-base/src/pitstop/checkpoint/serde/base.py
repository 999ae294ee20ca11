"""The serializer protocol every pitstop saver persists values through."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["SerializerProtocol"]


@runtime_checkable
class SerializerProtocol(Protocol):
    """Turns a value into ``(type_tag, bytes)`` and back.

    Savers store both parts verbatim and hand the tag back unchanged on load.
    """

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        """Serialize ``obj`` into a type tag and a payload."""
        ...

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        """Rebuild a value from a ``(type_tag, payload)`` pair produced by ``dumps_typed``."""
        ...
