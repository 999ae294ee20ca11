"""Child processes of the durability and stress tests: ``python sqlite_workers.py CMD DB ...``.

The crash workloads are :mod:`pitstop.conformance.durability`'s; this script opens the saver
(and runs the SQLite-only multi-process stress workload).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from pitstop.checkpoint.sqlite import SqliteSaver
from pitstop.conformance import durability
from pitstop.conformance.durability import checkpoint

__all__ = ["checkpoint"]  # also imported by the other SQLite tests


def puts(db: str) -> None:
    """Put checkpoints (with a value and three writes each) as fast as possible, forever."""
    with SqliteSaver.from_conn_string(db) as saver:
        durability.put_forever(saver)


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


def graph_start(db: str) -> None:
    """Run until the interrupt, then die by SIGKILL."""
    with SqliteSaver.from_conn_string(db) as saver:
        durability.run_until_interrupt(saver)


def graph_resume(db: str) -> None:
    """Resume the interrupted thread and print its final state."""
    with SqliteSaver.from_conn_string(db) as saver:
        durability.resume(saver)


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    {"puts": puts, "stress": stress, "graph-start": graph_start, "graph-resume": graph_resume}[
        command
    ](*rest)
