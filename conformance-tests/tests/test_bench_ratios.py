"""Several trials: median of per-trial ratios, in the table, the JSON, the chart and the CLI."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

import pytest

from pitstop.checkpoint.errors import InvalidArgumentError
from pitstop.conformance import bench
from pitstop.conformance.cli import main
from pitstop.conformance.memory import saver

PUT = ("put (200-step chat)", "sync")
GET = ("get_tuple latest", "sync")
LIST = ("list limit=10", "async")


def _run(subject: dict[Any, float], baseline: dict[Any, float]) -> list[bench.BenchResult]:
    return [bench.BenchResult("ours", dict(subject)), bench.BenchResult("theirs", dict(baseline))]


# Three trials whose median of per-trial ratios (put: 0.43x) differs from the ratio of the
# median ops/s (430 / 900 = 0.48x), as on a noisy machine.
RUNS = [
    _run({PUT: 430, GET: 50}, {PUT: 1000, GET: 100}),  # 0.43x, 0.5x
    _run({PUT: 500, GET: 60}, {PUT: 900, GET: 100}),  # 0.56x, 0.6x
    _run({PUT: 300, GET: 40}, {PUT: 800, GET: 100}),  # 0.375x, 0.4x
]


def test_median_of_per_trial_ratios_is_not_the_ratio_of_medians() -> None:
    per_trial = bench.per_trial_ratios(RUNS)
    assert per_trial == [
        {PUT: pytest.approx([0.43, 500 / 900, 0.375]), GET: pytest.approx([0.5, 0.6, 0.4])}
    ]
    assert bench.median_ratios(RUNS) == [{PUT: pytest.approx(0.43), GET: pytest.approx(0.5)}]
    medians = bench.median_results(RUNS)
    assert [m.factory for m in medians] == ["ours", "theirs"]
    assert medians[0].ops == {PUT: 430, GET: 50}
    assert medians[1].ops == {PUT: 900, GET: 100}
    assert medians[0].ops[PUT] / medians[1].ops[PUT] == pytest.approx(0.478, abs=1e-3)
    trials = bench.BenchTrials([list(r) for r in RUNS])
    assert trials.ratios == bench.median_ratios(RUNS)
    assert trials.per_trial == per_trial
    assert [m.ops for m in trials.medians] == [m.ops for m in medians]


def test_median_results_stored_bytes_and_missing_rows() -> None:
    runs = [
        [bench.BenchResult("ours", {PUT: 10}, 5), bench.BenchResult("theirs", {PUT: 20})],
        [bench.BenchResult("ours", {PUT: 30, GET: 1}, 7), bench.BenchResult("theirs", {GET: 2})],
    ]
    medians = bench.median_results(runs)
    assert medians[0].ops == {PUT: 20, GET: 1}
    assert medians[0].stored_bytes == 7  # the last run's
    assert medians[1].stored_bytes is None
    # a ratio needs both sides in the same trial
    assert bench.median_ratios(runs) == [{PUT: 0.5, GET: 0.5}]


def test_runs_must_line_up() -> None:
    with pytest.raises(InvalidArgumentError, match="no runs"):
        bench.median_ratios([])
    shuffled = [RUNS[0], list(reversed(RUNS[1]))]
    with pytest.raises(InvalidArgumentError, match="same factories in the same order"):
        bench.median_results(shuffled)


def test_render_and_json_with_given_ratios() -> None:
    medians = bench.median_results(RUNS)
    ratios = bench.median_ratios(RUNS)
    table = bench.render(medians, ratios=ratios, note="ratio = median of per-trial ratios")
    rows = {line.split()[0]: line for line in table.splitlines()[2:4]}
    assert rows["put"].endswith(" 0.43x")  # not the 0.48x of the medians
    assert rows["get_tuple"].endswith(" 0.50x")
    assert table.splitlines()[-1] == "ratio = median of per-trial ratios"
    assert " 0.48x" in bench.render(medians)  # unchanged without ratios
    # a single mapping is the first baseline's
    assert bench.render(medians, ratios={PUT: 0.43}).splitlines()[3].endswith(" -")
    data = json.loads(bench.to_json(medians, ratios=ratios))
    assert "ratios" not in data[0]
    assert data[1]["ratios"] == [
        {"workload": PUT[0], "api": "sync", "ratio": 0.43},
        {"workload": GET[0], "api": "sync", "ratio": 0.5},
    ]
    assert all("ratios" not in entry for entry in json.loads(bench.to_json(medians)))


@pytest.mark.parametrize(
    ("ratios", "targets", "message"),
    [
        ({("nope", "sync"): 1.0}, None, "ratio for .*nope.*which no result measured"),
        ({PUT: 0.0}, None, "ratio for .* must be > 0"),
        ([{PUT: 1.0}, {PUT: 1.0}], None, "2 ratio mappings given for 1 baseline"),
        (None, {("nope", "async"): 1.0}, "target for .*nope.*which no result measured"),
        (None, -1.0, "target for .* must be > 0"),
        (None, float("nan"), "target for .* must be > 0"),
    ],
)
def test_bad_ratios_and_targets(ratios: Any, targets: Any, message: str, tmp_path: Path) -> None:
    medians = bench.median_results(RUNS)
    with pytest.raises(InvalidArgumentError, match=message):  # before matplotlib is needed
        bench.chart(medians, str(tmp_path / "x.png"), ratios=ratios, targets=targets)
    assert not (tmp_path / "x.png").exists()


def test_ratios_or_targets_need_a_baseline(tmp_path: Path) -> None:
    alone = [bench.BenchResult("ours", {PUT: 1.0})]
    with pytest.raises(InvalidArgumentError, match="no baseline"):
        bench.chart(alone, str(tmp_path / "x.png"), ratios={PUT: 1.0})
    with pytest.raises(InvalidArgumentError, match="no baseline"):
        bench.chart(alone, str(tmp_path / "x.png"), targets=0.5)


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _ratio_panel(results: list[bench.BenchResult], **kwargs: Any) -> tuple[Any, Any]:
    """The figure :func:`bench.chart` would save, and its lower axes."""
    pytest.importorskip("matplotlib")
    plt = pytest.importorskip("matplotlib.pyplot")
    kwargs = {"ratios": None, "targets": None, "title": None, "ratios_label": None, **kwargs}
    fig = bench._figure(results, **kwargs)
    plt.close(fig)
    return fig, fig.axes[1]


def _bar_tops(ax: Any) -> list[float]:
    return [round(p.get_y() + p.get_height(), 4) for p in ax.patches]


def test_chart_plots_the_given_ratios_and_targets(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    medians = bench.median_results(RUNS)
    ratios = bench.median_ratios(RUNS)
    fig, ax = _ratio_panel(
        medians,
        ratios=ratios,
        targets={PUT: 0.5, GET: 0.5},
        title="SQLite, median of 3 trials",
        ratios_label="median of 3 per-trial ratios",
    )
    assert fig.axes[0].get_title() == "SQLite, median of 3 trials"
    assert _bar_tops(ax) == [0.43, 0.5]  # the given ratios, not 0.478 from the medians
    assert ax.get_title() == "subject / baseline (median of 3 per-trial ratios): 1 of 2 targets met"
    outlines = [p.get_edgecolor() for p in ax.patches]
    assert outlines[0] != outlines[1]  # put misses its target, get_tuple meets it
    labels = {t.get_text(): t.get_color() for t in ax.texts}
    assert labels["0.43x"] == bench._MISSED
    assert labels["0.50x"] == bench._MET
    segments = [c for c in ax.collections if len(c.get_segments()) == 1]
    assert sorted(round(c.get_segments()[0][0][1], 3) for c in segments) == [0.5, 0.5]
    assert "target met" in [t.get_text() for t in ax.get_legend().get_texts()]

    out = tmp_path / "ratios.png"
    bench.chart(medians, str(out), ratios=ratios, targets={PUT: 0.5}, title="t")
    assert _is_png(out)


def test_chart_one_target_line_and_the_old_call(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    medians = bench.median_results(RUNS)
    _, ax = _ratio_panel(medians, targets=0.45)
    assert _bar_tops(ax) == [round(430 / 900, 4), 0.5]  # ratio of the ops/s, as before
    assert ax.get_title() == "subject / baseline (from the ops/s above): 2 of 2 targets met"
    assert any(list(line.get_ydata()) == [0.45, 0.45] for line in ax.get_lines())
    assert "target 0.45x" in [t.get_text() for t in ax.get_legend().get_texts()]

    three = [*medians, bench.BenchResult("memory", {PUT: 2000, LIST: 5})]
    _, ax = _ratio_panel(three, ratios={PUT: 0.43})  # first baseline given, the other computed
    assert _bar_tops(ax) == [0.43, round(430 / 2000, 4)]
    assert ax.get_title() == "subject / baseline (ratios as given)"

    for name, kwargs in {"old.png": {}, "float.png": {"targets": 0.5}}.items():
        bench.chart(medians, str(tmp_path / name), **kwargs)
        assert _is_png(tmp_path / name)
    bench.chart(medians[:1], str(tmp_path / "alone.png"))  # no baseline: one panel, as before
    assert _is_png(tmp_path / "alone.png")


def other_saver() -> Any:
    """The in-memory saver under another name (to tell subject and baseline apart)."""
    return saver()


TWO_TRIALS = [
    "bench",
    "pitstop.conformance.memory:saver",
    "--baseline",
    "test_bench_ratios:other_saver",
    "--trials",
    "2",
    "--repeat",
    "1",
]
"""A CLI run of two trials of one round, the in-memory saver against ``other_saver``."""


def test_cli_trials_report_medians(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    chart = tmp_path / "bench.png"
    args = [*TWO_TRIALS, "--json"]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        drawn = False
    else:
        drawn = True
        args += ["--chart", str(chart), "--target", "0.5x"]
    code = main(args)
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [r["factory"] for r in data] == ["memory:saver", "test_bench_ratios:other_saver"]
    assert "ratios" not in data[0]
    ratios = {(r["workload"], r["api"]): r["ratio"] for r in data[1]["ratios"]}
    ops = {(e["workload"], e["api"]) for e in data[0]["ops_per_second"]}
    assert set(ratios) == ops
    assert all(r > 0 for r in ratios.values())
    assert _is_png(chart) if drawn else not chart.exists()


def test_cli_trials_table(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(TWO_TRIALS)
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("trial 1 of 2 (load average ") == 1
    assert out.count("trial 2 of 2 (load average ") == 1
    medians = out.split("median over 2 trials\n", 1)[1].splitlines()
    assert medians[0].split()[:3] == ["workload", "api", "memory:saver"]
    rows = [line for line in medians[2:] if line.startswith(PUT[0])]
    assert len(rows) == 2  # sync and async
    assert all(re.search(r" \d+\.\d\dx$", line) for line in rows)
    assert "ratio = subject / baseline in each trial, median over the trials" in medians[-1]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--target", "0.5"], "--target needs a --baseline"),
        (["--trials", "0"], "--trials must be at least 1"),
        (["--target", "fast"], "expected a ratio like 0.5"),
        (["--target", "-1"], "expected a positive ratio"),
    ],
)
def test_cli_rejects(extra: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "pitstop.conformance.memory:saver", *extra])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_run_trials_lists_the_subject_first() -> None:
    from pitstop.conformance.factory import as_saver_factory

    factories = [as_saver_factory(saver), as_saver_factory(other_saver)]
    seen: list[tuple[int, list[str]]] = []
    trials = bench.run_trials(
        factories,
        trials=2,
        repeat=1,
        apis=("sync",),
        pytest_args=["-k", "get_tuple"],
        on_trial=lambda i, results: seen.append((i, [r.factory for r in results])),
    )
    names = [f.label() for f in factories]
    assert seen == [(0, names), (1, names)]  # the second trial ran them in reverse order
    assert [[r.factory for r in run] for run in trials.runs] == [names, names]
    assert list(trials.ratios[0]) == [GET]
    assert statistics.median(trials.per_trial[0][GET]) == trials.ratios[0][GET]
    with pytest.raises(InvalidArgumentError, match="trials must be at least 1"):
        bench.run_trials(factories, trials=0)
