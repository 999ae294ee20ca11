"""The throughput suite (``pitstop-conformance bench``), on pytest-benchmark.

The workloads are the pytest-benchmark tests of :mod:`pitstop.conformance.bench_specs`
(a 200-step chat ``put``, ``put_writes`` 4 tasks x 2, ``get_tuple`` latest, ``list`` of the whole
history and with ``limit=10``, a real LangGraph graph when ``langgraph`` is importable).
:func:`run_bench` runs them with ``pytest.main`` in this process, each benchmark ``rounds``
times (one round = the whole workload, fresh storage for the write workloads), factories
interleaved per workload, and reads pytest-benchmark's JSON back: ops/s = operations per round /
the median round time. :func:`render` prints each factory's ops/s and the subject/baseline ratios.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pitstop.conformance.bench_specs import APIS, CONFIG_ATTR, WORKLOADS
from pitstop.conformance.factory import SaverFactory

__all__ = [
    "BenchError",
    "BenchResult",
    "chart",
    "render",
    "results_from_json",
    "run_bench",
    "to_json",
]


@dataclass
class BenchResult:
    """ops/s per (workload, api) for one factory, plus stored bytes when reported."""

    factory: str
    ops: dict[tuple[str, str], float] = field(default_factory=dict)
    stored_bytes: int | None = None


class BenchError(RuntimeError):
    """A benchmark failed; ``output`` is pytest's output."""

    def __init__(self, code: int, output: str) -> None:
        super().__init__(f"the benchmarks failed (pytest exit code {code})")
        self.code = code
        self.output = output


class _Factories:
    """A pytest plugin object handing the factories to :class:`bench_specs.TestBench`."""

    def __init__(self, factories: Sequence[SaverFactory], rounds: int, apis: Sequence[str]):
        self.given = (list(factories), rounds, tuple(apis))

    def pytest_configure(self, config: Any) -> None:
        setattr(config, CONFIG_ATTR, self.given)


def results_from_json(data: dict[str, Any], factories: Sequence[SaverFactory]) -> list[BenchResult]:
    """Build the results from pytest-benchmark's JSON (``extra_info`` names each benchmark)."""
    results = [BenchResult(f.label()) for f in factories]
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info", {})
        result = results[int(info["index"])]
        median = float(bench["stats"]["median"])
        result.ops[(info["workload"], info["api"])] = (
            info["ops"] / median if median > 0 else float("inf")
        )
        if info.get("stored_bytes") is not None:
            result.stored_bytes = int(info["stored_bytes"])
    order = {(w.title, api): i for i, (api, w) in enumerate(itertools.product(APIS, WORKLOADS))}
    for result in results:  # table order, whatever order the JSON lists the benchmarks in
        result.ops = dict(sorted(result.ops.items(), key=lambda kv: order.get(kv[0], len(order))))
    return results


def run_bench(
    factories: Sequence[SaverFactory],
    *,
    repeat: int = 20,
    apis: Sequence[str] = APIS,
    pytest_args: Sequence[str] = (),
) -> list[BenchResult]:
    """Benchmark every factory (subject first, then baselines), ``repeat`` rounds each.

    Raises :class:`BenchError` (with pytest's output) when a benchmark fails.
    """
    import importlib.util

    import pytest

    found = importlib.util.find_spec("pitstop.conformance.bench_specs")
    specs_file = found.origin if found is not None and found.origin else ""
    with tempfile.TemporaryDirectory() as tmp:
        json_path = Path(tmp, "bench.json")
        argv = [
            specs_file,
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "-o",
            "addopts=",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "-W",
            "ignore::pytest.PytestAssertRewriteWarning",  # the package was imported first
            "--rootdir",
            tmp,
            "--benchmark-enable",
            "--benchmark-only",
            "--benchmark-quiet",
            f"--benchmark-json={json_path}",
            *pytest_args,
        ]
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            code = int(pytest.main(argv, plugins=[_Factories(factories, max(1, repeat), apis)]))
        asyncio.set_event_loop(None)
        if code != 0 or not json_path.exists():
            raise BenchError(code, output.getvalue())
        data = json.loads(json_path.read_text())
    return results_from_json(data, factories)


def render(results: Sequence[BenchResult]) -> str:
    """A table: ops/s of the subject and each baseline, and subject/baseline ratios."""
    subject, baselines = results[0], results[1:]
    keys = list(subject.ops)
    header = f"{'workload':<28} {'api':<6} {subject.factory[:18]:>18}"
    for b in baselines:
        header += f" {b.factory[:18]:>18} {'ratio':>7}"
    lines = [header, "-" * len(header)]
    for key in keys:
        line = f"{key[0]:<28} {key[1]:<6} {subject.ops[key]:>18,.0f}"
        for b in baselines:
            other = b.ops.get(key)
            if other:
                line += f" {other:>18,.0f} {subject.ops[key] / other:>6.2f}x"
            else:
                line += f" {'-':>18} {'-':>7}"
        lines.append(line)
    lines.append("-" * len(header))
    sizes = "  ".join(
        f"{r.factory}: {r.stored_bytes:,} B" if r.stored_bytes is not None else f"{r.factory}: n/a"
        for r in results
    )
    lines.append(f"stored bytes after the chat + writes workloads: {sizes}")
    lines.append("ops/s, higher is better; ratio = subject / baseline (>1: subject faster)")
    return "\n".join(lines)


def to_json(results: Sequence[BenchResult]) -> str:
    """The results as JSON."""
    return json.dumps(
        [
            {
                "factory": r.factory,
                "stored_bytes": r.stored_bytes,
                "ops_per_second": [
                    {"workload": w, "api": a, "ops": round(v, 1)} for (w, a), v in r.ops.items()
                ],
            }
            for r in results
        ],
        indent=2,
    )


def chart(results: Sequence[BenchResult], path: str) -> None:
    """Save a grouped bar chart (needs matplotlib)."""
    import importlib

    importlib.import_module("matplotlib").use("Agg")
    plt: Any = importlib.import_module("matplotlib.pyplot")

    keys = list(results[0].ops)
    fig, ax = plt.subplots(figsize=(12, 5))
    width = 0.8 / len(results)
    for i, r in enumerate(results):
        xs = [k + i * width for k in range(len(keys))]
        ax.bar(xs, [r.ops.get(k, 0) for k in keys], width, label=r.factory)
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(keys))])
    ax.set_xticklabels([f"{w}\n{a}" for w, a in keys], fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("ops/s")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
