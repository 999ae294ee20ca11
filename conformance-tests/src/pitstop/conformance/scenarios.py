"""LangGraph end-to-end scenarios for any checkpoint saver, checked against LangGraph's own.

Every scenario builds a tiny graph, drives it through LangGraph's public API once on a saver
from the factory under test and once on ``langgraph.checkpoint.memory.InMemorySaver`` (the
reference, given the same serializer as the saver under test), turns each run into a *trace*
(final state, history entries with their ``(source, step)``, ``next`` nodes, values, interrupts
and parent links) and asserts that the two traces are equal. Scenario-specific invariants (a
fork is a ``source="fork"`` child of the old checkpoint, ``durability="exit"`` puts once, ...)
are asserted on both runs; one that fails on the reference means the scenario itself is wrong,
and the message says so.

Only the public saver API and LangGraph's API are used, so the module can move into a
conformance package and run against any saver. A scenario takes a *saver factory*: a zero-arg
callable returning a fresh, empty saver.

Each scenario body is written once, as a coroutine over an :class:`Api` adapter: ``SYNC`` calls
``invoke``/``stream``/``get_state``/... and the saver's sync methods, ``ASYNC`` calls
``ainvoke``/``astream``/``aget_state``/... and the saver's async methods. A body driven through
``SYNC`` never suspends, so it is run by stepping the coroutine once, without an event loop:
the sync scenarios really are plain sync code paths.

Registry: :data:`SYNC_SCENARIOS` (``fn(factory) -> trace``) and :data:`ASYNC_SCENARIOS`
(``async fn(factory) -> trace``), lists of ``(name, fn)`` to parametrize a test over.
"""

from __future__ import annotations

import dataclasses
import operator
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.memory import InMemorySaver as ReferenceSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, Interrupt, Send, StateSnapshot, interrupt
from pydantic import BaseModel

try:
    from langgraph.channels.delta import DeltaChannel
except ImportError:  # older LangGraph: no delta channels
    DeltaChannel = None  # type: ignore[misc,assignment]

__all__ = [
    "ASYNC",
    "ASYNC_SCENARIOS",
    "SYNC",
    "SYNC_SCENARIOS",
    "Api",
    "RecordingSaver",
    "SaverFactory",
]

Saver = BaseCheckpointSaver[Any]
SaverFactory = Callable[[], Saver]
Trace = dict[str, Any]
Body = Callable[["Api", Saver], Coroutine[Any, Any, Trace]]


# --- the sync / async API adapter ----------------------------------------------------------


class Api:
    """LangGraph's and the saver's public API in one flavour (sync or async)."""

    def __init__(self, *, is_async: bool) -> None:
        self.is_async = is_async

    def __repr__(self) -> str:
        return "ASYNC" if self.is_async else "SYNC"

    async def invoke(self, graph: Any, inp: Any, cfg: RunnableConfig, **kw: Any) -> Any:
        if self.is_async:
            return await graph.ainvoke(inp, cfg, **kw)
        return graph.invoke(inp, cfg, **kw)

    async def stream(self, graph: Any, inp: Any, cfg: RunnableConfig, **kw: Any) -> list[Any]:
        if self.is_async:
            return [chunk async for chunk in graph.astream(inp, cfg, **kw)]
        return list(graph.stream(inp, cfg, **kw))

    async def get_state(self, graph: Any, cfg: RunnableConfig, **kw: Any) -> StateSnapshot:
        snapshot: StateSnapshot = (
            await graph.aget_state(cfg, **kw) if self.is_async else graph.get_state(cfg, **kw)
        )
        return snapshot

    async def history(self, graph: Any, cfg: RunnableConfig, **kw: Any) -> list[StateSnapshot]:
        if self.is_async:
            return [s async for s in graph.aget_state_history(cfg, **kw)]
        return list(graph.get_state_history(cfg, **kw))

    async def update_state(
        self, graph: Any, cfg: RunnableConfig, values: Any, as_node: str | None = None
    ) -> RunnableConfig:
        if self.is_async:
            updated: RunnableConfig = await graph.aupdate_state(cfg, values, as_node=as_node)
        else:
            updated = graph.update_state(cfg, values, as_node=as_node)
        return updated

    async def saver_list(
        self, saver: Saver, cfg: RunnableConfig | None, **kw: Any
    ) -> list[CheckpointTuple]:
        if self.is_async:
            return [t async for t in saver.alist(cfg, **kw)]
        return list(saver.list(cfg, **kw))

    async def saver_get_tuple(self, saver: Saver, cfg: RunnableConfig) -> CheckpointTuple | None:
        if self.is_async:
            return await saver.aget_tuple(cfg)
        return saver.get_tuple(cfg)


SYNC = Api(is_async=False)
ASYNC = Api(is_async=True)


def _run_sync(coro: Coroutine[Any, Any, Trace]) -> Trace:
    """Run a body driven through ``SYNC``: it never suspends, so one step completes it."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a scenario driven through the sync API suspended")


# --- a recording proxy -----------------------------------------------------------------------


class RecordingSaver(BaseCheckpointSaver[Any]):
    """Forwards the runtime's calls to a saver, recording them; can refuse one API flavour.

    A proxy rather than a subclass, so only calls made *by the runtime* are seen: a saver whose
    async methods run its sync ones internally (both InMemorySavers do) is not misreported.
    """

    SYNC_METHODS = ("get_tuple", "list", "put", "put_writes", "get_delta_channel_history")
    ASYNC_METHODS = tuple(f"a{name}" for name in SYNC_METHODS)

    def __init__(self, inner: Saver, *, refuse: Sequence[str] = ()) -> None:
        super().__init__(serde=inner.serde)
        self.inner = inner
        self.refuse = frozenset(refuse)
        self.calls: list[str] = []
        self.put_configs: list[RunnableConfig] = []

    def _record(self, name: str) -> None:
        self.calls.append(name)
        if name in self.refuse:
            raise AssertionError(f"the runtime called {name}() on a run that must not use it")

    def count(self, *names: str) -> int:
        return sum(1 for c in self.calls if c in names)

    def get_next_version(self, current: Any, channel: None = None) -> Any:
        return self.inner.get_next_version(current, channel)

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        self._record("get_tuple")
        return self.inner.get_tuple(config)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        self._record("list")
        return self.inner.list(config, filter=filter, before=before, limit=limit)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        self._record("put")
        saved = self.inner.put(config, checkpoint, metadata, new_versions)
        self.put_configs.append(saved)
        return saved

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._record("put_writes")
        self.inner.put_writes(config, writes, task_id, task_path)

    def get_delta_channel_history(self, *, config: RunnableConfig, channels: Sequence[str]) -> Any:
        self._record("get_delta_channel_history")
        return self.inner.get_delta_channel_history(config=config, channels=channels)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        self._record("aget_tuple")
        return await self.inner.aget_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        self._record("alist")
        async for item in self.inner.alist(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        self._record("aput")
        saved = await self.inner.aput(config, checkpoint, metadata, new_versions)
        self.put_configs.append(saved)
        return saved

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._record("aput_writes")
        await self.inner.aput_writes(config, writes, task_id, task_path)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Any:
        self._record("aget_delta_channel_history")
        return await self.inner.aget_delta_channel_history(config=config, channels=channels)


# --- traces: run-independent views of what a run produced --------------------------------------


def norm(value: Any) -> Any:
    """Return ``value`` comparable across runs: an ``Interrupt`` keeps its value, not its id.

    Interrupt ids derive from task ids, which derive from checkpoint ids, which are new uuids
    in every run; scenarios check id consistency within a run separately.
    """
    if isinstance(value, Interrupt):
        return ("Interrupt", norm(value.value))
    if isinstance(value, dict):
        return {k: norm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [norm(v) for v in value]
    if type(value) is tuple:
        return tuple(norm(v) for v in value)
    return value


def shape(value: Any) -> Any:
    """Type names of a value, recursively through builtin containers (``1 == 1.0`` hides them)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list | tuple) and type(value) in (list, tuple):
        return [type(value).__name__, *(shape(v) for v in value)]
    if isinstance(value, set | frozenset):
        return [type(value).__name__, *sorted(shape(v) for v in value)]
    return type(value).__name__


def _error(error: Any) -> Any:
    return None if error is None else (type(error).__name__, str(error))


def checkpoint_id(config: RunnableConfig | None) -> str | None:
    if not config:
        return None
    return (config.get("configurable") or {}).get("checkpoint_id")


def summarize(snapshot: StateSnapshot) -> Trace:
    """The run-independent view of a ``StateSnapshot`` (no ids, timestamps or configs)."""
    metadata = snapshot.metadata or {}
    return {
        "values": norm(snapshot.values),
        "types": shape(snapshot.values),
        "next": snapshot.next,
        "source": metadata.get("source"),
        "step": metadata.get("step"),
        "interrupts": norm(snapshot.interrupts),
        "tasks": [
            {
                "name": task.name,
                "error": _error(task.error),
                "interrupts": norm(task.interrupts),
                "result": norm(task.result),
                "state": summarize(task.state) if isinstance(task.state, StateSnapshot) else None,
            }
            for task in snapshot.tasks
        ],
    }


def _link(ids: Sequence[str | None], config: RunnableConfig | None) -> int | str | None:
    """A checkpoint reference as its position in ``ids`` (both runs create them in order)."""
    target = checkpoint_id(config)
    if target is None:
        return None
    return ids.index(target) if target in ids else "outside"


def history_trace(
    snapshots: Sequence[StateSnapshot], ids: Sequence[str | None] | None = None
) -> list[Trace]:
    """Summaries of history entries, each with ``parent`` as a position in ``ids``.

    ``ids`` defaults to the entries' own ids; pass the full history's ids for a filtered list.
    """
    if ids is None:
        ids = [checkpoint_id(s.config) for s in snapshots]
    return [
        {**summarize(s), "id": _link(ids, s.config), "parent": _link(ids, s.parent_config)}
        for s in snapshots
    ]


def _ns_pattern(ns: str) -> str:
    """``"sub:<task id>|inner:<task id>"`` -> ``"sub:*|inner:*"``."""
    return "|".join(part.split(":", 1)[0] + (":*" if ":" in part else "") for part in ns.split("|"))


def _ns(tup: CheckpointTuple) -> str:
    return tup.config["configurable"].get("checkpoint_ns") or ""


def tuples_trace(tuples: Sequence[CheckpointTuple], root_ids: Sequence[str | None]) -> list[Trace]:
    """Saver-level view of checkpoints of every namespace, grouped by namespace pattern."""
    result = []
    for tup in tuples:
        ns = _ns(tup)
        ids = [checkpoint_id(t.config) for t in tuples if _ns(t) == ns]
        parents = (tup.metadata.get("parents") or {}).items()
        result.append(
            {
                "ns": _ns_pattern(ns),
                "source": tup.metadata.get("source"),
                "step": tup.metadata.get("step"),
                "parents": {k: _link(root_ids, _cfg(None, checkpoint_id=v)) for k, v in parents},
                "parent": _link(ids, tup.parent_config),
                "writes": sorted(channel for _, channel, _ in tup.pending_writes or ()),
            }
        )
    # Cross-namespace order is not part of the contract; within a namespace it is (newest first).
    return sorted(result, key=lambda t: t["ns"])


# --- comparing a saver with the reference ------------------------------------------------------


def _first_difference(actual: Any, expected: Any, path: str = "trace") -> str | None:
    if isinstance(actual, dict) and isinstance(expected, dict):
        for key in [*expected, *(k for k in actual if k not in expected)]:
            if key not in actual or key not in expected:
                side = "saver under test" if key not in actual else "reference"
                return f"{path}[{key!r}] missing in the {side}"
            found = _first_difference(actual[key], expected[key], f"{path}[{key!r}]")
            if found:
                return found
        return None
    if (
        isinstance(actual, list | tuple)
        and isinstance(expected, list | tuple)
        and type(actual) is type(expected)
    ):
        for i, (a, e) in enumerate(zip(actual, expected, strict=False)):
            found = _first_difference(a, e, f"{path}[{i}]")
            if found:
                return found
        if len(actual) != len(expected):
            return f"{path}: length {len(actual)} != reference's {len(expected)}"
        return None
    if type(actual) is not type(expected) or actual != expected:
        return f"{path}: {actual!r} (saver under test) != {expected!r} (reference)"
    return None


def assert_same(actual: Trace, expected: Trace) -> None:
    """Assert two traces are equal, naming the first difference."""
    if actual != expected or _first_difference(actual, expected):
        where = _first_difference(actual, expected) or "traces differ"
        raise AssertionError(f"differs from LangGraph's InMemorySaver at {where}")


def _on_reference(run: Callable[[], Trace]) -> Trace:
    try:
        return run()
    except AssertionError as exc:
        raise AssertionError(f"scenario check failed on the reference saver: {exc}") from exc


async def _aon_reference(run: Callable[[], Awaitable[Trace]]) -> Trace:
    try:
        return await run()
    except AssertionError as exc:
        raise AssertionError(f"scenario check failed on the reference saver: {exc}") from exc


def _reference_for(saver: Any) -> ReferenceSaver:
    """LangGraph's InMemorySaver storing values through the same serializer as ``saver``.

    The scenarios compare *storage* semantics; how faithfully values round-trip is the
    serializer's business (pitstop's keeps tuples as tuples and exceptions as exceptions, which
    LangGraph's default serializer turns into lists and strings), checked by the value specs.
    """
    return ReferenceSaver(serde=getattr(saver, "serde", None))


def _sync_scenario(body: Body) -> Callable[[SaverFactory], Trace]:
    def scenario(factory: SaverFactory) -> Trace:
        saver = factory()
        expected = _on_reference(lambda: _run_sync(body(SYNC, _reference_for(saver))))
        actual = _run_sync(body(SYNC, saver))
        assert_same(actual, expected)
        return actual

    scenario.__name__ = scenario.__qualname__ = body.__name__.lstrip("_")
    scenario.__doc__ = body.__doc__
    return scenario


def _async_scenario(body: Body) -> Callable[[SaverFactory], Awaitable[Trace]]:
    async def scenario(factory: SaverFactory) -> Trace:
        saver = factory()
        expected = await _aon_reference(lambda: body(ASYNC, _reference_for(saver)))
        actual = await body(ASYNC, saver)
        assert_same(actual, expected)
        return actual

    scenario.__name__ = scenario.__qualname__ = "a" + body.__name__.lstrip("_")
    scenario.__doc__ = body.__doc__
    return scenario


def _cfg(thread_id: Any, **extra: Any) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, **extra}}


def _sources_steps(snapshots: Sequence[StateSnapshot]) -> list[tuple[Any, Any]]:
    return [((s.metadata or {}).get("source"), (s.metadata or {}).get("step")) for s in snapshots]


async def _values_by_id(
    api: Api, graph: Any, snapshots: Sequence[StateSnapshot]
) -> dict[str | None, Any]:
    """Re-read every checkpoint by id (not from the history listing)."""
    return {
        checkpoint_id(s.config): norm((await api.get_state(graph, s.config)).values)
        for s in snapshots
    }


# --- graphs ------------------------------------------------------------------------------------


class LoopState(TypedDict):
    n: int
    log: Annotated[list[str], operator.add]


def loop_graph(saver: Any, *, until: int = 4, calls: Counter[str] | None = None) -> Any:
    """``START -> step``, ``step`` loops back to itself until ``n == until``."""

    def step(state: LoopState) -> dict[str, Any]:
        if calls is not None:
            calls["step"] += 1
        return {"n": state["n"] + 1, "log": [f"step{state['n']}"]}

    def again(state: LoopState) -> str:
        return "step" if state["n"] < until else END

    builder = StateGraph(LoopState)
    builder.add_node("step", step)
    builder.add_edge(START, "step")
    builder.add_conditional_edges("step", again, ["step", END])
    return builder.compile(checkpointer=saver)


class LogState(TypedDict):
    log: Annotated[list[str], operator.add]


def ask_graph(saver: Any) -> Any:
    """``START -> a -> b -> c``; ``b`` asks two questions with ``interrupt()``."""

    def a(state: LogState) -> dict[str, Any]:
        return {"log": ["a"]}

    def b(state: LogState) -> dict[str, Any]:
        name = interrupt({"question": "name?"})
        age = interrupt({"question": "age?"})
        return {"log": [f"b:{name}:{age}"]}

    def c(state: LogState) -> dict[str, Any]:
        return {"log": ["c"]}

    builder = StateGraph(LogState)
    builder.add_node("a", a)
    builder.add_node("b", b)
    builder.add_node("c", c)
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", "c")
    return builder.compile(checkpointer=saver)


class ParentState(TypedDict):
    log: Annotated[list[str], operator.add]
    inner: Annotated[list[str], operator.add]


class ChildState(TypedDict):
    inner: Annotated[list[str], operator.add]


def subgraph_graph(saver: Any) -> Any:
    """``START -> prep -> sub -> post``; ``sub`` is a graph ``ask -> finish`` that interrupts."""

    def ask(state: ChildState) -> dict[str, Any]:
        return {"inner": [f"ask:{interrupt('sub?')}"]}

    def finish(state: ChildState) -> dict[str, Any]:
        return {"inner": ["finish"]}

    child = StateGraph(ChildState)
    child.add_node("ask", ask)
    child.add_node("finish", finish)
    child.add_edge(START, "ask")
    child.add_edge("ask", "finish")

    def prep(state: ParentState) -> dict[str, Any]:
        return {"log": ["prep"]}

    def post(state: ParentState) -> dict[str, Any]:
        return {"log": ["post"]}

    parent = StateGraph(ParentState)
    parent.add_node("prep", prep)
    parent.add_node("sub", child.compile())
    parent.add_node("post", post)
    parent.add_edge(START, "prep")
    parent.add_edge("prep", "sub")
    parent.add_edge("sub", "post")
    return parent.compile(checkpointer=saver)


class MapState(TypedDict):
    items: list[str]
    results: Annotated[list[str], operator.add]
    summary: str


def send_graph(saver: Any) -> Any:
    """Map-reduce: ``START`` sends each item to ``work``; ``reduce`` joins the results."""

    def fan_out(state: MapState) -> list[Send]:
        return [Send("work", {"item": item}) for item in state["items"]]

    def work(arg: dict[str, str]) -> dict[str, Any]:
        return {"results": [arg["item"].upper()]}

    def reduce(state: MapState) -> dict[str, Any]:
        return {"summary": ",".join(sorted(state["results"]))}

    builder = StateGraph(MapState)
    builder.add_node("work", work)  # type: ignore[arg-type]  # takes a Send arg, not MapState
    builder.add_node("reduce", reduce)
    builder.add_conditional_edges(START, fan_out, ["work"])
    builder.add_edge("work", "reduce")
    return builder.compile(checkpointer=saver)


def flaky_graph(saver: Any, calls: Counter[str]) -> Any:
    """``START -> (ok, flaky) -> join``; ``flaky`` raises on its first call only.

    ``flaky`` raises only once ``ok`` has finished: the async runner cancels the siblings of a
    failed task, and this scenario is about a sibling whose writes were saved.
    """
    ok_done = threading.Event()

    def ok(state: LogState) -> dict[str, Any]:
        calls["ok"] += 1
        ok_done.set()
        return {"log": ["ok"]}

    def flaky(state: LogState) -> dict[str, Any]:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            ok_done.wait(timeout=5)
            raise ValueError("boom")
        return {"log": ["flaky"]}

    def join(state: LogState) -> dict[str, Any]:
        calls["join"] += 1
        return {"log": ["join"]}

    builder = StateGraph(LogState)
    builder.add_node("ok", ok)
    builder.add_node("flaky", flaky)
    builder.add_node("join", join)
    builder.add_edge(START, "ok")
    builder.add_edge(START, "flaky")
    builder.add_edge(["ok", "flaky"], "join")
    return builder.compile(checkpointer=saver)


class Point(BaseModel):
    x: int
    y: int


@dataclasses.dataclass
class Tag:
    name: str
    weight: float


class RichState(TypedDict):
    point: Point
    tag: Tag
    when: datetime
    pair: tuple[int, str]
    labels: set[str]
    messages: Annotated[list[AnyMessage], add_messages]


def rich_graph(saver: Any) -> Any:
    """One node that transforms every rich-typed field of the state."""

    def enrich(state: RichState) -> dict[str, Any]:
        turn = len(state["messages"])
        return {
            "point": Point(x=state["point"].x + 1, y=state["point"].y * 2),
            "tag": Tag(name=state["tag"].name + "!", weight=state["tag"].weight / 2),
            "when": state["when"] + timedelta(hours=1),
            "pair": (state["pair"][0] + 1, f"{state['pair'][1]}+"),
            "labels": set(state["labels"]) | {f"seen{turn}"},
            "messages": [AIMessage(content=f"reply {turn}", id=f"ai-{turn}")],
        }

    builder = StateGraph(RichState)
    builder.add_node("enrich", enrich)
    builder.add_edge(START, "enrich")
    return builder.compile(checkpointer=saver)


def _extend(state: list[str], writes: Sequence[list[str]]) -> list[str]:
    """A batching-invariant DeltaChannel reducer: concatenate."""
    return [*state, *(item for write in writes for item in write)]


if DeltaChannel is not None:

    class DeltaState(TypedDict):
        n: int
        items: Annotated[list[str], DeltaChannel(_extend, snapshot_frequency=3)]


def delta_graph(saver: Any, *, until: int = 10) -> Any:
    """A loop appending to a ``DeltaChannel(snapshot_frequency=3)`` list ``until`` times."""

    def step(state: DeltaState) -> dict[str, Any]:
        return {"n": state["n"] + 1, "items": [f"i{state['n']}"]}

    def again(state: DeltaState) -> str:
        return "step" if state["n"] < until else END

    builder = StateGraph(DeltaState)
    builder.add_node("step", step)
    builder.add_edge(START, "step")
    builder.add_conditional_edges("step", again, ["step", END])
    return builder.compile(checkpointer=saver)


class PydanticState(BaseModel):
    point: Point
    log: list[str] = []


def pydantic_graph(saver: Any) -> Any:
    """A graph whose state schema is a pydantic model holding another pydantic model."""

    def move(state: PydanticState) -> dict[str, Any]:
        return {
            "point": Point(x=state.point.x + 1, y=state.point.y),
            "log": [*state.log, f"moved to {state.point.x + 1}"],
        }

    builder = StateGraph(PydanticState)
    builder.add_node("move", move)
    builder.add_edge(START, "move")
    return builder.compile(checkpointer=saver)


class ChatState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


CHAT_FILLER = "The answer cites the sources it used and keeps the reply short. " * 2


def chat_graph(saver: Any) -> Any:
    """A chat agent: ``START -> agent``; ``agent`` calls a tool when asked, ``tools`` answers.

    A human message containing ``"tool"`` makes ``agent`` emit a tool call; ``tools`` runs it,
    first asking for approval with ``interrupt()`` when the message also says ``"approve"``,
    then ``agent`` answers. Every message gets a deterministic id (its position), so two runs
    produce equal states.
    """

    def agent(state: ChatState) -> dict[str, Any]:
        messages = state["messages"]
        last = messages[-1]
        position = len(messages)
        if isinstance(last, HumanMessage) and "tool" in str(last.content):
            call = {"name": "lookup", "args": {"q": str(last.content)}, "id": f"call-{position}"}
            return {"messages": [AIMessage(content="", id=f"ai-{position}", tool_calls=[call])]}
        return {
            "messages": [AIMessage(content=f"reply {position}: {CHAT_FILLER}", id=f"ai-{position}")]
        }

    def tools(state: ChatState) -> dict[str, Any]:
        last = state["messages"][-1]
        assert isinstance(last, AIMessage)
        (call,) = last.tool_calls
        query = call["args"]["q"]
        decision = interrupt({"tool": call["name"], "q": query}) if "approve" in query else "auto"
        position = len(state["messages"])
        result = ToolMessage(
            content=f"found for {query!r} ({decision})",
            tool_call_id=call["id"],
            id=f"tool-{position}",
        )
        return {"messages": [result]}

    return agent_tool_graph(agent, tools, saver)


def agent_tool_graph(
    agent: Callable[[ChatState], dict[str, Any]],
    tools: Callable[[ChatState], dict[str, Any]],
    saver: Any,
) -> Any:
    """``START -> agent``; ``agent -> tools`` while its last message calls a tool, else ``END``;
    ``tools -> agent``: the loop of a tool-calling chat agent over :class:`ChatState`."""

    def route(state: ChatState) -> str:
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else END

    builder: Any = StateGraph(ChatState)
    builder.add_node("agent", agent)
    builder.add_node("tools", tools)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["tools", END])
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=saver)


# --- scenario bodies ---------------------------------------------------------------------------


async def _loop(api: Api, saver: Saver) -> Trace:
    """A node looping via a conditional edge; a second input on the same thread (R02)."""
    graph = loop_graph(saver, until=4)
    cfg = _cfg("loop")
    first = await api.invoke(graph, {"n": 0, "log": []}, cfg)
    history = await api.history(graph, cfg)
    assert _sources_steps(history) == [("loop", s) for s in range(4, -1, -1)] + [("input", -1)]
    assert [checkpoint_id(h.parent_config) for h in history[:-1]] == [
        checkpoint_id(h.config) for h in history[1:]
    ]
    assert history[-1].parent_config is None
    second = await api.invoke(graph, {"n": 2, "log": ["again"]}, cfg)
    history = await api.history(graph, cfg)
    assert _sources_steps(history)[:4] == [("loop", 8), ("loop", 7), ("loop", 6), ("input", 5)]
    assert checkpoint_id(history[3].parent_config) == checkpoint_id(history[4].config)
    return {
        "first": norm(first),
        "second": norm(second),
        "state": summarize(await api.get_state(graph, cfg)),
        "history": history_trace(history),
    }


async def _interrupt_resume(api: Api, saver: Saver) -> Trace:
    """``interrupt()`` twice in one node, resumed with ``Command(resume=...)`` (R03, R04)."""
    graph = ask_graph(saver)
    cfg = _cfg("ask")
    first = await api.invoke(graph, {"log": []}, cfg)
    (raised,) = first["__interrupt__"]
    assert raised.value == {"question": "name?"}
    assert isinstance(raised.id, str)
    assert raised.id
    waiting = await api.get_state(graph, cfg)
    assert waiting.next == ("b",)
    assert [i.id for i in waiting.interrupts] == [raised.id]
    (task,) = waiting.tasks
    assert task.name == "b"
    assert [i.id for i in task.interrupts] == [raised.id]
    assert _sources_steps([waiting]) == [("loop", 1)]

    second = await api.stream(graph, Command(resume="Ada"), cfg, stream_mode="updates")
    again = await api.get_state(graph, cfg)
    assert again.next == ("b",)
    assert [i.value for i in again.interrupts] == [{"question": "age?"}]
    assert checkpoint_id(again.config) == checkpoint_id(waiting.config)  # no new checkpoint

    # Resume by interrupt id: nothing is written as NULL_TASK_ID, the map travels in config.
    final = await api.invoke(graph, Command(resume={again.interrupts[0].id: 36}), cfg)
    assert final["log"] == ["a", "b:Ada:36", "c"]
    done = await api.get_state(graph, cfg)
    assert done.next == ()
    assert done.interrupts == ()
    return {
        "first": norm(first),
        "waiting": summarize(waiting),
        "second": norm(second),
        "again": summarize(again),
        "final": norm(final),
        "done": summarize(done),
        "history": history_trace(await api.history(graph, cfg)),
    }


async def _history_queries(api: Api, saver: Saver) -> Trace:
    """``get_state_history`` with ``filter``, ``before`` and ``limit`` (R17)."""
    graph = loop_graph(saver, until=5)
    cfg = _cfg("history")
    await api.invoke(graph, {"n": 0, "log": []}, cfg)
    full = await api.history(graph, cfg)
    ids = [checkpoint_id(s.config) for s in full]
    pivot = full[2].config
    queries: dict[str, dict[str, Any]] = {
        "loop": {"filter": {"source": "loop"}},
        "loop_limit": {"filter": {"source": "loop"}, "limit": 2},
        "loop_before_limit": {"filter": {"source": "loop"}, "before": pivot, "limit": 2},
        "before": {"before": pivot},
        "step": {"filter": {"step": 2}},
        "input": {"filter": {"source": "input"}},
        "none": {"filter": {"source": "update"}},
        "limit1": {"limit": 1},
    }
    trace: Trace = {"full": history_trace(full)}
    for name, kw in queries.items():
        found = await api.history(graph, cfg, **kw)
        if "filter" in kw:
            for s in found:
                assert all((s.metadata or {}).get(k) == v for k, v in kw["filter"].items())
        if "before" in kw:
            assert all(ids.index(checkpoint_id(s.config)) > 2 for s in found)
        if "limit" in kw:
            assert len(found) <= kw["limit"]
        trace[name] = history_trace(found, ids)
    assert [e["step"] for e in trace["loop_before_limit"]] == [2, 1]
    return trace


async def _update_state(api: Api, saver: Saver) -> Trace:
    """``update_state(as_node=...)`` makes a ``source="update"`` child of the head (R06)."""
    graph = loop_graph(saver, until=2)
    cfg = _cfg("update")
    await api.invoke(graph, {"n": 0, "log": []}, cfg)
    head = await api.get_state(graph, cfg)
    updated_cfg = await api.update_state(graph, cfg, {"n": 1, "log": ["manual"]}, as_node="step")
    updated = await api.get_state(graph, cfg)
    assert checkpoint_id(updated.config) == checkpoint_id(updated_cfg)
    assert checkpoint_id(updated.parent_config) == checkpoint_id(head.config)
    assert _sources_steps([updated]) == [("update", (head.metadata or {})["step"] + 1)]
    assert updated.next == ("step",)
    final = await api.invoke(graph, None, cfg)
    # An update with no as_node on a finished thread, and a values-only read by id.
    await api.update_state(graph, cfg, {"log": ["late"]})
    by_id = await api.get_state(graph, updated_cfg)
    return {
        "head": summarize(head),
        "updated": summarize(updated),
        "final": norm(final),
        "by_id": summarize(by_id),
        "state": summarize(await api.get_state(graph, cfg)),
        "history": history_trace(await api.history(graph, cfg)),
    }


async def _fork(api: Api, saver: Saver) -> Trace:
    """``invoke(None, old_config)`` forks (``source="fork"``); old checkpoints unchanged (R07)."""
    calls: Counter[str] = Counter()
    graph = loop_graph(saver, until=3, calls=calls)
    cfg = _cfg("fork")
    await api.invoke(graph, {"n": 0, "log": []}, cfg)
    before = await api.history(graph, cfg)
    values_before = await _values_by_id(api, graph, before)
    (old,) = [s for s in before if (s.metadata or {}).get("step") == 1]
    runs_before = calls["step"]
    result = await api.invoke(graph, None, old.config)
    assert calls["step"] == runs_before + 2  # steps 2 and 3 re-executed on the fork
    after = await api.history(graph, cfg)
    forks = [s for s in after if (s.metadata or {}).get("source") == "fork"]
    assert len(forks) == 1
    assert checkpoint_id(forks[0].parent_config) == checkpoint_id(old.config)
    assert (forks[0].metadata or {}).get("step") == 2
    head = await api.get_state(graph, cfg)
    assert checkpoint_id(head.config) == checkpoint_id(after[0].config)
    assert await _values_by_id(api, graph, before) == values_before
    return {
        "result": norm(result),
        "head": summarize(head),
        "values_before": list(values_before.values()),
        "history": history_trace(after),
        "calls": dict(calls),
    }


async def _update_old_then_invoke(api: Api, saver: Saver) -> Trace:
    """``update_state`` on an old checkpoint then ``invoke(None, that_config)`` (R08)."""
    graph = loop_graph(saver, until=3)
    cfg = _cfg("update-old")
    await api.invoke(graph, {"n": 0, "log": []}, cfg)
    before = await api.history(graph, cfg)
    values_before = await _values_by_id(api, graph, before)
    (old,) = [s for s in before if (s.metadata or {}).get("step") == 1]
    branch = await api.update_state(graph, old.config, {"log": ["edited"]}, as_node="step")
    edited = await api.get_state(graph, branch)
    assert checkpoint_id(edited.parent_config) == checkpoint_id(old.config)
    assert _sources_steps([edited]) == [("update", 2)]
    assert edited.values["log"] == [*old.values["log"], "edited"]
    result = await api.invoke(graph, None, branch)
    after = await api.history(graph, cfg)
    assert not [s for s in after if (s.metadata or {}).get("source") == "fork"]
    assert result["log"] == ["step0", "edited", "step1", "step2"]
    assert await _values_by_id(api, graph, before) == values_before
    return {
        "edited": summarize(edited),
        "result": norm(result),
        "values_before": list(values_before.values()),
        "history": history_trace(after),
    }


async def _subgraph_interrupt(api: Api, saver: Saver) -> Trace:
    """Interrupt inside a subgraph, ``get_state(subgraphs=True)``, child namespaces (R09)."""
    graph = subgraph_graph(saver)
    cfg = _cfg("sub")
    first = await api.invoke(graph, {"log": [], "inner": []}, cfg)
    assert [i.value for i in first["__interrupt__"]] == ["sub?"]
    waiting = await api.get_state(graph, cfg, subgraphs=True)
    assert waiting.next == ("sub",)
    (task,) = waiting.tasks
    assert isinstance(task.state, StateSnapshot)
    assert task.state.next == ("ask",)
    child_ns = task.state.config["configurable"]["checkpoint_ns"]
    assert child_ns == f"sub:{task.id}"
    child_direct = await api.get_state(graph, task.state.config)
    parent_id = checkpoint_id(waiting.config)

    def check_children(tuples: Sequence[CheckpointTuple]) -> None:
        children = [t for t in tuples if _ns(t) != ""]
        assert children, "no checkpoint in the subgraph's namespace"
        for t in children:
            assert _ns(t) == child_ns
            assert t.metadata.get("parents") == {"": parent_id}

    everything = await api.saver_list(saver, {"configurable": {"thread_id": "sub"}})
    check_children(everything)
    root_only = await api.saver_list(saver, _cfg("sub", checkpoint_ns=""))
    assert {_ns(t) for t in root_only} == {""}
    child_only = await api.saver_list(saver, _cfg("sub", checkpoint_ns=child_ns))
    assert len(child_only) + len(root_only) == len(everything)
    root_ids = [checkpoint_id(t.config) for t in root_only]
    trace_waiting = tuples_trace(everything, root_ids)

    final = await api.invoke(graph, Command(resume="yes"), cfg)
    assert final == {"log": ["prep", "post"], "inner": ["ask:yes", "finish"]}
    done = await api.get_state(graph, cfg, subgraphs=True)
    assert done.next == ()
    assert done.tasks == ()
    everything = await api.saver_list(saver, {"configurable": {"thread_id": "sub"}})
    check_children(everything)
    root_only = await api.saver_list(saver, _cfg("sub", checkpoint_ns=""))
    root_ids = [checkpoint_id(t.config) for t in root_only]
    return {
        "first": norm(first),
        "waiting": summarize(waiting),
        "child_direct": summarize(child_direct),
        "tuples_waiting": trace_waiting,
        "final": norm(final),
        "done": summarize(done),
        "tuples_done": tuples_trace(everything, root_ids),
        "history": history_trace(await api.history(graph, cfg)),
    }


async def _send_fanout(api: Api, saver: Saver) -> Trace:
    """``Send`` fan-out to one node per item, then a reduce step."""
    graph = send_graph(saver)
    cfg = _cfg("send")
    result = await api.invoke(graph, {"items": ["a", "b", "c"], "results": []}, cfg)
    assert result["summary"] == "A,B,C"
    history = await api.history(graph, cfg)
    assert any(s.next == ("work", "work", "work") for s in history)
    streamed = await api.stream(
        graph, {"items": ["x", "y"], "results": []}, _cfg("send-2"), stream_mode="values"
    )
    return {
        "result": norm(result),
        "history": history_trace(history),
        "streamed": norm(streamed),
        "state2": summarize(await api.get_state(graph, _cfg("send-2"))),
    }


async def _node_error_retry(api: Api, saver: Saver) -> Trace:
    """Two parallel nodes, one raising once: ``invoke(None)`` re-runs only that one (R05)."""
    calls: Counter[str] = Counter()
    graph = flaky_graph(saver, calls)
    cfg = _cfg("flaky")
    with pytest.raises(ValueError, match="boom"):
        await api.invoke(graph, {"log": []}, cfg)
    failed = await api.get_state(graph, cfg)
    errors = {t.name: t.error for t in failed.tasks}
    assert errors.get("flaky") is not None
    assert errors.get("ok") is None
    assert dict(calls) == {"ok": 1, "flaky": 1}
    result = await api.invoke(graph, None, cfg)
    assert dict(calls) == {"ok": 1, "flaky": 2, "join": 1}
    assert sorted(result["log"][:2]) == ["flaky", "ok"]
    assert result["log"][2] == "join"
    return {
        "failed": summarize(failed),
        "result": norm(result),
        "calls": dict(calls),
        "history": history_trace(await api.history(graph, cfg)),
    }


async def _durability(api: Api, saver: Saver) -> Trace:
    """``durability`` sync/async/exit: same results; exit puts once per invocation (R10-R12)."""
    put_names = ("aput",) if api.is_async else ("put",)
    recorder = RecordingSaver(saver)
    trace: Trace = {}
    for mode in ("sync", "async", "exit"):
        loop = loop_graph(recorder, until=3)
        ask = ask_graph(recorder)
        puts: list[int] = []
        cfg_loop, cfg_ask = _cfg(f"loop-{mode}"), _cfg(f"ask-{mode}")
        steps: list[tuple[Any, Any, Any]] = [
            (loop, {"n": 0, "log": []}, cfg_loop),
            (ask, {"log": []}, cfg_ask),
            (ask, Command(resume="x"), cfg_ask),
            (ask, Command(resume="y"), cfg_ask),
        ]
        results = []
        for graph, inp, cfg in steps:
            before = recorder.count(*put_names)
            results.append(norm(await api.invoke(graph, inp, cfg, durability=mode)))
            puts.append(recorder.count(*put_names) - before)
            # R11: once invoke returns, the latest checkpoint is the last one put.
            thread_root = _cfg(cfg["configurable"]["thread_id"], checkpoint_ns="")
            latest = await api.saver_get_tuple(saver, thread_root)
            assert latest is not None
            assert checkpoint_id(latest.config) == checkpoint_id(recorder.put_configs[-1])
        if mode == "exit":
            # One put per invocation that completes a step; the first resume re-interrupts
            # inside the same step, so it only records writes on the loaded checkpoint.
            assert puts == [1, 1, 0, 1], puts
        trace[mode] = {
            "results": results,
            "puts": puts,
            "loop": history_trace(await api.history(loop, cfg_loop)),
            "ask": history_trace(await api.history(ask, cfg_ask)),
        }
    assert trace["sync"] == trace["async"]  # R12
    assert trace["exit"]["results"] == trace["sync"]["results"]
    return trace


async def _thread_id_types(api: Api, saver: Saver) -> Trace:
    """An int and a UUID ``thread_id`` work and are stored as their string form (R18)."""
    graph = ask_graph(saver)
    trace: Trace = {}
    for thread_id in (42, uuid.UUID("0b9f1ac2-5a3d-4d2e-9d3c-1f2e3d4c5b6a")):
        cfg = _cfg(thread_id)
        await api.invoke(graph, {"log": []}, cfg)
        await api.invoke(graph, Command(resume="z"), cfg)
        result = await api.invoke(graph, Command(resume=9), cfg)
        stored = await api.saver_get_tuple(saver, _cfg(str(thread_id), checkpoint_ns=""))
        assert stored is not None
        assert stored.config["configurable"]["thread_id"] == str(thread_id)
        listed = await api.saver_list(saver, {"configurable": {"thread_id": str(thread_id)}})
        assert {t.config["configurable"]["thread_id"] for t in listed} == {str(thread_id)}
        trace[type(thread_id).__name__] = {
            "result": norm(result),
            "state": summarize(await api.get_state(graph, cfg)),
            "history": history_trace(await api.history(graph, cfg)),
        }
    return trace


RICH_INPUT: dict[str, Any] = {
    "point": Point(x=1, y=2),
    "tag": Tag(name="t", weight=1.5),
    "when": datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
    "pair": (1, "one"),
    "labels": {"start"},
    "messages": [HumanMessage(content="hello", id="human-0")],
}


async def _rich_types(api: Api, saver: Saver) -> Trace:
    """State holding a pydantic model, a dataclass, datetime, tuple, set and messages."""
    graph = rich_graph(saver)
    cfg = _cfg("rich")
    first = await api.invoke(graph, RICH_INPUT, cfg)
    # The second run reads every value back from the checkpoint before the node uses it.
    more = {"messages": [HumanMessage(content="more", id="human-1")]}
    second = await api.invoke(graph, more, cfg)
    state = await api.get_state(graph, cfg)
    assert isinstance(state.values["point"], Point)
    assert isinstance(state.values["tag"], Tag)
    assert isinstance(state.values["when"], datetime)
    assert isinstance(state.values["labels"], set)
    assert [type(m).__name__ for m in state.values["messages"]] == [
        "HumanMessage",
        "AIMessage",
        "HumanMessage",
        "AIMessage",
    ]
    return {
        "first": norm(first),
        "first_types": shape(first),
        "second": norm(second),
        "second_types": shape(second),
        "state": summarize(state),
        "history": history_trace(await api.history(graph, cfg)),
    }


async def _delta_channel(api: Api, saver: Saver) -> Trace:
    """``DeltaChannel(snapshot_frequency=3)``: 10 steps, ``get_state``, a fork (R16)."""
    if DeltaChannel is None:
        pytest.skip("this LangGraph has no langgraph.channels.delta.DeltaChannel")
    graph = delta_graph(saver, until=10)
    cfg = _cfg("delta")
    result = await api.invoke(graph, {"n": 0, "items": []}, cfg)
    assert result["items"] == [f"i{i}" for i in range(10)]
    state = await api.get_state(graph, cfg)
    assert state.values["items"] == result["items"]
    before = await api.history(graph, cfg)
    values_before = await _values_by_id(api, graph, before)
    (old,) = [s for s in before if (s.metadata or {}).get("step") == 4]
    assert old.values["items"] == [f"i{i}" for i in range(4)]
    forked = await api.invoke(graph, None, old.config)
    assert forked["items"] == result["items"]
    after_fork = await api.get_state(graph, cfg)
    assert await _values_by_id(api, graph, before) == values_before
    # Continue from an update on an old checkpoint: the replay must include the update.
    branch = await api.update_state(graph, old.config, {"items": ["edit"]}, as_node="step")
    edited = await api.invoke(graph, None, branch)
    assert edited["items"][:5] == ["i0", "i1", "i2", "i3", "edit"]
    return {
        "result": norm(result),
        "state": summarize(state),
        "values_before": list(values_before.values()),
        "forked": norm(forked),
        "after_fork": summarize(after_fork),
        "edited": norm(edited),
        "history": history_trace(await api.history(graph, cfg)),
    }


async def _allowlist_pydantic_state(api: Api, saver: Saver) -> Trace:
    """``with_allowlist`` clone shares the original's data; pydantic state round-trips (R15).

    ``LANGGRAPH_STRICT_MSGPACK`` is read when LangGraph is imported, so strict mode is not
    switched on here; the scenario does what the runtime does in that mode instead: run the
    graph on ``saver.with_allowlist(...)`` and read through both objects.
    """
    graph = pydantic_graph(saver)
    cfg = _cfg("pydantic")
    first = await api.invoke(graph, {"point": Point(x=0, y=5)}, cfg)
    state = await api.get_state(graph, cfg)
    assert state.values["point"] == Point(x=1, y=5)
    assert type(state.values["point"]) is Point

    clone = saver.with_allowlist([(Point.__module__, Point.__name__)])
    original_tuple = await api.saver_get_tuple(saver, _cfg("pydantic", checkpoint_ns=""))
    clone_tuple = await api.saver_get_tuple(clone, _cfg("pydantic", checkpoint_ns=""))
    assert original_tuple is not None
    assert clone_tuple is not None
    assert clone_tuple.config == original_tuple.config
    assert clone_tuple.checkpoint == original_tuple.checkpoint

    on_clone = pydantic_graph(clone)
    second = await api.invoke(on_clone, None, cfg)  # nothing left to run
    third = await api.invoke(on_clone, {"point": Point(x=10, y=0), "log": []}, cfg)
    seen_by_original = await api.get_state(graph, cfg)
    seen_by_clone = await api.get_state(on_clone, cfg)
    assert checkpoint_id(seen_by_original.config) == checkpoint_id(seen_by_clone.config)
    assert seen_by_original.values == seen_by_clone.values
    assert type(seen_by_original.values["point"]) is Point
    return {
        "first": norm(first),
        "first_types": shape(first),
        "state": summarize(state),
        "second": norm(second),
        "third": norm(third),
        "final": summarize(seen_by_original),
        "history": history_trace(await api.history(graph, cfg)),
    }


CHAT_TURNS = 14


def _chat_prompt(turn: int) -> str:
    if turn % 4 == 1:
        return f"question {turn}: use a tool, approve first"
    if turn % 2:
        return f"question {turn}: use a tool"
    return f"question {turn}: just answer"


async def _chat_turn(
    api: Api, graph: Any, cfg: RunnableConfig, turn: int, prefix: str = "h"
) -> tuple[Any, Any]:
    """One human turn; an approval interrupt is resumed with ``Command(resume=...)``."""
    prompt = _chat_prompt(turn)
    message = HumanMessage(content=prompt, id=f"{prefix}-{turn}")
    out = await api.invoke(graph, {"messages": [message]}, cfg)
    asked = None
    if "approve" in prompt:
        (asked,) = out["__interrupt__"]
        assert asked.value == {"tool": "lookup", "q": prompt}
        waiting = await api.get_state(graph, _cfg(cfg["configurable"]["thread_id"]))
        assert waiting.next == ("tools",)
        out = await api.invoke(
            graph, Command(resume=f"approved {turn}"), _cfg(cfg["configurable"]["thread_id"])
        )
    assert "__interrupt__" not in out
    assert isinstance(out["messages"][-1], AIMessage)
    assert not out["messages"][-1].tool_calls
    return out, asked


async def _chat_agent(api: Api, saver: Saver) -> Trace:
    """A chat agent (``add_messages``, tool loop, approvals), a long thread, a fork.

    14 turns make more than 40 checkpoints whose ``messages`` list grows each step (enough for
    a delta-storing saver to chain deltas and store a full value again); some turns interrupt
    for approval and resume with ``Command(resume=...)``. Then time travel: a new turn on the
    checkpoint that ended turn 4, and one more on that branch; the main branch's checkpoints
    must read back unchanged.
    """
    graph = chat_graph(saver)
    cfg = _cfg("chat")
    outputs = []
    for turn in range(1, CHAT_TURNS + 1):
        out, asked = await _chat_turn(api, graph, cfg, turn)
        outputs.append({"messages": len(out["messages"]), "asked": norm(asked)})
    main = await api.history(graph, cfg)
    head = main[0]
    assert (head.metadata or {}).get("step", 0) > 40, (head.metadata or {}).get("step")
    humans = [m for m in head.values["messages"] if isinstance(m, HumanMessage)]
    assert [m.id for m in humans] == [f"h-{t}" for t in range(1, CHAT_TURNS + 1)]
    values_before = await _values_by_id(api, graph, main)

    # time travel: the checkpoint that ended turn 4, continued on its own branch
    ends = [s for s in reversed(main) if not s.next and s.values.get("messages")]
    old = ends[3]
    assert [m.id for m in old.values["messages"] if isinstance(m, HumanMessage)] == [
        "h-1",
        "h-2",
        "h-3",
        "h-4",
    ]
    fork_out, _ = await _chat_turn(api, graph, old.config, 5, prefix="fork")
    branch_head = await api.get_state(graph, cfg)
    assert checkpoint_id(branch_head.config) != checkpoint_id(head.config)
    more, asked_on_branch = await _chat_turn(api, graph, cfg, 9, prefix="fork")
    assert asked_on_branch is not None
    branch = await api.get_state(graph, cfg)
    old_messages = old.values["messages"]
    assert branch.values["messages"][: len(old_messages)] == old_messages
    assert [m.id for m in branch.values["messages"] if isinstance(m, HumanMessage)] == [
        "h-1",
        "h-2",
        "h-3",
        "h-4",
        "fork-5",
        "fork-9",
    ]
    assert await _values_by_id(api, graph, main) == values_before
    main_head = await api.get_state(graph, head.config)
    assert main_head.values == head.values
    after = await api.history(graph, cfg)
    assert len(after) > len(main)
    return {
        "turns": outputs,
        "values_before": list(values_before.values()),
        "fork": norm(fork_out),
        "more": norm(more),
        "state": summarize(branch),
        "main_head": summarize(main_head),
        "history": history_trace(after),
    }


async def _one_api_flavour(api: Api, saver: Saver) -> Trace:
    """``ainvoke`` uses only async saver methods (R13); ``invoke`` only sync ones.

    The saver is wrapped in a :class:`RecordingSaver` that raises on the other flavour's
    methods (``get_next_version`` is shared), and several graphs run through it.
    """
    other = RecordingSaver.SYNC_METHODS if api.is_async else RecordingSaver.ASYNC_METHODS
    recorder = RecordingSaver(saver, refuse=other)
    ask, sub, loop = ask_graph(recorder), subgraph_graph(recorder), loop_graph(recorder, until=3)
    trace: Trace = {}
    await api.invoke(ask, {"log": []}, _cfg("f-ask"))
    trace["ask_stream"] = norm(await api.stream(ask, Command(resume="a"), _cfg("f-ask")))
    trace["ask"] = norm(await api.invoke(ask, Command(resume="b"), _cfg("f-ask")))
    await api.invoke(sub, {"log": [], "inner": []}, _cfg("f-sub"))
    trace["sub_state"] = summarize(await api.get_state(sub, _cfg("f-sub"), subgraphs=True))
    trace["sub"] = norm(await api.invoke(sub, Command(resume="s"), _cfg("f-sub")))
    await api.invoke(loop, {"n": 0, "log": []}, _cfg("f-loop"))
    history = await api.history(loop, _cfg("f-loop"))
    branch = await api.update_state(loop, history[2].config, {"log": ["u"]}, as_node="step")
    trace["loop"] = norm(await api.invoke(loop, None, branch))
    trace["history"] = history_trace(await api.history(loop, _cfg("f-loop")))
    if DeltaChannel is not None:
        delta = delta_graph(recorder, until=4)
        trace["delta"] = norm(await api.invoke(delta, {"n": 0, "items": []}, _cfg("f-delta")))
        trace["delta_state"] = summarize(await api.get_state(delta, _cfg("f-delta")))
    used = set(recorder.calls)
    assert not used & set(other), sorted(used & set(other))
    expected = set(RecordingSaver.ASYNC_METHODS if api.is_async else RecordingSaver.SYNC_METHODS)
    assert used <= expected
    trace["used"] = sorted(used)
    return trace


BODIES: list[Body] = [
    _loop,
    _interrupt_resume,
    _history_queries,
    _update_state,
    _fork,
    _update_old_then_invoke,
    _subgraph_interrupt,
    _send_fanout,
    _node_error_retry,
    _durability,
    _thread_id_types,
    _rich_types,
    _delta_channel,
    _allowlist_pydantic_state,
    _one_api_flavour,
    _chat_agent,
]

SYNC_SCENARIOS: list[tuple[str, Callable[[SaverFactory], Trace]]] = [
    (body.__name__.lstrip("_"), _sync_scenario(body)) for body in BODIES
]
"""``(name, fn)``: ``fn(factory)`` runs the scenario through the sync API and returns its trace."""

ASYNC_SCENARIOS: list[tuple[str, Callable[[SaverFactory], Awaitable[Trace]]]] = [
    (body.__name__.lstrip("_"), _async_scenario(body)) for body in BODIES
]
"""``(name, fn)``: ``await fn(factory)`` runs the scenario through the async API."""
