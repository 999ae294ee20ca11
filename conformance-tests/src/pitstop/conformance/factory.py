"""Factories: how the suite obtains savers and stores from a backend author.

A *factory* is a callable taking no arguments (a store factory may take ``index=`` and ``ttl=``)
that returns one of:

- the saver/store itself;
- a context manager, sync or async, yielding it (``from_conn_string(...)`` for instance);
- a generator or async generator yielding it once (a pytest-fixture-like function).

Every call must give a saver over **fresh, empty** storage. ``reopen`` (optional) receives the
saver previously opened, after the suite has closed it, and returns a new one over the *same*
storage (same shapes as the factory); it enables the durability checks. ``connect`` (optional)
receives an open saver and returns ``("module:callable", args)``: what another *process* calls
to open a saver over the same storage; it enables the ``multiprocess`` checks. A factory object
may instead expose ``reopen``, ``connect`` and ``capabilities`` attributes itself, and
``stored_bytes(saver)`` for the throughput suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SaverFactory",
    "Session",
    "StoreFactory",
    "as_saver_factory",
    "as_store_factory",
    "load_object",
]


@dataclass(frozen=True)
class SaverFactory:
    """A saver factory plus what the suite needs to know about it.

    Attributes:
        create: returns a saver, a (async) context manager or a (async) generator yielding one.
        reopen: ``reopen(old_saver)`` opens the same storage again (see the module docstring).
        capabilities: optional capabilities claimed; ``None`` means detect them.
        stored_bytes: ``stored_bytes(saver) -> int`` for the throughput report.
        name: shown in reports.
        connect: ``connect(saver) -> ("module:callable", args)`` opens the same storage from
            another process (see the module docstring).
    """

    create: Callable[[], Any]
    reopen: Callable[[Any], Any] | None = None
    capabilities: Collection[str] | None = None
    stored_bytes: Callable[[Any], int] | None = None
    name: str = ""
    connect: Callable[[Any], tuple[str, tuple[Any, ...]]] | None = None

    def label(self) -> str:
        """A short display name."""
        return self.name or getattr(self.create, "__qualname__", repr(self.create))


@dataclass(frozen=True)
class StoreFactory:
    """A store factory: ``create(index=..., ttl=...)`` (both keywords optional).

    Attributes:
        create: returns a store (or a context manager / generator yielding one). It is called
            with ``index=IndexConfig`` for the vector checks and ``ttl=TTLConfig`` for the TTL
            checks, when it accepts those keywords.
        capabilities: claimed store capabilities (``store``, ``ttl``, ``store_vector``); ``None``
            means detect them.
        name: shown in reports.
    """

    create: Callable[..., Any]
    capabilities: Collection[str] | None = None
    name: str = ""
    accepts: frozenset[str] = field(default=frozenset())

    def label(self) -> str:
        """A short display name."""
        return self.name or getattr(self.create, "__qualname__", repr(self.create))

    def accepts_keyword(self, name: str) -> bool:
        """Whether ``create`` takes the keyword ``name`` (``index`` or ``ttl``)."""
        if name in self.accepts:
            return True
        try:
            params = inspect.signature(self.create).parameters
        except (TypeError, ValueError):
            return False
        return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def load_object(spec: str) -> Any:
    """Import ``"package.module:attr.path"`` and return the attribute."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"expected 'module:attribute', got {spec!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def as_saver_factory(obj: Any, *, reopen: Callable[[Any], Any] | None = None) -> SaverFactory:
    """Wrap a callable (or a ``"module:attr"`` string) as a :class:`SaverFactory`."""
    if isinstance(obj, str):
        obj = load_object(obj)
    if isinstance(obj, SaverFactory):
        return obj
    if not callable(obj):
        raise TypeError(f"a saver factory must be callable, got {obj!r}")
    caps = getattr(obj, "capabilities", None)
    return SaverFactory(
        create=obj,
        reopen=reopen or getattr(obj, "reopen", None),
        capabilities=frozenset(caps) if caps is not None and not callable(caps) else None,
        stored_bytes=getattr(obj, "stored_bytes", None),
        name=getattr(obj, "__qualname__", type(obj).__name__),
        connect=getattr(obj, "connect", None),
    )


def as_store_factory(obj: Any) -> StoreFactory:
    """Wrap a callable (or a ``"module:attr"`` string) as a :class:`StoreFactory`."""
    if isinstance(obj, str):
        obj = load_object(obj)
    if isinstance(obj, StoreFactory):
        return obj
    if not callable(obj):
        raise TypeError(f"a store factory must be callable, got {obj!r}")
    caps = getattr(obj, "capabilities", None)
    return StoreFactory(
        create=obj,
        capabilities=frozenset(caps) if caps is not None and not callable(caps) else None,
        name=getattr(obj, "__qualname__", type(obj).__name__),
    )


class Session:
    """Opens factory results and closes them in reverse order.

    Owns an :class:`asyncio.Runner` whose loop is used for every async call, so an async saver
    sees one loop for its whole life. Sync calls never go through it.
    """

    def __init__(self) -> None:
        self.runner = asyncio.Runner()
        self._closers: list[Callable[[], None]] = []

    def run(self, coro: Any) -> Any:
        """Run a coroutine on the session's loop."""
        return self.runner.run(coro)

    def open(self, produced: Any) -> Any:
        """Enter whatever a factory returned and return the saver/store it yields."""
        if inspect.isawaitable(produced) and not hasattr(produced, "__aenter__"):
            produced = self.run(produced)
        if inspect.isgenerator(produced):
            gen = produced
            value = next(gen)
            self._closers.append(lambda: _finish_generator(gen))
            return value
        if inspect.isasyncgen(produced):
            agen = produced
            value = self.run(agen.__anext__())
            self._closers.append(lambda: self.run(_finish_async_generator(agen)))
            return value
        if _is_self_cm(produced):
            return produced
        if hasattr(produced, "__aenter__") and not hasattr(produced, "__enter__"):
            acm = produced
            value = self.run(acm.__aenter__())
            self._closers.append(lambda: self.run(acm.__aexit__(None, None, None)))
            return value
        if isinstance(produced, contextlib.AbstractContextManager):
            cm = produced
            value = cm.__enter__()
            self._closers.append(lambda: cm.__exit__(None, None, None))
            return value
        return produced

    def close_last(self) -> None:
        """Close the most recently opened handle (used before ``reopen``)."""
        if self._closers:
            self._closers.pop()()

    def close(self) -> None:
        """Close every handle, newest first, then the loop."""
        try:
            while self._closers:
                self._closers.pop()()
        finally:
            self.runner.close()


def _is_self_cm(obj: Any) -> bool:
    """A saver or store that is also a context manager (``InMemorySaver``) is used as is."""
    return hasattr(obj, "get_tuple") or hasattr(obj, "batch")


def _finish_generator(gen: Any) -> None:
    with contextlib.suppress(StopIteration):
        next(gen)


async def _finish_async_generator(agen: Any) -> None:
    with contextlib.suppress(StopAsyncIteration):
        await agen.__anext__()
