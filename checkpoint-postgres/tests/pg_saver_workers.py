"""Child processes of the durability tests: ``python pg_saver_workers.py CMD URI SCHEMA``."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, TypedDict

from pitstop.checkpoint.postgres import PostgresSaver


def checkpoint(n: int, versions: dict[str, Any]) -> dict[str, Any]:
    return {
        "v": 4,
        "id": f"{n:08x}-0000-6000-8000-{n:012x}",
        "ts": "2024-07-31T20:14:19.804150+00:00",
        "channel_values": {},
        "channel_versions": versions,
        "versions_seen": {},
        "updated_channels": None,
    }


def payload(n: int) -> bytes:
    """The value written at step ``n`` (checkable after a crash); 1-64 KiB."""
    return bytes([n % 251]) * (1024 * (1 + n % 64))


def puts(uri: str, schema: str) -> None:
    """Put checkpoints (with a value and three writes each) as fast as possible, forever."""
    with PostgresSaver.from_conn_string(uri, schema=schema, pool_size=1) as saver:
        print("ready", flush=True)
        versions: dict[str, Any] = {}
        parent: str | None = None
        n = 0
        while True:
            n += 1
            versions = {**versions, "data": saver.get_next_version(versions.get("data")), "n": n}
            cp = checkpoint(n, {"data": versions["data"], "n": str(n)})
            cp["channel_values"] = {"data": payload(n), "n": n}
            config: dict[str, Any] = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
            if parent:
                config["configurable"]["checkpoint_id"] = parent
            new = {"data": versions["data"], "n": str(n)}
            stored = saver.put(config, cp, {"step": n}, new)  # type: ignore[arg-type]
            saver.put_writes(stored, [("a", n), ("b", payload(n)), ("c", -n)], f"task-{n}")
            parent = cp["id"]


class State(TypedDict):
    log: list[str]
    answer: str


def build_graph(saver: Any) -> Any:
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import interrupt

    def ask(state: State) -> dict[str, Any]:
        return {"log": [*state["log"], "asked"]}

    def wait(state: State) -> dict[str, Any]:
        answer = interrupt("continue?")
        return {"log": [*state["log"], f"answer:{answer}"], "answer": answer}

    def finish(state: State) -> dict[str, Any]:
        return {"log": [*state["log"], "finished"]}

    builder: Any = StateGraph(State)
    builder.add_node("ask", ask)
    builder.add_node("wait", wait)
    builder.add_node("finish", finish)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "wait")
    builder.add_edge("wait", "finish")
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=saver)


GRAPH_CONFIG = {"configurable": {"thread_id": "durable"}}


def graph_start(uri: str, schema: str) -> None:
    """Run until the interrupt, then die by SIGKILL."""
    with PostgresSaver.from_conn_string(uri, schema=schema) as saver:
        build_graph(saver).invoke({"log": [], "answer": ""}, GRAPH_CONFIG)
        print("interrupted", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


def graph_resume(uri: str, schema: str) -> None:
    """Resume the interrupted thread and print its final state."""
    from langgraph.types import Command

    with PostgresSaver.from_conn_string(uri, schema=schema) as saver:
        final = build_graph(saver).invoke(Command(resume="yes"), GRAPH_CONFIG)
        print(repr(final), flush=True)


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    {"puts": puts, "graph-start": graph_start, "graph-resume": graph_resume}[command](*rest)
