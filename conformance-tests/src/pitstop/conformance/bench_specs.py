"""The throughput suite as pytest-benchmark tests, parametrized over (workload, api, factory).

Workloads (one *round* = the whole workload, timed by pytest-benchmark's ``pedantic``):

- ``put``: a 200-step chat thread, one ~300-byte message added per step plus three small scalar
  channels; versions from ``get_next_version`` and ``new_versions`` holding only the channels
  that changed (op = one ``put``; every round on fresh storage);
- ``put_writes``: 4 tasks x 2 writes per step on that thread (op = one call; every round on
  fresh storage holding the 200 checkpoints, written untimed);
- ``get_tuple``: the latest checkpoint of the 200-step thread (100 calls a round);
- ``list``: the full 200-checkpoint history (op = one whole listing, 2 a round), and
  ``list(limit=10)`` (20 calls a round); the read workloads share one prepared saver;
- ``graph``: a real LangGraph graph, 5 nodes in a loop, 100 supersteps, durability "sync"
  (op = one superstep; fresh storage every round; only when ``langgraph`` is importable);
  its nodes do nothing, the worst case for a durable saver;
- ``graph_chat``: a LangGraph chat agent, ``messages`` with the ``add_messages`` reducer, an
  ``agent`` node calling a tool (~130-character messages) and a ``tools`` node answering it until
  the thread holds 100 messages, then a final answer: 101 supersteps, durability "sync" (op = one
  superstep; fresh storage every round; only when ``langgraph`` is importable).

Factories are innermost in the parametrization, so the factories of one (workload, api) run
back to back, and each benchmark's rounds are split into up to ``PASSES`` passes: pass 1 of
every factory, then pass 2 of every factory, and so on, so that a stretch of machine noise
falls on every factory's rounds alike instead of on one factory's block (the rounds of all
passes are pooled again when the results are read, see ``bench.results_from_json``; the read
workloads prepare their storage once and keep it from pass to pass). Each benchmark's
``extra_info`` holds ``ops`` (operations per round), so ops/s = ``ops`` / round time; the sync
``put_writes`` benchmark also records ``stored_bytes`` when the factory has a
``stored_bytes(saver)`` hook.

Three ways in:

- ``pitstop-conformance bench module:factory [--baseline module:factory ...]`` (runs this module
  through ``pytest.main`` and prints a table);
- ``pytest --pyargs pitstop.conformance.bench_specs --pitstop-saver module:factory
  [--benchmark-json out.json]`` (baselines from ``PITSTOP_BENCH_BASELINES``, comma-separated
  ``module:factory``; rounds from ``PITSTOP_BENCH_ROUNDS``);
- in a test module, ``TestBench = benchmark_tests(saver=make_saver, baselines=[other])``.
"""

from __future__ import annotations

import importlib.util
import itertools
import operator
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, TypedDict

import pytest

from pitstop.conformance.factory import SaverFactory, Session, as_saver_factory

__all__ = [
    "APIS",
    "DEFAULT_ROUNDS",
    "PASSES",
    "WORKLOADS",
    "BenchCase",
    "BenchTests",
    "TestBench",
    "Workload",
    "bench_cases",
    "benchmark_tests",
    "run_bench_case",
]

STEPS = 200
MESSAGE = "m" * 300
APIS = ("sync", "async")
DEFAULT_ROUNDS = 20
PASSES = 20
"""Each benchmark's rounds run in up to this many passes, the factories interleaved per pass:
at the default rounds, one round of each factory in turn."""
# the chat agent calls a tool while its thread holds fewer than CHAT_AGENT_MESSAGES messages: one
# message per superstep after the human one, the agent at odd lengths, so the agent answers when it
# sees 101 messages: 101 supersteps, 102 messages
CHAT_AGENT_MESSAGES = 100
CHAT_AGENT_STEPS = 101
CONFIG_ATTR = "_pitstop_bench"  # set on the pytest config by the CLI: (factories, rounds, apis)


@dataclass(frozen=True)
class Workload:
    """One workload: ``key`` (test id), ``title`` (table label), ``ops`` per round."""

    key: str
    title: str
    ops: int
    needs_langgraph: bool = False


WORKLOADS: tuple[Workload, ...] = (
    Workload("put", "put (200-step chat)", STEPS),
    Workload("put_writes", "put_writes (4 tasks x 2)", STEPS * 4),
    Workload("get_tuple", "get_tuple latest", 100),
    Workload("list_all", "list 200 (whole history)", 2),
    Workload("list_limit", "list limit=10", 20),
    Workload("graph", "graph 5 nodes x 100 steps", 100, needs_langgraph=True),
    Workload("graph_chat", "graph chat agent x 101 steps", CHAT_AGENT_STEPS, needs_langgraph=True),
)


@dataclass(frozen=True)
class BenchCase:
    """One benchmark: a workload through one API on one factory (``index`` in the run), pass
    ``part`` of ``passes`` (``rounds`` rounds in each)."""

    workload: Workload
    api: str
    factory: SaverFactory
    index: int
    rounds: int
    part: int = 0
    passes: int = 1

    @property
    def id(self) -> str:
        """The pytest id."""
        return f"{self.workload.key}-{self.api}-{self.index}-{self.factory.label()}-p{self.part}"


def _langgraph_available() -> bool:
    try:
        return importlib.util.find_spec("langgraph.graph") is not None
    except ModuleNotFoundError:
        return False


def bench_cases(
    factories: Sequence[SaverFactory],
    *,
    rounds: int = DEFAULT_ROUNDS,
    apis: Sequence[str] = APIS,
) -> list[BenchCase]:
    """Every (api, workload, pass, factory) case, factories innermost (interleaved): the
    ``rounds`` of each benchmark in up to ``PASSES`` passes of ``ceil(rounds / passes)``."""
    has_langgraph = _langgraph_available()
    passes = max(1, min(PASSES, rounds))
    per_pass = -(-rounds // passes)
    return [
        BenchCase(workload, api, factory, index, per_pass, part, passes)
        for api in apis
        for workload in WORKLOADS
        if has_langgraph or not workload.needs_langgraph
        for part in range(passes)
        for index, factory in enumerate(factories)
    ]


# -- workload data --------------------------------------------------------------------------


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
        config: dict[str, Any] = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
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


def _call_all(
    session: Session,
    saver: Any,
    api: str,
    name: str,
    calls: Sequence[tuple[Any, ...]],
    **kwargs: Any,
) -> list[Any]:
    """Call ``name`` (sync) or ``a<name>`` (async) with each args tuple; return the results."""
    if api == "sync":
        method = getattr(saver, name)
        if name == "list":
            return [list(method(*args, **kwargs)) for args in calls]
        return [method(*args, **kwargs) for args in calls]
    amethod = getattr(saver, "a" + name)

    async def run() -> list[Any]:
        if name == "list":
            return [[x async for x in amethod(*args, **kwargs)] for args in calls]
        return [await amethod(*args, **kwargs) for args in calls]

    result: list[Any] = session.run(run())
    return result


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


_QUESTION = (
    "Where are my orders? Two of them were due last week and the tracking page shows nothing."
)
_CALL_TEXT = (
    "Let me check the order history for that account before answering, so the delivery dates "
    "I quote match what the warehouse recorded. Step {n}."
)
_RESULT_TEXT = (
    "Order {n}: two items shipped from the Leeds warehouse on the 3rd, one backordered until the "
    "12th; no carrier delays on this route."
)
_FINAL_TEXT = (
    "All orders are accounted for: everything has shipped except one backordered item, which "
    "should reach you a week after the 12th."
)


def _build_chat_graph(saver: Any) -> Any:
    """A chat agent: ``agent`` calls a tool until the thread holds ``CHAT_AGENT_MESSAGES``."""
    from langchain_core.messages import AIMessage, ToolMessage

    from pitstop.conformance.scenarios import agent_tool_graph

    # the nodes' parameters are ``Any``: LangGraph resolves a node's annotations in this
    # module's globals, where the lazily imported state class is not bound
    def agent(state: Any) -> dict[str, Any]:
        n = len(state["messages"])
        if n >= CHAT_AGENT_MESSAGES:
            return {"messages": [AIMessage(_FINAL_TEXT, id=f"ai-{n}")]}
        call = {
            "name": "order_history",
            "args": {"order": n},
            "id": f"call-{n}",
            "type": "tool_call",
        }
        return {"messages": [AIMessage(_CALL_TEXT.format(n=n), id=f"ai-{n}", tool_calls=[call])]}

    def tools(state: Any) -> dict[str, Any]:
        last = state["messages"][-1]
        assert isinstance(last, AIMessage), last
        assert last.tool_calls, last
        call = last.tool_calls[0]
        n = len(state["messages"])
        answer = ToolMessage(
            _RESULT_TEXT.format(n=call["args"]["order"]),
            tool_call_id=call["id"],
            name=call["name"],
            id=f"tool-{n}",
        )
        return {"messages": [answer]}

    return agent_tool_graph(agent, tools, saver)


def _check_chat_result(out: Any) -> None:
    """What the chat agent must have produced: the whole agent/tool exchange, in order."""
    messages = out["messages"]
    assert len(messages) == CHAT_AGENT_STEPS + 1, len(messages)
    assert (messages[0].type, messages[0].id) == ("human", "h-0"), messages[0]
    for n, message in enumerate(messages[1:-1], start=1):
        if n % 2:
            assert (message.type, message.id) == ("ai", f"ai-{n}"), message
            assert [c["id"] for c in message.tool_calls] == [f"call-{n}"], message
        else:
            assert (message.type, message.id) == ("tool", f"tool-{n}"), message
            assert message.tool_call_id == f"call-{n - 1}", message
    final = messages[-1]
    assert (final.type, final.tool_calls, final.content) == ("ai", [], _FINAL_TEXT), final


# -- running one case -----------------------------------------------------------------------


@dataclass
class _Round:
    """What one round works on: its own session (loop + handles) and saver."""

    session: Session
    saver: Any
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    graph: Any = None


_READ_STORAGE: dict[tuple[int, str, str], tuple[SaverFactory, _Round]] = {}
"""The storage a read workload prepared in its first pass, for its later passes: ``(factory
index, api, workload) -> (factory, round)``."""


def _fresh(case: BenchCase) -> _Round:
    session = Session()
    return _Round(session, session.open(case.factory.create()))


def _close(state: _Round) -> None:
    state.session.close()


def _prepared(case: BenchCase) -> _Round:
    """Fresh storage holding the chat thread and its writes (written through ``case.api``)."""
    state = _fresh(case)
    configs = _call_all(
        state.session, state.saver, case.api, "put", _chat_steps(state.saver, "chat")
    )
    state.calls = _writes_calls(configs)
    return state


def run_bench_case(case: BenchCase, benchmark: Any) -> None:
    """Time ``case`` with pytest-benchmark's ``benchmark`` fixture (``pedantic``)."""
    workload, api = case.workload, case.api
    benchmark.group = f"{workload.key}-{api}"
    benchmark.extra_info.update(
        workload=workload.title,
        api=api,
        factory=case.factory.label(),
        index=case.index,
        part=case.part,
        ops=workload.ops,
    )
    last: list[_Round] = []
    warmup = 1 if case.part == 0 else 0  # one warm-up round, before the first pass

    def run_pedantic(target: Callable[[_Round], Any], setup: Callable[[], _Round]) -> Any:
        def setup_round() -> tuple[tuple[_Round], dict[str, Any]]:
            while last:  # only one round's storage open at a time; the last kept for after
                _close(last.pop())
            state = setup()
            last.append(state)
            return (state,), {}

        return benchmark.pedantic(
            target, setup=setup_round, rounds=case.rounds, warmup_rounds=warmup, iterations=1
        )

    try:
        if workload.key == "put":

            def put_setup() -> _Round:
                state = _fresh(case)
                state.calls = _chat_steps(state.saver, "chat")
                return state

            run_pedantic(
                lambda s: _call_all(s.session, s.saver, api, "put", s.calls),
                put_setup,
            )
        elif workload.key == "put_writes":
            run_pedantic(
                lambda s: _call_all(s.session, s.saver, api, "put_writes", s.calls),
                lambda: _prepared(case),
            )
            if api == "sync" and case.factory.stored_bytes is not None and last:
                benchmark.extra_info["stored_bytes"] = case.factory.stored_bytes(last[0].saver)
        elif workload.key == "graph":

            def graph_setup() -> _Round:
                state = _fresh(case)
                state.graph = _build_graph(state.saver)
                return state

            def invoke(s: _Round) -> Any:
                config = {"configurable": {"thread_id": "graph"}, "recursion_limit": 1000}
                inputs = {"count": 0, "log": []}
                if api == "sync":
                    return s.graph.invoke(inputs, config, durability="sync")
                return s.session.run(s.graph.ainvoke(inputs, config, durability="sync"))

            out = run_pedantic(invoke, graph_setup)
            assert out["count"] == 100, out
        elif workload.key == "graph_chat":

            def chat_setup() -> _Round:
                state = _fresh(case)
                state.graph = _build_chat_graph(state.saver)
                return state

            from langchain_core.messages import HumanMessage

            chat_config = {"configurable": {"thread_id": "chat-agent"}, "recursion_limit": 1000}

            def chat(s: _Round) -> Any:
                inputs = {"messages": [HumanMessage(_QUESTION, id="h-0")]}
                if api == "sync":
                    return s.graph.invoke(inputs, chat_config, durability="sync")
                return s.session.run(s.graph.ainvoke(inputs, chat_config, durability="sync"))

            out = run_pedantic(chat, chat_setup)
            _check_chat_result(out)
            # the last round's thread: checkpoint step -1 holds the input, step 0 the state
            # before the first node, step n the state after n node supersteps; so the final
            # step is the number of supersteps the graph really made
            final = last[0]
            if api == "sync":
                snapshot = final.graph.get_state(chat_config)
            else:
                snapshot = final.session.run(final.graph.aget_state(chat_config))
            assert snapshot.metadata["step"] == workload.ops, snapshot.metadata
            _check_chat_result(snapshot.values)
        else:
            # the read workloads' storage is prepared once and kept from pass to pass
            key = (case.index, api, workload.key)
            kept = _READ_STORAGE.pop(key, None)
            if kept is not None and kept[0] is not case.factory:  # left by another run
                _close(kept[1])
                kept = None
            if kept is None:
                shared = _prepared(case)
                _call_all(shared.session, shared.saver, api, "put_writes", shared.calls)
            else:
                shared = kept[1]
            last[:] = [shared]  # closed below, unless a later pass takes it
            latest = {"configurable": {"thread_id": "chat", "checkpoint_ns": ""}}
            thread = {"configurable": {"thread_id": "chat"}}
            name, calls, kwargs = {
                "get_tuple": ("get_tuple", [(latest,)] * workload.ops, {}),
                "list_all": ("list", [(thread,)] * workload.ops, {}),
                "list_limit": ("list", [(thread,)] * workload.ops, {"limit": 10}),
            }[workload.key]
            result = benchmark.pedantic(
                lambda: _call_all(shared.session, shared.saver, api, name, calls, **kwargs),
                rounds=case.rounds,
                warmup_rounds=warmup,
                iterations=1,
            )
            if workload.key == "list_all":
                assert len(result[0]) == STEPS, len(result[0])
            elif workload.key == "get_tuple":
                assert result[0] is not None
            if case.part < case.passes - 1:
                _READ_STORAGE[key] = (case.factory, last.pop())
    finally:
        for state in last:
            _close(state)


# -- pytest entry points --------------------------------------------------------------------


def _from_config(config: pytest.Config) -> tuple[list[SaverFactory], int, Sequence[str]] | None:
    """Factories, rounds and APIs from the CLI (config attribute) or the command-line options."""
    given = getattr(config, CONFIG_ATTR, None)
    if given is not None:
        factories, rounds, apis = given
        return list(factories), int(rounds), tuple(apis)
    saver = config.getoption("--pitstop-saver", None)
    if not saver:
        return None
    baselines = [b.strip() for b in os.environ.get("PITSTOP_BENCH_BASELINES", "").split(",")]
    factories = [as_saver_factory(spec) for spec in [saver, *baselines] if spec]
    rounds = int(os.environ.get("PITSTOP_BENCH_ROUNDS", DEFAULT_ROUNDS))
    return factories, rounds, APIS


class BenchTests:
    """Base class of the throughput benchmarks; see :func:`benchmark_tests`.

    ``bench_factories`` (subject first) and ``bench_rounds`` / ``bench_apis`` configure it; when
    ``bench_factories`` is empty the CLI's factories or ``--pitstop-saver`` are used.
    """

    bench_factories: ClassVar[Sequence[SaverFactory]] = ()
    bench_rounds: ClassVar[int] = DEFAULT_ROUNDS
    bench_apis: ClassVar[Sequence[str]] = APIS

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrize ``bench_case`` over every (api, workload, factory)."""
        if "bench_case" not in metafunc.fixturenames:
            return
        found: tuple[Sequence[SaverFactory], int, Sequence[str]] | None
        if self.bench_factories:
            found = (self.bench_factories, self.bench_rounds, self.bench_apis)
        else:
            found = _from_config(metafunc.config)
        if found is None:
            metafunc.parametrize(
                "bench_case",
                [pytest.param(None, marks=pytest.mark.skip(reason="no --pitstop-saver given"))],
            )
            return
        factories, rounds, apis = found
        cases = bench_cases(factories, rounds=rounds, apis=apis)
        metafunc.parametrize("bench_case", cases, ids=[c.id for c in cases])

    def test_bench(self, bench_case: BenchCase | None, benchmark: Any) -> None:
        """Time one (workload, api, factory)."""
        if bench_case is None:
            pytest.skip("no saver factory given")
        run_bench_case(bench_case, benchmark)


class TestBench(BenchTests):
    """What ``pytest --pyargs pitstop.conformance.bench_specs`` and the CLI run."""


def benchmark_tests(
    saver: Any,
    *,
    baselines: Sequence[Any] = (),
    rounds: int = DEFAULT_ROUNDS,
    apis: Sequence[str] = APIS,
) -> type[BenchTests]:
    """A test class benchmarking ``saver`` (a factory or ``"module:attr"``) and ``baselines``.

    ``TestBench = benchmark_tests(saver=make_saver, baselines=[other_saver])`` in a test module;
    run it with pytest-benchmark enabled (the default unless ``--benchmark-disable``).
    """
    factories = tuple(as_saver_factory(f) for f in [saver, *baselines])
    return type(
        "TestBench",
        (BenchTests,),
        {"bench_factories": factories, "bench_rounds": rounds, "bench_apis": tuple(apis)},
    )
