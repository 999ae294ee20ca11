"""A durable approval workflow on SQLite: draft -> human review (interrupt) -> publish.

``python examples/approval_demo.py`` runs the whole story with three processes:

1. process A drafts a post and stops at the human review (``interrupt()``); while it waits, it
   is killed with SIGKILL, as a crashed or redeployed worker would be;
2. process B opens the same SQLite file, finds the thread waiting for review, and resumes it
   with ``Command(resume=...)``: the reviewer approves, the post is published;
3. the thread's history (checkpoint ids, steps, sources, what each node wrote) is printed.

Only Python is needed: the database is a file in a temporary directory (``--db PATH`` keeps it).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from pitstop.checkpoint.sqlite import SqliteSaver

THREAD = {"configurable": {"thread_id": "post-42"}}


class Post(TypedDict, total=False):
    topic: str
    draft: str
    review: dict[str, Any]
    status: str


def draft(state: Post) -> Post:
    """Write a first draft (deterministic: this is a demo, not an LLM)."""
    topic = state["topic"]
    return {"draft": f"{topic}: one file, no server, survives crashes.", "status": "drafted"}


def review(state: Post) -> Post:
    """Wait for a human decision; the process may die here and resume elsewhere."""
    decision = interrupt({"question": "Publish this draft?", "draft": state["draft"]})
    return {"review": decision, "status": "reviewed"}


def publish(state: Post) -> Post:
    """Publish when approved, otherwise mark the post rejected."""
    if state["review"].get("approved"):
        return {"status": "published"}
    return {"status": "rejected"}


def build(saver: SqliteSaver) -> Any:
    """The compiled graph, checkpointed in ``saver``."""
    builder = StateGraph(Post)
    builder.add_node("draft", draft)
    builder.add_node("review", review)
    builder.add_node("publish", publish)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "review")
    builder.add_edge("review", "publish")
    builder.add_edge("publish", END)
    return builder.compile(checkpointer=saver)


# -- the three steps ---------------------------------------------------------------------------


def start(db: str) -> None:
    """Process A: run until the review interrupt, then die without any cleanup."""
    with SqliteSaver.from_conn_string(db) as saver:
        result = build(saver).invoke({"topic": "pitstop's SQLite saver"}, THREAD)
        pending = result["__interrupt__"][0].value
        print(f"[A pid {os.getpid()}] drafted, waiting for review: {pending['draft']!r}")
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)  # crash while waiting: no close, no goodbye


def resume(db: str) -> None:
    """Process B: find the thread waiting for review and resume it with the decision."""
    with SqliteSaver.from_conn_string(db) as saver:
        graph = build(saver)
        state = graph.get_state(THREAD)
        question = state.tasks[0].interrupts[0].value["question"]
        print(f"[B pid {os.getpid()}] found thread waiting at {state.next}: {question!r}")
        decision = {"approved": True, "reviewer": "alice", "note": "ship it"}
        final = graph.invoke(Command(resume=decision), THREAD)
        print(f"[B pid {os.getpid()}] resumed with {decision} -> status {final['status']!r}")


def _short(value: Any, width: int = 46) -> str:
    if isinstance(value, dict):
        text = ", ".join(f"{k}={v!r}" for k, v in value.items())
    else:
        text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def history(db: str) -> str:
    """The thread's history as a table, oldest checkpoint first."""
    with SqliteSaver.from_conn_string(db) as saver:
        snapshots = list(build(saver).get_state_history(THREAD))[::-1]
    lines = [
        f"{'checkpoint id':<36}  {'step':>4}  {'source':<6}  {'next':<9}  "
        "what the step's tasks wrote",
        "-" * 130,
    ]
    for snap in snapshots:
        wrote = []
        for task in snap.tasks:
            parts = []
            if task.interrupts:
                parts.append(f"interrupt({_short(task.interrupts[0].value['question'])})")
            if task.result is not None:
                parts.append(_short(task.result, 52))
            if parts:
                wrote.append(f"{task.name}: {' -> '.join(parts)}")
        lines.append(
            f"{snap.config['configurable']['checkpoint_id']:<36}  {snap.metadata['step']:>4}  "
            f"{snap.metadata['source']:<6}  {','.join(snap.next) or '-':<9}  "
            f"{'; '.join(wrote) or '-'}"
        )
    final = snapshots[-1].values
    lines += ["-" * 130, f"final state: {_short(final, 100)}"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("step", nargs="?", choices=["start", "resume", "history"])
    parser.add_argument("--db", help="SQLite file (default: a fresh temporary one)")
    args = parser.parse_args()
    if args.step:
        {"start": start, "resume": resume}.get(args.step, lambda db: print(history(db)))(args.db)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or os.path.join(tmp, "approval.db")
        print(f"SQLite file: {db if args.db else '<tmp>/approval.db'}\n")
        me = [sys.executable, os.path.abspath(__file__), "--db", db]
        a = subprocess.run([*me, "start"], check=False)
        print(f"    process A exit status: {a.returncode} (killed by SIGKILL)\n")
        if a.returncode != -signal.SIGKILL:
            return 1
        subprocess.run([*me, "resume"], check=True)
        print("\nHistory of thread 'post-42' (read back from the file):\n")
        print(textwrap.indent(history(db), "  "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
