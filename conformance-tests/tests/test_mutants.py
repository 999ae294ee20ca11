"""Mutation tests: the suite must fail on every single-bug variant and pass on the originals.

Each mutant runs only the spec subset named next to it (see ``mutants.py``) to stay fast; the
real in-memory saver/store is checked against the same subsets.
"""

from __future__ import annotations

from typing import Any

import pytest
from mutants import SAVER_MUTANTS, STORE_MUTANTS

from pitstop.checkpoint.memory import InMemorySaver
from pitstop.conformance import SaverFactory, StoreFactory, Suite, run_suite
from pitstop.conformance.memory import store as memory_store
from pitstop.store.memory import InMemoryStore

ALL_CAPS = ("delete_for_runs", "copy_thread", "prune", "delta_history")


def _saver_suite(create: Any, only: tuple[str, ...]) -> Suite:
    return Suite(saver=SaverFactory(create, capabilities=ALL_CAPS), only=only)


def _store_suite(create: Any, only: tuple[str, ...]) -> Suite:
    return Suite(store=StoreFactory(create), only=only)


def test_enough_mutants() -> None:
    assert len(SAVER_MUTANTS) >= 20
    assert len(STORE_MUTANTS) >= 3


@pytest.mark.parametrize("name", sorted(SAVER_MUTANTS))
def test_saver_mutant_is_caught(name: str) -> None:
    create, only = SAVER_MUTANTS[name]
    report = run_suite(_saver_suite(create, only))
    assert report.failed, f"mutant {name!r} passed the suite"
    assert run_suite(_saver_suite(InMemorySaver, only)).ok, "the real saver fails this subset"


@pytest.mark.parametrize("name", sorted(STORE_MUTANTS))
def test_store_mutant_is_caught(name: str) -> None:
    create, only = STORE_MUTANTS[name]
    report = run_suite(_store_suite(create, only))
    assert report.failed, f"mutant {name!r} passed the suite"
    assert run_suite(_store_suite(memory_store, only)).ok, "the real store fails this subset"


def test_real_store_class_is_the_reference() -> None:
    assert isinstance(memory_store(), InMemoryStore)
