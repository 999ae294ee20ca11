"""The throughput suite (``pitstop-conformance bench``), on pytest-benchmark.

The workloads are the pytest-benchmark tests of :mod:`pitstop.conformance.bench_specs`
(a 200-step chat ``put``, ``put_writes`` 4 tasks x 2, ``get_tuple`` latest, ``list`` of the whole
history and with ``limit=10``, and when ``langgraph`` is importable a real LangGraph graph of
no-op nodes and a LangGraph chat agent).
:func:`run_bench` runs them with ``pytest.main`` in this process, each benchmark ``rounds``
times (one round = the whole workload, fresh storage for the write workloads) in passes (by
default one round each), the factories interleaved per workload and pass, and reads
pytest-benchmark's JSON back: ops/s = operations per round / the median time of the rounds of
all passes. :func:`run_trials` repeats whole runs and gives the median ops/s and the median of
the per-trial subject/baseline ratios. :func:`render` prints each factory's ops/s and the
ratios; :func:`chart` draws them, with optional target ratios. The storage-growth workload
(``bench --growth``) lives in :mod:`pitstop.conformance.bench_growth`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import math
import statistics
import tempfile
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from pitstop.checkpoint.errors import InvalidArgumentError
from pitstop.conformance.bench_specs import APIS, CONFIG_ATTR, WORKLOADS
from pitstop.conformance.factory import SaverFactory

__all__ = [
    "BenchError",
    "BenchResult",
    "BenchTrials",
    "RatioMap",
    "chart",
    "median_ratios",
    "median_results",
    "per_trial_ratios",
    "render",
    "results_from_json",
    "run_bench",
    "run_trials",
    "to_json",
]

Key: TypeAlias = tuple[str, str]
RatioMap: TypeAlias = Mapping[tuple[str, str], float]
"""subject / baseline per (workload title, api)."""


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
    """Build the results from pytest-benchmark's JSON (``extra_info`` names each benchmark).

    The passes of one (factory, workload, api) are pooled: ops/s from the median of all their
    rounds (``stats.data``), or, where a benchmark's rounds are not in the JSON, the median of
    the passes' medians.
    """
    results = [BenchResult(f.label()) for f in factories]
    passes: dict[tuple[int, str, str], list[dict[str, Any]]] = {}
    ops: dict[tuple[int, str, str], float] = {}
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info", {})
        key = (int(info["index"]), info["workload"], info["api"])
        ops[key] = float(info["ops"])
        passes.setdefault(key, []).append(bench["stats"])
        if info.get("stored_bytes") is not None:
            results[key[0]].stored_bytes = int(info["stored_bytes"])
    for key, count in ops.items():
        stats = passes[key]
        if all(s.get("data") for s in stats):
            median = statistics.median(float(t) for s in stats for t in s["data"])
        else:
            median = statistics.median(float(s["median"]) for s in stats)
        results[key[0]].ops[(key[1], key[2])] = count / median if median > 0 else float("inf")
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


@dataclass
class BenchTrials:
    """Several whole runs of the same factories (each run: one :class:`BenchResult` per factory,
    subject first). ``medians`` holds the median ops/s, ``ratios`` the median of the per-trial
    subject / baseline ratios (one mapping per baseline): the figures to report and chart."""

    runs: list[list[BenchResult]]

    @property
    def medians(self) -> list[BenchResult]:
        """See :func:`median_results`."""
        return median_results(self.runs)

    @property
    def per_trial(self) -> list[dict[Key, list[float]]]:
        """See :func:`per_trial_ratios`."""
        return per_trial_ratios(self.runs)

    @property
    def ratios(self) -> list[dict[Key, float]]:
        """See :func:`median_ratios`."""
        return median_ratios(self.runs)


def run_trials(
    factories: Sequence[SaverFactory],
    *,
    trials: int = 3,
    repeat: int = 20,
    apis: Sequence[str] = APIS,
    pytest_args: Sequence[str] = (),
    on_trial: Callable[[int, list[BenchResult]], None] | None = None,
) -> BenchTrials:
    """:func:`run_bench` ``trials`` times; ``on_trial(i, results)`` after each run (from 0).

    Every trial measures the factories side by side; the order in which they run within a
    workload alternates between trials (subject first, then subject last), so a warm-up or
    order effect does not favour one of them. Results are always listed subject first.
    """
    if trials < 1:
        raise InvalidArgumentError(f"trials must be at least 1, got {trials}")
    runs: list[list[BenchResult]] = []
    for trial in range(trials):
        order = list(factories) if trial % 2 == 0 else list(factories)[::-1]
        results = run_bench(order, repeat=repeat, apis=apis, pytest_args=pytest_args)
        if trial % 2:
            results.reverse()
        runs.append(results)
        if on_trial is not None:
            on_trial(trial, results)
    return BenchTrials(runs)


def median_results(runs: Sequence[Sequence[BenchResult]]) -> list[BenchResult]:
    """Per factory, the median ops/s of each (workload, api) over ``runs`` (stored bytes: the
    last run's). Each run lists the same factories in the same order, subject first."""
    _check_runs(runs)
    out = []
    for i, first in enumerate(runs[0]):
        stored = next(
            (r[i].stored_bytes for r in reversed(runs) if r[i].stored_bytes is not None), None
        )
        result = BenchResult(first.factory, stored_bytes=stored)
        keys = dict.fromkeys(k for r in runs for k in r[i].ops)
        for key in keys:
            result.ops[key] = statistics.median(r[i].ops[key] for r in runs if key in r[i].ops)
        out.append(result)
    return out


def per_trial_ratios(runs: Sequence[Sequence[BenchResult]]) -> list[dict[Key, list[float]]]:
    """Per baseline (``runs[t][1:]``), each (workload, api)'s subject / baseline ratio in every
    run that measured both."""
    _check_runs(runs)
    out: list[dict[Key, list[float]]] = []
    for i in range(1, len(runs[0])):
        found: dict[Key, list[float]] = {}
        for run in runs:
            subject, baseline = run[0], run[i]
            for key, ops in subject.ops.items():
                other = baseline.ops.get(key)
                if ops > 0 and other:
                    found.setdefault(key, []).append(ops / other)
        out.append(found)
    return out


def median_ratios(runs: Sequence[Sequence[BenchResult]]) -> list[dict[Key, float]]:
    """Per baseline, the median over ``runs`` of each per-trial subject / baseline ratio.

    Not the ratio of the median ops/s: that one pairs figures of different trials. The list
    lines up with the baselines and can be passed as ``ratios=`` to :func:`chart` and
    :func:`render`.
    """
    return [
        {key: statistics.median(values) for key, values in found.items()}
        for found in per_trial_ratios(runs)
    ]


def _check_runs(runs: Sequence[Sequence[BenchResult]]) -> None:
    if not runs:
        raise InvalidArgumentError("no runs given")
    names = [r.factory for r in runs[0]]
    for run in runs[1:]:
        if [r.factory for r in run] != names:
            raise InvalidArgumentError(
                f"every run must list the same factories in the same order: {names} vs "
                f"{[r.factory for r in run]}"
            )


def _ratio_maps(
    results: Sequence[BenchResult], ratios: RatioMap | Sequence[RatioMap] | None
) -> list[dict[Key, float]]:
    """One ratio mapping per baseline: the given ones, else subject / baseline of the ops/s.

    A single mapping is the first baseline's; a sequence lines up with the baselines.
    """
    subject, baselines = results[0], results[1:]
    computed = [
        {k: v / b.ops[k] for k, v in subject.ops.items() if v > 0 and b.ops.get(k)}
        for b in baselines
    ]
    if ratios is None:
        return computed
    given = [ratios] if isinstance(ratios, Mapping) else list(ratios)
    if not baselines:
        raise InvalidArgumentError("ratios given, but the results hold no baseline")
    if len(given) > len(baselines):
        raise InvalidArgumentError(
            f"{len(given)} ratio mappings given for {len(baselines)} baseline(s)"
        )
    known = _keys(results)
    for mapping in given:
        for key, value in mapping.items():
            if key not in known:
                raise InvalidArgumentError(
                    f"ratio for {key!r}, which no result measured; rows: {list(known)}"
                )
            if not (value > 0 and math.isfinite(value)):
                raise InvalidArgumentError(f"ratio for {key!r} must be > 0, got {value!r}")
    return [dict(m) for m in given] + computed[len(given) :]


def _resolve(
    results: Sequence[BenchResult],
    ratios: RatioMap | Sequence[RatioMap] | None,
    targets: RatioMap | float | None,
) -> tuple[list[dict[Key, float]], dict[Key, float]]:
    """The ratio mappings (one per baseline) and the targets; raises on bad input."""
    maps = _ratio_maps(results, ratios)
    goals = _target_map(results, targets)
    if goals and len(results) < 2:
        raise InvalidArgumentError("targets given, but the results hold no baseline")
    return maps, goals


def _target_map(
    results: Sequence[BenchResult], targets: RatioMap | float | None
) -> dict[Key, float]:
    if targets is None:
        return {}
    keys = _keys(results)
    if isinstance(targets, Mapping):
        resolved = dict(targets)
        for key in resolved:
            if key not in keys:
                raise InvalidArgumentError(
                    f"target for {key!r}, which no result measured; rows: {list(keys)}"
                )
    else:
        resolved = dict.fromkeys(keys, float(targets))
    for key, value in resolved.items():
        if not (value > 0 and math.isfinite(value)):
            raise InvalidArgumentError(f"target for {key!r} must be > 0, got {value!r}")
    return resolved


def _keys(results: Sequence[BenchResult]) -> list[Key]:
    """The rows: the subject's (workload, api) pairs, else every pair any result measured."""
    return list(results[0].ops) or list(dict.fromkeys(k for r in results for k in r.ops))


def render(
    results: Sequence[BenchResult],
    *,
    ratios: RatioMap | Sequence[RatioMap] | None = None,
    note: str | None = None,
) -> str:
    """A table: ops/s of the subject and each baseline, and subject/baseline ratios.

    ``ratios`` replaces the ratio column (a single mapping: the first baseline's; a sequence:
    one per baseline), e.g. :func:`median_ratios` of several runs; ``note`` replaces the
    closing line that says what the figures are.
    """
    subject, baselines = results[0], results[1:]
    maps = _ratio_maps(results, ratios)
    keys = list(subject.ops)
    header = f"{'workload':<28} {'api':<6} {subject.factory[:18]:>18}"
    for b in baselines:
        header += f" {b.factory[:18]:>18} {'ratio':>7}"
    lines = [header, "-" * len(header)]
    for key in keys:
        line = f"{key[0]:<28} {key[1]:<6} {subject.ops[key]:>18,.0f}"
        for b, found in zip(baselines, maps, strict=True):
            other = b.ops.get(key)
            ratio = found.get(key)
            line += f" {other:>18,.0f}" if other else f" {'-':>18}"
            line += f" {ratio:>6.2f}x" if ratio is not None else f" {'-':>7}"
        lines.append(line)
    lines.append("-" * len(header))
    sizes = "  ".join(
        f"{r.factory}: {r.stored_bytes:,} B" if r.stored_bytes is not None else f"{r.factory}: n/a"
        for r in results
    )
    lines.append(f"stored bytes after the chat + writes workloads: {sizes}")
    lines.append(note or "ops/s, higher is better; ratio = subject / baseline (>1: subject faster)")
    return "\n".join(lines)


def to_json(
    results: Sequence[BenchResult], *, ratios: RatioMap | Sequence[RatioMap] | None = None
) -> str:
    """The results as JSON; with ``ratios`` (as for :func:`render`), each baseline's entry
    also lists them under ``ratios``."""
    maps = _ratio_maps(results, ratios) if ratios is not None else []
    entries: list[dict[str, Any]] = []
    for i, r in enumerate(results):
        entry: dict[str, Any] = {
            "factory": r.factory,
            "stored_bytes": r.stored_bytes,
            "ops_per_second": [
                {"workload": w, "api": a, "ops": round(v, 1)} for (w, a), v in r.ops.items()
            ],
        }
        if i > 0 and maps:
            entry["ratios"] = [
                {"workload": w, "api": a, "ratio": round(v, 3)} for (w, a), v in maps[i - 1].items()
            ]
        entries.append(entry)
    return json.dumps(entries, indent=2)


def chart(
    results: Sequence[BenchResult],
    path: str,
    *,
    ratios: RatioMap | Sequence[RatioMap] | None = None,
    targets: RatioMap | float | None = None,
    title: str | None = None,
    ratios_label: str | None = None,
) -> None:
    """Save the throughput chart (needs matplotlib).

    Top: ops/s of every factory per (workload, api), grouped bars on a log scale, each bar
    labelled with its value. Below, when there are baselines: subject / baseline per
    (workload, api) on a log scale around a ``1x`` line (above it: the subject is faster).

    ``ratios`` are the values the lower panel plots instead of the ratio of the ops/s shown
    above (e.g. :func:`median_ratios`: the median of per-trial ratios); a single mapping is the
    first baseline's, a sequence lines up with the baselines. ``targets`` are minimum ratios of
    the subject to the first baseline: per (workload, api) a dashed line across that group, or
    one float for a line across the panel; each first-baseline bar is outlined and labelled
    green when it meets its target, red when it misses it, and the panel title counts them.
    ``title`` replaces the top panel's title; ``ratios_label`` says in the lower panel's title
    what the given ratios are (e.g. ``"median of 5 per-trial ratios"``). Raises
    :class:`~pitstop.checkpoint.errors.InvalidArgumentError` for a ratio or target of a row no
    result measured, one that is not > 0, or ratios/targets without a baseline.
    """
    import importlib

    _resolve(results, ratios, targets)  # bad input fails before matplotlib is imported
    importlib.import_module("matplotlib").use("Agg")
    plt: Any = importlib.import_module("matplotlib.pyplot")
    fig = _figure(results, ratios=ratios, targets=targets, title=title, ratios_label=ratios_label)
    try:
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)


def _figure(
    results: Sequence[BenchResult],
    *,
    ratios: RatioMap | Sequence[RatioMap] | None,
    targets: RatioMap | float | None,
    title: str | None,
    ratios_label: str | None,
) -> Any:
    """The figure :func:`chart` saves (the caller closes it)."""
    import importlib

    maps, goals = _resolve(results, ratios, targets)
    plt: Any = importlib.import_module("matplotlib.pyplot")

    subject, baselines = results[0], list(results[1:])
    keys = _keys(results)
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
    ax.set_title(title or "throughput")
    ax.grid(True, axis="y", which="major", alpha=0.3)
    ax.legend(fontsize=8)
    if baselines:
        one_line = bool(goals) and not isinstance(targets, Mapping)
        given = ratios_label or ("ratios as given" if ratios is not None else None)
        _ratio_panel(
            axes[1][0], subject, baselines, maps, goals, keys, given=given, one_line=one_line
        )
    bottom = axes[rows - 1][0]
    bottom.set_xticks(xs)
    bottom.set_xticklabels(labels, fontsize=7)
    fig.tight_layout()
    return fig


_MET, _MISSED = "#1a7f37", "#cf222e"


def _ratio_panel(
    rax: Any,
    subject: BenchResult,
    baselines: list[BenchResult],
    maps: list[dict[Key, float]],
    goals: dict[Key, float],
    keys: list[Key],
    *,
    given: str | None,
    one_line: bool,
) -> None:
    """The lower panel: subject / baseline bars around ``1x``, and the targets."""
    import importlib

    patches: Any = importlib.import_module("matplotlib.patches")
    handles: list[Any] = []
    names: list[str] = []
    width = 0.8 / len(baselines)
    every: list[float] = [1.0, *goals.values()]
    met = missed = 0
    for i, (b, found) in enumerate(zip(baselines, maps, strict=True)):
        pos, values, goal = [], [], []
        for x, k in enumerate(keys):
            if k in found:
                pos.append(x - 0.4 + width * (i + 0.5))
                values.append(found[k])
                goal.append(goals.get(k) if i == 0 else None)
        # bars grow from the 1x line: up when the subject is faster, down when slower
        bars = rax.bar(
            pos,
            [v - 1.0 for v in values],
            width,
            bottom=1.0,
        )
        for bar, ratio, target in zip(bars, values, goal, strict=True):
            color = "black"
            if target is not None:
                color = _MET if ratio >= target else _MISSED
                met, missed = met + (ratio >= target), missed + (ratio < target)
                bar.set_edgecolor(color)
                bar.set_linewidth(2)
            rax.annotate(
                f"{ratio:.2f}x",
                (bar.get_x() + bar.get_width() / 2, ratio),
                ha="center",
                va="bottom" if ratio >= 1 else "top",
                fontsize=7,
                color=color,
                fontweight="bold" if target is not None else "normal",
                # readable where a label sits on a target line
                bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7}
                if goals
                else None,
            )
        if values:  # the legend shows the colour, not a bar's met/missed outline
            handles.append(patches.Patch(facecolor=bars.patches[0].get_facecolor()))
            names.append(f"{subject.factory} / {b.factory}")
        every += values
    rax.axhline(1.0, color="black", linewidth=1)
    first = maps[0] if maps else {}
    if one_line:
        rax.axhline(next(iter(goals.values())), color="#555555", linewidth=1.2, linestyle="--")
    else:
        for x, k in enumerate(keys):
            if k in goals:
                got = first.get(k)
                color = "#555555" if got is None else _MET if got >= goals[k] else _MISSED
                rax.hlines(
                    goals[k], x - 0.45, x + 0.45, colors=color, linestyles="--", linewidth=1.5
                )
    rax.set_yscale("log")
    low, high = min(every) / 1.5, max(every) * 1.5
    rax.set_ylim(low, high)
    steps = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
    rax.set_yticks([t for t in steps if low <= t <= high])
    ticker: Any = importlib.import_module("matplotlib.ticker")
    rax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}x"))
    rax.yaxis.set_minor_formatter(ticker.NullFormatter())
    rax.set_ylabel("subject / baseline (>1: subject faster)")
    title = f"subject / baseline ({given or 'from the ops/s above'})"
    if goals:
        lines: Any = importlib.import_module("matplotlib.lines")
        if one_line:
            handles.append(lines.Line2D([], [], color="#555555", linestyle="--"))
            names.append(f"target {next(iter(goals.values())):g}x")
        for color, word in ((_MET, "met"), (_MISSED, "missed")):
            handles.append(
                lines.Line2D([], [], color=color, linestyle="" if one_line else "--", marker="s")
            )
            names.append(f"target {word}")
        title += f": {met} of {met + missed} targets met"
    rax.set_title(title)
    rax.grid(True, axis="y", which="both", alpha=0.3)
    rax.legend(handles, names, fontsize=8)


def _short(value: float) -> str:
    """``1234567`` -> ``1.2M``."""
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"
