"""The throughput suite: the ``bench`` CLI on pytest-benchmark, and the pytest entry points."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from pitstop.checkpoint.memory import InMemorySaver
from pitstop.conformance import bench
from pitstop.conformance.bench_specs import WORKLOADS, BenchTests, benchmark_tests
from pitstop.conformance.cli import main
from pitstop.conformance.memory import saver

TITLES = [w.title for w in WORKLOADS]
NO_GRAPH = [w.title for w in WORKLOADS if not w.needs_langgraph]


def _split(line: str) -> tuple[str, list[str]]:
    """``(workload, [api, numbers...])`` of a table row."""
    title = next(t for t in TITLES if line.startswith(t))
    return title, line[len(title) :].split()


def test_bench_table_with_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("langgraph")  # the baseline and the graph workload need it
    code = main(
        [
            "bench",
            "pitstop.conformance.memory:saver",
            "--baseline",
            "pitstop.conformance.memory:langgraph_saver",
            "--repeat",
            "2",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["workload", "api", "memory:saver", "memory:langgraph_s", "ratio"]
    end = 2 + 2 * len(TITLES)  # header, rule, then each workload through both APIs
    rows = [_split(line) for line in lines[2:end]]
    assert [(t, cells[0]) for t, cells in rows] == [
        (t, api) for api in ("sync", "async") for t in TITLES
    ]
    assert {"graph 5 nodes x 100 steps", "graph chat agent x 101 steps"} <= set(TITLES)
    for _, (_, subject, baseline, ratio) in rows:
        s, b = float(subject.replace(",", "")), float(baseline.replace(",", ""))
        assert s > 0
        assert b > 0
        assert ratio.endswith("x")
        assert float(ratio[:-1]) == pytest.approx(s / b, abs=0.02, rel=0.05)
    assert lines[end].startswith("---")
    assert lines[end + 1].startswith(
        "stored bytes after the chat + writes workloads: memory:saver: "
    )
    assert re.search(r" B  memory:langgraph_saver: [\d,]+ B$", lines[end + 1]), lines[end + 1]
    assert "ratio = subject / baseline" in lines[end + 2]
    assert len(lines) == end + 3


def test_bench_without_baseline_or_langgraph(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # as if langgraph were not installed: no graph workload, and nothing else needs it
    for name in [m for m in sys.modules if m == "langgraph" or m.startswith("langgraph.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "langgraph", None)
    code = main(["bench", "pitstop.conformance.memory:saver", "--repeat", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split() == ["workload", "api", "memory:saver"]
    rows = [_split(line) for line in lines[2:12]]
    assert [(t, cells[0]) for t, cells in rows] == [
        (t, api) for api in ("sync", "async") for t in NO_GRAPH
    ]
    assert all(len(cells) == 2 for _, cells in rows)  # no ratio column without a baseline
    assert lines[12].startswith("---")
    assert lines[13].startswith("stored bytes after the chat + writes workloads: memory:saver: ")


def test_bench_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "pitstop.conformance.memory:saver", "--repeat", "1", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [r["factory"] for r in data] == ["memory:saver"]
    assert isinstance(data[0]["stored_bytes"], int)
    assert data[0]["stored_bytes"] > 100_000
    entries = data[0]["ops_per_second"]
    assert {e["api"] for e in entries} == {"sync", "async"}
    assert {e["workload"] for e in entries} >= set(NO_GRAPH)
    assert all(set(e) == {"workload", "api", "ops"} and e["ops"] > 0 for e in entries)


def test_bench_failure_reports_pytest_output(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "test_bench:broken", "--repeat", "1"])
    err = capsys.readouterr().err
    assert code != 0
    assert "the benchmarks failed" in err
    assert "RuntimeError: no storage" in err


def broken() -> Any:
    raise RuntimeError("no storage")


def test_graph_chat_counts_and_checks_supersteps() -> None:
    pytest.importorskip("langgraph")
    from pitstop.conformance.factory import as_saver_factory

    results = bench.run_bench([as_saver_factory(saver)], repeat=1, pytest_args=["-k", "graph_chat"])
    title = "graph chat agent x 101 steps"
    assert set(results[0].ops) == {(title, "sync"), (title, "async")}
    assert all(ops > 0 for ops in results[0].ops.values())
    workload = next(w for w in WORKLOADS if w.key == "graph_chat")
    assert (workload.title, workload.ops, workload.needs_langgraph) == (title, 101, True)


class _LaggingSaver(InMemorySaver):
    """Answers a latest-checkpoint lookup with the one before it: a saver that loses a step."""

    def get_tuple(self, config: Any) -> Any:
        found = super().get_tuple(config)
        if found is None or "checkpoint_id" in config["configurable"] or not found.parent_config:
            return found
        return super().get_tuple(found.parent_config)

    async def aget_tuple(self, config: Any) -> Any:
        return self.get_tuple(config)


def lagging_saver() -> InMemorySaver:
    return _LaggingSaver()


@pytest.mark.parametrize("api", ["sync", "async"])
def test_graph_chat_fails_on_a_saver_that_loses_a_step(api: str) -> None:
    pytest.importorskip("langgraph")
    from pitstop.conformance.factory import as_saver_factory

    with pytest.raises(bench.BenchError) as exc:
        bench.run_bench(
            [as_saver_factory(lagging_saver)],
            repeat=1,
            apis=(api,),
            pytest_args=["-k", "graph_chat"],
        )
    # the run itself completes; the final checkpoint read back is one superstep short
    assert 'assert snapshot.metadata["step"] == workload.ops' in exc.value.output
    assert "assert 100 == 101" in exc.value.output


def test_results_from_json() -> None:
    data = {
        "benchmarks": [
            {
                "stats": {"median": 0.01},
                "extra_info": {
                    "workload": "put (200-step chat)",
                    "api": "sync",
                    "index": 0,
                    "ops": 200,
                    "stored_bytes": 1234,
                },
            },
            {
                "stats": {"median": 0.5},
                "extra_info": {
                    "workload": "put (200-step chat)",
                    "api": "sync",
                    "index": 1,
                    "ops": 200,
                },
            },
        ]
    }
    from pitstop.conformance.factory import as_saver_factory

    results = bench.results_from_json(data, [as_saver_factory(saver), as_saver_factory(saver)])
    assert results[0].ops == {("put (200-step chat)", "sync"): pytest.approx(20_000)}
    assert results[0].stored_bytes == 1234
    assert results[1].ops == {("put (200-step chat)", "sync"): pytest.approx(400)}
    assert results[1].stored_bytes is None
    assert "50.00x" in bench.render(results)


def test_rounds_run_in_passes_with_the_factories_interleaved() -> None:
    from pitstop.conformance.bench_specs import PASSES, bench_cases
    from pitstop.conformance.factory import as_saver_factory

    factories = [as_saver_factory(saver), as_saver_factory(saver)]
    cases = [c for c in bench_cases(factories, rounds=50, apis=["sync"]) if c.workload.key == "put"]
    assert PASSES == 20
    # pass by pass, both factories in each: (part, index), 3 rounds each (50 rounds asked)
    assert [(c.part, c.index) for c in cases] == [(p, i) for p in range(20) for i in range(2)]
    assert {(c.rounds, c.passes) for c in cases} == {(3, 20)}
    assert len({c.id for c in cases}) == len(cases)
    # up to PASSES rounds: one round per pass
    few = [c for c in bench_cases(factories, rounds=2, apis=["sync"]) if c.workload.key == "put"]
    assert [(c.part, c.rounds) for c in few] == [(0, 1), (0, 1), (1, 1), (1, 1)]


def test_results_pool_the_rounds_of_every_pass() -> None:
    from pitstop.conformance.factory import as_saver_factory

    def entry(times: list[float] | None, median: float) -> dict[str, Any]:
        stats: dict[str, Any] = {"median": median}
        if times is not None:
            stats["data"] = times
        info = {"workload": "put (200-step chat)", "api": "sync", "index": 0, "ops": 1}
        return {"stats": stats, "extra_info": info}

    factories = [as_saver_factory(saver)]
    # pooled rounds 1, 2, 3, 10, 11: median 3 (the median of the two medians would be 6)
    data = {"benchmarks": [entry([1.0, 2.0, 3.0], 2.0), entry([10.0, 11.0], 10.5)]}
    (result,) = bench.results_from_json(data, factories)
    assert result.ops == {("put (200-step chat)", "sync"): pytest.approx(1 / 3)}
    # without the rounds in the JSON: the median of the passes' medians
    data = {"benchmarks": [entry(None, 2.0), entry(None, 10.0), entry(None, 4.0)]}
    (result,) = bench.results_from_json(data, factories)
    assert result.ops == {("put (200-step chat)", "sync"): pytest.approx(1 / 4)}


def test_benchmark_tests_class(tmp_path: Path) -> None:
    """``benchmark_tests(...)`` in a backend's own test module, run by plain pytest."""
    (tmp_path / "test_mybench.py").write_text(
        "from pitstop.conformance.bench_specs import benchmark_tests\n"
        "TestBench = benchmark_tests(\n"
        "    saver='pitstop.conformance.memory:saver',\n"
        "    baselines=['pitstop.conformance.memory:saver'],\n"
        "    rounds=2,\n"
        "    apis=['sync'],\n"
        ")\n"
    )
    out = tmp_path / "out.json"
    code = pytest.main(
        [
            str(tmp_path / "test_mybench.py"),
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "-k",
            "put and not writes or get_tuple",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "--benchmark-enable",
            "--benchmark-quiet",
            f"--benchmark-json={out}",
        ]
    )
    assert code == 0
    benchmarks = json.loads(out.read_text())["benchmarks"]
    info = [b["extra_info"] for b in benchmarks]
    # two rounds: two passes of one, the factories interleaved in each
    assert [(i["workload"], i["part"], i["index"]) for i in info] == [
        (workload, part, index)
        for workload in ("put (200-step chat)", "get_tuple latest")
        for part in (0, 1)
        for index in (0, 1)
    ]
    assert all(b["stats"]["rounds"] == 1 for b in benchmarks)
    assert issubclass(benchmark_tests(saver), BenchTests)
