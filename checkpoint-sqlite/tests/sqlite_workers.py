"""Child processes of the durability and stress tests: ``python sqlite_workers.py CMD DB ...``."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any, TypedDict

from pitstop.checkpoint.sqlite import SqliteSaver


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


def puts(db: str) -> None:
    """Put checkpoints (with a value and three writes each) as fast as possible, forever."""
    with SqliteSaver.from_conn_string(db) as saver:
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
            stored = saver.put(config, cp, {"step": n}, {"data": versions["data"], "n": str(n)})  # type: ignore[arg-type]
            saver.put_writes(stored, [("a", n), ("b", payload(n)), ("c", -n)], f"task-{n}")
            parent = cp["id"]


def stress(db: str, name: str, seconds: str) -> None:
    """Two threads, each writing its own thread id for ``seconds``; print their put counts."""
    deadline = time.monotonic() + float(seconds)
    counts: dict[str, int] = {}
    errors: list[BaseException] = []

    def work(thread_id: str) -> None:
        try:
            with SqliteSaver.from_conn_string(db) as saver:
                parent: str | None = None
                n = 0
                while time.monotonic() < deadline:
                    n += 1
                    version = saver.get_next_version(None if n == 1 else f"{n - 1}")
                    cp = checkpoint(n, {"x": version})
                    cp["channel_values"] = {"x": [thread_id, n]}
                    cfg: dict[str, Any] = {
                        "configurable": {"thread_id": thread_id, "checkpoint_ns": ""}
                    }
                    if parent:
                        cfg["configurable"]["checkpoint_id"] = parent
                    stored = saver.put(cfg, cp, {"step": n}, {"x": version})  # type: ignore[arg-type]
                    saver.put_writes(stored, [("x", n)], "task")
                    if n % 10 == 0:
                        assert len(list(saver.list(stored, limit=2))) == 1
                    parent = cp["id"]
                counts[thread_id] = n
        except BaseException as exc:
            errors.append(exc)
            raise

    threads = [threading.Thread(target=work, args=(f"{name}-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print(f"error {errors[0]!r}", flush=True)
        sys.exit(1)
    for thread_id, n in counts.items():
        print(f"{thread_id} {n}", flush=True)


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


def graph_start(db: str) -> None:
    """Run until the interrupt, then die by SIGKILL."""
    with SqliteSaver.from_conn_string(db) as saver:
        build_graph(saver).invoke({"log": [], "answer": ""}, GRAPH_CONFIG)
        print("interrupted", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


def graph_resume(db: str) -> None:
    """Resume the interrupted thread and print its final state."""
    from langgraph.types import Command

    with SqliteSaver.from_conn_string(db) as saver:
        final = build_graph(saver).invoke(Command(resume="yes"), GRAPH_CONFIG)
        print(repr(final), flush=True)


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    {"puts": puts, "stress": stress, "graph-start": graph_start, "graph-resume": graph_resume}[
        command
    ](*rest)
