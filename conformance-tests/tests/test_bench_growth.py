"""The growth workload (``pitstop-conformance bench --growth``) and the bench charts."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from pitstop.checkpoint.memory import InMemorySaver
from pitstop.conformance import bench, bench_growth
from pitstop.conformance.bench_growth import GrowthError, GrowthPoint, GrowthResult, run_growth
from pitstop.conformance.cli import main
from pitstop.conformance.factory import SaverFactory, as_saver_factory
from pitstop.conformance.memory import saver

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def full_values() -> InMemorySaver:
    """The in-memory saver storing every list in full (no deltas)."""
    return InMemorySaver(max_chain=0)


full_values.stored_bytes = saver.stored_bytes  # type: ignore[attr-defined]


def _factories() -> list[SaverFactory]:
    deltas = as_saver_factory(saver)
    full = as_saver_factory(full_values)
    return [
        SaverFactory(deltas.create, stored_bytes=deltas.stored_bytes, name="deltas"),
        SaverFactory(full.create, stored_bytes=full.stored_bytes, name="full"),
        SaverFactory(InMemorySaver, name="no hook"),
    ]


@pytest.mark.parametrize("api", ["sync", "async"])
def test_run_growth_curves(api: str) -> None:
    results = run_growth(_factories(), marks=(80, 10, 40), api=api, samples=3)
    assert [r.factory for r in results] == ["deltas", "full", "no hook"]
    deltas, full, no_hook = results
    for r in results:
        assert r.api == api
        assert [p.steps for p in r.points] == [10, 40, 80]  # sorted
        assert all(p.put_ms > 0 and p.get_ms > 0 for p in r.points)
    assert [p.stored_bytes for p in no_hook.points] == [None, None, None]
    for r in (deltas, full):
        sizes = [p.stored_bytes or 0 for p in r.points]
        assert 0 < sizes[0] < sizes[1] < sizes[2]
    # full values grow quadratically, deltas do not: the 80-step thread is much smaller
    assert (deltas.points[-1].stored_bytes or 0) * 3 < (full.points[-1].stored_bytes or 0)
    assert deltas.at(40) is deltas.points[1]
    assert deltas.at(41) is None


def test_trials_take_medians() -> None:
    (result,) = run_growth([as_saver_factory(saver)], marks=(5,), samples=2, trials=3)
    (point,) = result.points
    assert point.steps == 5
    assert point.stored_bytes is not None
    assert point.stored_bytes > 5 * 300


def test_chat_messages_look_like_prose() -> None:
    one = bench_growth.chat_message(1)
    assert one == bench_growth.chat_message(1)  # deterministic
    assert one["id"] == "msg-000001"
    assert one["type"] == "ai"
    assert bench_growth.chat_message(2)["type"] == "human"
    assert len(one["content"]) == 260
    assert one["content"] != bench_growth.chat_message(2)["content"]
    assert len(set(one["content"].split())) > 20


class Truncating(InMemorySaver):
    """Reads back one message fewer than written."""

    def get_tuple(self, config: Any) -> Any:
        found = super().get_tuple(config)
        if found is not None:
            found.checkpoint["channel_values"]["messages"] = found.checkpoint["channel_values"][
                "messages"
            ][:-1]
        return found


def broken() -> Any:
    raise RuntimeError("no storage")


def test_wrong_read_back_and_failures_are_errors() -> None:
    with pytest.raises(GrowthError, match=r"Truncating: .* step 3 reads back 2 messages"):
        run_growth([as_saver_factory(Truncating)], marks=(3,), samples=1)
    with pytest.raises(GrowthError, match="broken: RuntimeError: no storage"):
        run_growth([as_saver_factory(saver), as_saver_factory(broken)], marks=(3,))
    with pytest.raises(ValueError, match="api"):
        run_growth([as_saver_factory(saver)], api="threads")
    with pytest.raises(ValueError, match="marks"):
        run_growth([as_saver_factory(saver)], marks=(0, 5))


def _results() -> list[GrowthResult]:
    return [
        GrowthResult(
            "subject",
            "sync",
            [GrowthPoint(50, 1024 * 1024, 0.2, 0.1), GrowthPoint(200, 4 * 1024 * 1024, 0.3, 0.2)],
        ),
        GrowthResult(
            "baseline", "sync", [GrowthPoint(50, None, 0.4, 0.1), GrowthPoint(200, None, 0.6, 0.4)]
        ),
    ]


def test_render_growth() -> None:
    lines = bench_growth.render_growth(_results()).splitlines()
    assert lines[0].startswith("one chat thread, one ~300-byte message per step (sync API)")
    assert lines[2].split() == ["stored", "MiB", "50", "200"]
    assert lines[3].split() == ["subject", "1.00", "4.00"]
    assert lines[4].split() == ["baseline", "n/a", "n/a"]
    assert lines[6].split() == ["KiB/step", "between", "marks", "50-200"]
    assert lines[7].split() == ["subject", "20.48"]  # 3 MiB over 150 steps
    assert lines[8].split() == ["baseline", "n/a"]
    put = lines.index(next(line for line in lines if line.startswith("put ms")))
    assert lines[put + 1].split() == ["subject", "0.200", "0.300"]
    assert lines[put + 2].split() == ["baseline", "0.400", "0.600"]
    get = lines.index(next(line for line in lines if line.startswith("get_tuple latest ms")))
    assert lines[get + 2].split() == ["baseline", "0.100", "0.400"]
    ratios = lines.index(next(line for line in lines if line.startswith("subject / baseline")))
    assert lines[ratios].split()[-3:] == ["bytes", "put", "get"]
    assert lines[ratios + 1].split() == ["baseline", "n/a", "0.50x", "0.50x"]
    assert "ratio = subject (subject) / baseline" in lines[ratios + 2]
    one_mark = [GrowthResult("only", "sync", [GrowthPoint(5, 10, 0.1, 0.1)])]
    assert "KiB/step between marks" not in bench_growth.render_growth(one_mark)
    assert bench_growth.render_growth([]) == "no results"
    assert "subject / baseline" not in bench_growth.render_growth(_results()[:1])


def test_growth_to_json() -> None:
    data = json.loads(bench_growth.growth_to_json(_results()))
    assert data[0] == {
        "factory": "subject",
        "api": "sync",
        "points": [
            {"steps": 50, "stored_bytes": 1048576, "put_ms": 0.2, "get_ms": 0.1},
            {"steps": 200, "stored_bytes": 4194304, "put_ms": 0.3, "get_ms": 0.2},
        ],
    }
    assert data[1]["points"][0]["stored_bytes"] is None


def test_cli_growth_table(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "bench",
            "pitstop.conformance.memory:saver",
            "--baseline",
            "test_bench_growth:full_values",
            "--growth",
            "--steps",
            "5,20",
            "--repeat",
            "2",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert lines[2].split() == ["stored", "MiB", "5", "20"]
    assert lines[3].split()[0] == "memory:saver"
    assert lines[4].split()[0] == "test_bench_growth:full_values"
    assert "subject / baseline, 20 steps" in out


def test_cli_growth_json_async(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "bench",
            "pitstop.conformance.memory:saver",
            "--growth",
            "--steps",
            "4,8",
            "--repeat",
            "1",
            "--api",
            "async",
            "--json",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [(r["factory"], r["api"]) for r in data] == [("memory:saver", "async")]
    assert [p["steps"] for p in data[0]["points"]] == [4, 8]
    assert all(isinstance(p["stored_bytes"], int) for p in data[0]["points"])


def test_cli_growth_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "test_bench_growth:broken", "--growth", "--steps", "2"])
    assert code == 1
    assert "broken: RuntimeError: no storage" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "pitstop.conformance.memory:saver", "--growth", "--steps", "a,b"])
    with pytest.raises(SystemExit):
        main(["bench", "pitstop.conformance.memory:saver", "--growth", "--steps", "0"])


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="matplotlib is not installed")
def test_growth_chart_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "growth.png"
    bench_growth.growth_chart(_results(), str(path), title="a title")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert bench_growth._spread([50, 100, 200, 400, 800]) == [50, 200, 400, 800]  # no overlap
    assert bench_growth._spread([]) == []
    cli_path = tmp_path / "cli.png"
    args = ["bench", "pitstop.conformance.memory:saver", "--growth", "--steps", "3"]
    assert main([*args, "--repeat", "1", "--chart", str(cli_path)]) == 0
    assert cli_path.stat().st_size > 1000


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="matplotlib is not installed")
def test_throughput_chart_written(tmp_path: Path) -> None:
    ops = {("put (200-step chat)", "sync"): 1000.0, ("get_tuple latest", "sync"): 50.0}
    subject = bench.BenchResult("subject", dict(ops))
    slower = bench.BenchResult("slower", {k: v / 2 for k, v in ops.items()})
    partial = bench.BenchResult("partial", {("get_tuple latest", "sync"): 2_000_000.0})
    for name, results in {
        "alone": [subject],
        "baselines": [subject, slower, partial],
    }.items():
        path = tmp_path / f"{name}.png"
        bench.chart(results, str(path))  # the signature backend bench scripts call
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert bench._short(2_000_000) == "2.0M"
    assert bench._short(1500) == "1.5k"
    assert bench._short(42) == "42"
    assert bench._short(3.3) == "3.3"


def test_compare_layouts_runs_every_variant_and_the_official_saver(
    capsys: pytest.CaptureFixture[str],
) -> None:
    made: list[dict[str, Any]] = []

    def pitstop(api: str, **options: Any) -> Any:
        made.append({"api": api, **options})
        return lambda: InMemorySaver(**options)

    def official(api: str) -> Any:
        from langgraph.checkpoint.memory import InMemorySaver as Official

        return Official

    argv = ["--steps", "4,8", "--repeat", "2", "--chart", "", "--api", "async"]
    bench_growth.compare_layouts(
        pitstop,
        saver.stored_bytes,
        backend="memory",
        chart="",
        stored_note="bytes",
        official=official,
        official_name="official",
        official_module="langgraph.checkpoint.memory",
        argv=argv,
    )
    out = capsys.readouterr().out
    options = [{k: v for k, v in m.items() if k != "api"} for m in made]
    assert {"max_chain": 0} in options
    assert {} in options
    assert all(m["api"] == "async" for m in made)
    if importlib.util.find_spec("langgraph") is not None:
        assert "official" in out
    cleaned: list[bool] = []
    bench_growth.compare_layouts(
        pitstop,
        saver.stored_bytes,
        backend="memory",
        chart="",
        stored_note="bytes",
        unavailable="official: n/a here",
        cleanup=lambda: cleaned.append(True),
        argv=["--steps", "3", "--repeat", "1", "--chart", "", "--json"],
    )
    out = capsys.readouterr().out
    assert "official: n/a here" in out
    assert json.loads(out[: out.rindex("]") + 1])
    assert cleaned == [True]
