"""The CLI and the in-process API: check, JSON report, bench, detection."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pitstop.checkpoint.memory import InMemorySaver
from pitstop.conformance import check
from pitstop.conformance.capabilities import detect_saver_capabilities
from pitstop.conformance.cli import main


def test_check_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "pitstop.conformance.memory:saver", "--only", "list", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["ok"]
    rows = {r["capability"]: r for r in report["capabilities"]}
    assert rows["list"]["status"] == "passed"
    assert rows["list"]["checked"] > 0
    assert rows["put"]["status"] == "not run"


def test_check_fails_on_a_broken_saver(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "mutants:DeleteByPrefix", "--only", "delete_thread", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code != 0
    assert not report["ok"]
    assert report["failed"]


def test_not_claimed_is_reported() -> None:
    report = check(InMemorySaver, capabilities=[], only=["prune", "list"])
    rows = {r["capability"]: r["status"] for r in report.rows()}
    assert rows["prune"] == "not claimed"
    assert rows["list"] == "passed"
    assert "not claimed" in report.table()


def test_detection() -> None:
    found = detect_saver_capabilities(InMemorySaver())
    assert {"copy_thread", "prune", "delete_for_runs", "delta_history", "put"} <= found

    class Minimal(InMemorySaver):
        pass

    from pitstop.checkpoint.base import BaseCheckpointSaver

    class Bare(BaseCheckpointSaver):
        pass

    assert "prune" in detect_saver_capabilities(Minimal())
    assert "prune" not in detect_saver_capabilities(Bare())


def test_context_manager_factories() -> None:
    from contextlib import asynccontextmanager, contextmanager

    @contextmanager
    def sync_cm() -> Any:
        yield InMemorySaver()

    @asynccontextmanager
    async def async_cm() -> Any:
        yield InMemorySaver()

    def generator() -> Any:
        yield InMemorySaver()

    for factory in (sync_cm, async_cm, generator):
        assert check(factory, only=["get_tuple"]).ok, factory
