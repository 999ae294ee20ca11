"""Crash and SIGKILL workloads for checkpoint savers, shared by every backend's process tests.

A durability test runs a small worker script in a child process. The worker opens the saver
under test from its command line and calls one of the workloads below; the test kills it at a
random moment (or it kills itself at a LangGraph interrupt), then opens the same storage in the
test process and checks what survived::

    # worker.py: python worker.py CMD DSN
    import sys
    from pitstop.conformance import durability
    from my_backend import MySaver

    command, dsn = sys.argv[1:]
    with MySaver.from_conn_string(dsn) as saver:
        {"puts": durability.put_forever, "graph-start": durability.run_until_interrupt,
         "graph-resume": durability.resume}[command](saver)

    # test_crashes.py
    def test_sigkill_during_puts() -> None:
        durability.kill_after_ready([sys.executable, "worker.py", "puts", DSN], delay=0.1)
        with MySaver.from_conn_string(DSN) as saver:
            assert durability.check_put_survivors(saver) > 0

    def test_graph_resumes_after_sigkill() -> None:
        out = durability.kill_at_interrupt_then_resume(
            [sys.executable, "worker.py", "graph-start", DSN],
            [sys.executable, "worker.py", "graph-resume", DSN],
        )
        with MySaver.from_conn_string(DSN) as saver:
            durability.check_resumed(out, saver)

A saver here is any LangGraph checkpoint saver (``put``, ``put_writes``, ``list``,
``get_tuple``, ``get_next_version``). LangGraph itself is only needed by the graph workloads
and is imported when they run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from typing import Any, NoReturn, TypedDict

__all__ = [
    "GRAPH_CONFIG",
    "INTERRUPTED",
    "READY",
    "THREAD_ID",
    "ApprovalState",
    "approval_graph",
    "check_put_survivors",
    "check_resumed",
    "checkpoint",
    "expected_final_state",
    "kill_after_ready",
    "kill_at_interrupt_then_resume",
    "payload",
    "put_forever",
    "resume",
    "run_until_interrupt",
]

THREAD_ID = "t"
"""The thread :func:`put_forever` writes to."""

READY = "ready"
"""The line :func:`put_forever` prints once its saver is open, before the first put."""

INTERRUPTED = "interrupted"
"""The line :func:`run_until_interrupt` prints just before it kills its own process."""

GRAPH_CONFIG: dict[str, Any] = {"configurable": {"thread_id": "durable"}}
"""The config the approval graph runs under (its thread is ``durable``)."""


def checkpoint(n: int, versions: dict[str, Any]) -> dict[str, Any]:
    """A bare checkpoint for step ``n``: ids increase with ``n``, no channel values yet."""
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


def _writes(n: int) -> list[tuple[str, Any]]:
    """The three writes :func:`put_forever` stores against step ``n``."""
    return [("a", n), ("b", payload(n)), ("c", -n)]


def put_forever(saver: Any) -> NoReturn:
    """Print :data:`READY`, then put checkpoints as fast as possible, forever.

    Step ``n`` (from 1) is a child of step ``n - 1`` on thread :data:`THREAD_ID`; its channel
    values are ``{"data": payload(n), "n": n}``, its metadata ``{"step": n}``, and it gets
    three writes from task ``task-{n}`` right after the put. Run it in a process that is
    meant to be killed; :func:`check_put_survivors` verifies what is left.
    """
    print(READY, flush=True)
    versions: dict[str, Any] = {}
    parent: str | None = None
    n = 0
    while True:
        n += 1
        versions = {**versions, "data": saver.get_next_version(versions.get("data")), "n": n}
        new_versions = {"data": versions["data"], "n": str(n)}
        cp = checkpoint(n, new_versions)
        cp["channel_values"] = {"data": payload(n), "n": n}
        config: dict[str, Any] = {"configurable": {"thread_id": THREAD_ID, "checkpoint_ns": ""}}
        if parent:
            config["configurable"]["checkpoint_id"] = parent
        stored = saver.put(config, cp, {"step": n}, new_versions)
        saver.put_writes(stored, _writes(n), f"task-{n}")
        parent = cp["id"]


def check_put_survivors(saver: Any, thread_id: str = THREAD_ID) -> int:
    """Check what a killed :func:`put_forever` left behind; return how many checkpoints.

    Every stored checkpoint is complete (its exact value), the steps run 1..N without a gap
    (nothing committed out of order), each checkpoint has all three of its writes or none,
    and ``get_tuple`` returns the newest listed checkpoint. Raises ``AssertionError``.
    """
    listed = list(saver.list({"configurable": {"thread_id": thread_id}}))
    steps = [t.metadata["step"] for t in listed]
    assert steps == list(range(len(steps), 0, -1)), f"steps with a gap: {steps}"
    for tup in listed:
        n = tup.metadata["step"]
        assert tup.checkpoint["channel_values"] == {"data": payload(n), "n": n}, (
            f"step {n} has a wrong or partial value"
        )
        writes = tup.pending_writes or []
        full = [(f"task-{n}", channel, value) for channel, value in _writes(n)]
        assert writes in ([], full), f"step {n} has partial writes: {writes!r}"
    latest = saver.get_tuple({"configurable": {"thread_id": thread_id}})
    if listed:
        assert latest is not None, "get_tuple found nothing, list found checkpoints"
        assert latest.checkpoint["id"] == listed[0].checkpoint["id"], (
            "get_tuple is not the newest listed checkpoint"
        )
    else:
        assert latest is None, "get_tuple found a checkpoint, list found none"
    return len(steps)


def kill_after_ready(command: Sequence[str], delay: float, timeout: float = 10) -> None:
    """Start ``command``, wait for its :data:`READY` line, let it run ``delay`` seconds, SIGKILL it.

    Raises ``AssertionError`` if the child says something else first or does not die by the
    signal (for example because it crashed on its own).
    """
    child = subprocess.Popen(
        list(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        if line != READY:
            child.kill()
            _, err = child.communicate(timeout=timeout)
            raise AssertionError(f"expected {READY!r}, got {line!r}; stderr: {err}")
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=timeout)
        assert child.returncode == -signal.SIGKILL, f"exit status {child.returncode}"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=timeout)
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()


class ApprovalState(TypedDict):
    """State of the approval graph: a log of what happened and the answer given."""

    log: list[str]
    answer: str


def approval_graph(saver: Any) -> Any:
    """A three-node graph (ask, wait, finish) compiled with ``saver``; ``wait`` interrupts.

    Started with ``{"log": [], "answer": ""}`` it stops at the interrupt; resumed with
    ``Command(resume="yes")`` it finishes with the log ``["asked", "answer:yes", "finished"]``.
    """
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import interrupt

    def ask(state: ApprovalState) -> dict[str, Any]:
        return {"log": [*state["log"], "asked"]}

    def wait(state: ApprovalState) -> dict[str, Any]:
        answer = interrupt("continue?")
        return {"log": [*state["log"], f"answer:{answer}"], "answer": answer}

    def finish(state: ApprovalState) -> dict[str, Any]:
        return {"log": [*state["log"], "finished"]}

    builder: Any = StateGraph(ApprovalState)
    builder.add_node("ask", ask)
    builder.add_node("wait", wait)
    builder.add_node("finish", finish)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "wait")
    builder.add_edge("wait", "finish")
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=saver)


def run_until_interrupt(saver: Any) -> NoReturn:
    """Run the approval graph to its interrupt, print :data:`INTERRUPTED`, die by SIGKILL.

    Nothing after the interrupt runs: no close, no flush, no exit handler.
    """
    approval_graph(saver).invoke({"log": [], "answer": ""}, GRAPH_CONFIG)
    print(INTERRUPTED, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("still alive after SIGKILL")  # pragma: no cover


def resume(saver: Any) -> None:
    """Resume the interrupted approval graph with ``"yes"``; print ``repr`` of its final state."""
    from langgraph.types import Command

    final = approval_graph(saver).invoke(Command(resume="yes"), GRAPH_CONFIG)
    print(repr(final), flush=True)


def kill_at_interrupt_then_resume(
    start: Sequence[str], resume_command: Sequence[str], timeout: float = 60
) -> str:
    """Run ``start`` (a :func:`run_until_interrupt` worker), then ``resume_command``.

    Checks the first died by SIGKILL right after printing :data:`INTERRUPTED` and the second
    exited cleanly; returns the second's output (stripped), for :func:`check_resumed`.
    """
    first = subprocess.run(list(start), capture_output=True, text=True, timeout=timeout)
    assert first.returncode == -signal.SIGKILL, (first.returncode, first.stderr)
    assert first.stdout.strip() == INTERRUPTED, first.stdout
    second = subprocess.run(list(resume_command), capture_output=True, text=True, timeout=timeout)
    assert second.returncode == 0, second.stderr
    return second.stdout.strip()


def expected_final_state() -> dict[str, Any]:
    """The approval graph's final state, computed in memory with :class:`InMemorySaver`."""
    from langgraph.types import Command

    from pitstop.checkpoint.memory import InMemorySaver

    reference = approval_graph(InMemorySaver())
    reference.invoke({"log": [], "answer": ""}, GRAPH_CONFIG)
    final: dict[str, Any] = reference.invoke(Command(resume="yes"), GRAPH_CONFIG)
    assert final["log"] == ["asked", "answer:yes", "finished"], final
    return final


def check_resumed(output: str, saver: Any) -> None:
    """Check a resumed run: ``output`` is the in-memory final state, the history is whole.

    ``output`` is what :func:`resume` printed; ``saver`` is open on the same storage. The
    thread's history must hold every step, -1 (input) through 3 (finish), newest first.
    Raises ``AssertionError``.
    """
    expected = expected_final_state()
    assert output.strip() == repr(expected), f"{output.strip()} != {expected!r}"
    history = list(approval_graph(saver).get_state_history(GRAPH_CONFIG))
    steps = [h.metadata["step"] for h in history]
    assert steps == [3, 2, 1, 0, -1], f"history steps {steps}"
