"""The throughput suite: standard workloads, ops/s through the sync and async APIs.

Workloads (each on fresh storage, timed with :func:`time.perf_counter`):

- ``put``: a 200-step chat thread, one ~300-byte message added per step plus three small scalar
  channels; versions from ``get_next_version`` and ``new_versions`` holding only the channels
  that changed, so unchanged values are not rewritten (op = one ``put``);
- ``put_writes``: 4 tasks x 2 writes per step on that thread (op = one call);
- ``get_tuple``: the latest checkpoint of the 200-step thread;
- ``list``: the full 200-checkpoint history (op = one whole listing), and ``list(limit=10)``;
- ``graph``: a real LangGraph graph, 5 nodes in a loop, 100 supersteps, durability "sync"
  (op = one superstep; needs ``langgraph``).

All factories are measured in the same run; the table shows each baseline's ops/s and the
subject's speed as a ratio of it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import operator
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

from pitstop.conformance.factory import SaverFactory, Session

__all__ = ["BenchResult", "render", "run_bench", "to_json"]

STEPS = 200
MESSAGE = "m" * 300


@dataclass
class BenchResult:
    """ops/s per (workload, api) for one factory, plus stored bytes when reported."""

    factory: str
    ops: dict[tuple[str, str], float] = field(default_factory=dict)
    stored_bytes: int | None = None


def _checkpoint(
    n: int, values: dict[str, Any], versions: dict[str, Any], seen: dict[str, Any]
) -> dict[str, Any]:
    return {
        "v": 4,
        "id": f"{n:08x}-0000-6000-8000-{n:012x}",
        "ts": "2024-07-31T20:14:19.804150+00:00",
        "channel_values": values,
        "channel_versions": versions,
        "versions_seen": seen,
        "updated_channels": None,
    }


def _chat_steps(saver: Any, thread: str) -> list[tuple[Any, ...]]:
    """The 200 ``put`` argument tuples of the chat workload (built before timing)."""
    messages: list[dict[str, Any]] = []
    versions: dict[str, Any] = {}
    values: dict[str, Any] = {}
    calls: list[tuple[Any, ...]] = []
    parent: str | None = None
    for step in range(STEPS):
        messages = [*messages, {"role": "user" if step % 2 else "ai", "content": MESSAGE}]
        changed = {"messages": messages, "step": step}
        if step % 10 == 0:
            changed["mode"] = f"mode-{step // 10}"
        if step == 0:
            changed["flag"] = True
        new_versions = {}
        for channel, value in changed.items():
            versions[channel] = saver.get_next_version(versions.get(channel), None)
            new_versions[channel] = versions[channel]
            values[channel] = value
        checkpoint = _checkpoint(step + 1, dict(values), dict(versions), {"node": dict(versions)})
        config = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
        if parent:
            config["configurable"]["checkpoint_id"] = parent
        calls.append((config, checkpoint, {"source": "loop", "step": step}, new_versions))
        parent = checkpoint["id"]
    return calls


def _writes_calls(put_configs: Sequence[Any]) -> list[tuple[Any, ...]]:
    calls = []
    for config in put_configs:
        for task in range(4):
            writes = [("messages", {"content": MESSAGE}), ("step", task)]
            calls.append((config, writes, f"task-{task}", ""))
    return calls


class _Timer:
    def __init__(self, api: str, session: Session) -> None:
        self.api = api
        self.session = session

    def measure(
        self, saver: Any, name: str, calls: Sequence[tuple[Any, ...]], **kwargs: Any
    ) -> tuple[float, list[Any]]:
        """Call ``name`` (sync) or ``a<name>`` (async) with each args tuple; return ops/s."""
        if self.api == "sync":
            method = getattr(saver, name)
            start = time.perf_counter()
            if name == "list":
                results = [list(method(*args, **kwargs)) for args in calls]
            else:
                results = [method(*args, **kwargs) for args in calls]
            elapsed = time.perf_counter() - start
        else:
            amethod = getattr(saver, "a" + name)

            async def run() -> list[Any]:
                if name == "list":
                    return [[x async for x in amethod(*args, **kwargs)] for args in calls]
                return [await amethod(*args, **kwargs) for args in calls]

            start = time.perf_counter()
            results = self.session.run(run())
            elapsed = time.perf_counter() - start
        return len(calls) / elapsed if elapsed > 0 else float("inf"), results


def _bench_api(factory: SaverFactory, api: str, result: BenchResult, repeat: int) -> None:
    session = Session()
    try:
        timer = _Timer(api, session)
        saver = session.open(factory.create())
        put_calls = _chat_steps(saver, "chat")
        ops, configs = timer.measure(saver, "put", put_calls)
        result.ops[("put (200-step chat)", api)] = ops
        ops, _ = timer.measure(saver, "put_writes", _writes_calls(configs))
        result.ops[("put_writes (4 tasks x 2)", api)] = ops
        if api == "sync" and factory.stored_bytes is not None:
            result.stored_bytes = factory.stored_bytes(saver)
        latest = [({"configurable": {"thread_id": "chat", "checkpoint_ns": ""}},)] * (repeat * 10)
        ops, _ = timer.measure(saver, "get_tuple", latest)
        result.ops[("get_tuple latest", api)] = ops
        thread = [({"configurable": {"thread_id": "chat"}},)]
        ops, _ = timer.measure(saver, "list", thread * max(1, repeat // 4))
        result.ops[("list 200 (whole history)", api)] = ops
        ops, _ = timer.measure(saver, "list", thread * (repeat * 2), limit=10)
        result.ops[("list limit=10", api)] = ops
    finally:
        session.close()
    graph_ops = _bench_graph(factory, api)
    if graph_ops is not None:
        result.ops[("graph 5 nodes x 100 steps", api)] = graph_ops


class _State(TypedDict):
    count: int
    log: Annotated[list[str], operator.add]


def _build_graph(saver: Any) -> Any:
    from langgraph.graph import END, START, StateGraph

    builder: Any = StateGraph(_State)
    names = ["a", "b", "c", "d", "e"]

    def node(name: str) -> Callable[[_State], dict[str, Any]]:
        def run(state: _State) -> dict[str, Any]:
            return {"count": state["count"] + 1, "log": [name]}

        return run

    for name in names:
        builder.add_node(name, node(name))
    builder.add_edge(START, "a")
    for left, right in itertools.pairwise(names):
        builder.add_edge(left, right)
    builder.add_conditional_edges("e", lambda s: END if s["count"] >= 100 else "a")
    return builder.compile(checkpointer=saver)


def _bench_graph(factory: SaverFactory, api: str) -> float | None:
    try:
        import langgraph.graph  # noqa: F401
    except ImportError:
        return None
    session = Session()
    try:
        saver = session.open(factory.create())
        graph = _build_graph(saver)
        config = {"configurable": {"thread_id": "graph"}, "recursion_limit": 1000}
        start = time.perf_counter()
        if api == "sync":
            out = graph.invoke({"count": 0, "log": []}, config, durability="sync")
        else:
            out = session.run(graph.ainvoke({"count": 0, "log": []}, config, durability="sync"))
        elapsed = time.perf_counter() - start
        assert out["count"] == 100, out
        return 100 / elapsed
    finally:
        session.close()


def run_bench(
    factories: Sequence[SaverFactory], *, repeat: int = 20, apis: Sequence[str] = ("sync", "async")
) -> list[BenchResult]:
    """Measure every factory (subject first, then baselines) in this process."""
    results = []
    for factory in factories:
        result = BenchResult(factory.label())
        for api in apis:
            _bench_api(factory, api, result, repeat)
        results.append(result)
    asyncio.set_event_loop(None)
    return results


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
