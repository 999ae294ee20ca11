"""Which stored class names pitstop rebuilds, and how it finds them without importing anything.

A stored payload names a class as ``(module, qualname)``. Resolution only ever looks at
``sys.modules`` and at plain ``__dict__`` entries (so no module ``__getattr__`` hook and no
import runs); the caller then checks what kind of class it found before rebuilding a value.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
import threading
import types
from collections.abc import Iterable
from typing import Any, TypeVar

__all__ = [
    "KNOWN_TYPES",
    "lookup",
    "normalize_allowlist",
    "pydantic_v1_base",
    "pydantic_v2_base",
    "register_type",
    "registered",
    "revivable_kind",
]

T = TypeVar("T", bound=type)

# LangChain / LangGraph value and control types. Revived in every mode (strict included),
# provided their module is already imported. Same list as LangGraph's SAFE_MSGPACK_TYPES.
KNOWN_TYPES: frozenset[tuple[str, str]] = frozenset(
    {
        ("langchain_core.messages.base", "BaseMessage"),
        ("langchain_core.messages.base", "BaseMessageChunk"),
        ("langchain_core.messages.human", "HumanMessage"),
        ("langchain_core.messages.human", "HumanMessageChunk"),
        ("langchain_core.messages.ai", "AIMessage"),
        ("langchain_core.messages.ai", "AIMessageChunk"),
        ("langchain_core.messages.system", "SystemMessage"),
        ("langchain_core.messages.system", "SystemMessageChunk"),
        ("langchain_core.messages.chat", "ChatMessage"),
        ("langchain_core.messages.chat", "ChatMessageChunk"),
        ("langchain_core.messages.tool", "ToolMessage"),
        ("langchain_core.messages.tool", "ToolMessageChunk"),
        ("langchain_core.messages.function", "FunctionMessage"),
        ("langchain_core.messages.function", "FunctionMessageChunk"),
        ("langchain_core.messages.modifier", "RemoveMessage"),
        ("langchain_core.documents.base", "Document"),
        ("langgraph.types", "Send"),
        ("langgraph.types", "TimeoutPolicy"),
        ("langgraph.types", "Interrupt"),
        ("langgraph.types", "Command"),
        ("langgraph.types", "StateSnapshot"),
        ("langgraph.types", "PregelTask"),
        ("langgraph.types", "Overwrite"),
        ("langgraph.store.base", "Item"),
        ("langgraph.store.base", "GetOp"),
        ("pydantic.types", "SecretStr"),
        ("pydantic.types", "SecretBytes"),
        ("pydantic.v1.types", "SecretStr"),
        ("pydantic.v1.types", "SecretBytes"),
    }
)

_REGISTRY: dict[tuple[str, str], type] = {}
_REGISTRY_LOCK = threading.Lock()


def _module_dict(module: str) -> dict[str, Any] | None:
    mod = sys.modules.get(module)
    if not isinstance(mod, types.ModuleType):
        return None
    # object.__getattribute__ bypasses any __getattribute__ override of a module subclass.
    namespace = object.__getattribute__(mod, "__dict__")
    return namespace if isinstance(namespace, dict) else None


def lookup(module: str, qualname: str) -> object | None:
    """Find ``module.qualname`` among already-imported modules, without running any code.

    Returns ``None`` if the module is not imported or the name is not there. Nested names
    (``Outer.Inner``) are followed through class ``__dict__`` entries.
    """
    namespace = _module_dict(module)
    if namespace is None:
        return None
    obj: object = namespace.get(qualname)
    if obj is not None or "." not in qualname:
        return obj
    head, *rest = qualname.split(".")
    obj = namespace.get(head)
    for part in rest:
        if not isinstance(obj, type):
            return None
        obj = obj.__dict__.get(part)
    return obj


def pydantic_v2_base() -> type | None:
    """Pydantic v2's ``BaseModel`` if pydantic is imported, else ``None`` (never imports)."""
    namespace = _module_dict("pydantic.main")
    base = namespace.get("BaseModel") if namespace else None
    return base if isinstance(base, type) and hasattr(base, "model_validate") else None


def pydantic_v1_base() -> type | None:
    """Pydantic v1's ``BaseModel`` (``pydantic.v1``) if imported, else ``None``."""
    namespace = _module_dict("pydantic.v1.main")
    base = namespace.get("BaseModel") if namespace else None
    return base if isinstance(base, type) else None


def is_namedtuple_class(cls: type) -> bool:
    """True for classes made by ``typing.NamedTuple`` / ``collections.namedtuple``."""
    return issubclass(cls, tuple) and hasattr(cls, "_fields") and hasattr(cls, "_asdict")


def revivable_kind(cls: type) -> str | None:
    """Name the kind of data class ``cls`` is, or ``None`` if pitstop never rebuilds it."""
    if dataclasses.is_dataclass(cls):
        return "dataclass"
    if issubclass(cls, enum.Enum):
        return "enum"
    if is_namedtuple_class(cls):
        return "namedtuple"
    v2 = pydantic_v2_base()
    if v2 is not None and issubclass(cls, v2):
        return "pydantic"
    v1 = pydantic_v1_base()
    if v1 is not None and issubclass(cls, v1):
        return "pydantic.v1"
    return None


def register_type(cls: T) -> T:
    """Allow ``cls`` to be rebuilt on load by every serializer, strict ones included.

    Usable as a class decorator. ``cls`` must be a dataclass, NamedTuple, Enum, pydantic
    (v1 or v2) model, or an exception class (rebuilt as ``cls(*args)`` instead of a
    :class:`~pitstop.checkpoint.serde.types.RevivedException`). A registered class is found by
    the registry, so it also works when it is not reachable as ``module.qualname`` (a class
    defined inside a function).

    Raises:
        TypeError: ``cls`` is not one of the kinds above.
    """
    if not isinstance(cls, type) or (
        revivable_kind(cls) is None and not issubclass(cls, BaseException)
    ):
        raise TypeError(
            f"register_type() takes a dataclass, NamedTuple, Enum, pydantic model or exception "
            f"class, not {cls!r}"
        )
    with _REGISTRY_LOCK:
        _REGISTRY[(cls.__module__, cls.__qualname__)] = cls
    return cls


def registered(module: str, qualname: str) -> type | None:
    """The class registered under ``(module, qualname)``, if any."""
    return _REGISTRY.get((module, qualname))


def normalize_allowlist(
    entries: Iterable[type | tuple[str, ...]],
) -> tuple[frozenset[tuple[str, str]], frozenset[type]]:
    """Split allowlist entries into ``(module, name)`` pairs and class objects.

    A class ``C`` is also recorded as ``(C.__module__, C.__qualname__)`` and
    ``(C.__module__, C.__name__)``, so class and tuple entries are equivalent.

    Raises:
        TypeError: an entry is neither a class nor a ``(module, name)`` pair of strings.
    """
    names: set[tuple[str, str]] = set()
    classes: set[type] = set()
    for entry in entries:
        if isinstance(entry, type):
            classes.add(entry)
            names.add((entry.__module__, entry.__qualname__))
            names.add((entry.__module__, entry.__name__))
        elif (
            isinstance(entry, tuple)
            and len(entry) == 2
            and isinstance(entry[0], str)
            and isinstance(entry[1], str)
        ):
            names.add((entry[0], entry[1]))
        else:
            raise TypeError(f"allowlist entries are classes or (module, name) pairs, not {entry!r}")
    return frozenset(names), frozenset(classes)
