"""Crashes and concurrency across processes: SIGKILL mid-run, resume elsewhere, stress."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlite_workers import GRAPH_CONFIG, build_graph, payload

from pitstop.checkpoint.sqlite import SqliteSaver

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
    from langgraph.types import Command

    from pitstop.checkpoint.memory import InMemorySaver

    db = str(tmp_path / "durable.db")
    a = _spawn("graph-start", db)
    out, err = a.communicate(timeout=60)
    assert a.returncode == -signal.SIGKILL, err
    assert out.strip() == "interrupted"
    b = _spawn("graph-resume", db)
    out, err = b.communicate(timeout=60)
    assert b.returncode == 0, err

    reference = build_graph(InMemorySaver())
    reference.invoke({"log": [], "answer": ""}, GRAPH_CONFIG)
    expected = reference.invoke(Command(resume="yes"), GRAPH_CONFIG)
    assert out.strip() == repr(expected)
    assert expected["log"] == ["asked", "answer:yes", "finished"]
    with SqliteSaver.from_conn_string(db) as saver:
        history = list(build_graph(saver).get_state_history(GRAPH_CONFIG))
    assert [h.metadata["step"] for h in history] == [3, 2, 1, 0, -1]


def test_sigkill_during_puts_leaves_only_complete_checkpoints(tmp_path: Path) -> None:
    rng = random.Random(4)
    db = str(tmp_path / "kill.db")
    last_seen = 0
    for _ in range(12):
        child = _spawn("puts", db)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.02, 0.25))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        assert child.returncode == -signal.SIGKILL
        with SqliteSaver.from_conn_string(db) as saver:
            listed = list(saver.list({"configurable": {"thread_id": "t"}}))
            steps = [t.metadata["step"] for t in listed]
            assert steps == list(range(len(steps), 0, -1))  # no gap: committed in order
            for tup in listed:
                n = tup.metadata["step"]
                assert tup.checkpoint["channel_values"] == {"data": payload(n), "n": n}
                writes = tup.pending_writes or []
                assert writes in (
                    [],
                    [(f"task-{n}", "a", n), (f"task-{n}", "b", payload(n)), (f"task-{n}", "c", -n)],
                )
            latest = saver.get_tuple({"configurable": {"thread_id": "t"}})
            if listed:
                assert latest is not None
                assert latest.checkpoint["id"] == listed[0].checkpoint["id"]
            assert len(steps) >= last_seen  # the next child restarts at step 1 (same ids)
            last_seen = 0
            saver.delete_thread("t")


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
    from sqlite_workers import checkpoint

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
