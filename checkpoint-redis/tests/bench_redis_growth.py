"""Redis memory of a growing chat thread, with and without the delta layer.

``uv run python checkpoint-redis/tests/bench_redis_growth.py [--steps 800]``

One thread, one ~300-byte message appended per step (a ``messages`` list with ``get_next_version``
versions, ``new_versions`` = the changed channels), as LangGraph's loop writes it. Prints the
thread's Redis memory (``saver.memory_usage``) at 50/200/800 steps, and the time of ``put`` and
``get_tuple`` (latest) at the last step, for ``max_chain=32`` (the default), the default with
``compress="zstd"`` and ``max_chain=0`` (full values, as before). Each variant runs on its own
key prefix, deleted afterwards (``PITSTOP_REDIS_URL``, default ``redis://127.0.0.1:6379/0``).
Not a test: nothing here is collected by pytest.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from redis_factories import cleanup, sync_saver

from pitstop.checkpoint.base import empty_checkpoint

MIB = 1024 * 1024


def message(i: int) -> dict[str, Any]:
    return {"type": "ai" if i % 2 else "human", "id": f"msg-{i:06d}", "content": "x" * 260}


def run(saver: Any, steps: int, marks: tuple[int, ...]) -> dict[str, Any]:
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
            result["sizes"][step] = saver.memory_usage("chat")
    latest = {"configurable": {"thread_id": "chat", "checkpoint_ns": ""}}
    got_times = []
    got = None
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
    args = parser.parse_args()
    marks = (*(m for m in (50, 200, 800) if m < args.steps), args.steps)
    variants: list[tuple[str, dict[str, Any]]] = [("pitstop deltas (max_chain=32)", {})]
    if importlib.util.find_spec("zstandard") is not None:
        variants.append(("pitstop deltas + zstd", {"compress": "zstd"}))
    variants.append(("pitstop full values (max_chain=0)", {"max_chain": 0}))
    header = "".join(f"{m:>10} st" for m in marks)
    print(f"{'saver':36}{header}   put@{args.steps} ms   get@{args.steps} ms")
    try:
        for name, options in variants:
            with sync_saver(**options) as saver:
                r = run(saver, args.steps, marks)
            sizes = "".join(f"{r['sizes'][m] / MIB:>9.2f}Mi" for m in marks)
            print(f"{name:36}{sizes}   {r['put_ms']:>11.3f}   {r['get_ms']:>11.3f}")
    finally:
        cleanup()


if __name__ == "__main__":
    main()
