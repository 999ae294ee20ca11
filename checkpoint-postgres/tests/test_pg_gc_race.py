"""Garbage collection racing a ``put`` that builds a delta on a value the collection frees.

A ``put`` writing a delta takes its thread's advisory lock (shared) and then checks the record it
extends still exists; ``prune``, ``sweep``, ``delete_for_runs`` and ``delete_thread`` take the
lock exclusively, so they must either wait for that ``put`` and keep (or delete along with it)
what it built on, or make it find the base gone (it then stores the value in full). Never may a
committed checkpoint's delta lose its base.

The window is widened, on a real server, by a trigger in the test's own schema that sleeps
while the ``put`` holds its lock (after the check, before the commit); the collector starts
while the ``put`` sleeps. Each case runs several times with different delays. The other way
round, a trigger sleeps in the collection's delete (holding its lock) while the ``put`` starts:
the ``put`` waits, then must see the base gone (a check with a snapshot older than the lock
would not).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from pg_saver_env import URI, new_schema, require_server
from psycopg import sql

from pitstop.checkpoint.base import RetentionPolicy, empty_checkpoint
from pitstop.checkpoint.postgres import PostgresSaver

require_server()

SLOW_PUT = 0.3
"""Seconds the racing ``put`` sleeps holding its lock on the base record."""


def _cfg(thread: str, parent: str | None = None) -> dict[str, Any]:
    configurable: dict[str, Any] = {"thread_id": thread, "checkpoint_ns": ""}
    if parent:
        configurable["checkpoint_id"] = parent
    return {"configurable": configurable}


def _put(
    saver: PostgresSaver,
    thread: str,
    parent: str | None,
    items: list[int],
    v: int,
    run_id: str = "run",
) -> str:
    cp = empty_checkpoint()
    cp["channel_values"] = {"items": items}
    cp["channel_versions"] = {"items": f"{v:032}.0"}
    saver.put(_cfg(thread, parent), cp, {"run_id": run_id, "step": v}, {"items": f"{v:032}.0"})
    return cp["id"]


def _slow_trigger(
    schema: str, seconds: float, name: str, *, event: str, table: str, each: str, returns: str
) -> None:
    """A trigger ``name`` on ``schema.table`` sleeping ``seconds`` at ``event`` (``BEFORE
    INSERT``, ...) for each ``each`` (``ROW``/``STATEMENT``): the statement holds its locks."""
    with psycopg.connect(URI, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE FUNCTION {}.{}() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN PERFORM pg_sleep({}); RETURN " + returns + "; END $$"
            ).format(sql.Identifier(schema), sql.Identifier(name), sql.Literal(seconds))
        )
        conn.execute(
            sql.SQL(
                "CREATE TRIGGER {} " + event + " ON {}.{} FOR " + each + " EXECUTE FUNCTION {}.{}()"
            ).format(
                sql.Identifier(name),
                sql.Identifier(schema),
                sql.Identifier(table),
                sql.Identifier(schema),
                sql.Identifier(name),
            )
        )


def _slow_checkpoint_inserts(schema: str, seconds: float) -> None:
    """Every checkpoint insert of ``schema`` sleeps (a put holds its locks)."""
    _slow_trigger(
        schema,
        seconds,
        "slow_put",
        event="BEFORE INSERT",
        table="pitstop_checkpoints",
        each="ROW",
        returns="NEW",
    )


@contextlib.contextmanager
def _history() -> Iterator[tuple[str, PostgresSaver, PostgresSaver, str, str]]:
    """``(schema, writer, other, first, second)``: two savers on a fresh schema and the history
    c1 items=[1] (v1, full, by ``writer``), c2 items=[9] (v2, full, by ``other``), run "old"."""
    schema = new_schema()
    with (
        psycopg.connect(URI, autocommit=True) as c1,
        psycopg.connect(URI, autocommit=True) as c2,
    ):
        writer = PostgresSaver(c1, schema=schema)
        other = PostgresSaver(c2, schema=schema)
        first = _put(writer, "t", None, [1], 1, run_id="old")
        second = _put(other, "t", first, [9], 2, run_id="old")
        yield schema, writer, other, first, second


def _check_read_back(schema: str) -> list[int]:
    """Every checkpoint left reads back whole, from a saver with no cache; the steps listed."""
    steps = []
    with psycopg.connect(URI, autocommit=True) as c3:
        reader = PostgresSaver(c3, schema=schema)
        for item in reader.list(_cfg("t")):
            step = item.metadata["step"]
            steps.append(step)
            expected = {1: [1], 2: [9], 3: [1, 2]}[step]
            assert item.checkpoint["channel_values"] == {"items": expected}
    return steps


def _race(collect: Callable[[PostgresSaver], None], delay: float, *, fork: bool) -> None:
    """Writer builds a delta on a value; ``collect`` (another saver) frees it meanwhile.

    History: c1 items=[1] (v1, full), then another saver writes c2 items=[9] (v2, full), so
    keep-latest keeps c2 and frees v1. The writer (whose encoder remembers v1) then puts c3
    items=[1, 2], a delta on v1, forked from c1 (``fork``) or from c2.
    """
    with _history() as (schema, writer, other, first, second):
        _slow_checkpoint_inserts(schema, SLOW_PUT)
        errors: list[BaseException] = []

        def write() -> None:
            try:
                _put(writer, "t", first if fork else second, [1, 2], 3, run_id="new")
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        racing = threading.Thread(target=write)
        racing.start()
        time.sleep(delay)  # the put is sleeping in its trigger, holding its base locked
        collect(other)
        racing.join()
        assert not errors, errors
        _check_read_back(schema)


COLLECTORS: dict[str, Callable[[PostgresSaver], None]] = {
    "prune_keep_latest": lambda s: s.prune(["t"], strategy="keep_latest"),
    "sweep_keep_last": lambda s: s.sweep(RetentionPolicy(keep_last=1)),
    "delete_for_runs": lambda s: s.delete_for_runs(["old"]),
    "prune_delete": lambda s: s.prune(["t"], strategy="delete"),
    "delete_thread": lambda s: s.delete_thread("t"),
}


@pytest.mark.parametrize("fork", [True, False], ids=["fork", "linear"])
@pytest.mark.parametrize("name", sorted(COLLECTORS))
def test_collection_racing_a_delta_put_keeps_its_base(name: str, fork: bool) -> None:
    for delay in (0.05, 0.1, 0.15, 0.2):
        _race(COLLECTORS[name], delay, fork=fork)


def _slow_value_deletes(schema: str, seconds: float) -> None:
    """Every value delete of ``schema`` sleeps (a collection holds its lock)."""
    _slow_trigger(
        schema,
        seconds,
        "slow_delete",
        event="BEFORE DELETE",
        table="pitstop_checkpoint_blobs",
        each="STATEMENT",
        returns="OLD",
    )


@pytest.mark.parametrize("name", sorted(COLLECTORS))
def test_a_delta_put_during_a_collection_sees_its_base_gone(name: str) -> None:
    for delay in (0.05, 0.15):
        with _history() as (schema, writer, other, first, _):
            _slow_value_deletes(schema, SLOW_PUT)
            collecting = threading.Thread(target=COLLECTORS[name], args=(other,))
            collecting.start()
            time.sleep(delay)  # the collection sleeps in its delete, holding the thread's lock
            _put(writer, "t", first, [1, 2], 3, run_id="new")
            collecting.join()
            assert 3 in _check_read_back(schema)
