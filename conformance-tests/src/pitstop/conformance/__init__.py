"""pitstop-conformance: the conformance and throughput suite for LangGraph checkpoint savers.

Point it at a factory::

    # tests/test_conformance.py of a backend
    from pitstop.conformance import conformance_tests
    TestMySaver = conformance_tests(saver=make_saver, store=make_store)

or run ``pitstop-conformance check module:factory`` / ``pitstop-conformance bench module:factory``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from pitstop.conformance.capabilities import GROUPS, OPTIONAL, REQUIRED
from pitstop.conformance.factory import (
    SaverFactory,
    StoreFactory,
    as_saver_factory,
    as_store_factory,
)
from pitstop.conformance.suite import Report, Suite, run_suite

__all__ = [
    "GROUPS",
    "OPTIONAL",
    "REQUIRED",
    "Report",
    "SaverFactory",
    "StoreFactory",
    "Suite",
    "check",
    "conformance_tests",
    "run_suite",
]


def _suite(
    saver: Any,
    store: Any,
    reopen: Callable[[Any], Any] | None,
    capabilities: Collection[str] | None,
    only: Collection[str] | None,
) -> Suite:
    return Suite(
        saver=as_saver_factory(saver, reopen=reopen) if saver is not None else None,
        store=as_store_factory(store) if store is not None else None,
        claimed=frozenset(capabilities) if capabilities is not None else None,
        only=frozenset(only) if only is not None else None,
    )


def conformance_tests(
    saver: Any = None,
    *,
    store: Any = None,
    reopen: Callable[[Any], Any] | None = None,
    capabilities: Collection[str] | None = None,
    only: Collection[str] | None = None,
) -> type:
    """Return a pytest test class running the whole suite against the given factories.

    Assign it to a ``Test*`` name in a test module. The capability table is printed at the end
    of the session by the plugin (auto-loaded once the package is installed).
    """
    from pitstop.conformance.plugin import run_case

    suite = _suite(saver, store, reopen, capabilities, only)

    def test_conformance(self: object, pitstop_case: Any) -> None:
        run_case(pitstop_case)

    return type(
        "TestPitstopConformance",
        (),
        {"pitstop_suite": suite, "test_conformance": test_conformance, "__test__": True},
    )


def check(
    saver: Any = None,
    *,
    store: Any = None,
    reopen: Callable[[Any], Any] | None = None,
    capabilities: Collection[str] | None = None,
    only: Collection[str] | None = None,
) -> Report:
    """Run the suite in-process (no pytest) and return the report."""
    return run_suite(_suite(saver, store, reopen, capabilities, only))
