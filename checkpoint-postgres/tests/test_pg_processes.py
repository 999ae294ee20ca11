"""Crashes across processes: SIGKILL mid-run, resume elsewhere; a server restart mid-run."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pg_saver_env import URI, new_schema, require_server
from pg_saver_workers import GRAPH_CONFIG, build_graph, payload

from pitstop.checkpoint.postgres import ConnectionLostError, PostgresSaver

require_server()

WORKERS = str(Path(__file__).with_name("pg_saver_workers.py"))


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, WORKERS, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_graph_killed_in_one_process_resumes_in_another() -> None:
    pytest.importorskip("langgraph.graph")
    from langgraph.types import Command

    from pitstop.checkpoint.memory import InMemorySaver

    schema = new_schema()
    a = _spawn("graph-start", URI, schema)
    out, err = a.communicate(timeout=60)
    assert a.returncode == -signal.SIGKILL, err
    assert out.strip() == "interrupted"
    b = _spawn("graph-resume", URI, schema)
    out, err = b.communicate(timeout=60)
    assert b.returncode == 0, err

    reference = build_graph(InMemorySaver())
    reference.invoke({"log": [], "answer": ""}, GRAPH_CONFIG)
    expected = reference.invoke(Command(resume="yes"), GRAPH_CONFIG)
    assert out.strip() == repr(expected)
    assert expected["log"] == ["asked", "answer:yes", "finished"]
    with PostgresSaver.from_conn_string(URI, schema=schema) as saver:
        history = list(build_graph(saver).get_state_history(GRAPH_CONFIG))
    assert [h.metadata["step"] for h in history] == [3, 2, 1, 0, -1]


def _check_complete(saver: PostgresSaver) -> int:
    listed = list(saver.list({"configurable": {"thread_id": "t"}}))
    steps = [t.metadata["step"] for t in listed]
    assert steps == list(range(len(steps), 0, -1))  # no gap: committed in order
    for tup in listed:
        n = tup.metadata["step"]
        assert tup.checkpoint["channel_values"] == {"data": payload(n), "n": n}
        assert (tup.pending_writes or []) in (
            [],
            [(f"task-{n}", "a", n), (f"task-{n}", "b", payload(n)), (f"task-{n}", "c", -n)],
        )
    return len(steps)


def test_sigkill_during_puts_leaves_only_complete_checkpoints() -> None:
    rng = random.Random(4)
    schema = new_schema()
    with PostgresSaver.from_conn_string(URI, schema=schema, pool_size=1) as saver:
        for _ in range(5):
            child = _spawn("puts", URI, schema)
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.05, 0.3))
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
            assert child.returncode == -signal.SIGKILL
            assert _check_complete(saver) > 0
            saver.delete_thread("t")


def _pg_ctl(action: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", action],
        check=True,
        timeout=60,
        capture_output=True,
    )


def _wait_up(seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(URI, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            time.sleep(0.2)
    return False


@pytest.mark.skipif(shutil.which("pg_ctlcluster") is None, reason="needs pg_ctlcluster")
@pytest.mark.skipif(
    # On by default under CI (the run owns its machine's server); opt-in elsewhere.
    os.environ.get("PITSTOP_PG_RESTART_TEST", "1" if os.environ.get("CI") == "true" else "0")
    != "1",
    reason="restarts the shared server: opt in with PITSTOP_PG_RESTART_TEST=1 (on under CI)",
)
def test_server_restart_mid_run_fails_one_call_then_recovers() -> None:
    """Restart the real cluster between acknowledged puts (bounded; the server is up after)."""
    if "127.0.0.1" not in URI and "localhost" not in URI:
        pytest.skip("only restarts a local cluster")
    schema = new_schema()
    acknowledged: list[Any] = []
    try:
        with PostgresSaver.from_conn_string(
            URI, schema=schema, pool_size=2, min_size=2, pool_timeout=20
        ) as saver:
            parent = None
            for n in range(1, 6):
                cfg: dict[str, Any] = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
                if parent:
                    cfg["configurable"]["checkpoint_id"] = parent
                cp = {
                    "v": 4, "id": f"{n:08x}-0000-6000-8000-{n:012x}", "ts": "",
                    "channel_values": {"n": n}, "channel_versions": {"n": str(n)},
                    "versions_seen": {}, "updated_channels": None,
                }  # fmt: skip
                acknowledged.append(saver.put(cfg, cp, {"step": n}, {"n": str(n)}))  # type: ignore[arg-type]
                parent = cp["id"]
            _pg_ctl("restart")
            assert _wait_up(30)
            failures = 0
            for _ in range(3):  # at most the calls holding dead connections fail, clearly
                try:
                    got = saver.get_tuple({"configurable": {"thread_id": "t"}})
                    break
                except ConnectionLostError:
                    failures += 1
            else:
                pytest.fail("the saver did not recover after the restart")
            assert failures <= 1
            assert got is not None
            assert got.metadata["step"] == 5
            listed = list(saver.list({"configurable": {"thread_id": "t"}}))
            assert [t.config for t in reversed(listed)] == acknowledged
    finally:
        if not _wait_up(5):
            _pg_ctl("start")
            assert _wait_up(30), "PostgreSQL did not come back"
