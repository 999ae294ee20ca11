"""PostgreSQL-specific behaviour: round trips, filters, NULs, migrations, faults, retention."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from pg_saver_env import URI, new_schema, require_server
from psycopg import sql

from pitstop.checkpoint.base import (
    CorruptRecordError,
    MigrationError,
    RetentionPolicy,
    empty_checkpoint,
    get_checkpoint_metadata,
    metadata_matches,
    next_version,
)
from pitstop.checkpoint.postgres import AsyncPostgresSaver, ConnectionLostError, PostgresSaver
from pitstop.checkpoint.postgres import _queries as q

require_server()


class CountingConnection(psycopg.Connection[Any]):
    """Records every statement sent (text and parameters): one ``execute`` = one round trip."""

    sent: list[tuple[str, Any]]

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        if not hasattr(self, "sent"):
            self.sent = []
        text = query if isinstance(query, str) else query.as_string(self)
        self.sent.append((text, params))
        return super().execute(query, params, **kwargs)


@pytest.fixture
def counted() -> Iterator[tuple[PostgresSaver, CountingConnection]]:
    with CountingConnection.connect(URI, autocommit=True) as conn:
        saver = PostgresSaver(conn, schema=new_schema())
        saver.setup()
        conn.sent = []
        yield saver, conn


def _cfg(thread: str, parent: str | None = None, ns: str = "") -> dict[str, Any]:
    configurable: dict[str, Any] = {"thread_id": thread, "checkpoint_ns": ns}
    if parent:
        configurable["checkpoint_id"] = parent
    return {"configurable": configurable}


def _chain(saver: Any, thread: str, n: int, metadata: Any = None) -> list[dict[str, Any]]:
    """Put ``n`` checkpoints on ``thread`` (one changed channel each); return their configs."""
    configs = []
    parent = None
    version = None
    for step in range(n):
        version = next_version(version)
        cp = empty_checkpoint()
        cp["channel_values"] = {"x": step, "big": "v" * 100}
        cp["channel_versions"] = {"x": version, "big": "00000000000000000000000000000001.0"}
        new = {"x": version} if step else {"x": version, "big": cp["channel_versions"]["big"]}
        meta = metadata(step) if metadata else {"step": step, "source": "loop"}
        configs.append(saver.put(_cfg(thread, parent), cp, meta, new))
        parent = cp["id"]
    return configs


# -- round trips -------------------------------------------------------------------------------


def test_each_operation_is_one_round_trip(counted: Any) -> None:
    saver, conn = counted
    cp = empty_checkpoint()
    cp["channel_values"] = {"a": "x" * 1000, "b": [1, 2], "c": {"k": "v"}}
    cp["channel_versions"] = {"a": "1", "b": "1", "c": "1"}
    stored = saver.put(_cfg("t"), cp, {"source": "input"}, {"a": "1", "b": "1", "c": "1"})
    assert len(conn.sent) == 1
    saver.put_writes(stored, [("a", 1), ("b", 2), ("__interrupt__", 3)], "task")
    assert len(conn.sent) == 2
    got = saver.get_tuple(_cfg("t"))
    assert len(conn.sent) == 3
    assert got.checkpoint["channel_values"] == cp["channel_values"]
    assert got.pending_writes == [("task", "__interrupt__", 3), ("task", "a", 1), ("task", "b", 2)]


def test_list_reads_bounded_pages(counted: Any) -> None:
    saver, conn = counted
    _chain(saver, "t", 250)
    conn.sent = []
    listed = list(saver.list(_cfg("t")))
    assert [t.metadata["step"] for t in listed] == list(range(249, -1, -1))
    assert all(t.checkpoint["channel_values"]["big"] == "v" * 100 for t in listed)
    assert len(conn.sent) == 3  # pages of 100, never one query per row
    conn.sent = []
    assert len(list(saver.list(_cfg("t"), limit=5))) == 5
    assert len(conn.sent) == 1
    # a lazy caller: the first page only is read before the first item is yielded
    conn.sent = []
    it = saver.list(None)
    next(it)
    assert len(conn.sent) == 1


# -- filters -----------------------------------------------------------------------------------

HOSTILE = [
    "'); DROP TABLE pitstop_checkpoints; --",
    'x" OR 1=1 --',
    "a\x00b",
    "$.a",
    "%(thread_id)s",
    "{schema}",
    "é\\'\"",
]


def test_hostile_filter_keys_and_values_never_reach_sql_text(counted: Any) -> None:
    saver, conn = counted
    metas = [{h: h, "n": i} for i, h in enumerate(HOSTILE)]
    for i, meta in enumerate(metas):
        cp = empty_checkpoint()
        saver.put(_cfg(f"t{i}"), cp, meta, {})
    conn.sent = []
    for h in HOSTILE:
        for filt in ({h: h}, {"n": h}, {h: None}, {h: {h: [h]}}):
            got = sorted(
                t.config["configurable"]["thread_id"] for t in saver.list(None, filter=filt)
            )
            stored = [get_checkpoint_metadata({}, m) for m in metas]  # top-level NULs stripped
            expected = sorted(f"t{i}" for i, m in enumerate(stored) if metadata_matches(m, filt))
            assert got == expected, filt
    assert conn.sent
    for text, _ in conn.sent:
        for h in HOSTILE:
            if h not in ("$.a",):
                assert h not in text
    assert len(list(saver.list(None))) == len(HOSTILE)  # nothing was dropped


METADATA = [
    {"step": 1, "source": "loop", "f": 1.0, "b": True, "obj": {"a": 1, "b": [1, 2]}},
    {"step": 1.0, "source": "input", "b": 1, "obj": {"a": 1}, "n": None},
    {"step": 2, "list": [1, "x"], "big": 2**64, "fbig": 2.0**64, "tuple": (1, 2)},
    {"step": 3, "nested": {"s": "a\x00b"}, "f": float("nan"), "x\x00y": 1},
    {"obj": {"b": [1, 2], "a": 1.0}, "b": False, "e": ""},
]

FILTERS = [
    {"step": 1},
    {"step": 1.0},
    {"b": True},
    {"b": 1},
    {"b": False},
    {"obj": {"a": 1}},
    {"obj": {"a": 1, "b": [1, 2]}},
    {"n": None},
    {"missing": None},
    {"list": [1, "x"]},
    {"list": ["x", 1]},
    {"big": 2**64},
    {"big": 2.0**64},
    {"fbig": 2**64},
    {"tuple": [1, 2]},
    {"nested": {"s": "a\x00b"}},
    {"x\x00y": 1},
    {"e": ""},
    {"step": 1, "source": "loop"},
    {"step": "1"},
    {},
]


@pytest.mark.parametrize("filt", FILTERS, ids=repr)
def test_filters_match_metadata_matches_exactly(counted: Any, filt: dict[str, Any]) -> None:
    saver, _ = counted
    for i, meta in enumerate(METADATA):
        saver.put(_cfg(f"t{i}"), empty_checkpoint(), meta, {})
    got = sorted(t.config["configurable"]["thread_id"] for t in saver.list(None, filter=filt))
    expected = sorted(f"t{i}" for i, m in enumerate(METADATA) if metadata_matches(m, filt))
    assert got == expected


def test_limit_applies_after_the_python_filter(counted: Any) -> None:
    saver, _ = counted
    # NUL metadata is not faithful in JSONB, so SQL lets every such row through to Python
    _chain(saver, "t", 230, metadata=lambda s: {"k": {"v": f"{s % 3}\x00"}})
    got = list(saver.list(_cfg("t"), filter={"k": {"v": "0\x00"}}, limit=70))
    assert len(got) == 70
    assert all(t.metadata["k"] == {"v": "0\x00"} for t in got)


def test_nul_characters_round_trip(counted: Any) -> None:
    saver, _ = counted
    cp = empty_checkpoint()
    cp["channel_values"] = {"s": "a\x00b", "d": {"k\x00": "\x00"}}
    cp["channel_versions"] = {"s": "1", "d": "1"}
    meta = {"nested": {"k\x00": ["\x00"]}, "top": "x\x00y"}
    stored = saver.put(_cfg("t"), cp, meta, {"s": "1", "d": "1"})
    saver.put_writes(stored, [("w", "\x00")], "task")
    got = saver.get_tuple(_cfg("t"))
    assert got.checkpoint["channel_values"] == cp["channel_values"]
    assert got.metadata == {"nested": {"k\x00": ["\x00"]}, "top": "xy"}  # top level: stripped
    assert got.pending_writes == [("task", "w", "\x00")]


# -- write statements: VALUES lists up to VALUES_MAX rows, unnest()ed arrays beyond ----------


@pytest.mark.parametrize("n", [0, 1, q.VALUES_MAX, q.VALUES_MAX + 1, 3 * q.VALUES_MAX])
def test_put_stores_any_number_of_values_in_one_statement(counted: Any, n: int) -> None:
    saver, conn = counted
    first = empty_checkpoint()  # the parent: an older id
    cp = empty_checkpoint()
    values = {f"ch'{i}\u00e9": (b"\x00\xff" * i, "a\x00b" * i, i) for i in range(n)}
    values["unchanged"] = "kept"
    cp["channel_values"] = values
    cp["channel_versions"] = {ch: f"{i + 1}.{i}" for i, ch in enumerate(values)}
    new = {ch: v for ch, v in cp["channel_versions"].items() if ch != "unchanged"}
    first["channel_values"] = {"unchanged": "kept"}
    first["channel_versions"] = {"unchanged": cp["channel_versions"]["unchanged"]}
    saver.put(_cfg("t"), first, {}, dict(first["channel_versions"]))
    conn.sent = []
    saver.put(_cfg("t", first["id"]), cp, {"step": n}, new)
    assert len(conn.sent) == 1
    got = saver.get_tuple(_cfg("t"))
    assert got.checkpoint["channel_values"] == values
    assert got.parent_config["configurable"]["checkpoint_id"] == first["id"]
    # a re-put of the same checkpoint replaces its values (idempotent retry)
    saver.put(_cfg("t", first["id"]), cp, {"step": n}, new)
    assert saver.get_tuple(_cfg("t")).checkpoint["channel_values"] == values


@pytest.mark.parametrize("regular", [0, 2, q.VALUES_MAX + 2])
@pytest.mark.parametrize("special", [0, 1, 3])
def test_put_writes_keeps_first_regular_and_last_special_values(
    counted: Any, regular: int, special: int
) -> None:
    saver, conn = counted
    cp = empty_checkpoint()
    stored = saver.put(_cfg("t"), cp, {}, {})
    specials = ["__error__", "__interrupt__", "__resume__"][:special]

    def writes(tag: str) -> list[tuple[str, Any]]:
        return [(f"c{i}", (tag, i, b"\x00")) for i in range(regular)] + [
            (ch, (tag, ch)) for ch in specials
        ]

    if not writes("x"):
        conn.sent = []
        saver.put_writes(stored, [], "task")
        assert conn.sent == []  # nothing to store: no statement
        return
    conn.sent = []
    saver.put_writes(stored, writes("first"), "task", "path")
    saver.put_writes(stored, writes("second"), "task", "path")
    assert len(conn.sent) == 2
    pending = saver.get_tuple(_cfg("t")).pending_writes
    got = {ch: value for _, ch, value in pending}
    assert len(pending) == regular + special
    assert all(got[f"c{i}"] == ("first", i, b"\x00") for i in range(regular))
    assert all(got[ch] == ("second", ch) for ch in specials)


def test_put_writes_special_then_regular_in_one_call(counted: Any) -> None:
    saver, _ = counted
    stored = saver.put(_cfg("t"), empty_checkpoint(), {}, {})
    saver.put_writes(stored, [("__interrupt__", 1), ("a", 2), ("__interrupt__", 3)], "t1")
    saver.put_writes(stored, [("__interrupt__", 4), ("a", 5)], "t1")
    assert sorted(saver.get_tuple(_cfg("t")).pending_writes) == [
        ("t1", "__interrupt__", 4),
        ("t1", "a", 2),
    ]


def test_channel_values_compress_with_lz4_when_available() -> None:
    schema = new_schema()
    with psycopg.connect(URI, autocommit=True) as conn:
        PostgresSaver(conn, schema=schema).setup()
        row = conn.execute(
            "SELECT 'lz4' = ANY (enumvals) FROM pg_settings"
            " WHERE name = 'default_toast_compression'"
        ).fetchone()
        has_lz4 = bool(row and row[0])
        (compression,) = conn.execute(
            "SELECT a.attcompression FROM pg_attribute AS a"
            " WHERE a.attrelid = %s::regclass AND a.attname = 'blob'",
            (f'"{schema}".pitstop_checkpoint_blobs',),
        ).fetchone()
    assert compression == ("l" if has_lz4 else "")


# -- migrations --------------------------------------------------------------------------------


def _version(schema: str) -> int:
    with psycopg.connect(URI, autocommit=True) as conn:
        row = conn.execute(
            sql.SQL("SELECT max(v), count(*) FROM {}.pitstop_checkpoint_migrations").format(
                sql.Identifier(schema)
            )
        ).fetchone()
    assert row is not None
    assert row[1] == row[0] + 1  # each version applied once
    return int(row[0])


def test_concurrent_setup_from_many_threads() -> None:
    schema = new_schema()
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def run() -> None:
        try:
            with psycopg.connect(URI, autocommit=True) as conn:
                saver = PostgresSaver(conn, schema=schema)
                barrier.wait()
                saver.setup()
                saver.put(_cfg("t"), empty_checkpoint(), {}, {})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _version(schema) == len(q.MIGRATIONS) - 1


def test_concurrent_setup_from_many_processes() -> None:
    import subprocess
    import sys

    schema = new_schema()
    code = (
        "import sys, psycopg\n"
        "from pitstop.checkpoint.postgres import PostgresSaver\n"
        "with psycopg.connect(sys.argv[1], autocommit=True) as c:\n"
        "    PostgresSaver(c, schema=sys.argv[2]).setup()\n"
    )
    children = [
        subprocess.Popen([sys.executable, "-c", code, URI, schema], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for child in children:
        _, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
    assert _version(schema) == len(q.MIGRATIONS) - 1


def test_newer_schema_is_refused_and_left_alone() -> None:
    schema = new_schema()
    with psycopg.connect(URI, autocommit=True) as conn:
        PostgresSaver(conn, schema=schema).setup()
        conn.execute(
            sql.SQL("INSERT INTO {}.pitstop_checkpoint_migrations (v) VALUES (%s)").format(
                sql.Identifier(schema)
            ),
            (len(q.MIGRATIONS),),
        )
        with pytest.raises(MigrationError, match="newer"):
            PostgresSaver(conn, schema=schema).setup()
    assert _version(schema) == len(q.MIGRATIONS)


def test_setup_runs_on_first_use_and_is_idempotent() -> None:
    schema = new_schema()
    with psycopg.connect(URI, autocommit=True) as conn:
        saver = PostgresSaver(conn, schema=schema)
        assert saver.get_tuple(_cfg("t")) is None  # creates the schema
        PostgresSaver(conn, schema=schema).setup()
    assert _version(schema) == len(q.MIGRATIONS) - 1


def test_non_autocommit_connection_commits_each_operation() -> None:
    schema = new_schema()
    with psycopg.connect(URI) as conn:
        saver = PostgresSaver(conn, schema=schema)
        saver.put(_cfg("t"), empty_checkpoint(), {"step": 1}, {})
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with psycopg.connect(URI, autocommit=True) as other:
        assert PostgresSaver(other, schema=schema).get_tuple(_cfg("t")) is not None


# -- the async saver's sync API ----------------------------------------------------------------


async def test_async_saver_sync_call_on_its_loop_raises() -> None:
    async with AsyncPostgresSaver.from_conn_string(URI, schema=new_schema()) as saver:
        with pytest.raises(asyncio.InvalidStateError):
            saver.get_tuple(_cfg("t"))
        # from another thread it is bridged to the saver's loop
        stored = await asyncio.to_thread(saver.put, _cfg("t"), empty_checkpoint(), {}, {})
        got = await saver.aget_tuple(stored)
        assert got is not None


# -- connection faults -------------------------------------------------------------------------


def _terminate(application_name: str, state: str | None = None) -> int:
    """Terminate the backends of ``application_name`` (in ``state``); wait until they are gone."""
    with psycopg.connect(URI, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND pid <> pg_backend_pid() "
            "AND (%s::text IS NULL OR state = %s::text)",
            (application_name, state, state),
        ).fetchall()
        pids = [row[0] for row in rows]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            alive = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
            ).fetchone()
            if alive is None or alive[0] == 0:
                break
            time.sleep(0.01)
    return len(pids)


def test_terminated_connection_fails_the_call_in_flight_then_the_pool_recovers() -> None:
    schema = new_schema()
    app = f"pitstop-fault-{schema}"
    uri = f"{URI}?application_name={app}" if "?" not in URI else f"{URI}&application_name={app}"
    with PostgresSaver.from_conn_string(uri, schema=schema, pool_size=3, min_size=3) as saver:
        acknowledged = _chain(saver, "t", 5)
        with psycopg.connect(URI) as locker:
            # hold a lock the next put waits on, so it is in flight when its backend dies
            locker.execute(
                sql.SQL("LOCK TABLE {}.pitstop_threads IN EXCLUSIVE MODE").format(
                    sql.Identifier(schema)
                )
            )
            failure: list[BaseException] = []

            def blocked_put() -> None:
                try:
                    _chain(saver, "u", 1)
                except BaseException as exc:
                    failure.append(exc)

            worker = threading.Thread(target=blocked_put)
            worker.start()
            deadline = time.monotonic() + 10
            waiting = 0
            while not waiting and time.monotonic() < deadline:
                with psycopg.connect(URI, autocommit=True) as admin:
                    row = admin.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                        "AND wait_event_type = 'Lock'",
                        (app,),
                    ).fetchone()
                waiting = row[0] if row else 0
                time.sleep(0.02)
            assert waiting == 1
            # every connection of the pool dies: the idle ones first, then the one in flight
            assert _terminate(app, "idle") == 2
            assert _terminate(app) == 1
            worker.join(timeout=10)
            locker.rollback()
        assert len(failure) == 1
        assert isinstance(failure[0], ConnectionLostError)
        assert "put" in str(failure[0])
        assert "'u'" in str(failure[0])
        # the next calls work, and nothing acknowledged was lost
        listed = list(saver.list(_cfg("t")))
        assert [t.config for t in reversed(listed)] == acknowledged
        _chain(saver, "v", 3)
        assert len(list(saver.list(_cfg("v")))) == 3


def test_terminated_single_connection_raises_a_clear_error() -> None:
    schema = new_schema()
    app = f"pitstop-single-{schema}"
    with psycopg.connect(URI, autocommit=True, application_name=app) as conn:
        saver = PostgresSaver(conn, schema=schema)
        _chain(saver, "t", 2)
        assert _terminate(app) == 1
        with pytest.raises(ConnectionLostError, match="get_tuple"):
            saver.get_tuple(_cfg("t"))


async def test_async_pool_recovers_after_terminate() -> None:
    schema = new_schema()
    app = f"pitstop-afault-{schema}"
    uri = f"{URI}?application_name={app}" if "?" not in URI else f"{URI}&application_name={app}"
    async with AsyncPostgresSaver.from_conn_string(
        uri, schema=schema, pool_size=2, min_size=2
    ) as saver:
        cp = empty_checkpoint()
        stored = await saver.aput(_cfg("t"), cp, {}, {})
        assert await asyncio.to_thread(_terminate, app) == 2
        with pytest.raises(ConnectionLostError):
            await saver.aget_tuple(stored)
        got = await saver.aget_tuple(stored)
        assert got is not None
        assert got.checkpoint["id"] == cp["id"]


# -- retention ---------------------------------------------------------------------------------


def test_sweep_keeps_last_and_expires_idle_threads() -> None:
    now = [1000.0]
    with psycopg.connect(URI, autocommit=True) as conn:
        saver = PostgresSaver(conn, schema=new_schema(), clock=lambda: now[0])
        _chain(saver, "old", 4)
        now[0] = 5000.0
        _chain(saver, "busy", 12)
        result = saver.sweep(RetentionPolicy(keep_last=3, max_idle=timedelta(seconds=1000)))
        assert result.threads_deleted == 1
        assert result.checkpoints_deleted == 4 + 9
        assert list(saver.list(_cfg("old"))) == []
        kept = list(saver.list(_cfg("busy")))
        assert [t.metadata["step"] for t in kept] == [11, 10, 9]
        # the kept checkpoints' values survive, including one written only by a deleted one
        assert all(t.checkpoint["channel_values"]["big"] == "v" * 100 for t in kept)
        assert saver.sweep(RetentionPolicy(keep_last=3)).checkpoints_deleted == 0


# -- bounded storage: growing lists are stored as deltas (pitstop.checkpoint.base.values) -------


def _grow(saver: Any, thread: str, n: int, start: str | None = None) -> list[str]:
    """Put ``n`` checkpoints whose ``items`` list grows by one each; return their ids."""
    ids: list[str] = []
    parent = start
    for step in range(1, n + 1):
        cp = empty_checkpoint()
        cp["channel_values"] = {"items": list(range(1, step + 1)), "fixed": "same"}
        cp["channel_versions"] = {"items": f"{step:032}.0", "fixed": "1.0"}
        new = {"items": f"{step:032}.0"} if step > 1 else dict(cp["channel_versions"])
        saver.put(_cfg(thread, parent), cp, {"step": step}, new)
        parent = cp["id"]
        ids.append(cp["id"])
    return ids


def _count(saver: Any, table: str, thread: str) -> int:
    query = sql.SQL("SELECT count(*) FROM {}.{} WHERE thread_id = %s").format(
        sql.Identifier(saver.schema), sql.Identifier(table)
    )
    with psycopg.connect(URI, autocommit=True) as conn:
        row = conn.execute(query, (thread,)).fetchone()
    assert row is not None
    return int(row[0])


BLOBS = "pitstop_checkpoint_blobs"


def _chains(saver: Any, thread: str) -> int:
    """Value rows of ``thread`` holding a delta chain."""
    query = sql.SQL("SELECT count(*) FROM {}.{} WHERE thread_id = %s AND deps IS NOT NULL").format(
        sql.Identifier(saver.schema), sql.Identifier(BLOBS)
    )
    with psycopg.connect(URI, autocommit=True) as conn:
        row = conn.execute(query, (thread,)).fetchone()
    assert row is not None
    return int(row[0])


def test_a_growing_list_is_stored_as_deltas_read_in_one_statement(counted: Any) -> None:
    saver, conn = counted
    _grow(saver, "t", 5)
    assert len(conn.sent) == 5  # one statement per put, deltas included
    types = conn.execute(
        sql.SQL("SELECT type FROM {}.pitstop_checkpoint_blobs WHERE channel = 'items'").format(
            sql.Identifier(saver.schema)
        )
    ).fetchall()
    assert [t for (t,) in types].count("pitstop-delta") == 4
    assert _chains(saver, "t") == 4  # one chain per delta, in its value row
    conn.sent = []
    head = saver.get_tuple(_cfg("t"))
    assert len(conn.sent) == 1
    assert head is not None
    assert head.checkpoint["channel_values"] == {"items": [1, 2, 3, 4, 5], "fixed": "same"}
    history = [x.checkpoint["channel_values"]["items"] for x in saver.list(_cfg("t"))]
    assert history == [[1, 2, 3, 4, 5][:n] for n in range(5, 0, -1)]


def test_a_page_sends_each_chain_record_once_and_every_row_decodes(counted: Any) -> None:
    saver, conn = counted
    _grow(saver, "t", 30)
    _grow(saver, "u", 12)
    everything = [
        (x.config["configurable"]["thread_id"], x.checkpoint["channel_values"]["items"])
        for x in saver.list(None)
    ]
    assert sorted(everything) == sorted(
        [("t", list(range(1, n + 1))) for n in range(1, 31)]
        + [("u", list(range(1, n + 1))) for n in range(1, 13)]
    )
    # the chain rows of a page: each (thread, channel, version) once, however many rows use it
    query = saver._list_query(_cfg("t"), None, None)
    rows = conn.execute(query.sql, query.page_params(None, 100), binary=True).fetchall()
    sent = [(r[0], ch, v) for r in rows for ch, v in zip(r[16] or [], r[17] or [], strict=True)]
    assert sent
    assert len(sent) == len(set(sent))
    # rows a filter skips still hand their chain records to the rows after them
    for step in (30, 29, 12, 2):
        found = list(saver.list(_cfg("t"), filter={"step": step}))
        assert [x.checkpoint["channel_values"]["items"] for x in found] == [
            list(range(1, step + 1))
        ]
    # limits and `before` start pages anywhere in a chain
    for before in (30, 17, 3):
        ids = [x.config for x in saver.list(_cfg("t"))]
        page = list(saver.list(_cfg("t"), before=ids[30 - before], limit=4))
        assert [x.checkpoint["channel_values"]["items"] for x in page] == [
            list(range(1, n + 1)) for n in range(before - 1, max(before - 5, 0), -1)
        ]


def test_prune_keeps_the_chain_of_the_head_and_frees_the_rest() -> None:
    with psycopg.connect(URI, autocommit=True) as conn:
        saver = PostgresSaver(conn, schema=new_schema(), max_chain=4)
        _grow(saver, "t", 12)
        saver.prune(["t"])
        head = saver.get_tuple(_cfg("t"))
        assert head is not None
        assert head.checkpoint["channel_values"]["items"] == list(range(1, 13))
        # items: versions 1..12 at positions 0..11; the head (position 11) is a delta on
        # versions 1, 9 and 11 (positions 0, 8, 10): 4 values, 3 of them deltas; plus "fixed"
        assert _count(saver, BLOBS, "t") == 5
        assert _chains(saver, "t") == 3
        saver.delete_thread("t")
        assert _count(saver, BLOBS, "t") == 0


def test_delete_for_runs_keeps_the_chains_of_surviving_values() -> None:
    with psycopg.connect(URI, autocommit=True) as conn:
        saver = PostgresSaver(conn, schema=new_schema())
        parent = None
        for step in range(1, 7):
            cp = empty_checkpoint()
            cp["channel_values"] = {"items": list(range(1, step + 1))}
            cp["channel_versions"] = {"items": f"{step:032}.0"}
            meta = {"run_id": "early" if step < 6 else "late"}
            saver.put(_cfg("t", parent), cp, meta, dict(cp["channel_versions"]))  # type: ignore[arg-type]
            parent = cp["id"]
        saver.delete_for_runs(["early"])
        head = saver.get_tuple(_cfg("t"))
        assert head is not None
        assert head.checkpoint["channel_values"]["items"] == [1, 2, 3, 4, 5, 6]
        # the head's delta (position 5 = 101b) and its chain (versions 1 and 5), not 2-4
        assert _count(saver, BLOBS, "t") == 3


def test_copy_thread_copies_the_chains() -> None:
    with psycopg.connect(URI, autocommit=True) as conn:
        saver = PostgresSaver(conn, schema=new_schema())
        _grow(saver, "a", 6)
        saver.copy_thread("a", "b")
        saver.delete_thread("a")
        assert _chains(saver, "b") == 5
        saver.prune(["b"])
        head = saver.get_tuple(_cfg("b"))
        assert head is not None
        assert head.checkpoint["channel_values"]["items"] == [1, 2, 3, 4, 5, 6]


def test_a_delta_whose_base_was_deleted_elsewhere_is_stored_full() -> None:
    schema = new_schema()
    with (
        psycopg.connect(URI, autocommit=True) as c1,
        psycopg.connect(URI, autocommit=True) as c2,
    ):
        writer, other = PostgresSaver(c1, schema=schema), PostgresSaver(c2, schema=schema)
        ids = _grow(writer, "t", 3)
        other.delete_thread("t")  # the writer's encoder still holds version 3 as a base
        cp = empty_checkpoint()
        cp["channel_values"] = {"items": [1, 2, 3, 4], "fixed": "same"}
        cp["channel_versions"] = {"items": f"{4:032}.0", "fixed": "1.0"}
        writer.put(_cfg("t", ids[-1]), cp, {}, {"items": f"{4:032}.0", "fixed": "1.0"})
        head = other.get_tuple(_cfg("t"))
        assert head is not None
        assert head.checkpoint["channel_values"] == {"items": [1, 2, 3, 4], "fixed": "same"}
        assert _chains(writer, "t") == 0


def test_full_values_written_before_the_migration_read_unchanged() -> None:
    schema = new_schema()
    with psycopg.connect(URI, autocommit=True) as conn:
        old = PostgresSaver(conn, schema=schema, max_chain=0)
        ids = _grow(old, "t", 4)
        # roll the schema back to v6: no delta chains anywhere yet
        for undo in (
            "DROP FUNCTION {}.pitstop_bases_present",
            "ALTER TABLE {}.pitstop_checkpoint_blobs DROP COLUMN deps",
        ):
            conn.execute(sql.SQL(undo).format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL("DELETE FROM {}.pitstop_checkpoint_migrations WHERE v >= 7").format(
                sql.Identifier(schema)
            )
        )
        saver = PostgresSaver(conn, schema=schema)
        head = saver.get_tuple(_cfg("t"))
        assert head is not None
        assert head.checkpoint["channel_values"] == {"items": [1, 2, 3, 4], "fixed": "same"}
        cp = empty_checkpoint()
        cp["channel_values"] = {"items": [1, 2, 3, 4, 5], "fixed": "same"}
        cp["channel_versions"] = {"items": f"{5:032}.0", "fixed": "1.0"}
        saver.put(_cfg("t", ids[-1]), cp, {}, {"items": f"{5:032}.0"})
        assert _chains(saver, "t") == 1  # a delta over the old full record
        saver.prune(["t"])
        head = saver.get_tuple(_cfg("t"))
        assert head is not None
        assert head.checkpoint["channel_values"]["items"] == [1, 2, 3, 4, 5]


def test_chains_written_as_rows_of_their_own_move_into_their_values() -> None:
    """Up to v7 a delta's chain was a ``pitstop_checkpoint_blob_deps`` row."""
    schema = new_schema()
    with psycopg.connect(URI, autocommit=True) as conn:
        ids = _grow(PostgresSaver(conn, schema=schema, max_chain=4), "t", 9)
        chains = _chains(PostgresSaver(conn, schema=schema), "t")
        assert chains > 4
        for undo in (
            q.MIGRATIONS[7],
            "INSERT INTO {0}.pitstop_checkpoint_blob_deps"
            " SELECT thread_id, checkpoint_ns, channel, version, deps"
            " FROM {0}.pitstop_checkpoint_blobs WHERE deps IS NOT NULL",
            "DROP FUNCTION {0}.pitstop_bases_present",
            "ALTER TABLE {0}.pitstop_checkpoint_blobs DROP COLUMN deps",
            "DELETE FROM {0}.pitstop_checkpoint_migrations WHERE v >= 8",
        ):
            conn.execute(sql.SQL(undo.replace("{schema}", "{0}")).format(sql.Identifier(schema)))
        saver = PostgresSaver(conn, schema=schema, max_chain=4)
        history = [x.checkpoint["channel_values"]["items"] for x in saver.list(_cfg("t"))]
        assert history == [list(range(1, n + 1)) for n in range(9, 0, -1)]
        assert _chains(saver, "t") == chains
        cp = empty_checkpoint()
        cp["channel_values"] = {"items": list(range(1, 11)), "fixed": "same"}
        cp["channel_versions"] = {"items": f"{10:032}.0", "fixed": "1.0"}
        saver.put(_cfg("t", ids[-1]), cp, {}, {"items": f"{10:032}.0"})
        saver.prune(["t"])
        head = PostgresSaver(conn, schema=schema).get_tuple(_cfg("t"))
        assert head is not None
        assert head.checkpoint["channel_values"]["items"] == list(range(1, 11))


def test_zstd_values_round_trip_and_read_without_the_setting() -> None:
    schema = new_schema()
    with psycopg.connect(URI, autocommit=True) as conn:
        _grow(PostgresSaver(conn, schema=schema, compress="zstd"), "t", 4)
        saver = PostgresSaver(conn, schema=schema)
        tags = {
            t
            for (t,) in conn.execute(
                sql.SQL("SELECT type FROM {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(BLOBS)
                )
            )
        }
        assert tags == {"pitstop-delta+zstd", "msgpack+zstd"}
        head = saver.get_tuple(_cfg("t"))
        assert head is not None
        assert head.checkpoint["channel_values"] == {"items": [1, 2, 3, 4], "fixed": "same"}
        history = saver.get_delta_channel_history(config=_cfg("t"), channels=["items"])
        assert history["items"]["seed"] == [1, 2, 3]


async def test_async_saver_stores_and_reads_deltas() -> None:
    async with AsyncPostgresSaver.from_conn_string(URI, schema=new_schema()) as saver:
        parent = None
        for step in range(1, 5):
            cp = empty_checkpoint()
            cp["channel_values"] = {"items": list(range(step))}
            cp["channel_versions"] = {"items": f"{step:032}.0"}
            await saver.aput(_cfg("t", parent), cp, {}, dict(cp["channel_versions"]))  # type: ignore[arg-type]
            parent = cp["id"]
        got = [t.checkpoint["channel_values"]["items"] async for t in saver.alist(_cfg("t"))]
        assert got == [list(range(n)) for n in range(4, 0, -1)]


def test_a_delta_with_a_missing_chain_is_a_corrupt_record() -> None:
    with psycopg.connect(URI, autocommit=True) as conn:
        saver = PostgresSaver(conn, schema=new_schema())
        _grow(saver, "t", 3)
        conn.execute(  # the full record every delta of the chain extends
            sql.SQL("DELETE FROM {}.{} WHERE channel = 'items' AND deps IS NULL").format(
                sql.Identifier(saver.schema), sql.Identifier(BLOBS)
            )
        )
        with pytest.raises(CorruptRecordError, match="missing") as info:
            PostgresSaver(conn, schema=saver.schema).get_tuple(_cfg("t"))
        assert info.value.channel == "items"


async def test_async_list_reads_ahead_and_stops_cleanly() -> None:
    async with AsyncPostgresSaver.from_conn_string(URI, schema=new_schema(), pool_size=2) as saver:
        parent = None
        for step in range(1, 251):
            cp = empty_checkpoint()
            cp["channel_values"] = {"items": list(range(step))}
            cp["channel_versions"] = {"items": f"{step:032}.0"}
            await saver.aput(_cfg("t", parent), cp, {"step": step}, dict(cp["channel_versions"]))  # type: ignore[arg-type]
            parent = cp["id"]
        steps = [t.metadata["step"] async for t in saver.alist(_cfg("t"))]
        assert steps == list(range(250, 0, -1))
        assert [t.metadata["step"] async for t in saver.alist(_cfg("t"), limit=150)] == list(
            range(250, 100, -1)
        )
        for _ in range(3):  # a read-ahead page nobody reads: the pool still serves every call
            async for _item in saver.alist(_cfg("t")):
                break
        assert (await saver.aget_tuple(_cfg("t"))) is not None
