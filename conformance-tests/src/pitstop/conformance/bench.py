"""The throughput suite (``pitstop-conformance bench``), on pytest-benchmark.

The workloads are the pytest-benchmark tests of :mod:`pitstop.conformance.bench_specs`
(a 200-step chat ``put``, ``put_writes`` 4 tasks x 2, ``get_tuple`` latest, ``list`` of the whole
history and with ``limit=10``, a real LangGraph graph when ``langgraph`` is importable).
:func:`run_bench` runs them with ``pytest.main`` in this process, each benchmark ``rounds``
times (one round = the whole workload, fresh storage for the write workloads), factories
interleaved per workload, and reads pytest-benchmark's JSON back: ops/s = operations per round /
the median round time. :func:`render` prints each factory's ops/s and the subject/baseline ratios;
:func:`chart` draws them. The storage-growth workload (``bench --growth``) lives in
:mod:`pitstop.conformance.bench_growth`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import tempfile
import textwrap
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
    """Save the throughput chart (needs matplotlib).

    Top: ops/s of every factory per (workload, api), grouped bars on a log scale, each bar
    labelled with its value. Below, when there are baselines: subject / baseline per
    (workload, api) on a log scale around a ``1x`` line (above it: the subject is faster).
    """
    import importlib

    importlib.import_module("matplotlib").use("Agg")
    plt: Any = importlib.import_module("matplotlib.pyplot")

    subject, baselines = results[0], list(results[1:])
    keys = list(subject.ops) or list(dict.fromkeys(k for r in results for k in r.ops))
    labels = [f"{textwrap.fill(w, 16)}\n{a}" for w, a in keys]
    xs = list(range(len(keys)))
    rows = 2 if baselines else 1
    fig, axes = plt.subplots(
        rows,
        1,
        figsize=(max(10, 1.1 * len(keys) + 2), 5.5 * rows),
        squeeze=False,
        sharex=True,
        gridspec_kw={"height_ratios": [3, 2][:rows]},
    )
    ax = axes[0][0]
    width = 0.8 / len(results)
    for i, r in enumerate(results):
        pos = [x - 0.4 + width * (i + 0.5) for x in xs]
        values = [r.ops.get(k, 0.0) for k in keys]
        bars = ax.bar(pos, values, width, label=r.factory)
        for bar, value in zip(bars, values, strict=True):
            if value > 0:
                ax.annotate(
                    _short(value),
                    (bar.get_x() + bar.get_width() / 2, value),
                    ha="center",
                    va="bottom",
                    fontsize=6,
                    rotation=90 if len(results) > 2 else 0,
                )
    ax.set_yscale("log")
    ax.set_ylabel("ops/s (log scale, higher is better)")
    ax.set_title("throughput")
    ax.grid(True, axis="y", which="major", alpha=0.3)
    ax.legend(fontsize=8)
    if baselines:
        rax = axes[1][0]
        width = 0.8 / len(baselines)
        every: list[float] = [1.0]
        for i, b in enumerate(baselines):
            pos, ratios = [], []
            for x, k in zip(xs, keys, strict=True):
                other = b.ops.get(k)
                if other and subject.ops.get(k):
                    pos.append(x - 0.4 + width * (i + 0.5))
                    ratios.append(subject.ops[k] / other)
            # bars grow from the 1x line: up when the subject is faster, down when slower
            bars = rax.bar(
                pos,
                [r - 1.0 for r in ratios],
                width,
                bottom=1.0,
                label=f"{subject.factory} / {b.factory}",
            )
            for bar, ratio in zip(bars, ratios, strict=True):
                rax.annotate(
                    f"{ratio:.2f}x",
                    (bar.get_x() + bar.get_width() / 2, ratio),
                    ha="center",
                    va="bottom" if ratio >= 1 else "top",
                    fontsize=7,
                )
            every += ratios
        rax.axhline(1.0, color="black", linewidth=1)
        rax.set_yscale("log")
        low, high = min(every) / 1.5, max(every) * 1.5
        rax.set_ylim(low, high)
        steps = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
        rax.set_yticks([t for t in steps if low <= t <= high])
        ticker: Any = importlib.import_module("matplotlib.ticker")
        rax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}x"))
        rax.yaxis.set_minor_formatter(ticker.NullFormatter())
        rax.set_ylabel("subject / baseline (>1: subject faster)")
        rax.set_title("ratios")
        rax.grid(True, axis="y", which="both", alpha=0.3)
        rax.legend(fontsize=8)
    bottom = axes[rows - 1][0]
    bottom.set_xticks(xs)
    bottom.set_xticklabels(labels, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _short(value: float) -> str:
    """``1234567`` -> ``1.2M``."""
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"
