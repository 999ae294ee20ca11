"""``get_tuple`` reads kept for reading again while the database is unchanged.

A kept read is used only when ``PRAGMA data_version`` (commits of other connections) and the
connection's ``total_changes`` (rows written through it, by anyone) are what they were when it
was read; every use decodes new objects.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlite_workers import checkpoint

from pitstop.checkpoint.base import CheckpointTuple, InvalidArgumentError
from pitstop.checkpoint.sqlite import AsyncSqliteSaver, SqliteSaver, _ops
from pitstop.checkpoint.sqlite._base import RECENT_READS


def cfg(thread: str, checkpoint_id: str | None = None) -> Any:
    configurable: dict[str, Any] = {"thread_id": thread, "checkpoint_ns": ""}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def put_steps(saver: Any, thread: str, count: int, parent: str | None = None) -> list[str]:
    """Checkpoints 1 to ``count`` of a growing ``messages`` list (stored as deltas) and a
    scalar; with ``parent`` (checkpoint ``k``), ``k + 1`` to ``count`` after it."""
    ids: list[str] = []
    messages: list[dict[str, Any]] = []
    for n in range(1, count + 1):
        messages = [*messages, {"role": "user", "content": f"message {n}"}]
        if parent is not None and n <= int(parent[-12:], 16):
            continue
        version = f"{n:08d}.0.5"
        cp = checkpoint(n, {"messages": version, "step": version})
        cp["channel_values"] = {"messages": messages, "step": n}
        new = {"messages": version, "step": version}
        saver.put(cfg(thread, parent), cp, {"step": n}, new)
        parent = cp["id"]
        ids.append(cp["id"])
    return ids


def read(saver: SqliteSaver, thread: str, checkpoint_id: str | None = None) -> CheckpointTuple:
    found = saver.get_tuple(cfg(thread, checkpoint_id))
    assert found is not None
    return found


@pytest.fixture
def saver(tmp_path: Path) -> Any:
    with SqliteSaver.from_conn_string(str(tmp_path / "r.db")) as s:
        yield s


@pytest.fixture
def page_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the checkpoint pages read from the database."""
    count = [0]
    read_page = _ops.read_page

    def counting(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return read_page(*args, **kwargs)

    monkeypatch.setattr(_ops, "read_page", counting)
    return count


def test_an_unchanged_checkpoint_is_read_once_and_decoded_anew(
    saver: SqliteSaver, page_reads: list[int]
) -> None:
    ids = put_steps(saver, "t", 40)
    read(saver, "t")  # kept, then written: read again below
    saver.put_writes(cfg("t", ids[-1]), [("messages", {"x": 1})], "task")
    page_reads[0] = 0
    first = read(saver, "t")
    second = read(saver, "t")
    assert page_reads[0] == 1
    assert first == second
    assert len(second.checkpoint["channel_values"]["messages"]) == 40
    assert second.pending_writes == [("task", "messages", {"x": 1})]
    # nothing is shared: mutating what one read returned leaves the next read intact
    first.checkpoint["channel_values"]["messages"][0]["content"] = "changed"
    first.checkpoint["channel_values"]["messages"].append({"role": "ai"})
    first.checkpoint["channel_versions"]["messages"] = "x"
    first.metadata["step"] = -1
    first.pending_writes[0][2]["x"] = 2
    third = read(saver, "t")
    assert third == second
    assert third.checkpoint["channel_values"]["messages"][0]["content"] == "message 1"
    assert page_reads[0] == 1


def test_a_named_checkpoint_is_kept_under_its_own_key(
    saver: SqliteSaver, page_reads: list[int]
) -> None:
    ids = put_steps(saver, "t", 5)
    page_reads[0] = 0
    for _ in range(2):
        old = read(saver, "t", ids[1])
        latest = read(saver, "t")
        assert old.checkpoint["channel_values"]["step"] == 2
        assert latest.checkpoint["channel_values"]["step"] == 5
    assert page_reads[0] == 2


def test_own_writes_are_seen(saver: SqliteSaver) -> None:
    ids = put_steps(saver, "t", 3)
    assert read(saver, "t").pending_writes == []
    saver.put_writes(cfg("t", ids[-1]), [("step", 7)], "task")
    assert read(saver, "t").pending_writes == [("task", "step", 7)]
    put_steps(saver, "t", 4, parent=ids[-1])
    assert read(saver, "t").metadata["step"] == 4
    saver.delete_thread("t")
    assert saver.get_tuple(cfg("t")) is None


def test_rows_changed_through_the_same_connection_are_seen(saver: SqliteSaver) -> None:
    put_steps(saver, "t", 3)
    assert read(saver, "t").metadata["step"] == 3
    # another saver on the same connection, or the connection's owner, writing directly
    saver.conn.execute("UPDATE checkpoints SET metadata = '{\"step\": 30}'")
    assert read(saver, "t").metadata["step"] == 30
    twin = SqliteSaver(saver.conn)
    put_steps(twin, "t", 4)
    assert read(saver, "t").metadata["step"] == 4


def test_commits_of_other_connections_are_seen(tmp_path: Path) -> None:
    db = str(tmp_path / "o.db")
    with SqliteSaver.from_conn_string(db) as reader, SqliteSaver.from_conn_string(db) as writer:
        ids = put_steps(writer, "t", 3)
        assert read(reader, "t").metadata["step"] == 3
        writer.put_writes(cfg("t", ids[-1]), [("step", 9)], "task")
        assert read(reader, "t").pending_writes == [("task", "step", 9)]
        raw = sqlite3.connect(db, isolation_level=None)
        try:  # a value rewritten in place at the same version, by a plain connection
            raw.execute("UPDATE blobs SET blob = x'03' WHERE channel = 'step'")
        finally:
            raw.close()
        assert read(reader, "t").checkpoint["channel_values"]["step"] == 3  # x'03': 3
        raw = sqlite3.connect(db, isolation_level=None)
        try:
            raw.execute("UPDATE blobs SET blob = x'2a' WHERE channel = 'step'")
        finally:
            raw.close()
        assert read(reader, "t").checkpoint["channel_values"]["step"] == 42
        writer.delete_thread("t")
        assert reader.get_tuple(cfg("t")) is None


def test_kept_reads_are_bounded(saver: SqliteSaver) -> None:
    for n in range(RECENT_READS + 10):
        put_steps(saver, f"t{n}", 1)
    for n in range(RECENT_READS + 10):
        assert saver.get_tuple(cfg(f"t{n}")) is not None
    assert len(saver._recent) == RECENT_READS
    assert saver._recent_bytes == sum(ready.size for _, ready in saver._recent.values())


async def test_async_reads_see_other_connections_on_the_loop_and_through_the_hop(
    tmp_path: Path, page_reads: list[int]
) -> None:
    db = str(tmp_path / "a.db")
    async with AsyncSqliteSaver.from_conn_string(db) as reader:
        with SqliteSaver.from_conn_string(db) as writer:
            ids = put_steps(writer, "t", 3)
            page_reads[0] = 0
            for _ in range(3):
                found = await reader.aget_tuple(cfg("t"))
                assert found is not None
                assert found.metadata["step"] == 3
            assert page_reads[0] == 1
            writer.put_writes(cfg("t", ids[-1]), [("step", 9)], "task")
            found = await reader.aget_tuple(cfg("t"))
            assert found is not None
            assert found.pending_writes == [("task", "step", 9)]
            reader._on_loop = False  # through aiosqlite's thread, as for a bound connection
            put_steps(writer, "t", 4, parent=ids[-1])
            found = await reader.aget_tuple(cfg("t"))
            assert found is not None
            assert found.metadata["step"] == 4
            assert page_reads[0] == 3
            assert (await reader.aget_tuple(cfg("t"))) == found
            assert page_reads[0] == 3


def test_recent_reads_zero_keeps_nothing(tmp_path: Path, page_reads: list[int]) -> None:
    with pytest.raises(InvalidArgumentError, match="recent_reads"):
        SqliteSaver(sqlite3.connect(":memory:"), recent_reads=-1)
    with SqliteSaver.from_conn_string(str(tmp_path / "z.db"), recent_reads=0) as saver:
        put_steps(saver, "t", 3)
        page_reads[0] = 0
        assert read(saver, "t") == read(saver, "t")
        assert page_reads[0] == 2
        assert not saver._recent
        # keeping nothing, a read takes no stamp: one statement, the page's
        statements: list[str] = []
        saver.conn.set_trace_callback(statements.append)
        assert read(saver, "t") is not None
        saver.conn.set_trace_callback(None)
        assert len(statements) == 1
        assert "data_version" not in statements[0]
