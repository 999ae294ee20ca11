"""Every SQL statement of the SQLite checkpoint savers, and the schema migrations.

``MIGRATIONS`` is append-only: its position is the schema version recorded in
``pitstop_checkpoint_migrations``. Never edit or reorder an entry; add a new one. User input never
becomes SQL text: ids, namespaces, metadata keys (as JSON paths) and values are bound parameters.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BEGIN_IMMEDIATE",
    "BEGIN_READ",
    "RELEASE_SAVEPOINT",
    "RELEASE_SAVEPOINT_THREAD",
    "ROLLBACK_TO_SAVEPOINT",
    "ROLLBACK_TO_SAVEPOINT_THREAD",
    "SAVEPOINT",
    "SAVEPOINT_THREAD",
    "BUSY_TIMEOUT",
    "COPY_BLOBS",
    "COPY_CHECKPOINTS",
    "COPY_WRITES",
    "DATA_VERSION",
    "DELETE_BLOBS_OF_THREAD",
    "DELETE_CHECKPOINTS_BY_IDS",
    "DELETE_CHECKPOINTS_OF_RUNS",
    "DELETE_CHECKPOINTS_OF_THREAD",
    "DELETE_THREAD_ROW",
    "DELETE_UNREFERENCED_BLOBS",
    "DELETE_WRITES_BY_IDS",
    "DELETE_WRITES_OF_THREAD",
    "INSERT_MIGRATION",
    "INSERT_WRITE_IGNORE",
    "INSERT_WRITE_REPLACE",
    "LIST_ORDER",
    "LIST_ORDER_ONE",
    "LIST_SELECT",
    "LIST_WHERE_AFTER",
    "LIST_WHERE_AFTER_IN_NS",
    "LIST_WHERE_BEFORE",
    "LIST_WHERE_FILTER",
    "LIST_WHERE_ID",
    "LIST_WHERE_NS",
    "LIST_WHERE_THREAD",
    "MIGRATIONS",
    "MIGRATIONS_TABLE",
    "PAGE_CHECKPOINT",
    "PAGE_DEP",
    "PAGE_VALUE",
    "PAGE_WRITE",
    "PRAGMAS",
    "SELECT_BLOB_EXISTS",
    "SELECT_BLOB_KEYS",
    "SELECT_BLOB_KEYS_OF_NS",
    "SELECT_CHAIN",
    "SELECT_CHECKPOINT_COUNT",
    "SELECT_CHECKPOINT_SHAPES",
    "SELECT_CROWDED_NAMESPACES",
    "SELECT_DEP_RECORDS",
    "SELECT_IDLE_THREADS",
    "SELECT_LATEST_ID",
    "SELECT_MIGRATION_VERSION",
    "SELECT_NAMESPACES_OF_THREAD",
    "SELECT_PARENT_ID",
    "SELECT_THREAD_EXISTS",
    "SELECT_WRITES_OF_CHECKPOINTS",
    "TOUCH_THREAD",
    "UPSERT_BLOB",
    "UPSERT_CHECKPOINT",
    "VACUUM",
    "WAL_CHECKPOINT",
]

PRAGMAS: Final = (
    # Must run before the first table exists to take effect; a no-op on an existing file.
    "PRAGMA auto_vacuum = INCREMENTAL",
    "PRAGMA journal_mode = WAL",
    # WAL + NORMAL: a killed process loses nothing committed; only an OS crash may lose the
    # last transactions (never corrupting the file).
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = OFF",
    # ~32 MB of page cache (the default is 2 MB): a listing reads every value of a thread, and
    # re-reading pages from the file costs more than decoding them. Pages are cached as used.
    "PRAGMA cache_size = -32000",
)
"""Per-connection settings, applied by ``setup()`` (``busy_timeout`` is set separately)."""

BEGIN_IMMEDIATE: Final = "BEGIN IMMEDIATE"
"""Write transactions take the write lock up front, so they wait (busy_timeout) instead of
failing half-way with SQLITE_BUSY when another connection commits first."""

BEGIN_READ: Final = "BEGIN DEFERRED"
"""Read transactions: one consistent snapshot for the checkpoint page, its values and writes."""

SAVEPOINT: Final = "SAVEPOINT pitstop_write"
ROLLBACK_TO_SAVEPOINT: Final = "ROLLBACK TO pitstop_write"
RELEASE_SAVEPOINT: Final = "RELEASE pitstop_write"
"""One write of a group commit (``_ops.run_writes``): a failing write is rolled back alone."""

SAVEPOINT_THREAD: Final = "SAVEPOINT pitstop_thread"
ROLLBACK_TO_SAVEPOINT_THREAD: Final = "ROLLBACK TO pitstop_thread"
RELEASE_SAVEPOINT_THREAD: Final = "RELEASE pitstop_thread"
"""One thread of a sweep: a thread holding a damaged row is rolled back alone."""

VACUUM: Final = "PRAGMA incremental_vacuum;"
"""Give freed pages back to the file system (the file was created with auto_vacuum=INCREMENTAL)."""

WAL_CHECKPOINT: Final = "PRAGMA wal_checkpoint(PASSIVE)"

DATA_VERSION: Final = "PRAGMA data_version"
"""Changes when another connection has committed to the database since this one last asked."""

BUSY_TIMEOUT: Final = "PRAGMA busy_timeout = {milliseconds:d}"
"""PRAGMA takes no bound parameters: the only value formatted in is an ``int``."""

SELECT_LATEST_ID: Final = """
SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ?
ORDER BY checkpoint_id DESC LIMIT 1"""

SELECT_PARENT_ID: Final = """
SELECT parent_checkpoint_id FROM checkpoints
WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?"""

SELECT_BLOB_KEYS_OF_NS: Final = (
    "SELECT channel, version FROM blobs WHERE thread_id = ? AND checkpoint_ns = ?"
)

MIGRATIONS_TABLE: Final = """
CREATE TABLE IF NOT EXISTS pitstop_checkpoint_migrations (
    v INTEGER PRIMARY KEY,
    applied_at REAL NOT NULL
)"""

SELECT_MIGRATION_VERSION: Final = "SELECT max(v) FROM pitstop_checkpoint_migrations"

INSERT_MIGRATION: Final = "INSERT INTO pitstop_checkpoint_migrations (v, applied_at) VALUES (?, ?)"

MIGRATIONS: Final[tuple[str, ...]] = (
    # v0: checkpoints without their channel values. `checkpoint` is the serialized checkpoint
    # (type tag in `type`, stored verbatim); `channel_versions` is {channel: str(version)} as
    # JSON, used to find each value in `blobs` and to tell which values are still referenced;
    # `metadata` is JSON text (what filters read), with `metadata_type`/`metadata_blob` holding
    # the serialized metadata only when JSON cannot represent it exactly.
    """
    CREATE TABLE checkpoints (
        thread_id TEXT NOT NULL,
        checkpoint_ns TEXT NOT NULL DEFAULT '',
        checkpoint_id TEXT NOT NULL,
        parent_checkpoint_id TEXT,
        type TEXT NOT NULL,
        checkpoint BLOB NOT NULL,
        channel_versions TEXT NOT NULL,
        metadata TEXT NOT NULL,
        metadata_type TEXT,
        metadata_blob BLOB,
        run_id TEXT,
        created_at REAL NOT NULL,
        PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
    )""",
    # v1: one value per (thread, namespace, channel, version), written only for new versions.
    """
    CREATE TABLE blobs (
        thread_id TEXT NOT NULL,
        checkpoint_ns TEXT NOT NULL DEFAULT '',
        channel TEXT NOT NULL,
        version TEXT NOT NULL,
        type TEXT NOT NULL,
        blob BLOB,
        PRIMARY KEY (thread_id, checkpoint_ns, channel, version)
    )""",
    # v2: pending writes of the task that ran from a checkpoint.
    """
    CREATE TABLE writes (
        thread_id TEXT NOT NULL,
        checkpoint_ns TEXT NOT NULL DEFAULT '',
        checkpoint_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        channel TEXT NOT NULL,
        type TEXT NOT NULL,
        value BLOB,
        task_path TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
    )""",
    # v3: when each thread was last written (put / put_writes), for RetentionPolicy.max_idle.
    """
    CREATE TABLE threads (
        thread_id TEXT PRIMARY KEY,
        touched_at REAL NOT NULL
    )""",
    # v4: delete_for_runs looks checkpoints up by run.
    "CREATE INDEX checkpoints_run_id ON checkpoints (run_id) WHERE run_id IS NOT NULL",
    # v5: the earlier versions a delta value record needs (its whole chain, one row each),
    # written with the record; values are collected by reachability through it.
    """
    CREATE TABLE blob_deps (
        thread_id TEXT NOT NULL,
        checkpoint_ns TEXT NOT NULL DEFAULT '',
        channel TEXT NOT NULL,
        version TEXT NOT NULL,
        dep_version TEXT NOT NULL,
        PRIMARY KEY (thread_id, checkpoint_ns, channel, version, dep_version)
    ) WITHOUT ROWID""",
    # v6-v16: fewer pages written per checkpoint. `blobs` and `writes` become WITHOUT ROWID
    # tables (a row lives in its primary-key b-tree: no separate index to update), `blobs` keyed
    # by version before channel (the values one checkpoint adds are neighbours), and a delta's
    # chain is one `blob_chains` row (a JSON array of versions) instead of one row per version.
    # Rows are copied over in the same transaction.
    """
    CREATE TABLE blobs_v6 (
        thread_id TEXT NOT NULL,
        checkpoint_ns TEXT NOT NULL DEFAULT '',
        version TEXT NOT NULL,
        channel TEXT NOT NULL,
        type TEXT NOT NULL,
        blob BLOB,
        PRIMARY KEY (thread_id, checkpoint_ns, version, channel)
    ) WITHOUT ROWID""",
    """
    INSERT INTO blobs_v6 (thread_id, checkpoint_ns, version, channel, type, blob)
    SELECT thread_id, checkpoint_ns, version, channel, type, blob FROM blobs""",
    "DROP TABLE blobs",
    "ALTER TABLE blobs_v6 RENAME TO blobs",
    """
    CREATE TABLE writes_v10 (
        thread_id TEXT NOT NULL,
        checkpoint_ns TEXT NOT NULL DEFAULT '',
        checkpoint_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        channel TEXT NOT NULL,
        type TEXT NOT NULL,
        value BLOB,
        task_path TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
    ) WITHOUT ROWID""",
    """
    INSERT INTO writes_v10 (
        thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, value, task_path)
    SELECT thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, value, task_path
    FROM writes""",
    "DROP TABLE writes",
    "ALTER TABLE writes_v10 RENAME TO writes",
    """
    CREATE TABLE blob_chains (
        thread_id TEXT NOT NULL,
        checkpoint_ns TEXT NOT NULL DEFAULT '',
        version TEXT NOT NULL,
        channel TEXT NOT NULL,
        chain TEXT NOT NULL,
        PRIMARY KEY (thread_id, checkpoint_ns, version, channel)
    ) WITHOUT ROWID""",
    """
    INSERT INTO blob_chains (thread_id, checkpoint_ns, version, channel, chain)
    SELECT thread_id, checkpoint_ns, version, channel, json_group_array(dep_version)
    FROM (SELECT * FROM blob_deps ORDER BY thread_id, checkpoint_ns, version, channel, dep_version)
    GROUP BY thread_id, checkpoint_ns, version, channel""",
    "DROP TABLE blob_deps",
    # v17-v21: a delta's chain moves into its own `blobs` row (column `chain`, before the
    # value, so reading it never walks a large value's overflow pages): a put writes one
    # b-tree fewer and two statements fewer, and replacing a record replaces its chain with
    # it. `blobs` becomes a rowid table again (its key in a separate index): a row keeps up to
    # ~4 KB in its leaf page, where a WITHOUT ROWID row spills everything past ~1 KB into an
    # overflow page of its own (the many records of a few KB each would take a page each).
    # Rows copied over.
    """
    CREATE TABLE blobs_v17 (
        thread_id TEXT NOT NULL,
        checkpoint_ns TEXT NOT NULL DEFAULT '',
        version TEXT NOT NULL,
        channel TEXT NOT NULL,
        type TEXT NOT NULL,
        chain TEXT,
        blob BLOB,
        PRIMARY KEY (thread_id, checkpoint_ns, version, channel)
    )""",
    """
    INSERT INTO blobs_v17 (thread_id, checkpoint_ns, version, channel, type, chain, blob)
    SELECT b.thread_id, b.checkpoint_ns, b.version, b.channel, b.type, d.chain, b.blob
    FROM blobs AS b
    LEFT JOIN blob_chains AS d
      ON d.thread_id = b.thread_id AND d.checkpoint_ns = b.checkpoint_ns
     AND d.version = b.version AND d.channel = b.channel""",
    "DROP TABLE blobs",
    "DROP TABLE blob_chains",
    "ALTER TABLE blobs_v17 RENAME TO blobs",
)

# -- writes ------------------------------------------------------------------------------------

UPSERT_CHECKPOINT: Final = """
INSERT OR REPLACE INTO checkpoints (
    thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint,
    channel_versions, metadata, metadata_type, metadata_blob, run_id, created_at
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""

UPSERT_BLOB: Final = """
INSERT OR REPLACE INTO blobs (thread_id, checkpoint_ns, channel, version, type, blob, chain)
VALUES (?, ?, ?, ?, ?, ?, ?)"""
"""One value record; ``chain`` is a delta's: a JSON array of the versions it is built on
(``NULL`` for a full value). A value re-written at the same version replaces its chain too."""

SELECT_BLOB_EXISTS: Final = """
SELECT 1 FROM blobs WHERE thread_id = ? AND checkpoint_ns = ? AND channel = ? AND version = ?"""
"""Whether a delta's base is still stored (if it is, so is its whole chain)."""

TOUCH_THREAD: Final = """
INSERT INTO threads (thread_id, touched_at) VALUES (?, ?)
ON CONFLICT (thread_id) DO UPDATE SET touched_at = excluded.touched_at
WHERE NOT (excluded.touched_at >= threads.touched_at
           AND excluded.touched_at < threads.touched_at + 1.0)"""
"""Record a thread's last write time, to the second: a write less than a second after the
recorded time leaves the row (and its page) untouched, which saves a page write per commit
while a graph runs. Retention's ``max_idle`` is thus exact to within one second."""

_WRITE_COLUMNS: Final = (
    "(thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, value, task_path)"
)

INSERT_WRITE_IGNORE: Final = (
    f"INSERT OR IGNORE INTO writes {_WRITE_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
"""Regular writes: re-running a step never duplicates them, and the first value wins."""

INSERT_WRITE_REPLACE: Final = (
    f"INSERT OR REPLACE INTO writes {_WRITE_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
"""Special channels (error, interrupt, resume, scheduled): the latest state of the task wins."""

# -- reads -------------------------------------------------------------------------------------

LIST_SELECT: Final = """
WITH keys AS (
SELECT rowid AS k
FROM checkpoints
WHERE 1"""
"""A page of checkpoints with their values and pending writes, in one statement (one snapshot
without an explicit transaction): ``LIST_SELECT``, then some ``LIST_WHERE_*`` conditions, then
``LIST_ORDER``. Only these constant pieces are ever joined; every value is a bound parameter.
Each result row starts with its kind (``PAGE_CHECKPOINT``, ``PAGE_VALUE``, ``PAGE_WRITE``) and
the checkpoint's rowid; ``read_page`` splits and orders them."""

LIST_WHERE_THREAD: Final = " AND thread_id = :thread_id"
LIST_WHERE_NS: Final = " AND checkpoint_ns = :checkpoint_ns"
LIST_WHERE_ID: Final = " AND checkpoint_id = :checkpoint_id"
LIST_WHERE_BEFORE: Final = " AND checkpoint_id < :before"
LIST_WHERE_AFTER_IN_NS: Final = " AND checkpoint_id < :after_id"
"""Keyset pagination inside one (thread, namespace): the id alone is unique."""
LIST_WHERE_AFTER: Final = (
    " AND (checkpoint_id, thread_id, checkpoint_ns) < (:after_id, :after_thread, :after_ns)"
)
"""Keyset pagination across threads or namespaces, which may share checkpoint ids."""
LIST_WHERE_FILTER: Final = """
  AND CASE WHEN NOT json_valid(metadata) THEN 1 ELSE NOT EXISTS (
    SELECT 1 FROM json_each(:filter) AS f
    WHERE NOT (
        CASE json_extract(f.value, '$[1]')
            WHEN 'null' THEN
                coalesce(json_type(metadata, json_extract(f.value, '$[0]')), 'null') = 'null'
            WHEN 'true' THEN json_type(metadata, json_extract(f.value, '$[0]')) = 'true'
            WHEN 'false' THEN json_type(metadata, json_extract(f.value, '$[0]')) = 'false'
            WHEN 'number' THEN
                json_type(metadata, json_extract(f.value, '$[0]')) IN ('integer', 'real')
                AND json_extract(metadata, json_extract(f.value, '$[0]'))
                    = json_extract(f.value, '$[2]')
            WHEN 'text' THEN
                json_type(metadata, json_extract(f.value, '$[0]')) = 'text'
                AND json_extract(metadata, json_extract(f.value, '$[0]'))
                    = json_extract(f.value, '$[2]')
            ELSE 1
        END)) END"""
"""The metadata filter, compiled to a JSON array of ``[json_path, kind, value]`` (keys become
quoted JSON paths, bound as a parameter): a row must satisfy all of them. What SQL cannot decide
exactly (objects, arrays, unusual keys) is left to the exact check in Python, and so is a row
whose metadata is not valid JSON (decoding it then raises the error naming that checkpoint)."""
LIST_ORDER: Final = """
ORDER BY checkpoint_id DESC, thread_id DESC, checkpoint_ns DESC LIMIT :limit),
page AS MATERIALIZED (
SELECT c.rowid AS rid, c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id,
       c.type, c.checkpoint, c.metadata, c.metadata_type, c.metadata_blob,
       CASE WHEN substr(c.channel_versions, 1, 1) = '{' AND json_valid(c.channel_versions)
            THEN c.channel_versions END AS versions
FROM keys CROSS JOIN checkpoints AS c ON c.rowid = keys.k)
SELECT 0, rid, thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint,
       metadata, metadata_type, metadata_blob, versions IS NULL
FROM page
UNION ALL
SELECT 1, c.rid, b.channel, b.type, b.blob, b.version, NULL, NULL, NULL, NULL, NULL, NULL
FROM page AS c
CROSS JOIN json_each(c.versions) AS v
CROSS JOIN blobs AS b
  ON b.thread_id = c.thread_id AND b.checkpoint_ns = c.checkpoint_ns
 AND b.channel = v.key AND b.version = v.value
UNION ALL
SELECT 3, NULL, b.thread_id, b.checkpoint_ns, b.channel, b.version, b.type, b.blob,
       NULL, NULL, NULL, NULL
FROM (SELECT DISTINCT d.thread_id, d.checkpoint_ns, d.channel, j.value AS dep_version
      FROM page AS c
      CROSS JOIN json_each(c.versions) AS v
      CROSS JOIN blobs AS d
        ON d.thread_id = c.thread_id AND d.checkpoint_ns = c.checkpoint_ns
       AND d.version = v.value AND d.channel = v.key
      CROSS JOIN json_each(CASE WHEN json_valid(d.chain) THEN d.chain END) AS j) AS k
CROSS JOIN blobs AS b
  ON b.thread_id = k.thread_id AND b.checkpoint_ns = k.checkpoint_ns
 AND b.channel = k.channel AND b.version = k.dep_version
UNION ALL
SELECT 2, c.rid, w.task_id, w.channel, w.type, w.value, w.task_path, w.idx, NULL, NULL, NULL,
       NULL
FROM page AS c
CROSS JOIN writes AS w
  ON w.thread_id = c.thread_id AND w.checkpoint_ns = c.checkpoint_ns
 AND w.checkpoint_id = c.checkpoint_id"""
"""Sorts and limits the page on keys alone (from the primary-key index when no metadata filter
applies; sorting whole rows would carry every serialized checkpoint of the thread through the
sorter), reads the page's rows by rowid, then adds their channel values (``CROSS JOIN`` fixes
the join order: checkpoint, its versions, then one primary-key lookup per value; left to itself
the planner scans the thread's values for each checkpoint) and their pending writes (with
``task_path`` and ``idx``, so ``read_page`` can put them in the order the runtime applies
them), and the records the page's delta values are built on (named by their ``chain``; each
once per page), so reading a checkpoint stays one statement. A checkpoint row ends with a flag:
its ``channel_versions`` are not a JSON object (a corrupt row: its values are not looked up, and
decoding it raises an error naming it); a corrupt ``chain`` names no record (the delta's own
check then finds its chain missing). Either way the statement, and the rest of the page, still
read."""

LIST_ORDER_ONE: Final = LIST_ORDER.replace("SELECT DISTINCT d.thread_id", "SELECT d.thread_id")
"""``LIST_ORDER`` for a page of at most one checkpoint (``get_tuple``): its channels' chains
cannot name a record twice, so the chain records need no de-duplication (~8% of the read)."""

PAGE_CHECKPOINT: Final = 0
PAGE_VALUE: Final = 1
PAGE_WRITE: Final = 2
PAGE_DEP: Final = 3

SELECT_CHAIN: Final = """
WITH RECURSIVE chain (checkpoint_id, parent_checkpoint_id, channel_versions, depth) AS (
    SELECT checkpoint_id, parent_checkpoint_id, channel_versions, 0
    FROM checkpoints
    WHERE thread_id = :thread_id AND checkpoint_ns = :checkpoint_ns
      AND checkpoint_id = :checkpoint_id
    UNION ALL
    SELECT c.checkpoint_id, c.parent_checkpoint_id, c.channel_versions, chain.depth + 1
    FROM chain JOIN checkpoints AS c
      ON c.thread_id = :thread_id AND c.checkpoint_ns = :checkpoint_ns
     AND c.checkpoint_id = chain.parent_checkpoint_id
    WHERE chain.depth < :limit
)
SELECT checkpoint_id, parent_checkpoint_id, channel_versions FROM chain ORDER BY depth"""
"""Up to ``:limit + 1`` checkpoints along the parent chain, starting at ``:checkpoint_id``."""

SELECT_WRITES_OF_CHECKPOINTS: Final = """
SELECT checkpoint_id, task_id, channel, type, value
FROM writes
WHERE thread_id = ? AND checkpoint_ns = ?
  AND checkpoint_id IN (SELECT value FROM json_each(?))
  AND channel IN (SELECT value FROM json_each(?))
ORDER BY checkpoint_id DESC, task_path DESC, task_id DESC, idx DESC"""
"""Writes of some checkpoints to some channels, newest first (the delta-history walk)."""

SELECT_BLOB_KEYS: Final = """
SELECT channel, version, type, blob FROM blobs
WHERE thread_id = ? AND checkpoint_ns = ?
  AND (channel, version) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]')
                             FROM json_each(?))"""
"""Values at given ``[channel, version]`` pairs of one namespace."""

SELECT_DEP_RECORDS: Final = """
SELECT d.channel, j.value, b.type, b.blob
FROM blobs AS d
CROSS JOIN json_each(CASE WHEN json_valid(d.chain) THEN d.chain END) AS j
CROSS JOIN blobs AS b
  ON b.thread_id = d.thread_id AND b.checkpoint_ns = d.checkpoint_ns
 AND b.version = j.value AND b.channel = d.channel
WHERE d.thread_id = ? AND d.checkpoint_ns = ?
  AND (d.channel, d.version) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]')
                                 FROM json_each(?))"""
"""The records the delta values at given ``[channel, version]`` pairs are built on."""

SELECT_CHECKPOINT_SHAPES: Final = """
SELECT checkpoint_id, parent_checkpoint_id, channel_versions,
       json_extract(metadata, '$.counters_since_delta_snapshot')
FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ?
ORDER BY checkpoint_id DESC"""
"""What retention needs of each checkpoint of a namespace: ids, parent, versions, delta channels."""

SELECT_NAMESPACES_OF_THREAD: Final = (
    "SELECT DISTINCT checkpoint_ns FROM checkpoints WHERE thread_id = ? ORDER BY checkpoint_ns"
)

SELECT_CROWDED_NAMESPACES: Final = """
SELECT thread_id, checkpoint_ns FROM checkpoints
GROUP BY thread_id, checkpoint_ns HAVING count(*) > ?
ORDER BY thread_id, checkpoint_ns"""

SELECT_IDLE_THREADS: Final = "SELECT thread_id FROM threads WHERE touched_at < ? ORDER BY thread_id"

SELECT_CHECKPOINT_COUNT: Final = "SELECT count(*) FROM checkpoints WHERE thread_id = ?"

SELECT_THREAD_EXISTS: Final = "SELECT 1 FROM checkpoints WHERE thread_id = ? LIMIT 1"

# -- maintenance -------------------------------------------------------------------------------

DELETE_CHECKPOINTS_OF_THREAD: Final = "DELETE FROM checkpoints WHERE thread_id = ?"
DELETE_WRITES_OF_THREAD: Final = "DELETE FROM writes WHERE thread_id = ?"
DELETE_BLOBS_OF_THREAD: Final = "DELETE FROM blobs WHERE thread_id = ?"
DELETE_THREAD_ROW: Final = "DELETE FROM threads WHERE thread_id = ?"

DELETE_CHECKPOINTS_BY_IDS: Final = """
DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ?
AND checkpoint_id IN (SELECT value FROM json_each(?))"""

DELETE_WRITES_BY_IDS: Final = """
DELETE FROM writes WHERE thread_id = ? AND checkpoint_ns = ?
AND checkpoint_id IN (SELECT value FROM json_each(?))"""

DELETE_CHECKPOINTS_OF_RUNS: Final = """
DELETE FROM checkpoints WHERE run_id IN (SELECT value FROM json_each(?))
RETURNING thread_id, checkpoint_ns, checkpoint_id"""

DELETE_UNREFERENCED_BLOBS: Final = """
WITH referenced (channel, version) AS MATERIALIZED (
    SELECT v.key, v.value FROM checkpoints AS c, json_each(c.channel_versions) AS v
    WHERE c.thread_id = :thread_id AND c.checkpoint_ns = :checkpoint_ns)
DELETE FROM blobs
WHERE thread_id = :thread_id AND checkpoint_ns = :checkpoint_ns
  AND (channel, version) NOT IN (SELECT channel, version FROM referenced)
  AND (channel, version) NOT IN (
      SELECT d.channel, j.value FROM referenced AS r
      CROSS JOIN blobs AS d
        ON d.thread_id = :thread_id AND d.checkpoint_ns = :checkpoint_ns
       AND d.version = r.version AND d.channel = r.channel
      CROSS JOIN json_each(d.chain) AS j)"""
"""Garbage-collect the values of one namespace that no remaining checkpoint references, keeping
every record a referenced delta value is built on (a delta's ``chain`` names its whole chain)."""

COPY_CHECKPOINTS: Final = """
INSERT INTO checkpoints (
    thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint,
    channel_versions, metadata, metadata_type, metadata_blob, run_id, created_at)
SELECT :target, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint,
       channel_versions, metadata, metadata_type, metadata_blob, run_id, created_at
FROM checkpoints WHERE thread_id = :source"""

COPY_BLOBS: Final = """
INSERT INTO blobs (thread_id, checkpoint_ns, channel, version, type, blob, chain)
SELECT :target, checkpoint_ns, channel, version, type, blob, chain
FROM blobs WHERE thread_id = :source"""

COPY_WRITES: Final = """
INSERT INTO writes (
    thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, value, task_path)
SELECT :target, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, value, task_path
FROM writes WHERE thread_id = :source"""
