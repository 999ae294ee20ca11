"""Real LangGraph graphs run with the saver under test and compared with ``InMemorySaver``.

The scenarios live in :mod:`pitstop.conformance.scenarios` (registries ``SYNC_SCENARIOS`` and
``ASYNC_SCENARIOS``: a mapping of name to function, or a sequence of functions or of
``(name, function)`` pairs, each taking a
zero-argument callable that returns a fresh saver). Each scenario becomes one spec; without
LangGraph or without the scenarios module the ``graphs`` group reports "not run".
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from pitstop.conformance.driver import NotRunError, SaverDriver
from pitstop.conformance.registry import saver_spec


def _registry(module: Any, name: str) -> dict[str, Callable[..., Any]]:
    raw = getattr(module, name, None) or {}
    if isinstance(raw, Mapping):
        return dict(raw)
    registry: dict[str, Callable[..., Any]] = {}
    for i, entry in enumerate(raw):
        if isinstance(entry, tuple):  # (name, fn) pairs
            registry[str(entry[0])] = entry[1]
        else:
            registry[getattr(entry, "__name__", str(i))] = entry
    return registry


def _load() -> tuple[dict[str, Callable[..., Any]], dict[str, Callable[..., Any]]]:
    if importlib.util.find_spec("langgraph") is None:
        return {}, {}
    try:
        module = importlib.import_module("pitstop.conformance.scenarios")
    except ImportError:
        return {}, {}
    return _registry(module, "SYNC_SCENARIOS"), _registry(module, "ASYNC_SCENARIOS")


SYNC, ASYNC = _load()


def _make(name: str) -> Callable[[SaverDriver], None]:
    def run(d: SaverDriver) -> None:
        fn = (SYNC if d.api == "sync" else ASYNC).get(name)
        if fn is None:
            raise NotRunError(f"no {d.api} variant of scenario {name!r}")

        # Open the saver before the scenario's event loop runs: a factory may be an async
        # context manager, which the session enters on its own loop, not inside a running one.
        saver = d.fresh().saver

        def factory() -> Any:
            return saver

        if inspect.iscoroutinefunction(fn):
            d.session.run(fn(factory))
        else:
            fn(factory)

    run.__name__ = "spec_" + name.removeprefix("scenario_").removeprefix("test_")
    run.__module__ = __name__
    return run


for _name in sorted(set(SYNC) | set(ASYNC)):
    saver_spec("graphs", "R01-R18", parity=False)(_make(_name))

if not SYNC and not ASYNC:

    @saver_spec("graphs", parity=False)
    def spec_scenarios(d: SaverDriver) -> None:
        """Placeholder: reported as "not run" (LangGraph or the scenarios module missing)."""
        raise NotRunError("langgraph or pitstop.conformance.scenarios is not installed")
