"""The database side of every saver operation: plain functions over a ``sqlite3.Connection``.

Each function is one transaction and takes and returns plain rows (bytes, str, numbers):
serialization and decoding happen in the saver, outside the connection's lock. Both flavours
run these same functions: :class:`SqliteSaver` on the caller's thread under a lock, and
:class:`AsyncSqliteSaver` on aiosqlite's connection thread, one hop per operation (so a
``put`` is one round trip, and no other statement can interleave with its transaction).

``put`` and ``put_writes`` are the exception: they are the statements of one write, run by
:func:`run_writes`, which commits every write queued by the time its transaction has begun in
that one transaction (group commit: each write in its own savepoint, so one failing write
never undoes or fails another; a caller's call returns after the commit that holds its write).
"""

from __future__ import annotations

import contextlib
import json
import logging
import operator
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final, TypeVar

from pitstop.checkpoint.base import CorruptRecordError, InvalidArgumentError, MigrationError
from pitstop.checkpoint.sqlite import _queries as q

__all__ = [
    "Page",
    "Write",
    "copy_thread",
    "delete_for_runs",
    "delete_thread",
    "delta_history",
    "prune",
    "put",
    "put_writes",
    "Stamp",
    "UNSTAMPED",
    "read_page",
    "read_page_now",
    "read_page_unless",
    "run_writes",
    "under",
    "setup",
    "write_now",
    "sweep",
]

T = TypeVar("T")
Row = tuple[Any, ...]
logger = logging.getLogger(__name__)
Page = tuple[list[Row], list[Row], list[Row], list[Row]]
"""``(checkpoint rows, value rows, write rows, chain rows)`` of one page (see ``read_page``)."""

Stamp = tuple[int, int]
"""``(PRAGMA data_version, total_changes)`` of a connection: equal stamps mean the database is
unchanged in between (see ``read_page_unless``)."""

UNSTAMPED: Final[Stamp] = (-1, -1)
"""The stamp of a read taken without one (no real stamp equals it)."""

ATTEMPTS: Final = 6
"""Bounded retry of a transaction that still met SQLITE_BUSY after ``busy_timeout``."""

CHAIN_CHUNK: Final = 256


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """Whether an error is SQLite's "database is locked/busy" (worth retrying)."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def transaction(
    conn: sqlite3.Connection,
    begin: str,
    fn: Callable[..., T],
    *args: Any,
    attempts: int = ATTEMPTS,
) -> T:
    """Run ``fn(conn, *args)`` in one transaction, retrying it (bounded) on SQLITE_BUSY."""
    delay = 0.005
    for attempt in range(attempts):
        try:
            conn.execute(begin)
            try:
                result = fn(conn, *args)
                conn.commit()
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or attempt == attempts - 1:
                raise
            time.sleep(delay)
            delay *= 2
            continue
        return result
    raise AssertionError("unreachable")  # pragma: no cover


def _vacuum(conn: sqlite3.Connection) -> None:
    """Return freed pages to the file system (outside any transaction)."""
    try:
        # The pragma frees one page per step, and sqlite3's execute() steps once:
        # executescript() steps every statement to the end.
        conn.executescript(q.VACUUM)
        conn.execute(q.WAL_CHECKPOINT).fetchall()
    except sqlite3.OperationalError as exc:  # another connection is busy: try next time
        if not is_busy(exc):
            raise


# -- setup -------------------------------------------------------------------------------------


def setup(conn: sqlite3.Connection, busy_timeout_ms: int, now: float) -> int:
    """Apply the connection settings and the missing migrations; return the schema version."""
    conn.execute(q.BUSY_TIMEOUT.format(milliseconds=int(busy_timeout_ms)))
    delay = 0.005
    for attempt in range(ATTEMPTS):
        try:
            for pragma in q.PRAGMAS:
                conn.execute(pragma).fetchall()
            break
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or attempt == ATTEMPTS - 1:
                raise
            time.sleep(delay)
            delay *= 2
    return transaction(conn, q.BEGIN_IMMEDIATE, _migrate, now)


def _migrate(conn: sqlite3.Connection, now: float) -> int:
    conn.execute(q.MIGRATIONS_TABLE)
    (current,) = conn.execute(q.SELECT_MIGRATION_VERSION).fetchone()
    current = -1 if current is None else int(current)
    if current >= len(q.MIGRATIONS):
        raise MigrationError(
            f"this database's checkpoint schema is version {current}, newer than the "
            f"{len(q.MIGRATIONS) - 1} this pitstop-checkpoint-sqlite knows; upgrade "
            "pitstop-checkpoint-sqlite to open it (the file was not modified)"
        )
    for version in range(current + 1, len(q.MIGRATIONS)):
        conn.execute(q.MIGRATIONS[version])
        conn.execute(q.INSERT_MIGRATION, (version, now))
    return len(q.MIGRATIONS) - 1


# -- writes ------------------------------------------------------------------------------------


class Write:
    """One queued write: ``fn(conn, *args)`` (``put`` or ``put_writes``) and, once run, its
    outcome. ``waiter`` is the caller's handle (the async saver's future)."""

    __slots__ = ("args", "done", "error", "fn", "result", "waiter")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], waiter: Any = None) -> None:
        self.fn = fn
        self.args = args
        self.waiter = waiter
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None

    def outcome(self) -> Any:
        """The write's result; its error raised."""
        if self.error is not None:
            raise self.error
        return self.result


def run_writes(
    conn: sqlite3.Connection, take: Callable[[], list[Write]], *, attempts: int = ATTEMPTS
) -> list[Write]:
    """Run queued writes in one transaction; return them, each with its outcome.

    ``take()`` is called once, after ``BEGIN IMMEDIATE`` has the write lock: writes queued
    while the lock was awaited join the batch. A lone write runs as it would alone; in a
    batch each write runs in a savepoint, so a failing one is rolled back alone and the others
    commit. A failed ``BEGIN``/``COMMIT`` gives every write of the batch that error.
    """
    batch: list[Write] | None = None

    def body(conn: sqlite3.Connection) -> None:
        nonlocal batch
        if batch is None:
            batch = take()
        if len(batch) == 1:
            (write,) = batch
            write.result, write.error = write.fn(conn, *write.args), None
            return
        for write in batch:
            conn.execute(q.SAVEPOINT)
            try:
                write.result, write.error = write.fn(conn, *write.args), None
            except Exception as exc:
                if isinstance(exc, sqlite3.OperationalError) and is_busy(exc):
                    raise  # the whole batch is retried
                conn.execute(q.ROLLBACK_TO_SAVEPOINT)
                write.result, write.error = None, exc
            conn.execute(q.RELEASE_SAVEPOINT)

    failure: BaseException | None = None
    try:
        transaction(conn, q.BEGIN_IMMEDIATE, body, attempts=attempts)
    except BaseException as exc:  # nothing of the batch was committed
        failure = exc
    if batch is None:  # BEGIN failed before the batch was taken
        batch = take()
    for write in batch:
        if failure is not None:
            write.result, write.error = None, failure
        write.done = True
    if failure is not None and not isinstance(failure, Exception):
        raise failure  # KeyboardInterrupt, ...: the batch failed with it
    return batch


@contextlib.contextmanager
def _not_waiting(conn: sqlite3.Connection, busy_timeout_ms: int) -> Iterator[None]:
    """``busy_timeout`` 0 inside (a locked database fails at once), ``busy_timeout_ms`` again
    after: the event loop's thread never waits for another connection's lock."""
    conn.execute(q.BUSY_TIMEOUT.format(milliseconds=0))
    try:
        yield
    finally:
        conn.execute(q.BUSY_TIMEOUT.format(milliseconds=int(busy_timeout_ms)))


def write_now(conn: sqlite3.Connection, write: Write, busy_timeout_ms: int) -> bool:
    """Run one write alone without ever waiting for the write lock; whether it ran.

    For a write on the event loop's thread: ``busy_timeout`` is 0 for it and set back
    afterwards. ``False`` (the write not done) when another connection holds the lock: the
    caller sends it through aiosqlite's thread instead, where it may wait.
    """
    with _not_waiting(conn, busy_timeout_ms):
        run_writes(conn, lambda: [write], attempts=1)
    error = write.error
    if isinstance(error, sqlite3.OperationalError) and is_busy(error):
        write.done, write.error = False, None
        return False
    return True


def put(
    conn: sqlite3.Connection,
    checkpoint_row: Row,
    blob_rows: Sequence[Row],
    bases: Sequence[Row],
    touch: Row,
) -> list[str]:
    """The statements storing one checkpoint and its new values (a ``Write``).

    ``blob_rows`` are ``(thread, ns, channel, version, type, blob, chain)``, the chain of a
    delta value a JSON array of the versions it is built on. ``bases`` are the ``(thread, ns,
    channel, version)`` records the delta values extend. If one is gone (another connection
    deleted the thread), nothing is written and the channels are returned, to be stored in full.
    """
    missing = [b[2] for b in bases if conn.execute(q.SELECT_BLOB_EXISTS, b).fetchone() is None]
    if missing:
        return missing
    if blob_rows:
        conn.executemany(q.UPSERT_BLOB, blob_rows)
    conn.execute(q.UPSERT_CHECKPOINT, checkpoint_row)
    conn.execute(q.TOUCH_THREAD, touch)
    return []


def put_writes(
    conn: sqlite3.Connection, keep_first: Sequence[Row], replace: Sequence[Row], touch: Row
) -> None:
    """The statements storing a task's writes (a ``Write``): regular rows keep the first
    value, special rows are replaced."""
    if keep_first:
        conn.executemany(q.INSERT_WRITE_IGNORE, keep_first)
    if replace:
        conn.executemany(q.INSERT_WRITE_REPLACE, replace)
    conn.execute(q.TOUCH_THREAD, touch)


# -- reads -------------------------------------------------------------------------------------


def under(lock: Any, fn: Callable[..., T], conn: sqlite3.Connection, *args: Any) -> T:
    """``fn(conn, *args)`` holding ``lock`` (the async saver's hops: see ``read_page_now``)."""
    with lock:
        return fn(conn, *args)


def read_page_now(
    conn: sqlite3.Connection,
    sql: str,
    params: dict[str, Any],
    known: Stamp | None,
    stamped: bool,
    busy_timeout_ms: int,
) -> tuple[Stamp, Page | None] | None:
    """``read_page_unless`` without ever waiting: ``None`` when the database is busy.

    For a read on the event loop's thread: ``busy_timeout`` is 0 for the statement (a WAL reader
    is almost never busy; when it is, the caller reads through aiosqlite's thread instead) and
    set back afterwards.
    """
    with _not_waiting(conn, busy_timeout_ms):
        try:
            return read_page_unless(conn, sql, params, known, stamped, attempts=1)
        except sqlite3.OperationalError as exc:
            if is_busy(exc):
                return None
            raise


def read_page_unless(
    conn: sqlite3.Connection,
    sql: str,
    params: dict[str, Any],
    known: Stamp | None,
    stamped: bool = True,
    *,
    attempts: int = ATTEMPTS,
) -> tuple[Stamp, Page | None]:
    """``(stamp, page)``: ``read_page``, or no page when the database is unchanged since the
    stamp ``known`` (what the caller read then is still what it would read now).

    The stamp is taken before the read: nothing committed by another connection or written
    through this one can come between them unnoticed (a commit right after the stamp only makes
    the next comparison fail). ``stamped=False`` (a caller keeping no reads) reads the page
    without taking one: the stamp returned is ``UNSTAMPED``.
    """
    if not stamped:
        return UNSTAMPED, read_page(conn, sql, params, attempts=attempts)
    (version,) = conn.execute(q.DATA_VERSION).fetchone()
    stamp = (int(version), conn.total_changes)
    if stamp == known:
        return stamp, None
    return stamp, read_page(conn, sql, params, attempts=attempts)


def read_page(
    conn: sqlite3.Connection, sql: str, params: dict[str, Any], *, attempts: int = ATTEMPTS
) -> Page:
    """One page of checkpoints with their values and pending writes (one statement, one hop).

    A single ``SELECT`` sees one snapshot, so no explicit transaction is needed. Checkpoint rows
    come back in page order (newest first), each ending with a flag set when its channel
    versions are not a JSON object (a corrupt row), value rows ``(rowid, channel, type, blob,
    version)``, write rows ``(rowid, task_id, channel, type, value)`` in the order the runtime
    applies them (``task_path``, ``task_id``, ``idx``), chain rows ``(thread, ns, channel,
    version, type, blob)``: the records the page's delta values are built on.
    """
    delay = 0.005
    for attempt in range(attempts):
        try:
            found = conn.execute(sql, params).fetchall()
            break
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or attempt == attempts - 1:
                raise
            time.sleep(delay)
            delay *= 2
    rows: list[Row] = []
    values: list[Row] = []
    raw_writes: list[Row] = []
    deps: list[Row] = []
    for row in found:
        kind = row[0]
        if kind == q.PAGE_VALUE:
            values.append(row[1:6])
        elif kind == q.PAGE_WRITE:
            raw_writes.append(row)
        elif kind == q.PAGE_DEP:
            deps.append(row[2:8])
        else:
            rows.append(row[1:])
    if len(rows) > 1:
        rows.sort(key=_page_order, reverse=True)
    if not raw_writes:
        return rows, values, [], deps
    raw_writes.sort(key=_write_order)
    return rows, values, [row[1:6] for row in raw_writes], deps


_page_order: Final = operator.itemgetter(3, 1, 2)
"""``ORDER BY checkpoint_id, thread_id, checkpoint_ns`` of a checkpoint row."""

_write_order: Final = operator.itemgetter(1, 6, 2, 7)
"""``ORDER BY rowid, task_path, task_id, idx`` of a write row."""


def delta_history(
    conn: sqlite3.Connection,
    thread_id: str,
    ns: str,
    checkpoint_id: str | None,
    channels: Sequence[str],
) -> tuple[list[Row], dict[str, Row], list[Row]]:
    """The raw delta history of ``channels`` before a checkpoint.

    Returns ``(writes, seeds, chains)``: the writes ``(task_id, channel, type, value)`` oldest
    first, each from an ancestor at or below its channel's seed, ``{channel: (type, blob,
    version)}`` for the channels whose walk found a stored value, and the records
    ``(channel, version, type, blob)`` the delta seeds are built on.
    """
    return transaction(conn, q.BEGIN_READ, _delta_history, thread_id, ns, checkpoint_id, channels)


def _delta_history(
    conn: sqlite3.Connection,
    thread_id: str,
    ns: str,
    checkpoint_id: str | None,
    channels: Sequence[str],
) -> tuple[list[Row], dict[str, Row], list[Row]]:
    if checkpoint_id is None:
        latest = conn.execute(q.SELECT_LATEST_ID, (thread_id, ns)).fetchone()
        if latest is None:
            return [], {}, []
        checkpoint_id = latest[0]
    target = conn.execute(q.SELECT_PARENT_ID, (thread_id, ns, checkpoint_id)).fetchone()
    cursor: str | None = target[0] if target else None
    remaining = set(channels)
    chain: list[str] = []  # ancestors, newest first
    stop: dict[str, int] = {}  # channel -> index in chain of its seed ancestor
    seed_keys: dict[str, str] = {}  # channel -> version of its seed
    while cursor and remaining:
        params = {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": cursor,
            "limit": CHAIN_CHUNK - 1,
        }
        rows = conn.execute(q.SELECT_CHAIN, params).fetchall()
        if not rows:
            break
        shapes = [(cid, parent, json.loads(versions)) for cid, parent, versions in rows]
        pairs = sorted({(ch, vs[ch]) for _, _, vs in shapes for ch in remaining if ch in vs})
        existing = {
            (ch, version)
            for ch, version, _, _ in conn.execute(
                q.SELECT_BLOB_KEYS, (thread_id, ns, json.dumps(pairs))
            )
        }
        for cid, _, versions in shapes:
            chain.append(cid)
            for ch in sorted(remaining):
                version = versions.get(ch)
                if version is not None and (ch, version) in existing:
                    stop[ch] = len(chain) - 1
                    seed_keys[ch] = version
                    remaining.discard(ch)
            if not remaining:
                break
        last_parent = shapes[-1][1]
        cursor = last_parent if len(rows) == CHAIN_CHUNK and remaining else None
    if not chain:
        return [], {}, []
    index = {cid: i for i, cid in enumerate(chain)}
    grouped: dict[str, list[Row]] = {}
    for cid, task_id, channel, type_, value in conn.execute(
        q.SELECT_WRITES_OF_CHECKPOINTS,
        (thread_id, ns, json.dumps(chain), json.dumps(list(channels))),
    ):
        if index[cid] <= stop.get(channel, len(chain)):
            grouped.setdefault(cid, []).append((task_id, channel, type_, value))
    writes: list[Row] = []
    for cid in reversed(chain):  # oldest ancestor first; its writes in application order
        writes.extend(reversed(grouped.get(cid, ())))
    seeds: dict[str, Row] = {}
    deps: list[Row] = []
    if seed_keys:
        pairs_json = json.dumps(sorted(seed_keys.items()))
        for ch, version, type_, blob in conn.execute(
            q.SELECT_BLOB_KEYS, (thread_id, ns, pairs_json)
        ):
            seeds[ch] = (type_, blob, version)
        deps = conn.execute(q.SELECT_DEP_RECORDS, (thread_id, ns, pairs_json)).fetchall()
    return writes, seeds, deps


# -- maintenance -------------------------------------------------------------------------------


def _delete_thread(conn: sqlite3.Connection, thread_id: str) -> int:
    (count,) = conn.execute(q.SELECT_CHECKPOINT_COUNT, (thread_id,)).fetchone()
    for statement in (
        q.DELETE_CHECKPOINTS_OF_THREAD,
        q.DELETE_WRITES_OF_THREAD,
        q.DELETE_BLOBS_OF_THREAD,
        q.DELETE_THREAD_ROW,
    ):
        conn.execute(statement, (thread_id,))
    return int(count)


def delete_thread(conn: sqlite3.Connection, thread_id: str) -> None:
    """Delete everything of one thread, then give the space back."""
    transaction(conn, q.BEGIN_IMMEDIATE, _delete_thread, thread_id)
    _vacuum(conn)


def _collect(conn: sqlite3.Connection, keys: Iterable[tuple[str, str]]) -> None:
    for thread_id, ns in keys:
        names = {"thread_id": thread_id, "checkpoint_ns": ns}
        with _naming_damage(thread_id, ns):
            conn.execute(q.DELETE_UNREFERENCED_BLOBS, names)


@contextlib.contextmanager
def _naming_damage(thread_id: str, ns: str) -> Iterator[None]:
    """Maintenance (garbage collection, retention) meeting a row whose JSON columns are damaged
    raises ``CorruptRecordError`` naming the thread and namespace; nothing is deleted then (the
    caller's transaction or savepoint is rolled back): a value only such a row references could
    still be needed once the row is repaired."""
    try:
        yield
    except CorruptRecordError:
        raise
    except (sqlite3.OperationalError, ValueError) as exc:
        if isinstance(exc, sqlite3.OperationalError) and "malformed JSON" not in str(exc):
            raise
        raise CorruptRecordError(
            f"a checkpoint or value row holds damaged JSON: {type(exc).__name__}: {exc}",
            thread_id=thread_id,
            checkpoint_ns=ns,
        ) from exc


def delete_for_runs(conn: sqlite3.Connection, run_ids: Sequence[str]) -> None:
    """Delete the checkpoints of the given runs with their writes; collect unused values."""
    transaction(conn, q.BEGIN_IMMEDIATE, _delete_for_runs, run_ids)
    _vacuum(conn)


def _delete_for_runs(conn: sqlite3.Connection, run_ids: Sequence[str]) -> None:
    deleted = conn.execute(q.DELETE_CHECKPOINTS_OF_RUNS, (json.dumps(list(run_ids)),)).fetchall()
    by_ns: dict[tuple[str, str], list[str]] = {}
    for thread_id, ns, checkpoint_id in deleted:
        by_ns.setdefault((thread_id, ns), []).append(checkpoint_id)
    for (thread_id, ns), ids in by_ns.items():
        conn.execute(q.DELETE_WRITES_BY_IDS, (thread_id, ns, json.dumps(ids)))
    _collect(conn, by_ns)


def copy_thread(conn: sqlite3.Connection, source: str, target: str, now: float) -> None:
    """Copy every row of ``source`` to the empty thread ``target``."""
    transaction(conn, q.BEGIN_IMMEDIATE, _copy_thread, source, target, now)


def _copy_thread(conn: sqlite3.Connection, source: str, target: str, now: float) -> None:
    if conn.execute(q.SELECT_THREAD_EXISTS, (target,)).fetchone() is not None:
        raise InvalidArgumentError(f"copy_thread: target thread {target!r} already has checkpoints")
    if conn.execute(q.SELECT_THREAD_EXISTS, (source,)).fetchone() is None:
        return
    names = {"source": source, "target": target}
    conn.execute(q.COPY_BLOBS, names)
    conn.execute(q.COPY_CHECKPOINTS, names)
    conn.execute(q.COPY_WRITES, names)
    conn.execute(q.TOUCH_THREAD, (target, now))


def _delta_ancestors(
    shapes: dict[str, tuple[str | None, dict[str, str], Any]],
    head: str,
    blob_keys: set[tuple[str, str]],
) -> set[str]:
    """Ancestors a kept head needs to rebuild its delta channels (as in ``InMemorySaver``)."""
    counters = shapes[head][2]
    open_channels = set(json.loads(counters)) if counters else set()
    keep: set[str] = set()
    cursor = shapes[head][0]
    while open_channels and cursor is not None and cursor in shapes:
        keep.add(cursor)
        parent, versions, _ = shapes[cursor]
        for ch in list(open_channels):
            version = versions.get(ch)
            if version is not None and (ch, version) in blob_keys:
                open_channels.discard(ch)
        cursor = parent
    return keep


def _keep_newest(conn: sqlite3.Connection, thread_id: str, count: int) -> int:
    """Keep each namespace's newest ``count`` checkpoints (and their delta ancestors)."""
    dropped = 0
    namespaces = [ns for (ns,) in conn.execute(q.SELECT_NAMESPACES_OF_THREAD, (thread_id,))]
    for ns in namespaces:
        with _naming_damage(thread_id, ns):
            rows = conn.execute(q.SELECT_CHECKPOINT_SHAPES, (thread_id, ns)).fetchall()
            if len(rows) <= count:
                continue
            shapes = {
                cid: (parent, json.loads(versions), delta) for cid, parent, versions, delta in rows
            }
            heads = [row[0] for row in rows[:count]]
            keep = set(heads)
            if any(shapes[h][2] for h in heads):
                blob_keys = {
                    (ch, v) for ch, v in conn.execute(q.SELECT_BLOB_KEYS_OF_NS, (thread_id, ns))
                }
                for head in heads:
                    keep |= _delta_ancestors(shapes, head, blob_keys)
        doomed = json.dumps([cid for cid in shapes if cid not in keep])
        conn.execute(q.DELETE_WRITES_BY_IDS, (thread_id, ns, doomed))
        dropped += conn.execute(q.DELETE_CHECKPOINTS_BY_IDS, (thread_id, ns, doomed)).rowcount
        _collect(conn, [(thread_id, ns)])
    return dropped


def prune(conn: sqlite3.Connection, thread_ids: Sequence[str], strategy: str) -> None:
    """``keep_latest`` or ``delete`` for each thread (one transaction), then vacuum."""
    transaction(conn, q.BEGIN_IMMEDIATE, _prune, thread_ids, strategy)
    _vacuum(conn)


def _prune(conn: sqlite3.Connection, thread_ids: Sequence[str], strategy: str) -> None:
    for thread_id in thread_ids:
        if strategy == "delete":
            _delete_thread(conn, thread_id)
        else:
            _keep_newest(conn, thread_id, 1)


def sweep(conn: sqlite3.Connection, cutoff: float | None, keep_last: int | None) -> tuple[int, int]:
    """Apply a retention policy; return ``(threads deleted, checkpoints deleted)``."""
    result = transaction(conn, q.BEGIN_IMMEDIATE, _sweep, cutoff, keep_last)
    _vacuum(conn)
    return result


def _sweep(
    conn: sqlite3.Connection, cutoff: float | None, keep_last: int | None
) -> tuple[int, int]:
    threads = checkpoints = 0
    if cutoff is not None:
        for (thread_id,) in conn.execute(q.SELECT_IDLE_THREADS, (cutoff,)).fetchall():
            checkpoints += _delete_thread(conn, thread_id)
            threads += 1
    if keep_last is not None:
        crowded = conn.execute(q.SELECT_CROWDED_NAMESPACES, (keep_last,)).fetchall()
        for thread_id in sorted({row[0] for row in crowded}):
            # One thread holding a damaged row is left as it is (and logged); retention goes on
            # for the others.
            conn.execute(q.SAVEPOINT_THREAD)
            try:
                checkpoints += _keep_newest(conn, thread_id, keep_last)
            except CorruptRecordError as exc:
                conn.execute(q.ROLLBACK_TO_SAVEPOINT_THREAD)
                logger.warning("sweep: keep_last skipped thread %r: %s", thread_id, exc)
            conn.execute(q.RELEASE_SAVEPOINT_THREAD)
    return threads, checkpoints
