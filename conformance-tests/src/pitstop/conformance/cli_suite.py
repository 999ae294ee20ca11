"""The test module the CLI hands to pytest: one parametrized test over the options' suite."""

from __future__ import annotations

from pitstop.conformance.plugin import run_case
from pitstop.conformance.suite import Case


class TestConformance:
    """Cases come from ``--pitstop-saver`` / ``--pitstop-store`` (see the plugin)."""

    def test_conformance(self, pitstop_case: Case | None) -> None:
        """Run one case."""
        run_case(pitstop_case)
