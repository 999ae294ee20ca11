"""Drivers: one interface over a saver's (or store's) sync API or its async API.

A spec is written once against a driver. The sync driver calls ``saver.put(...)`` directly on
the calling thread; the async driver awaits ``saver.aput(...)`` on the session's event loop.
Every result a driver returns is also recorded, canonicalised, in its ``transcript``, so the
suite can check that the two APIs gave the same answers to the same calls.
"""

from __future__ import annotations

import builtins
import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, Literal

from pitstop.conformance.factory import SaverFactory, Session, StoreFactory

__all__ = ["Api", "NotRunError", "SaverDriver", "StoreDriver", "canonical"]

Api = Literal["sync", "async"]


class NotRunError(Exception):
    """A spec cannot run against this factory (a hook or a dependency is missing)."""


def canonical(value: Any) -> Any:
    """A comparable, type-preserving rendering of a result (tuples stay distinct from lists)."""
    if isinstance(value, Mapping):
        items = sorted(((repr(k), canonical(v)) for k, v in value.items()), key=lambda kv: kv[0])
        return ("map", type(value).__name__, tuple(items))
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # NamedTuple (CheckpointTuple)
        return ("named", type(value).__name__, tuple(canonical(v) for v in value))
    if isinstance(value, builtins.list | tuple):
        return (type(value).__name__, tuple(canonical(v) for v in value))
    if isinstance(value, set | frozenset):
        return (type(value).__name__, tuple(sorted(repr(canonical(v)) for v in value)))
    if isinstance(value, str | bytes | bytearray | int | float | bool | Decimal | uuid.UUID):
        return (type(value).__name__, repr(value))
    if value is None or isinstance(value, dt.date | dt.time | dt.timedelta):
        return repr(value)
    if hasattr(value, "namespace") and hasattr(value, "key") and hasattr(value, "value"):
        score = getattr(value, "score", None)  # store items: timestamps differ between runs
        rounded = round(score, 6) if isinstance(score, float) else score
        return ("item", tuple(value.namespace), value.key, canonical(value.value), rounded)
    return (type(value).__name__, repr(value))


class _Driver:
    def __init__(self, api: Api, session: Session) -> None:
        self.api: Api = api
        self.session = session
        self.transcript: builtins.list[tuple[str, Any]] = []
        self.target: Any = None

    def _record(self, name: str, result: Any) -> Any:
        self.transcript.append((name, canonical(result)))
        return result

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.api == "sync":
            return getattr(self.target, name)(*args, **kwargs)
        return self.session.run(getattr(self.target, "a" + name)(*args, **kwargs))

    def _collect(self, name: str, *args: Any, **kwargs: Any) -> builtins.list[Any]:
        if self.api == "sync":
            return builtins.list(getattr(self.target, name)(*args, **kwargs))

        async def collect() -> builtins.list[Any]:
            return [item async for item in getattr(self.target, "a" + name)(*args, **kwargs)]

        result: builtins.list[Any] = self.session.run(collect())
        return result

    def concurrently(
        self, calls: Sequence[tuple[str, tuple[Any, ...], dict[str, Any]]], *, workers: int = 16
    ) -> builtins.list[Any]:
        """Run ``(method, args, kwargs)`` calls at once: threads (sync) or tasks (async)."""
        if self.api == "sync":
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(getattr(self.target, n), *a, **k) for n, a, k in calls]
                return [f.result() for f in futures]

        async def gather() -> builtins.list[Any]:
            import asyncio

            coros = [getattr(self.target, "a" + n)(*a, **k) for n, a, k in calls]
            return builtins.list(await asyncio.gather(*coros))

        result: builtins.list[Any] = self.session.run(gather())
        return result


class SaverDriver(_Driver):
    """A saver seen through one API (``sync`` or ``async``)."""

    def __init__(
        self, api: Api, session: Session, factory: SaverFactory, capabilities: frozenset[str]
    ) -> None:
        super().__init__(api, session)
        self.factory = factory
        self.capabilities = capabilities
        self.target = session.open(factory.create())

    @property
    def saver(self) -> Any:
        """The saver under test."""
        return self.target

    def fresh(self) -> SaverDriver:
        """Another saver from the factory (fresh storage), same API and session."""
        return SaverDriver(self.api, self.session, self.factory, self.capabilities)

    def reopen(self) -> None:
        """Close the saver and open its storage again (raises :class:`NotRunError` if no hook)."""
        if self.factory.reopen is None:
            raise NotRunError("the factory has no reopen hook")
        old = self.target
        self.session.close_last()
        self.target = self.session.open(self.factory.reopen(old))

    def put(
        self,
        config: Mapping[str, Any],
        checkpoint: Mapping[str, Any],
        metadata: Mapping[str, Any],
        new_versions: Mapping[str, Any],
    ) -> Any:
        """``put``/``aput``."""
        return self._record("put", self._call("put", config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: Mapping[str, Any],
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """``put_writes``/``aput_writes`` (``task_path`` passed by keyword)."""
        self._call("put_writes", config, writes, task_id, task_path=task_path)

    def get_tuple(self, config: Mapping[str, Any]) -> Any:
        """``get_tuple``/``aget_tuple``."""
        return self._record("get_tuple", self._call("get_tuple", config))

    def list(
        self,
        config: Mapping[str, Any] | None,
        *,
        filter: dict[str, Any] | None = None,
        before: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> builtins.list[Any]:
        """``list``/``alist``, collected."""
        result = self._collect("list", config, filter=filter, before=before, limit=limit)
        return self._record("list", result)  # type: ignore[no-any-return]

    def delete_thread(self, thread_id: str) -> None:
        """``delete_thread``/``adelete_thread``."""
        self._call("delete_thread", thread_id)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """``delete_for_runs``/``adelete_for_runs``."""
        self._call("delete_for_runs", run_ids)

    def copy_thread(self, source: str, target: str) -> None:
        """``copy_thread``/``acopy_thread``."""
        self._call("copy_thread", source, target)

    def prune(self, thread_ids: Sequence[str], strategy: str = "keep_latest") -> None:
        """``prune``/``aprune``."""
        self._call("prune", thread_ids, strategy=strategy)

    def delta_history(self, config: Mapping[str, Any], channels: Sequence[str]) -> Any:
        """``get_delta_channel_history``/``aget_delta_channel_history``."""
        result = self._call("get_delta_channel_history", config=config, channels=channels)
        return self._record("delta_history", dict(result))

    def next_version(self, current: Any) -> Any:
        """``get_next_version`` (sync in both APIs, as the runtime calls it)."""
        return self.target.get_next_version(current, None)


class StoreDriver(_Driver):
    """A store seen through one API (``sync`` or ``async``)."""

    def __init__(self, api: Api, session: Session, factory: StoreFactory, **config: Any) -> None:
        super().__init__(api, session)
        self.factory = factory
        kwargs = {k: v for k, v in config.items() if v is not None}
        self.target = session.open(factory.create(**kwargs))

    @property
    def store(self) -> Any:
        """The store under test."""
        return self.target

    def put(self, namespace: tuple[str, ...], key: str, value: Any, **kwargs: Any) -> None:
        """``put``/``aput``."""
        self._call("put", namespace, key, value, **kwargs)

    def get(self, namespace: tuple[str, ...], key: str, **kwargs: Any) -> Any:
        """``get``/``aget``."""
        return self._record("get", self._call("get", namespace, key, **kwargs))

    def delete(self, namespace: tuple[str, ...], key: str) -> None:
        """``delete``/``adelete``."""
        self._call("delete", namespace, key)

    def search(self, prefix: tuple[str, ...], **kwargs: Any) -> builtins.list[Any]:
        """``search``/``asearch``."""
        return self._record("search", builtins.list(self._call("search", prefix, **kwargs)))  # type: ignore[no-any-return]

    def list_namespaces(self, **kwargs: Any) -> builtins.list[tuple[str, ...]]:
        """``list_namespaces``/``alist_namespaces``."""
        result = [tuple(ns) for ns in self._call("list_namespaces", **kwargs)]
        return self._record("list_namespaces", result)  # type: ignore[no-any-return]

    def batch(self, ops: Sequence[Any]) -> builtins.list[Any]:
        """``batch``/``abatch``."""
        return self._record("batch", builtins.list(self._call("batch", ops)))  # type: ignore[no-any-return]

    def sweep_ttl(self) -> int:
        """``sweep_ttl``/``asweep_ttl`` when the store has them (else 0)."""
        name = "sweep_ttl" if self.api == "sync" else "asweep_ttl"
        if not hasattr(self.target, name):
            if hasattr(self.target, "sweep_ttl"):
                return int(self.target.sweep_ttl())
            raise NotRunError("the store has no sweep_ttl()")
        return int(self._call("sweep_ttl"))


Call = Callable[..., Any]
