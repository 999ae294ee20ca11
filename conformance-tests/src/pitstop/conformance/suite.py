"""A suite = factories + claimed capabilities; it expands the registry into runnable cases.

Each spec becomes up to three cases: ``[sync]`` (sync API), ``[async]`` (async API) and
``[parity]`` (the two transcripts must be equal). The pytest plugin turns cases into test items;
:func:`run_suite` runs them in-process without pytest (the mutation tests use it).
"""

from __future__ import annotations

import builtins
import importlib.util
import json
import time
import traceback
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pitstop.conformance import capabilities as caps
from pitstop.conformance.driver import Api, NotRunError, SaverDriver, StoreDriver
from pitstop.conformance.factory import SaverFactory, Session, StoreFactory
from pitstop.conformance.registry import SPECS, Spec

__all__ = [
    "Case",
    "CaseResult",
    "NotClaimedError",
    "NotRunError",
    "Report",
    "StoreHarness",
    "Suite",
    "run_suite",
]

Variant = Literal["sync", "async", "parity"]
Outcome = Literal["passed", "failed", "not claimed", "not run"]


class NotClaimedError(Exception):
    """The spec's capability is optional and not claimed by the factory."""


class StoreHarness:
    """What a store spec receives: ``open(index=..., ttl=...)`` gives a :class:`StoreDriver`."""

    def __init__(self, api: Api, session: Session, factory: StoreFactory) -> None:
        self.api: Api = api
        self.session = session
        self.factory = factory
        self.transcript: builtins.list[tuple[str, Any]] = []

    def open(self, *, index: Any = None, ttl: Any = None) -> StoreDriver:
        """A store over fresh storage, seen through this harness's API."""
        for name, value in (("index", index), ("ttl", ttl)):
            if value is not None and not self.factory.accepts_keyword(name):
                raise NotRunError(f"the store factory does not accept {name}=")
        driver = StoreDriver(self.api, self.session, self.factory, index=index, ttl=ttl)
        driver.transcript = self.transcript
        return driver


def _graphs_available() -> bool:
    return (
        importlib.util.find_spec("langgraph") is not None
        and importlib.util.find_spec("langgraph.graph") is not None
        and importlib.util.find_spec("pitstop.conformance.scenarios") is not None
    )


@dataclass
class Suite:
    """Factories under test and what they claim.

    Args:
        saver: the saver factory (``None`` runs store checks only).
        store: the store factory (``None``: store capabilities are not claimed).
        claimed: explicitly claimed optional capabilities; ``None`` detects them.
        only: run only the specs of these capabilities (and spec names), ``None`` = all.
    """

    saver: SaverFactory | None = None
    store: StoreFactory | None = None
    claimed: Collection[str] | None = None
    only: Collection[str] | None = None
    _claims: frozenset[str] | None = field(default=None, init=False, repr=False)
    _transcripts: dict[tuple[str, Api], Any] = field(default_factory=dict, init=False, repr=False)

    # -- claims --------------------------------------------------------------------------------

    def claims(self) -> frozenset[str]:
        """Capabilities the suite checks (required ones, claimed or detected optional ones)."""
        if self._claims is None:
            self._claims = self._compute_claims()
        return self._claims

    def _compute_claims(self) -> frozenset[str]:
        found: set[str] = set()
        if self.saver is not None:
            found.update(caps.REQUIRED)
            declared = self.claimed if self.claimed is not None else self.saver.capabilities
            if declared is not None:
                found.update(declared)
            else:
                session = Session()
                try:
                    found.update(caps.detect_saver_capabilities(session.open(self.saver.create())))
                finally:
                    session.close()
            if self.saver.reopen is not None:
                found.add("durability")
            if self.saver.connect is not None and declared is None:
                found.add("multiprocess")
            if _graphs_available():
                found.add("graphs")
        if self.store is not None:
            declared = self.claimed if self.claimed is not None else self.store.capabilities
            if declared is not None:
                found.update(c for c in declared if c in ("store", "ttl", "store_vector"))
                found.add("store")
            else:
                found.update(self._detect_store())
        return frozenset(found)

    def _detect_store(self) -> set[str]:
        assert self.store is not None
        found = {"store"}
        if self.store.accepts_keyword("index"):
            found.add("store_vector")
        session = Session()
        try:
            kwargs: dict[str, Any] = {}
            if self.store.accepts_keyword("ttl"):
                kwargs["ttl"] = {"refresh_on_read": True}
            store = session.open(self.store.create(**kwargs))
            if getattr(store, "supports_ttl", False):
                found.add("ttl")
        finally:
            session.close()
        return found

    # -- cases ---------------------------------------------------------------------------------

    def cases(self) -> builtins.list[Case]:
        """Every case of every selected spec, in registry order."""
        import pitstop.conformance.specs  # noqa: F401  (registers the specs)

        result: builtins.list[Case] = []
        for spec in SPECS.values():
            if spec.kind == "saver" and self.saver is None:
                continue
            if spec.kind == "store" and self.store is None:
                continue
            if self.only is not None and not (
                spec.capability in self.only or spec.name in self.only
            ):
                continue
            variants: tuple[Variant, ...] = (
                ("sync", "async", "parity")
                if spec.parity
                else (
                    "sync",
                    "async",
                )
            )
            result.extend(Case(self, spec, v) for v in variants)
        return result

    def transcript(self, spec: Spec, api: Api) -> Any:
        """The transcript of a passed ``[api]`` case (running it now if it did not run yet)."""
        key = (spec.name, api)
        if key not in self._transcripts:
            Case(self, spec, api).run()
        value = self._transcripts[key]
        if value is None:
            raise NotRunError(f"the {api} case failed, so parity was not compared")
        return value


@dataclass
class Case:
    """One spec through one API (or the parity comparison)."""

    suite: Suite
    spec: Spec
    variant: Variant

    @property
    def id(self) -> str:
        """``group.check[variant]``."""
        return f"{self.spec.name}[{self.variant}]"

    @property
    def capabilities(self) -> tuple[str, ...]:
        """The capabilities this case counts towards in the report."""
        if self.spec.kind == "store":
            return (self.spec.capability,)
        api = {"sync": ("sync_api",), "async": ("async_api",), "parity": ("sync_api", "async_api")}
        return (self.spec.capability, *api[self.variant])

    def run(self) -> None:
        """Run the case; raises on failure, :class:`NotClaimedError` / :class:`NotRunError`."""
        claims = self.suite.claims()
        capability = self.spec.capability
        if capability not in claims:
            if capability in caps.GROUPS:
                raise NotRunError(f"{capability}: prerequisites missing")
            raise NotClaimedError(f"capability {capability!r} not claimed")
        if self.variant == "parity":
            sync = self.suite.transcript(self.spec, "sync")
            async_ = self.suite.transcript(self.spec, "async")
            _assert_same_transcript(sync, async_)
            return
        key = (self.spec.name, self.variant)
        self.suite._transcripts[key] = None
        session = Session()
        try:
            target: Any
            if self.spec.kind == "saver":
                assert self.suite.saver is not None
                target = SaverDriver(self.variant, session, self.suite.saver, claims)
            else:
                assert self.suite.store is not None
                target = StoreHarness(self.variant, session, self.suite.store)
            self.spec.fn(target)
            self.suite._transcripts[key] = target.transcript
        finally:
            session.close()


def _assert_same_transcript(sync: Any, async_: Any) -> None:
    for i, (left, right) in enumerate(zip(sync, async_, strict=False)):
        if left != right:
            raise AssertionError(
                f"sync and async APIs differ at call #{i} ({left[0]}):\n"
                f"  sync:  {str(left[1])[:600]}\n  async: {str(right[1])[:600]}"
            )
    if len(sync) != len(async_):
        raise AssertionError(f"sync made {len(sync)} recorded calls, async {len(async_)}")


# -- results and the report --------------------------------------------------------------------


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case."""

    id: str
    capabilities: tuple[str, ...]
    outcome: Outcome
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Report:
    """Case results folded into one row per capability."""

    claims: frozenset[str]
    results: builtins.list[CaseResult] = field(default_factory=builtins.list)

    @property
    def failed(self) -> builtins.list[CaseResult]:
        """The failed cases."""
        return [r for r in self.results if r.outcome == "failed"]

    @property
    def ok(self) -> bool:
        """Whether no case failed and at least one passed."""
        return not self.failed and any(r.outcome == "passed" for r in self.results)

    def rows(self) -> builtins.list[dict[str, Any]]:
        """One dict per capability: checked, passed, failed and a status word."""
        rows = []
        for capability in caps.ALL:
            mine = [r for r in self.results if capability in r.capabilities]
            passed = sum(r.outcome == "passed" for r in mine)
            failed = sum(r.outcome == "failed" for r in mine)
            if failed:
                status = "FAILED"
            elif passed:
                status = "passed"
            elif (
                capability in caps.GROUPS
                or (mine and capability in self.claims)
                or (capability in caps.REQUIRED and not mine)
            ):
                status = "not run"
            else:
                status = "not claimed"
            kind = (
                "required"
                if capability in caps.REQUIRED
                else "group"
                if capability in caps.GROUPS
                else "optional"
            )
            rows.append(
                {
                    "capability": capability,
                    "kind": kind,
                    "claimed": capability in self.claims,
                    "checked": passed + failed,
                    "passed": passed,
                    "failed": failed,
                    "status": status,
                }
            )
        return rows

    def table(self) -> str:
        """The report as a fixed-width text table."""
        lines = [
            f"{'capability':<16} {'kind':<9} {'checked':>7} {'passed':>7} {'failed':>7}  status",
            "-" * 62,
        ]
        for row in self.rows():
            lines.append(
                f"{row['capability']:<16} {row['kind']:<9} {row['checked']:>7} "
                f"{row['passed']:>7} {row['failed']:>7}  {row['status']}"
            )
        total = len(self.results)
        lines.append("-" * 62)
        lines.append(
            f"{total} cases: {sum(r.outcome == 'passed' for r in self.results)} passed, "
            f"{len(self.failed)} failed, "
            f"{sum(r.outcome in ('not claimed', 'not run') for r in self.results)} skipped"
        )
        for r in self.failed:
            first = r.detail.strip().splitlines()[-1] if r.detail.strip() else ""
            lines.append(f"  FAILED {r.id}: {first[:150]}")
        return "\n".join(lines)

    def to_json(self) -> str:
        """The report as JSON (capability rows and every failed case)."""
        return json.dumps(
            {
                "ok": self.ok,
                "capabilities": self.rows(),
                "failed": [{"id": r.id, "detail": r.detail} for r in self.failed],
                "cases": len(self.results),
            },
            indent=2,
        )


def classify(case: Case) -> CaseResult:
    """Run a case and capture its outcome."""
    start = time.perf_counter()
    outcome: Outcome = "passed"
    detail = ""
    try:
        case.run()
    except NotClaimedError as exc:
        outcome, detail = "not claimed", str(exc)
    except NotRunError as exc:
        outcome, detail = "not run", str(exc)
    except Exception:
        outcome, detail = "failed", traceback.format_exc(limit=6)
    return CaseResult(case.id, case.capabilities, outcome, detail, time.perf_counter() - start)


def run_suite(suite: Suite, cases: Iterable[Case] | None = None) -> Report:
    """Run a suite in-process (no pytest) and return its report."""
    report = Report(claims=suite.claims())
    for case in cases if cases is not None else suite.cases():
        report.results.append(classify(case))
    return report
