"""``pitstop-conformance check|bench`` — the command-line entry point."""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _plugin_autoloaded() -> bool:
    return any(
        ep.value == "pitstop.conformance.plugin"
        for ep in importlib.metadata.entry_points(group="pytest11")
    )


def _check(args: argparse.Namespace) -> int:
    import importlib.util

    import pytest

    found = importlib.util.find_spec("pitstop.conformance.cli_suite")
    suite_file = found.origin if found is not None and found.origin else ""
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp, "report.json")
        argv = [
            suite_file,
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "-W",
            "ignore::pytest.PytestAssertRewriteWarning",  # the CLI imported the package first
            "--rootdir",
            tmp,
            "--pitstop-json",
            str(report_path),
        ]
        if not _plugin_autoloaded():
            argv[1:1] = ["-p", "pitstop.conformance.plugin"]
        if args.saver:
            argv += ["--pitstop-saver", args.saver]
        if args.store:
            argv += ["--pitstop-store", args.store]
        for capability in args.capability or ():
            argv += ["--pitstop-capability", capability]
        for only in args.only or ():
            argv += ["--pitstop-only", only]
        argv += args.pytest_args or []
        out = sys.stderr if args.json else sys.stdout
        with contextlib.redirect_stdout(out):
            code = int(pytest.main(argv))
        if args.json:
            print(report_path.read_text() if report_path.exists() else json.dumps({"ok": False}))
    return code


def _bench(args: argparse.Namespace) -> int:
    from pitstop.conformance import bench
    from pitstop.conformance.factory import as_saver_factory

    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # factories in the current directory, as with python -m
    factories = [as_saver_factory(args.saver)]
    factories += [as_saver_factory(b) for b in args.baseline or ()]
    for factory, spec in zip(factories, [args.saver, *(args.baseline or ())], strict=True):
        object.__setattr__(factory, "name", spec.rsplit(".", 1)[-1] if "." in spec else spec)
    if args.growth:
        return _growth(args, factories)
    if args.trials > 1:
        return _bench_trials(args, factories)
    try:
        results = bench.run_bench(factories, repeat=args.repeat)
    except bench.BenchError as exc:
        sys.stderr.write(exc.output)
        print(f"pitstop-conformance bench: {exc}", file=sys.stderr)
        return exc.code or 1
    print(bench.to_json(results) if args.json else bench.render(results))
    if args.chart:
        bench.chart(results, args.chart, targets=args.target)
    return 0


def _bench_trials(args: argparse.Namespace, factories: list[Any]) -> int:
    """``--trials N``: N whole runs; the median ops/s and the median of the per-trial ratios."""
    from pitstop.conformance import bench

    def show(trial: int, results: list[bench.BenchResult]) -> None:
        if not args.json:
            load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
            print(f"trial {trial + 1} of {args.trials} (load average {load})")
            print(bench.render(results), end="\n\n", flush=True)

    try:
        trials = bench.run_trials(factories, trials=args.trials, repeat=args.repeat, on_trial=show)
    except bench.BenchError as exc:
        sys.stderr.write(exc.output)
        print(f"pitstop-conformance bench: {exc}", file=sys.stderr)
        return exc.code or 1
    medians, ratios = trials.medians, trials.ratios
    what = f"median of {args.trials} per-trial ratios"
    if args.json:
        print(bench.to_json(medians, ratios=ratios))
    else:
        print(f"median over {args.trials} trials")
        note = (
            "ops/s: median over the trials, higher is better; ratio = subject / baseline in "
            "each trial, median over the trials (>1: subject faster)"
        )
        print(bench.render(medians, ratios=ratios, note=note))
    if args.chart:
        bench.chart(
            medians,
            args.chart,
            ratios=ratios,
            targets=args.target,
            title=f"throughput, median of {args.trials} trials",
            ratios_label=what,
        )
    return 0


def _marks(text: str) -> tuple[int, ...]:
    try:
        marks = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected step counts like 50,200,800, got {text!r}"
        ) from None
    if not marks or min(marks) < 1:
        raise argparse.ArgumentTypeError(f"expected positive step counts, got {text!r}")
    return marks


def _target(text: str) -> float:
    try:
        value = float(text.rstrip("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a ratio like 0.5 or 0.5x, got {text!r}"
        ) from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive ratio, got {text!r}")
    return value


def _growth(args: argparse.Namespace, factories: list[Any]) -> int:
    from pitstop.conformance import bench_growth

    try:
        results = bench_growth.run_growth(
            factories, marks=args.steps, api=args.api, samples=args.repeat, trials=args.trials
        )
    except bench_growth.GrowthError as exc:
        print(f"pitstop-conformance bench --growth: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(bench_growth.growth_to_json(results))
    else:
        print(bench_growth.render_growth(results))
    if args.chart:
        bench_growth.growth_chart(results, args.chart)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="pitstop-conformance",
        description="Check a LangGraph checkpoint saver/store against the pitstop contract, "
        "or measure its throughput.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="run the conformance suite (through pytest)")
    check.add_argument("saver", nargs="?", help="saver factory, module:attr")
    check.add_argument("--store", help="store factory, module:attr")
    check.add_argument(
        "--capability",
        action="append",
        help="claim an optional capability (repeatable); replaces detection",
    )
    check.add_argument("--only", action="append", help="run only this capability or spec")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    bench = sub.add_parser("bench", help="run the throughput suite")
    bench.add_argument("saver", help="saver factory, module:attr")
    bench.add_argument("--baseline", action="append", help="another factory to compare with")
    bench.add_argument(
        "--repeat",
        type=int,
        default=20,
        help="rounds per benchmark (one round = the whole workload); ops/s from the median. "
        "With --growth: puts and get_tuple calls timed at each mark",
    )
    bench.add_argument("--json", action="store_true", help="print JSON instead of a table")
    bench.add_argument("--chart", help="also save a chart (needs matplotlib)")
    bench.add_argument(
        "--trials",
        type=int,
        default=1,
        help="whole runs; the table and chart show the median ops/s and the median of the "
        "per-trial subject/baseline ratios. With --growth: fresh threads per factory, medians",
    )
    bench.add_argument(
        "--target",
        type=_target,
        help="with --chart and a baseline: draw this subject/baseline ratio as a target line",
    )
    growth = bench.add_argument_group(
        "storage growth",
        "--growth grows one chat thread per factory instead of the throughput workloads: "
        "stored bytes (the factory's stored_bytes hook), put and get_tuple latency at each mark",
    )
    growth.add_argument("--growth", action="store_true", help="run the growth workload")
    growth.add_argument(
        "--steps",
        type=_marks,
        default=(50, 200, 800),
        help="marks, comma-separated step counts (default 50,200,800)",
    )
    growth.add_argument(
        "--api", choices=("sync", "async"), default="sync", help="API the thread grows through"
    )
    args = parser.parse_args(argv)
    if args.command == "check":
        if not args.saver and not args.store:
            parser.error("check needs a saver factory and/or --store")
        return _check(args)
    if args.trials < 1:
        parser.error(f"--trials must be at least 1, got {args.trials}")
    if args.target is not None and (args.growth or not args.baseline):
        parser.error("--target needs a --baseline and the throughput workloads (not --growth)")
    return _bench(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
