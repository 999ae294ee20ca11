"""Crashes and concurrency across processes: SIGKILL mid-run, resume elsewhere, stress."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pitstop.checkpoint.sqlite import SqliteSaver
from pitstop.conformance import durability
from pitstop.conformance.durability import checkpoint

WORKERS = str(Path(__file__).with_name("sqlite_workers.py"))


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, WORKERS, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_graph_killed_in_one_process_resumes_in_another(tmp_path: Path) -> None:
    pytest.importorskip("langgraph.graph")
    db = str(tmp_path / "durable.db")
    out = durability.kill_at_interrupt_then_resume(
        [sys.executable, WORKERS, "graph-start", db], [sys.executable, WORKERS, "graph-resume", db]
    )
    with SqliteSaver.from_conn_string(db) as saver:
        durability.check_resumed(out, saver)


def test_sigkill_during_puts_leaves_only_complete_checkpoints(tmp_path: Path) -> None:
    rng = random.Random(4)
    db = str(tmp_path / "kill.db")
    for _ in range(12):
        durability.kill_after_ready([sys.executable, WORKERS, "puts", db], rng.uniform(0.02, 0.25))
        with SqliteSaver.from_conn_string(db) as saver:
            durability.check_put_survivors(saver)  # may be empty: killed before the first commit
            saver.delete_thread(durability.THREAD_ID)  # the next child restarts at step 1


def test_four_processes_two_threads_each_lose_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "stress.db")
    with SqliteSaver.from_conn_string(db):
        pass  # create the schema once, so the workers race on writes only
    children = [_spawn("stress", db, f"p{i}", "3") for i in range(4)]
    counts: dict[str, int] = {}
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, (out, err)
        assert "locked" not in err, err
        assert "error" not in out, out
        for line in out.split("\n"):
            if line.strip():
                thread_id, n = line.split()
                counts[thread_id] = int(n)
    assert len(counts) == 8
    with SqliteSaver.from_conn_string(db) as saver:
        for thread_id, n in counts.items():
            listed = list(saver.list({"configurable": {"thread_id": thread_id}}))
            assert len(listed) == n, thread_id
            assert [t.metadata["step"] for t in listed] == list(range(n, 0, -1))
            assert all(t.pending_writes == [("task", "x", t.metadata["step"])] for t in listed)
            head = saver.get_tuple({"configurable": {"thread_id": thread_id}})
            assert head is not None
            assert head.checkpoint["channel_values"] == {"x": [thread_id, n]}
    assert sum(counts.values()) > 8


def _file_size(path: str) -> int:
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def test_a_pruned_file_gives_space_back(tmp_path: Path) -> None:
    db = str(tmp_path / "vacuum.db")
    with SqliteSaver.from_conn_string(db) as saver:
        parent: Any = None
        for n in range(1, 120):
            version = saver.get_next_version(None if n == 1 else f"{n - 1}")
            cp = checkpoint(n, {"big": version})
            cp["channel_values"] = {"big": os.urandom(16 * 1024)}
            cfg: dict[str, Any] = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
            if parent:
                cfg["configurable"]["checkpoint_id"] = parent
            saver.put(cfg, cp, {"step": n}, {"big": version})  # type: ignore[arg-type]
            parent = cp["id"]
        saver.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        peak = os.path.getsize(db)
        assert peak > 1_500_000
        saver.prune(["t"])
        saver.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        after = os.path.getsize(db)
        assert after < peak / 5, (peak, after)
        head = saver.get_tuple({"configurable": {"thread_id": "t"}})
        assert head is not None
        assert len(head.checkpoint["channel_values"]["big"]) == 16 * 1024
    assert _file_size(db) < peak / 5
