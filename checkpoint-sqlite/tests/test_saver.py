"""SQLite-specific behaviour: migrations, hostile filters, corrupt rows, retention, bridges."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_workers import checkpoint

from pitstop.checkpoint.base import (
    CorruptRecordError,
    DeserializationError,
    InvalidArgumentError,
    MigrationError,
    RetentionPolicy,
    SweepResult,
    metadata_matches,
)
from pitstop.checkpoint.sqlite import AsyncSqliteSaver, SqliteSaver
from pitstop.checkpoint.sqlite import _queries as q
from pitstop.checkpoint.sqlite._base import PAGE_SIZE


def cfg(thread: str, ns: str = "", checkpoint_id: str | None = None) -> Any:
    configurable: dict[str, Any] = {"thread_id": thread, "checkpoint_ns": ns}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def put_chain(
    saver: SqliteSaver, thread: str, count: int, *, start: int = 1, ns: str = "", meta: Any = None
) -> list[str]:
    ids: list[str] = []
    parent = None
    items: list[int] = []
    for n in range(start, start + count):
        items = [*items, n]
        version = saver.get_next_version(None if n == start else f"{n - start}")
        cp = checkpoint(n, {"items": version, "fixed": "1.0"})
        cp["channel_values"] = {"items": items, "fixed": "same"}
        new = {"items": version, "fixed": "1.0"} if n == start else {"items": version}
        metadata = {"step": n, **(meta(n) if meta else {})}
        saver.put(cfg(thread, ns, parent), cp, metadata, new)  # type: ignore[arg-type]
        parent = cp["id"]
        ids.append(cp["id"])
    return ids


@pytest.fixture
def saver(tmp_path: Path) -> Any:
    with SqliteSaver.from_conn_string(str(tmp_path / "t.db")) as s:
        yield s


def test_setup_is_idempotent_and_records_the_version(tmp_path: Path) -> None:
    db = str(tmp_path / "m.db")
    for _ in range(2):
        with SqliteSaver.from_conn_string(db) as s:
            s.setup()
            versions = s.conn.execute("SELECT v FROM pitstop_checkpoint_migrations").fetchall()
            assert [v for (v,) in versions] == list(range(len(q.MIGRATIONS)))


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = str(tmp_path / "newer.db")
    with SqliteSaver.from_conn_string(db) as s:
        put_chain(s, "t", 2)
        s.conn.execute(q.INSERT_MIGRATION, (len(q.MIGRATIONS), 0.0))
    with pytest.raises(MigrationError, match="newer"), SqliteSaver.from_conn_string(db):
        pass

    async def run() -> None:
        async with AsyncSqliteSaver.from_conn_string(db):
            pass

    with pytest.raises(MigrationError, match="upgrade"):
        asyncio.run(run())


def test_a_single_checkpoint_read_skips_only_the_de_duplication() -> None:
    assert q.LIST_ORDER_ONE != q.LIST_ORDER
    assert q.LIST_ORDER.replace("SELECT DISTINCT", "SELECT") == q.LIST_ORDER_ONE


def test_values_are_stored_once_per_version(saver: SqliteSaver) -> None:
    put_chain(saver, "t", 5)
    rows = saver.conn.execute("SELECT channel, count(*) FROM blobs GROUP BY channel").fetchall()
    assert dict(rows) == {"items": 5, "fixed": 1}
    head = saver.get_tuple(cfg("t"))
    assert head is not None
    assert head.checkpoint["channel_values"] == {"items": [1, 2, 3, 4, 5], "fixed": "same"}


HOSTILE = ["a') OR 1=1 --", 'quo"te', "it's", "a.b", "$.x", "ünï", "", "back\\slash", "[0]"]


@pytest.mark.parametrize("key", HOSTILE)
def test_hostile_filter_keys_are_data(saver: SqliteSaver, key: str) -> None:
    put_chain(saver, "t", 4, meta=lambda n: {key: "hit" if n % 2 else "miss", "plain": n})
    hits = list(saver.list(None, filter={key: "hit"}))
    assert [t.metadata["step"] for t in hits] == [3, 1]
    assert list(saver.list(None, filter={key: "hit' OR '1'='1"})) == []
    assert [t.metadata["step"] for t in saver.list(None, filter={key: None, "plain": 2})] == []
    assert len(list(saver.list(None, filter={"missing" + key: None}))) == 4
    assert saver.conn.execute("SELECT count(*) FROM checkpoints").fetchone() == (4,)


def test_filter_semantics_match_metadata_matches(saver: SqliteSaver) -> None:
    values: list[Any] = [1, 1.0, True, False, None, "1", [1, 2], {"a": 1}, {"a": True}, 2**70]
    put_chain(saver, "t", len(values), meta=lambda n: {"v": values[n - 1]})
    put_chain(saver, "u", 1, start=50)  # no "v" key at all
    for wanted in [*values, 2, "x", [1], {}]:
        got = [t.metadata.get("v", "<missing>") for t in saver.list(None, filter={"v": wanted})]
        expected = [
            t.metadata.get("v", "<missing>")
            for t in saver.list(None)
            if metadata_matches(t.metadata, {"v": wanted})
        ]
        assert got == expected, wanted


def test_limit_applies_after_filter_across_pages(saver: SqliteSaver) -> None:
    count = PAGE_SIZE * 2 + 7
    put_chain(saver, "t", count, meta=lambda n: {"even": n % 2 == 0, "deep": {"n": n % 3}})
    evens = list(saver.list(cfg("t"), filter={"even": True}))
    assert len(evens) == count // 2
    deep = list(saver.list(None, filter={"deep": {"n": 0}}, limit=PAGE_SIZE // 2 + 3))
    assert len(deep) == PAGE_SIZE // 2 + 3
    assert all(t.metadata["step"] % 3 == 0 for t in deep)
    assert len(list(saver.list(None))) == count


def test_same_ids_in_several_threads_page_correctly(saver: SqliteSaver) -> None:
    for thread in ("a", "b", "c"):
        put_chain(saver, thread, PAGE_SIZE // 2 + 1)
    listed = [(t.config["configurable"]["thread_id"], t.checkpoint["id"]) for t in saver.list(None)]
    assert len(listed) == len(set(listed)) == 3 * (PAGE_SIZE // 2 + 1)


def test_a_corrupt_row_names_itself_and_the_rest_stays_readable(saver: SqliteSaver) -> None:
    ids = put_chain(saver, "t", 3)
    saver.conn.execute(
        "UPDATE checkpoints SET checkpoint = x'c1c1c1' WHERE checkpoint_id = ?", (ids[1],)
    )
    with pytest.raises(DeserializationError) as info:
        saver.get_tuple(cfg("t", checkpoint_id=ids[1]))
    assert ids[1] in str(info.value)
    assert "'t'" in str(info.value)
    assert saver.get_tuple(cfg("t")) is not None
    assert saver.get_tuple(cfg("t", checkpoint_id=ids[0])) is not None
    saver.conn.execute(
        "UPDATE checkpoints SET metadata = '{not json' WHERE checkpoint_id = ?", (ids[0],)
    )
    with pytest.raises(CorruptRecordError, match=ids[0]):
        saver.get_tuple(cfg("t", checkpoint_id=ids[0]))
    assert saver.get_tuple(cfg("t", checkpoint_id=ids[2])) is not None
    # a filtered listing cannot match on metadata that is not JSON: the row names itself
    with pytest.raises(CorruptRecordError, match=ids[0]):
        list(saver.list(cfg("t"), filter={"step": 1}))
    put_chain(saver, "v", 2)
    assert [t.metadata["step"] for t in saver.list(cfg("v"), filter={"step": 2})] == [2]


def test_retention_keep_last_and_max_idle(tmp_path: Path) -> None:
    now = [1000.0]
    conn = sqlite3.connect(str(tmp_path / "r.db"), check_same_thread=False, isolation_level=None)
    saver = SqliteSaver(conn, retention=RetentionPolicy(keep_last=2), clock=lambda: now[0])
    ids = put_chain(saver, "t", 5)
    child = put_chain(saver, "t", 3, ns="child:1")
    assert saver.sweep() == SweepResult(threads_deleted=0, checkpoints_deleted=4)
    assert [x.checkpoint["id"] for x in saver.list(cfg("t"))] == ids[:2:-1]
    assert [x.checkpoint["id"] for x in saver.list(cfg("t", ns="child:1"))] == child[:0:-1]
    head = saver.get_tuple(cfg("t"))
    assert head is not None
    assert head.checkpoint["channel_values"] == {"items": [1, 2, 3, 4, 5], "fixed": "same"}
    now[0] += 3600
    put_chain(saver, "fresh", 2)
    result = saver.sweep(RetentionPolicy(max_idle=timedelta(minutes=30)))
    assert result == SweepResult(threads_deleted=1, checkpoints_deleted=4)
    assert saver.get_tuple(cfg("t")) is None
    assert saver.get_tuple(cfg("fresh")) is not None
    assert conn.execute("SELECT count(*) FROM blobs WHERE thread_id = 't'").fetchone() == (0,)
    with pytest.raises(InvalidArgumentError):
        SqliteSaver(conn).sweep()
    conn.close()


def test_copy_thread_refuses_a_non_empty_target(saver: SqliteSaver) -> None:
    put_chain(saver, "a", 2)
    put_chain(saver, "b", 1)
    with pytest.raises(InvalidArgumentError, match="already has checkpoints"):
        saver.copy_thread("a", "b")
    saver.copy_thread("a", "c")
    assert [t.checkpoint["id"] for t in saver.list(cfg("c"))] == [
        t.checkpoint["id"] for t in saver.list(cfg("a"))
    ]


def test_prune_unknown_strategy_is_rejected(saver: SqliteSaver) -> None:
    with pytest.raises(InvalidArgumentError):
        saver.prune(["t"], strategy="everything")


async def test_async_saver_sync_call_on_its_loop_raises(tmp_path: Path) -> None:
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "a.db")) as saver:
        with pytest.raises(asyncio.InvalidStateError):
            saver.get_tuple(cfg("t"))
        # from another thread, the sync API runs on the saver's loop
        await asyncio.to_thread(
            saver.put,
            cfg("t"),
            checkpoint(1, {}),
            {"step": 1},
            {},  # type: ignore[arg-type]
        )
        found = await asyncio.to_thread(saver.get_tuple, cfg("t"))
        assert found is not None
        assert found.metadata["step"] == 1
        assert [t.metadata["step"] async for t in saver.alist(None)] == [1]


async def test_sync_saver_async_methods_run_in_a_thread(saver: SqliteSaver) -> None:
    await saver.aput(cfg("t"), checkpoint(1, {}), {"step": 1}, {})  # type: ignore[arg-type]
    found = await saver.aget_tuple(cfg("t"))
    assert found is not None
    assert [t.metadata["step"] async for t in saver.alist(None)] == [1]


def test_thread_touch_has_one_second_resolution(tmp_path: Path) -> None:
    now = [1000.0]
    conn = sqlite3.connect(
        str(tmp_path / "touch.db"), check_same_thread=False, isolation_level=None
    )
    saver = SqliteSaver(conn, clock=lambda: now[0])

    def touched() -> float:
        (value,) = conn.execute("SELECT touched_at FROM threads WHERE thread_id = 't'").fetchone()
        return float(value)

    ids = put_chain(saver, "t", 1)
    assert touched() == 1000.0
    now[0] = 1000.5  # less than a second later: the row (and its page) is left alone
    saver.put_writes(cfg("t", checkpoint_id=ids[0]), [("items", 1)], "task")
    assert touched() == 1000.0
    now[0] = 1001.0
    saver.put_writes(cfg("t", checkpoint_id=ids[0]), [("items", 2)], "task-2")
    assert touched() == 1001.0
    now[0] = 900.0  # a clock that went back is recorded as it was before
    put_chain(saver, "t", 1, start=5)
    assert touched() == 900.0
    conn.close()


def test_one_statement_page_keeps_orders(saver: SqliteSaver) -> None:
    # Three threads sharing checkpoint ids: the page is ordered by (id, thread, ns), descending.
    for thread in ("a", "c", "b"):
        put_chain(saver, thread, 3)
        put_chain(saver, thread, 2, ns="child:1")
    listed = [
        (t.config["configurable"]["checkpoint_id"], t.config["configurable"]["thread_id"])
        for t in saver.list(None, limit=7)
    ]
    expected = sorted(
        (
            (t.config["configurable"]["checkpoint_id"], t.config["configurable"]["thread_id"])
            for t in saver.list(None)
        ),
        reverse=True,
    )[:7]
    assert listed == expected
    assert len(list(saver.list(None))) == 15
    # Writes come back as the runtime applies them: (task_path, task_id, idx).
    head = saver.get_tuple(cfg("a"))
    assert head is not None
    config = head.config
    saver.put_writes(config, [("x", 1), ("y", 2)], "task-b", "~2")
    saver.put_writes(config, [("x", 3)], "task-a", "~2")
    saver.put_writes(config, [("x", 4), ("y", 5)], "task-z", "~1")
    found = saver.get_tuple(config)
    assert found is not None
    assert found.pending_writes == [
        ("task-z", "x", 4),
        ("task-z", "y", 5),
        ("task-a", "x", 3),
        ("task-b", "x", 1),
        ("task-b", "y", 2),
    ]
    assert found.checkpoint["channel_values"] == {"items": [1, 2, 3], "fixed": "same"}


# -- bounded storage: growing lists are stored as deltas (pitstop.checkpoint.base.values) -------


def _count(conn: Any, table: str, thread: str) -> int:
    sql = {
        "blobs": "SELECT count(*) FROM blobs WHERE thread_id = ?",
        "chains": "SELECT count(*) FROM blobs WHERE thread_id = ? AND chain IS NOT NULL",
    }[table]
    return int(conn.execute(sql, (thread,)).fetchone()[0])


def test_a_growing_list_is_stored_as_deltas_with_their_chain(saver: SqliteSaver) -> None:
    put_chain(saver, "t", 5)
    types = [t for (t,) in saver.conn.execute("SELECT type FROM blobs WHERE channel = 'items'")]
    assert types.count("pitstop-delta") == 4
    assert _count(saver.conn, "chains", "t") == 4
    head = saver.get_tuple(cfg("t"))
    assert head is not None
    assert head.checkpoint["channel_values"] == {"items": [1, 2, 3, 4, 5], "fixed": "same"}
    assert [x.checkpoint["channel_values"]["items"] for x in saver.list(cfg("t"))] == [
        [1, 2, 3, 4, 5][:n] for n in range(5, 0, -1)
    ]


def test_prune_keeps_the_chain_of_the_head_and_frees_the_rest(tmp_path: Path) -> None:
    with SqliteSaver.from_conn_string(str(tmp_path / "p.db"), max_chain=3) as s:
        put_chain(s, "t", 10)
        s.prune(["t"])
        head = s.get_tuple(cfg("t"))
        assert head is not None
        assert head.checkpoint["channel_values"]["items"] == list(range(1, 11))
        # what stays: "fixed", the head's items record and the records its chain names (the
        # head, position 9 = 1001b, needs versions 1 and 9; 9 is itself a delta on 1)
        chains = s.conn.execute(
            "SELECT chain FROM blobs WHERE thread_id = 't' AND chain IS NOT NULL"
        ).fetchall()
        needed = max((len(json.loads(c[0])) for c in chains), default=0)
        assert needed == 2
        assert len(chains) == needed  # the head's chain row and those of its delta members
        assert _count(s.conn, "blobs", "t") == 2 + needed
        s.delete_thread("t")
        assert _count(s.conn, "blobs", "t") == _count(s.conn, "chains", "t") == 0


def test_copy_thread_copies_the_chains(saver: SqliteSaver) -> None:
    put_chain(saver, "a", 6)
    saver.copy_thread("a", "b")
    saver.delete_thread("a")
    assert _count(saver.conn, "chains", "b") == 5
    saver.prune(["b"])
    head = saver.get_tuple(cfg("b"))
    assert head is not None
    assert head.checkpoint["channel_values"]["items"] == [1, 2, 3, 4, 5, 6]


def test_a_delta_whose_base_was_deleted_elsewhere_is_stored_full(tmp_path: Path) -> None:
    db = str(tmp_path / "two.db")
    with SqliteSaver.from_conn_string(db) as writer, SqliteSaver.from_conn_string(db) as other:
        ids = put_chain(writer, "t", 3)
        other.delete_thread("t")  # the writer's cache still holds version 3 as a base
        cp = checkpoint(4, {"items": "4.0", "fixed": "1.0"})
        cp["channel_values"] = {"items": [1, 2, 3, 4], "fixed": "same"}
        writer.put(cfg("t", "", ids[-1]), cp, {}, {"items": "4.0", "fixed": "1.0"})  # type: ignore[arg-type]
        head = other.get_tuple(cfg("t"))
        assert head is not None
        assert head.checkpoint["channel_values"] == {"items": [1, 2, 3, 4], "fixed": "same"}
        assert _count(writer.conn, "chains", "t") == 0


def _copy_at_schema(source: sqlite3.Connection, path: str, version: int) -> None:
    """Write ``source``'s rows into a new file at schema ``version`` (as that schema stored them).

    From v5 to v13 a delta's chain was one ``blob_deps`` row per version it is built on, from
    v16 to v21 one ``blob_chains`` row (a JSON array of versions).
    """
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(q.MIGRATIONS_TABLE)
        for v in range(version + 1):
            conn.execute(q.MIGRATIONS[v])
            conn.execute(q.INSERT_MIGRATION, (v, 0.0))
        tables = {
            "checkpoints": "thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, "
            "checkpoint, channel_versions, metadata, metadata_type, metadata_blob, run_id, "
            "created_at",
            "blobs": "thread_id, checkpoint_ns, channel, version, type, blob",
            "writes": "thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, "
            "value, task_path",
            "threads": "thread_id, touched_at",
        }
        for table, columns in tables.items():
            rows = source.execute(f"SELECT {columns} FROM {table}").fetchall()
            marks = ", ".join("?" * len(columns.split(",")))
            conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
        chains = source.execute(
            "SELECT thread_id, checkpoint_ns, channel, version, chain FROM blobs "
            "WHERE chain IS NOT NULL"
        ).fetchall()
        if version < 5:
            assert not chains, "deltas need the chain table (schema v5)"
            return
        assert version <= 13 or version == 16, "a schema between two steps of a migration"
        if version == 16:
            conn.executemany(
                "INSERT INTO blob_chains (thread_id, checkpoint_ns, channel, version, chain) "
                "VALUES (?, ?, ?, ?, ?)",
                chains,
            )
            return
        conn.executemany(
            "INSERT INTO blob_deps (thread_id, checkpoint_ns, channel, version, dep_version) "
            "VALUES (?, ?, ?, ?, ?)",
            [(*row[:4], dep) for row in chains for dep in json.loads(row[4])],
        )
    finally:
        conn.close()


def _everything(saver: SqliteSaver) -> list[Any]:
    """Every checkpoint tuple of every thread and namespace."""
    return [
        (t.config, t.checkpoint, t.metadata, t.parent_config, t.pending_writes)
        for t in saver.list(None)
    ]


@pytest.mark.parametrize(("version", "chain_table"), [(5, "blob_deps"), (16, "blob_chains")])
def test_an_older_database_upgrades_in_place_with_its_data(
    tmp_path: Path, version: int, chain_table: str
) -> None:
    db = str(tmp_path / "old.db")
    with SqliteSaver.from_conn_string(str(tmp_path / "src.db"), max_chain=4) as src:
        put_chain(src, "t", 12, meta=lambda n: {"odd": n % 2 == 1})
        put_chain(src, "u", 3, ns="child")
        put_chain(src, "w", 1)
        head = src.get_tuple(cfg("t"))
        assert head is not None
        src.put_writes(head.config, [("x", 1), ("y", {"deep": [1, 2]})], "task-a", "path")
        src.put_writes(head.config, [("__error__", "boom")], "task-b")
        expected = _everything(src)
        history = src.get_delta_channel_history(config=cfg("t"), channels=["items"])
        _copy_at_schema(src.conn, db, version)
    before = sqlite3.connect(db)
    assert before.execute(f"SELECT count(*) FROM {chain_table}").fetchone()[0] > 0
    before.close()
    with SqliteSaver.from_conn_string(db) as s:
        versions = [v for (v,) in s.conn.execute("SELECT v FROM pitstop_checkpoint_migrations")]
        assert versions == list(range(len(q.MIGRATIONS)))
        tables = {n for (n,) in s.conn.execute("SELECT name FROM sqlite_schema")}
        assert not tables & {"blob_deps", "blob_chains", "blobs_v6", "blobs_v17"}
        assert _count(s.conn, "chains", "t") > 0  # the chains now live in their value rows
        assert _everything(s) == expected
        assert s.get_delta_channel_history(config=cfg("t"), channels=["items"]) == history
        assert [t.metadata["step"] for t in s.list(cfg("t"), filter={"odd": True})] == [
            11,
            9,
            7,
            5,
            3,
            1,
        ]
        # the upgraded file keeps working: writes, pruning, copying
        put_chain(s, "v", 3)
        s.copy_thread("t", "t2")
        s.prune(["t"])
        pruned = s.get_tuple(cfg("t"))
        assert pruned is not None
        assert pruned.checkpoint["channel_values"]["items"] == list(range(1, 13))
        copied = s.get_tuple(cfg("t2"))
        assert copied is not None
        assert copied.checkpoint["channel_values"]["items"] == list(range(1, 13))
        assert s.conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_full_values_written_before_the_migration_read_unchanged(tmp_path: Path) -> None:
    db = str(tmp_path / "old.db")
    with SqliteSaver.from_conn_string(str(tmp_path / "src.db"), max_chain=0) as src:
        put_chain(src, "t", 4)
        _copy_at_schema(src.conn, db, 4)  # schema v4: no chain table yet
    with SqliteSaver.from_conn_string(db) as s:
        head = s.get_tuple(cfg("t"))
        assert head is not None
        assert head.checkpoint["channel_values"] == {"items": [1, 2, 3, 4], "fixed": "same"}
        cp = checkpoint(5, {"items": "5.0", "fixed": "1.0"})
        cp["channel_values"] = {"items": [1, 2, 3, 4, 5], "fixed": "same"}
        s.put(cfg("t", "", head.checkpoint["id"]), cp, {}, {"items": "5.0"})  # type: ignore[arg-type]
        assert _count(s.conn, "chains", "t") == 1  # a delta over the old full record
        s.prune(["t"])
        head = s.get_tuple(cfg("t"))
        assert head is not None
        assert head.checkpoint["channel_values"]["items"] == [1, 2, 3, 4, 5]


def test_zstd_values_round_trip_and_read_without_the_setting(tmp_path: Path) -> None:
    pytest.importorskip("zstandard")
    db = str(tmp_path / "z.db")
    with SqliteSaver.from_conn_string(db, compress="zstd") as s:
        put_chain(s, "t", 4)
        tags = {t for (t,) in s.conn.execute("SELECT type FROM blobs")}
        assert tags == {"pitstop-delta+zstd", "msgpack+zstd"}
    with SqliteSaver.from_conn_string(db) as s:
        head = s.get_tuple(cfg("t"))
        assert head is not None
        assert head.checkpoint["channel_values"] == {"items": [1, 2, 3, 4], "fixed": "same"}
        history = s.get_delta_channel_history(config=cfg("t"), channels=["items"])
        assert history["items"]["seed"] == [1, 2, 3]


def test_a_delta_with_a_missing_chain_is_a_corrupt_record(saver: SqliteSaver) -> None:
    put_chain(saver, "t", 3)
    saver.conn.execute("UPDATE blobs SET chain = NULL")
    with pytest.raises(CorruptRecordError, match="missing") as info:
        saver.get_tuple(cfg("t"))
    assert info.value.channel == "items"


def test_a_listing_rebuilds_every_delta_value_as_its_own_objects(tmp_path: Path) -> None:
    with SqliteSaver.from_conn_string(str(tmp_path / "l.db"), max_chain=4) as s:
        parent = None
        messages: list[dict[str, Any]] = []
        for n in range(1, 41):  # items of every size class: fixarray, array16 headers
            messages = [*messages, {"n": n, "text": "x" * n}]
            version = f"{n:032d}.0.5"
            cp = checkpoint(n, {"messages": version})
            cp["channel_values"] = {"messages": messages}
            s.put(cfg("t", "", parent), cp, {"step": n}, {"messages": version})  # type: ignore[arg-type]
            parent = cp["id"]
        listed = [x.checkpoint["channel_values"]["messages"] for x in s.list(cfg("t"))]
        assert listed == [messages[:n] for n in range(40, 0, -1)]
        # values sharing chain records are still separate objects
        listed[0][0]["n"] = -1
        assert listed[1][0]["n"] == 1
        head = s.get_tuple(cfg("t"))
        assert head is not None
        assert head.checkpoint["channel_values"]["messages"] == messages


def _fixed_versions(saver: SqliteSaver, thread: str, tag: str, count: int) -> list[str]:
    """A chain of ``count`` checkpoints whose versions do not depend on ``tag`` (values do)."""
    parent = None
    items: list[str] = []
    for n in range(1, count + 1):
        items = [*items, f"{tag}-{n}"]
        version = f"{n:032d}.0.5"
        cp = checkpoint(n, {"items": version})
        cp["channel_values"] = {"items": items}
        saver.put(cfg(thread, "", parent), cp, {"step": n}, {"items": version})  # type: ignore[arg-type]
        parent = cp["id"]
    return items


def test_chain_records_rewritten_elsewhere_are_read_again(tmp_path: Path) -> None:
    db = str(tmp_path / "rewrite.db")
    with (
        SqliteSaver.from_conn_string(db, max_chain=6) as reader,
        SqliteSaver.from_conn_string(db, max_chain=6) as writer,
    ):
        first = _fixed_versions(writer, "t", "old", 9)
        for _ in range(2):  # the second read uses the parts the first one parsed
            head = reader.get_tuple(cfg("t"))
            assert head is not None
            assert head.checkpoint["channel_values"]["items"] == first
        writer.delete_thread("t")
        second = _fixed_versions(writer, "t", "new", 9)  # same versions, other bytes
        head = reader.get_tuple(cfg("t"))
        assert head is not None
        assert head.checkpoint["channel_values"]["items"] == second
        listed = [t.checkpoint["channel_values"]["items"] for t in reader.list(cfg("t"))]
        assert listed == [second[:n] for n in range(9, 0, -1)]


def test_malformed_json_in_a_row_is_a_corrupt_record_and_the_rest_reads(
    saver: SqliteSaver,
) -> None:
    ids = put_chain(saver, "t", 5)
    put_chain(saver, "u", 3)
    # the head's chain column: the head's values cannot be rebuilt, older checkpoints can
    saver.conn.execute(
        "UPDATE blobs SET chain = '[\"1.0.5\", oops' WHERE thread_id = 't' AND channel = 'items'"
        " AND version = (SELECT max(version) FROM blobs WHERE thread_id = 't' AND chain NOTNULL)"
    )
    with pytest.raises(CorruptRecordError, match="missing") as info:
        saver.get_tuple(cfg("t"))
    assert (info.value.thread_id, info.value.checkpoint_id, info.value.channel) == (
        "t",
        ids[-1],
        "items",
    )
    older = saver.get_tuple(cfg("t", checkpoint_id=ids[-2]))
    assert older is not None
    assert older.checkpoint["channel_values"]["items"] == [1, 2, 3, 4]
    # a listing reads the head's chain records for the older checkpoints: the head rebuilds
    listed = [t.checkpoint["channel_values"]["items"] for t in saver.list(cfg("t"))]
    assert listed == [[1, 2, 3, 4, 5], [1, 2, 3, 4], [1, 2, 3], [1, 2], [1]]
    # a checkpoint's channel versions: that checkpoint names itself, its neighbours read
    for text in ("{not json", "[1, 2]"):
        saver.conn.execute(
            "UPDATE checkpoints SET channel_versions = ? "
            "WHERE thread_id = 't' AND checkpoint_id = ?",
            (text, ids[1]),
        )
        with pytest.raises(CorruptRecordError, match="channel versions") as info:
            saver.get_tuple(cfg("t", checkpoint_id=ids[1]))
        assert (info.value.thread_id, info.value.checkpoint_id) == ("t", ids[1])
        assert saver.get_tuple(cfg("t", checkpoint_id=ids[0])) is not None
        assert saver.get_tuple(cfg("t", checkpoint_id=ids[2])) is not None
    assert len(list(saver.list(cfg("u")))) == 3  # other threads unaffected


def test_maintenance_names_a_thread_with_damaged_json_and_deletes_none_of_it(
    saver: SqliteSaver, caplog: pytest.LogCaptureFixture
) -> None:
    ids = put_chain(saver, "t", 5)
    put_chain(saver, "u", 5)

    def counts(thread: str) -> tuple[int, int]:
        return (
            _count(saver.conn, "blobs", thread),
            saver.conn.execute(
                "SELECT count(*) FROM checkpoints WHERE thread_id = ?", (thread,)
            ).fetchone()[0],
        )

    where = "WHERE thread_id = 't' AND checkpoint_id = ?"
    (versions,) = saver.conn.execute(
        f"SELECT channel_versions FROM checkpoints {where}", (ids[1],)
    ).fetchone()
    saver.conn.execute(f"UPDATE checkpoints SET channel_versions = '{{oops' {where}", (ids[1],))
    before = counts("t")
    with pytest.raises(CorruptRecordError, match="damaged JSON") as info:
        saver.prune(["t"])
    assert (info.value.thread_id, info.value.checkpoint_ns) == ("t", "")
    assert counts("t") == before
    # a sweep leaves that thread as it is, says so, and applies the policy to the others
    with caplog.at_level("WARNING", logger="pitstop.checkpoint.sqlite._ops"):
        result = saver.sweep(RetentionPolicy(keep_last=2))
    assert result == SweepResult(threads_deleted=0, checkpoints_deleted=3)
    assert counts("t") == before
    assert len(list(saver.list(cfg("u")))) == 2
    assert "skipped thread 't'" in caplog.text
    # repaired, the thread is trimmed like the others
    saver.conn.execute(f"UPDATE checkpoints SET channel_versions = ? {where}", (versions, ids[1]))
    assert saver.sweep(RetentionPolicy(keep_last=2)).checkpoints_deleted == 3
    head = saver.get_tuple(cfg("t"))
    assert head is not None
    assert head.checkpoint["channel_values"] == {"items": [1, 2, 3, 4, 5], "fixed": "same"}


def test_a_corrupt_chain_part_in_a_listing_names_its_record(saver: SqliteSaver) -> None:
    put_chain(saver, "t", 4)
    first = saver.conn.execute(
        "SELECT version FROM blobs WHERE channel = 'items' AND type = 'msgpack'"
    ).fetchone()[0]
    saver.conn.execute(
        "UPDATE blobs SET blob = x'c1' WHERE channel = 'items' AND version = ?", (first,)
    )
    with pytest.raises(CorruptRecordError) as info:
        list(saver.list(cfg("t")))
    assert info.value.channel == "items"
    assert info.value.thread_id == "t"


async def test_async_listing_reads_ahead_and_stops_cleanly(tmp_path: Path) -> None:
    db = str(tmp_path / "ahead.db")
    with SqliteSaver.from_conn_string(db) as s:
        put_chain(s, "t", PAGE_SIZE * 2 + 5, meta=lambda n: {"even": n % 2 == 0})
        expected = [t.metadata["step"] for t in s.list(cfg("t"))]
    async with AsyncSqliteSaver.from_conn_string(db) as saver:
        assert [t.metadata["step"] async for t in saver.alist(cfg("t"))] == expected
        assert [t.metadata["step"] async for t in saver.alist(cfg("t"), limit=PAGE_SIZE)] == (
            expected[:PAGE_SIZE]
        )
        limited = [t.metadata["step"] async for t in saver.alist(cfg("t"), limit=PAGE_SIZE + 3)]
        assert limited == expected[: PAGE_SIZE + 3]
        evens = [t.metadata["step"] async for t in saver.alist(cfg("t"), filter={"even": True})]
        assert evens == [n for n in expected if n % 2 == 0]
        listing = saver.alist(cfg("t"))
        first = [await anext(listing) for _ in range(PAGE_SIZE + 1)]  # the third page is read
        await listing.aclose()
        assert [t.metadata["step"] for t in first] == expected[: PAGE_SIZE + 1]
        await asyncio.sleep(0.05)  # the page read ahead completes unread
        assert (await saver.aget_tuple(cfg("t"))) is not None


# -- group commit ------------------------------------------------------------------------------


def _insert_then_fail(conn: sqlite3.Connection) -> None:
    """A write that stores a row, then fails: its savepoint must take the row back."""
    conn.execute("INSERT INTO threads (thread_id, touched_at) VALUES ('doomed', 0)")
    raise sqlite3.IntegrityError("this write fails after its first statement")


async def test_async_writes_queued_together_share_one_commit(tmp_path: Path) -> None:
    import threading

    from pitstop.checkpoint.sqlite import _ops

    batches: list[int] = []
    original = _ops.run_writes

    def counting(conn: sqlite3.Connection, take: Any) -> list[_ops.Write]:
        done = original(conn, take)
        batches.append(len(done))
        return done

    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "g.db")) as saver:
        ids = [checkpoint(n, {})["id"] for n in range(1, 4)]
        for n in range(1, 4):
            await saver.aput(cfg("t"), checkpoint(n, {}), {"step": n}, {})  # type: ignore[arg-type]
        _ops.run_writes = counting
        # a hop holds the connection meanwhile: the writes cannot run on the loop's thread,
        # they queue for aiosqlite's thread (as under load)
        saver._lock.acquire()
        threading.Timer(0.05, saver._lock.release).start()
        try:
            # 30 writes issued at once (as LangGraph's tasks do) and a failing one among them
            calls = [
                saver.aput_writes(cfg("t", checkpoint_id=ids[i % 3]), [("c", i)], f"task-{i:02d}")
                for i in range(30)
            ]
            failing = saver._write(_insert_then_fail)
            results = await asyncio.gather(
                *calls[:15], failing, *calls[15:], return_exceptions=True
            )
        finally:
            _ops.run_writes = original
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 1
        assert isinstance(errors[0], sqlite3.IntegrityError)
        assert max(batches) > 1  # fewer commits than writes
        assert sum(batches) == 31
        rows = await (await saver.conn.execute("SELECT count(*) FROM writes")).fetchone()
        assert rows == (30,)  # every other write committed
        doomed = await (
            await saver.conn.execute("SELECT count(*) FROM threads WHERE thread_id = 'doomed'")
        ).fetchone()
        assert doomed == (0,)  # the failed write left nothing
        for i in range(30):
            stored = await saver.aget_tuple(cfg("t", checkpoint_id=ids[i % 3]))
            assert stored is not None
            assert (f"task-{i:02d}", "c", i) in stored.pending_writes


def test_sync_writes_from_threads_commit_together_or_alone(tmp_path: Path) -> None:
    import threading

    with SqliteSaver.from_conn_string(str(tmp_path / "g.db")) as saver:
        first = checkpoint(1, {})
        saver.put(cfg("t"), first, {"step": 1}, {})  # type: ignore[arg-type]
        errors: list[BaseException] = []

        def worker(k: int) -> None:
            for i in range(25):
                saver.put_writes(cfg("t", checkpoint_id=first["id"]), [("c", i)], f"w{k}-{i:02d}")
            try:
                saver._write(_insert_then_fail)
            except sqlite3.IntegrityError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(errors) == 4
        stored = saver.get_tuple(cfg("t"))
        assert stored is not None
        assert sorted(w[0] for w in stored.pending_writes) == sorted(
            f"w{k}-{i:02d}" for k in range(4) for i in range(25)
        )
        assert saver.conn.execute(
            "SELECT count(*) FROM threads WHERE thread_id = 'doomed'"
        ).fetchone() == (0,)


def test_an_interrupted_batch_commits_nothing_and_fails_every_write(saver: SqliteSaver) -> None:
    from pitstop.checkpoint.sqlite import _ops

    def interrupted(conn: sqlite3.Connection) -> None:
        raise KeyboardInterrupt

    first = checkpoint(1, {})
    saver.put(cfg("t"), first, {"step": 1}, {})  # type: ignore[arg-type]
    rows = saver._write_rows_of(cfg("t", checkpoint_id=first["id"]), [("c", 1)], "task", "")
    batch = [_ops.Write(_ops.put_writes, rows), _ops.Write(interrupted, ())]
    with pytest.raises(KeyboardInterrupt):
        _ops.run_writes(saver.conn, lambda: batch)
    assert all(w.done and isinstance(w.error, KeyboardInterrupt) for w in batch)
    assert saver.conn.execute("SELECT count(*) FROM writes").fetchone() == (0,)
    assert not saver.conn.in_transaction


async def test_async_writes_on_a_closed_connection_fail_their_callers(tmp_path: Path) -> None:
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "c.db")) as saver:
        await saver.aput(cfg("t"), checkpoint(1, {}), {"step": 1}, {})  # type: ignore[arg-type]
    first = checkpoint(1, {})["id"]
    calls = [
        saver.aput_writes(cfg("t", checkpoint_id=first), [("c", i)], f"task-{i}") for i in range(3)
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results), results


# -- async reads on the loop's thread ----------------------------------------------------------


async def test_async_get_tuple_reads_on_the_loop_or_through_the_hop(tmp_path: Path) -> None:
    import threading

    import aiosqlite

    db = str(tmp_path / "r.db")
    async with AsyncSqliteSaver.from_conn_string(db) as saver:
        await saver.aput(cfg("t"), checkpoint(1, {}), {"step": 1}, {})  # type: ignore[arg-type]
        hops = 0
        run = saver._run

        async def counting_run(fn: Any, *args: Any) -> Any:
            nonlocal hops
            hops += 1
            return await run(fn, *args)

        saver._run = counting_run  # type: ignore[method-assign]
        found = await saver.aget_tuple(cfg("t"))
        assert found is not None
        assert found.metadata["step"] == 1
        assert hops == 0  # an idle connection: read on the loop's thread
        # a hop holding the connection: the read waits its turn through aiosqlite's thread
        saver._lock.acquire()
        threading.Timer(0.05, saver._lock.release).start()
        found = await saver.aget_tuple(cfg("t"))
        assert found is not None
        assert hops == 1
    # a connection bound to aiosqlite's thread (sqlite3's default) cannot be read elsewhere
    conn = await aiosqlite.connect(db, isolation_level=None)
    try:
        saver = AsyncSqliteSaver(conn)
        for _ in range(2):
            found = await saver.aget_tuple(cfg("t"))
            assert found is not None
            assert found.metadata["step"] == 1
        assert saver._on_loop is False
    finally:
        await conn.close()


def test_a_busy_database_is_not_waited_for_on_the_loop(tmp_path: Path) -> None:
    from pitstop.checkpoint.sqlite import _ops

    db = str(tmp_path / "b.db")
    with SqliteSaver.from_conn_string(db) as saver:
        saver.put(cfg("t"), checkpoint(1, {}), {"step": 1}, {})  # type: ignore[arg-type]
        sql, params, _, _ = saver._latest_query(cfg("t"))
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("PRAGMA busy_timeout = 30000")
    try:
        assert _ops.read_page_now(reader, sql, params, None, True, 30000) is None  # at once
        assert reader.execute("PRAGMA busy_timeout").fetchone() == (30000,)
        holder.execute("COMMIT")
        holder.close()  # the exclusive lock goes with the connection
        read = _ops.read_page_now(reader, sql, params, None, True, 30000)
        assert read is not None
        page = read[1]
        assert page is not None
        assert len(page[0]) == 1
    finally:
        holder.close()
        reader.close()


async def test_setup_runs_on_first_use_of_a_fresh_file(tmp_path: Path) -> None:
    import aiosqlite

    conn = await aiosqlite.connect(str(tmp_path / "a.db"), isolation_level=None)
    try:
        asaver = AsyncSqliteSaver(conn)
        assert not asaver.is_setup
        await asaver.aput(cfg("t"), checkpoint(1, {}), {"step": 1}, {})  # type: ignore[arg-type]
        assert asaver.is_setup
        found = await asaver.aget_tuple(cfg("t"))
        assert found is not None
    finally:
        await conn.close()
    plain = sqlite3.connect(str(tmp_path / "s.db"), isolation_level=None, check_same_thread=False)
    try:
        saver = SqliteSaver(plain)
        assert not saver.is_setup
        assert saver.get_tuple(cfg("t")) is None  # a read on a fresh file creates the schema
        assert saver.is_setup
        assert plain.execute("SELECT count(*) FROM pitstop_checkpoint_migrations").fetchone() != (
            0,
        )
    finally:
        plain.close()


def test_a_payload_with_a_document_too_many_fails_named_not_shifted(saver: SqliteSaver) -> None:
    """A checkpoint's records are decoded by one call; one holding trailing bytes (another
    whole document) must raise naming its channel, never shift the values after it."""
    ids = put_chain(saver, "t", 2)
    saver.put_writes(cfg("t", checkpoint_id=ids[-1]), [("a", "x" * 3000), ("b", "y")], "task")
    assert saver.get_tuple(cfg("t")).pending_writes[0][2] == "x" * 3000  # type: ignore[union-attr]
    saver.conn.execute("UPDATE writes SET value = CAST(value || x'01' AS BLOB) WHERE channel = 'a'")
    with pytest.raises(CorruptRecordError, match="'a'") as info:
        saver.get_tuple(cfg("t"))
    assert ids[-1] in str(info.value)
    assert saver.get_tuple(cfg("t", checkpoint_id=ids[0])) is not None


async def test_async_writes_run_on_the_loop_when_idle_and_never_block_it(tmp_path: Path) -> None:
    import time

    db = str(tmp_path / "w.db")
    async with AsyncSqliteSaver.from_conn_string(db) as saver:
        hops = 0
        execute = saver.conn._execute

        async def counting(fn: Any, *args: Any) -> Any:
            nonlocal hops
            hops += 1
            return await execute(fn, *args)

        saver.conn._execute = counting  # type: ignore[method-assign]
        await saver.aput(cfg("t"), checkpoint(1, {}), {"step": 1}, {})  # type: ignore[arg-type]
        first = checkpoint(1, {})["id"]
        await saver.aput_writes(cfg("t", checkpoint_id=first), [("c", 1)], "task")
        assert hops == 0  # an idle connection: both written on the loop's thread
        # another connection holds the write lock: the write waits on aiosqlite's thread, and
        # the loop keeps running meanwhile
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        ticking = asyncio.ensure_future(ticker())
        asyncio.get_running_loop().call_later(0.3, holder.execute, "COMMIT")
        started = time.monotonic()
        await saver.aput(cfg("t", checkpoint_id=first), checkpoint(2, {}), {"step": 2}, {})  # type: ignore[arg-type]
        waited = time.monotonic() - started
        ticking.cancel()
        holder.close()
        assert hops == 1
        assert waited >= 0.25  # it waited for the lock ...
        assert ticks >= 10  # ... without holding up the loop
        found = await saver.aget_tuple(cfg("t"))
        assert found is not None
        assert found.metadata["step"] == 2
        assert saver.conn._conn.execute("PRAGMA busy_timeout").fetchone() == (30000,)
