"""Storage growth of a chat thread on the PostgreSQL saver, with and without the delta layer.

``uv run python checkpoint-postgres/tests/bench_pg_growth.py [--steps 800] [--official]``

One thread, one ~300-byte message (random words) appended per step (a ``messages`` list with
``get_next_version``
versions, ``new_versions`` = the changed channels), as LangGraph's loop writes it. Prints the
size of the saver's tables (``pg_total_relation_size``: heap, indexes, TOAST) at 50/200/800
steps, and the time of ``put`` and ``get_tuple`` (latest) at the last step, for
``max_chain=32`` (the default), the default with ``compress="zstd"``, ``max_chain=0`` (full
values, as before), and optionally LangGraph's own ``PostgresSaver``. Not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import string
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import psycopg
from bench_pg import official_sync
from pg_saver_env import URI, drop_schemas, new_schema, stored_bytes

from pitstop.checkpoint.base import empty_checkpoint
from pitstop.checkpoint.postgres import PostgresSaver

MIB = 1024 * 1024
_WORDS = [
    "".join(random.Random(n).choices(string.ascii_lowercase, k=2 + n % 7)) for n in range(2000)
]


@contextlib.contextmanager
def pitstop(**kwargs: Any) -> Iterator[Any]:
    with psycopg.connect(URI, autocommit=True) as conn:
        saver = PostgresSaver(conn, schema=new_schema(), **kwargs)
        saver.setup()
        yield saver


def message(i: int) -> dict[str, Any]:
    """About 300 bytes serialized; text that compresses like prose, not like ``"x" * 260``."""
    words = random.Random(i).choices(_WORDS, k=60)
    content = " ".join(words)[:260]
    return {"type": "ai" if i % 2 else "human", "id": f"msg-{i:06d}", "content": content}


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
            result["sizes"][step] = stored_bytes(saver)
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
    parser.add_argument("--official", action="store_true", help="also LangGraph's PostgresSaver")
    args = parser.parse_args()
    marks = (*(m for m in (50, 200, 800) if m < args.steps), args.steps)
    variants: list[tuple[str, Any]] = [
        ("pitstop deltas (max_chain=32)", lambda: pitstop()),
        ("pitstop deltas + zstd", lambda: pitstop(compress="zstd")),
        ("pitstop full values (max_chain=0)", lambda: pitstop(max_chain=0)),
    ]
    if args.official:
        variants.append(("langgraph PostgresSaver", official_sync))
    header = "".join(f"{m:>10} st" for m in marks)
    print(f"{'saver':36}{header}   put@{args.steps} ms   get@{args.steps} ms")
    try:
        for name, make in variants:
            with make() as saver:
                r = run(saver, args.steps, marks)
            sizes = "".join(f"{r['sizes'][m] / MIB:>9.2f}Mi" for m in marks)
            print(f"{name:36}{sizes}   {r['put_ms']:>11.3f}   {r['get_ms']:>11.3f}", flush=True)
    finally:
        drop_schemas()


if __name__ == "__main__":
    main()
