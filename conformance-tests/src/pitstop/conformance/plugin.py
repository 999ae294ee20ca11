"""pytest plugin: turns a :class:`~pitstop.conformance.suite.Suite` into test items + a report.

Two ways in:

- in a backend's tests, ``TestMySaver = conformance_tests(saver=make_saver, store=make_store)``
  (see :func:`pitstop.conformance.conformance_tests`);
- on the command line, ``pytest --pyargs pitstop.conformance.cli_suite
  --pitstop-saver module:factory [--pitstop-store module:factory]`` (what the CLI runs).

Registered through the ``pytest11`` entry point; also loadable with
``-p pitstop.conformance.plugin`` or ``pytest_plugins = ["pitstop.conformance.plugin"]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pitstop.conformance.factory import as_saver_factory, as_store_factory
from pitstop.conformance.suite import (
    Case,
    CaseResult,
    NotClaimedError,
    NotRunError,
    Outcome,
    Report,
    Suite,
)

_RESULTS = pytest.StashKey[list[tuple[Suite, CaseResult]]]()
_CASE = pytest.StashKey[Case]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Options of the conformance plugin."""
    group = parser.getgroup("pitstop-conformance")
    group.addoption("--pitstop-saver", default=None, help="saver factory, module:attr")
    group.addoption("--pitstop-store", default=None, help="store factory, module:attr")
    group.addoption(
        "--pitstop-capability",
        action="append",
        default=None,
        help="claim an optional capability (repeatable); replaces detection",
    )
    group.addoption(
        "--pitstop-only",
        action="append",
        default=None,
        help="run only the specs of this capability or spec name (repeatable)",
    )
    group.addoption("--pitstop-json", default=None, help="write the capability report here")


def pytest_configure(config: pytest.Config) -> None:
    """Prepare the result list."""
    config.stash[_RESULTS] = []


def suite_from_options(config: pytest.Config) -> Suite | None:
    """The suite the command-line options describe (``None`` without ``--pitstop-saver/store``)."""
    saver = config.getoption("--pitstop-saver", None)
    store = config.getoption("--pitstop-store", None)
    if not saver and not store:
        return None
    claimed = config.getoption("--pitstop-capability", None)
    only = config.getoption("--pitstop-only", None)
    return Suite(
        saver=as_saver_factory(saver) if saver else None,
        store=as_store_factory(store) if store else None,
        claimed=frozenset(claimed) if claimed is not None else None,
        only=frozenset(only) if only else None,
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``pitstop_case`` over the cases of the class's (or the options') suite."""
    if "pitstop_case" not in metafunc.fixturenames:
        return
    suite: Suite | None = getattr(metafunc.cls, "pitstop_suite", None)
    if suite is None:
        cached = getattr(metafunc.config, "_pitstop_suite", None)
        if cached is None:
            cached = suite_from_options(metafunc.config)
            metafunc.config._pitstop_suite = cached  # type: ignore[attr-defined]
        suite = cached
    if suite is None:
        metafunc.parametrize(
            "pitstop_case",
            [pytest.param(None, marks=pytest.mark.skip(reason="no --pitstop-saver given"))],
        )
        return
    cases = suite.cases()
    metafunc.parametrize("pitstop_case", cases, ids=[c.id for c in cases])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Record each case's outcome for the capability report."""
    report = yield
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("pitstop_case") if callspec is not None else None
    if not isinstance(case, Case):
        return report
    if call.when == "call" or (call.when == "setup" and report.outcome != "passed"):
        outcome: Outcome
        detail = ""
        if report.passed:
            outcome = "passed"
        elif report.skipped:
            text = str(report.longrepr)
            outcome = "not claimed" if "not claimed" in text else "not run"
        else:
            outcome, detail = "failed", str(report.longrepr)
        item.config.stash[_RESULTS].append(
            (case.suite, CaseResult(case.id, case.capabilities, outcome, detail, report.duration))
        )
    return report


def run_case(case: Case | None) -> None:
    """Run one case inside a test, mapping 'not claimed'/'not run' to skips."""
    if case is None:
        pytest.skip("no saver factory given")
    try:
        case.run()
    except NotClaimedError as exc:
        pytest.skip(f"not claimed: {exc}")
    except NotRunError as exc:
        pytest.skip(f"not run: {exc}")


def reports(config: pytest.Config) -> list[Report]:
    """One report per suite that ran in this session."""
    by_suite: dict[int, Report] = {}
    for suite, result in config.stash.get(_RESULTS, []):
        report = by_suite.setdefault(id(suite), Report(claims=suite.claims()))
        report.results.append(result)
    return list(by_suite.values())


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the capability table (and write ``--pitstop-json``)."""
    found = reports(config)
    if not found:
        return
    for report in found:
        terminalreporter.section("pitstop conformance")
        terminalreporter.write_line(report.table())
    path = config.getoption("--pitstop-json", None)
    if path:
        Path(path).write_text(found[0].to_json() if len(found) == 1 else _many(found))


def _many(found: list[Report]) -> str:
    import json

    return json.dumps([json.loads(r.to_json()) for r in found], indent=2)
