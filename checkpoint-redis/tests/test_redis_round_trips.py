"""Round trips of reads on a long, growing chat thread, counted at the client and the server.

A private ``redis-server`` (loopback, no persistence) runs for this module so the server's
``INFO commandstats`` counts only this test's commands; the client counts every request buffer
written to a connection (one buffer per round trip).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from pitstop.checkpoint.base._generic import delta_channel_history_via_get_tuple
from pitstop.checkpoint.redis import RedisSaver

STEPS = 800


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def private_url() -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    tmp = tempfile.mkdtemp(prefix="pitstop-rt-")
    proc = subprocess.Popen(
        [
            *("redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp),
            *("--save", "", "--appendonly", "no"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                redis.Redis(port=port).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


class Requests:
    """Request buffers written to any connection (round trips) while counting."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        cls = redis.connection.AbstractConnection
        original = cls.send_packed_command

        def send(conn: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return original(conn, *args, **kwargs)

        monkeypatch.setattr(cls, "send_packed_command", send)


def _stats(admin: redis.Redis) -> dict[str, int]:
    raw = admin.info("commandstats")
    return {name[len("cmdstat_") :]: int(v["calls"]) for name, v in raw.items()}


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {c: n - before.get(c, 0) for c, n in after.items() if n != before.get(c, 0)}


def conf(checkpoint_id: str | None = None) -> Any:
    c: dict[str, Any] = {"thread_id": "chat", "checkpoint_ns": ""}
    if checkpoint_id:
        c["checkpoint_id"] = checkpoint_id
    return {"configurable": c}


def _chat(saver: RedisSaver, steps: int) -> list[list[dict[str, str]]]:
    """A chat thread: every step appends a message (about 300 bytes) and writes a task result."""
    history: list[list[dict[str, str]]] = []
    messages: list[dict[str, str]] = []
    parent = None
    for n in range(1, steps + 1):
        messages = [*messages, {"role": "user" if n % 2 else "ai", "text": f"{n} " + "w" * 300}]
        versions = {"messages": f"{n:032}.0", "step": f"{n:032}.1"}
        checkpoint: Any = {
            "v": 4,
            "id": f"1ef00000-0000-6000-8000-{n:012x}",
            "ts": "2024-07-31T20:14:19.804150+00:00",
            "channel_values": {"messages": messages, "step": n},
            "channel_versions": versions,
            "versions_seen": {},
            "updated_channels": None,
        }
        saver.put(conf(parent), checkpoint, {"step": n}, versions)
        parent = checkpoint["id"]
        saver.put_writes(conf(parent), [("messages", n)], "task")
        history.append(messages)
    return history


def test_reads_of_a_growing_chat_thread_are_one_round_trip(
    private_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = redis.Redis.from_url(private_url)
    with (
        RedisSaver.from_conn_string(private_url, prefix="rt") as writer,
        RedisSaver.from_conn_string(private_url, prefix="rt") as reader,
    ):
        history = _chat(writer, STEPS)
        # the scripts are loaded and the connections open before counting
        assert reader.get_tuple({"configurable": {"thread_id": "other"}}) is None
        assert list(reader.list({"configurable": {"thread_id": "other"}}, limit=1)) == []
        before = _stats(admin)  # (the admin connection is open before counting)
        requests = Requests(monkeypatch)
        # a saver that never saw the thread: the values and their chains through the script
        found = reader.get_tuple(conf())
        assert found is not None
        assert found.checkpoint["channel_values"]["messages"] == history[-1]
        assert found.pending_writes == [("task", "messages", STEPS)]
        assert requests.count == 1
        assert _delta(before, _stats(admin)).get("evalsha") == 1
        # a page of ten checkpoints whose delta records reach back to bases outside the page
        before = _stats(admin)
        requests.count = 0
        page = list(reader.list(conf(), limit=10))
        assert [t.checkpoint["channel_values"]["messages"] for t in page] == history[::-1][:10]
        assert requests.count == 1
        delta = _delta(before, _stats(admin))
        assert delta.get("evalsha") == 1
        assert "multi" not in delta
        assert "eval" not in delta
        # the writer's own head: a hinted MULTI, still one round trip
        requests.count = 0
        mine = writer.get_tuple(conf())
        assert mine == found
        assert requests.count == 1
        # an old checkpoint by id
        requests.count = 0
        old = reader.get_tuple(conf(f"1ef00000-0000-6000-8000-{100:012x}"))
        assert old is not None
        assert old.checkpoint["channel_values"]["messages"] == history[99]
        assert requests.count == 1
    admin.close()


def test_delta_channel_history_walks_a_page_of_ancestors_per_round_trip(
    private_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with RedisSaver.from_conn_string(private_url, prefix="hist") as saver:
        parent = None
        for n in range(1, 251):  # "log" stored at steps 1 and 101 only: 249 ancestors to walk
            stored = n in (1, 101)
            versions = {"log": f"{1 if n < 101 else 101:04}"}
            checkpoint: Any = {
                "v": 4,
                "id": f"{n:05}",
                "ts": "",
                "channel_values": {"log": list(range(n))} if stored else {},
                "channel_versions": versions if n <= 101 else {},
                "versions_seen": {},
                "updated_channels": None,
            }
            saver.put(conf(parent), checkpoint, {}, versions if stored else {})
            parent = checkpoint["id"]
            saver.put_writes(conf(parent), [("log", n), ("other", -n)], "task")
        channels = ["log", "other", "never"]
        saver.get_delta_channel_history(config=conf(), channels=channels)  # loads the script
        requests = Requests(monkeypatch)
        got = saver.get_delta_channel_history(config=conf(), channels=channels)
        # "other" and "never" have no seed: the walk goes to the root, 100 ancestors a trip
        assert requests.count == 3
        monkeypatch.undo()
        assert got == delta_channel_history_via_get_tuple(saver, conf(), channels)
        assert [w[2] for w in got["log"]["writes"]] == list(range(101, 250))
        assert got["log"]["seed"] == list(range(101))
        assert len(got["other"]["writes"]) == 249
        assert "seed" not in got["other"]
        assert got["never"] == {"writes": []}
        # from an older checkpoint, and only "log": the walk stops at its seed, the parent
        # (whose checkpoint still holds the value stored at step 1)
        requests = Requests(monkeypatch)
        short = saver.get_delta_channel_history(config=conf("00050"), channels=["log"])
        assert requests.count == 1
        assert short == {"log": {"seed": [0], "writes": [("task", "log", 49)]}}
        assert saver.get_delta_channel_history(config=conf("99999"), channels=["log"]) == {
            "log": {"writes": []}
        }
