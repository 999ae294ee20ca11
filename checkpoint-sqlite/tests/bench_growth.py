"""Storage growth of a chat thread on the SQLite saver, with and without the delta layer.

``uv run python checkpoint-sqlite/tests/bench_growth.py [--steps 800] [--official]``

One thread, one ~300-byte message appended per step (a ``messages`` list with ``get_next_version``
versions, ``new_versions`` = the changed channels), as LangGraph's loop writes it. Prints the
file size at 50/200/800 steps, and the time of ``put`` and ``get_tuple`` (latest) at the last
step, for ``max_chain=32`` (the default), ``max_chain=0`` (full values, as before), the default
with ``compress="zstd"``, and optionally LangGraph's own ``SqliteSaver``. Not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from sqlite_factories import new_path

from pitstop.checkpoint.base import empty_checkpoint
from pitstop.checkpoint.sqlite import SqliteSaver

MIB = 1024 * 1024


def _size(saver: Any, path: str) -> int:
    with contextlib.suppress(Exception):
        saver.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


@contextlib.contextmanager
def pitstop(**kwargs: Any) -> Iterator[tuple[Any, str]]:
    path = new_path()
    with SqliteSaver.from_conn_string(path, **kwargs) as saver:
        yield saver, path


@contextlib.contextmanager
def official() -> Iterator[tuple[Any, str]]:
    from langgraph.checkpoint.sqlite import SqliteSaver as Official

    path = new_path()
    with Official.from_conn_string(path) as saver:
        yield saver, path


def message(i: int) -> dict[str, Any]:
    return {"type": "ai" if i % 2 else "human", "id": f"msg-{i:06d}", "content": "x" * 260}


def run(saver: Any, path: str, steps: int, marks: tuple[int, ...]) -> dict[str, Any]:
    result: dict[str, Any] = {"sizes": {}}
    config: dict[str, Any] = {"configurable": {"thread_id": "chat", "checkpoint_ns": ""}}
    checkpoint: dict[str, Any] = dict(empty_checkpoint())
    messages: list[dict[str, Any]] = []
    versions: dict[str, Any] = {}
    put_times: list[float] = []
    for step in range(1, steps + 1):
        messages = [*messages, message(step)]
        changed = ["messages", "step"] if step > 1 else ["messages", "step", "system"]
        for ch in changed:
            versions[ch] = saver.get_next_version(versions.get(ch), None)
        values = {"messages": messages, "step": step, "system": "You are helpful."}
        checkpoint = {
            **checkpoint,
            "id": f"{step:08x}-0000-6000-8000-{step:012x}",
            "channel_values": values,
            "channel_versions": dict(versions),
        }
        new_versions = {ch: versions[ch] for ch in changed}
        started = time.perf_counter()
        config = saver.put(config, checkpoint, {"step": step, "source": "loop"}, new_versions)
        if step > steps - 20:
            put_times.append(time.perf_counter() - started)
        if step in marks:
            result["sizes"][step] = _size(saver, path)
    latest = {"configurable": {"thread_id": "chat", "checkpoint_ns": ""}}
    got_times = []
    for _ in range(20):
        started = time.perf_counter()
        got = saver.get_tuple(latest)
        got_times.append(time.perf_counter() - started)
    assert got is not None
    assert got.checkpoint["channel_values"]["messages"] == messages
    result["put_ms"] = statistics.median(put_times) * 1000
    result["get_ms"] = statistics.median(got_times) * 1000
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--official", action="store_true", help="also LangGraph's SqliteSaver")
    args = parser.parse_args()
    marks = (*(m for m in (50, 200, 800) if m < args.steps), args.steps)
    variants: list[tuple[str, Any]] = [
        ("pitstop deltas (max_chain=32)", lambda: pitstop()),
        ("pitstop deltas + zstd", lambda: pitstop(compress="zstd")),
        ("pitstop full values (max_chain=0)", lambda: pitstop(max_chain=0)),
    ]
    if args.official:
        variants.append(("langgraph SqliteSaver", official))
    header = "".join(f"{m:>10} st" for m in marks)
    print(f"{'saver':36}{header}   put@{args.steps} ms   get@{args.steps} ms")
    for name, make in variants:
        with make() as (saver, path):
            r = run(saver, path, args.steps, marks)
        sizes = "".join(f"{r['sizes'][m] / MIB:>9.2f}Mi" for m in marks)
        print(f"{name:36}{sizes}   {r['put_ms']:>11.3f}   {r['get_ms']:>11.3f}")


if __name__ == "__main__":
    main()
