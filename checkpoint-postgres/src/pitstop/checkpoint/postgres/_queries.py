"""Every SQL statement of the PostgreSQL savers, and the append-only ``MIGRATIONS``.

Statements are templates for :class:`psycopg.sql.SQL`: ``{schema}`` is filled with
:class:`psycopg.sql.Identifier` (never string formatting), ``{where}``/``{order}`` only with the
constant ``LIST_*`` pieces below. Every value — ids, namespaces, metadata filter keys and values —
is a bound parameter. The position of a migration in ``MIGRATIONS`` is its schema version.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ADVISORY_LOCK",
    "COPY_THREAD",
    "CREATE_SCHEMA",
    "DELETE_CHECKPOINTS_BY_IDS",
    "DELETE_CHECKPOINTS_OF_RUNS",
    "DELETE_THREAD",
    "DELETE_UNREFERENCED_BLOBS",
    "DELETE_WRITES_BY_IDS",
    "INSERT_MIGRATION",
    "LIST_AFTER",
    "LIST_AFTER_IN_NS",
    "LIST_BEFORE",
    "LIST_FILTER",
    "LIST_ID",
    "LIST_NS",
    "LIST_THREAD",
    "MIGRATIONS",
    "MIGRATIONS_TABLE",
    "PUT",
    "PUT_UNTOUCHED",
    "PUT_WRITES",
    "PUT_WRITES_UNTOUCHED",
    "SELECT_CHAIN",
    "SELECT_CHECKPOINT_COUNT",
    "SELECT_CHECKPOINT_SHAPES",
    "SELECT_CROWDED_THREADS",
    "SELECT_IDLE_THREADS",
    "SELECT_LATEST_ID",
    "SELECT_MIGRATION_VERSION",
    "SELECT_NAMESPACES_OF_THREAD",
    "SELECT_PAGE",
    "SELECT_SEEDS",
    "SELECT_THREAD_EXISTS",
    "SELECT_WRITES_OF_CHECKPOINTS",
    "SCHEMA_EXISTS",
]

# -- migrations --------------------------------------------------------------------------------

ADVISORY_LOCK: Final = "SELECT pg_advisory_xact_lock(%s)"
"""Serializes ``setup()`` across processes: held until the migration's transaction ends."""

SCHEMA_EXISTS: Final = "SELECT 1 FROM pg_namespace WHERE nspname = %s"
"""Checked first: ``CREATE SCHEMA IF NOT EXISTS`` needs the CREATE privilege even when the
schema exists."""

CREATE_SCHEMA: Final = "CREATE SCHEMA IF NOT EXISTS {schema}"

MIGRATIONS_TABLE: Final = """
CREATE TABLE IF NOT EXISTS {schema}.pitstop_checkpoint_migrations (
    v INTEGER PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""

SELECT_MIGRATION_VERSION: Final = "SELECT max(v) FROM {schema}.pitstop_checkpoint_migrations"

INSERT_MIGRATION: Final = "INSERT INTO {schema}.pitstop_checkpoint_migrations (v) VALUES (%s)"

MIGRATIONS: Final[tuple[str, ...]] = (
    # v0: checkpoints without their channel values. `checkpoint` is the serialized checkpoint
    # (serde type tag in `type`, verbatim); `channel_versions` {channel: version} finds each value
    # in the blobs table. Metadata is stored twice: exactly (`metadata_type`/`metadata_blob`, what
    # reads return) and as JSONB for filters, with NUL characters removed (JSONB rejects them)
    # and values JSON cannot hold nulled; `metadata_exact` says the JSONB is faithful, else a
    # filter leaves the row to the exact check in Python.
    """
    CREATE TABLE {schema}.pitstop_checkpoints (
        thread_id TEXT NOT NULL,
        checkpoint_ns TEXT NOT NULL DEFAULT '',
        checkpoint_id TEXT NOT NULL,
        parent_checkpoint_id TEXT,
        type TEXT NOT NULL,
        checkpoint BYTEA NOT NULL,
        channel_versions JSONB NOT NULL,
        metadata JSONB NOT NULL,
        metadata_exact BOOLEAN NOT NULL,
        metadata_type TEXT NOT NULL,
        metadata_blob BYTEA NOT NULL,
        run_id TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
    )""",
    # v1: one value per (thread, namespace, channel, version), written only for new versions.
    """
    CREATE TABLE {schema}.pitstop_checkpoint_blobs (
        thread_id TEXT NOT NULL,
        checkpoint_ns TEXT NOT NULL DEFAULT '',
        channel TEXT NOT NULL,
        version TEXT NOT NULL,
        type TEXT NOT NULL,
        blob BYTEA NOT NULL,
        PRIMARY KEY (thread_id, checkpoint_ns, channel, version)
    )""",
    # v2: pending writes of the tasks that ran from a checkpoint.
    """
    CREATE TABLE {schema}.pitstop_checkpoint_writes (
        thread_id TEXT NOT NULL,
        checkpoint_ns TEXT NOT NULL DEFAULT '',
        checkpoint_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        channel TEXT NOT NULL,
        type TEXT NOT NULL,
        blob BYTEA NOT NULL,
        task_path TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
    )""",
    # v3: when each thread was last written (put / put_writes), for RetentionPolicy.max_idle.
    """
    CREATE TABLE {schema}.pitstop_threads (
        thread_id TEXT PRIMARY KEY,
        touched_at DOUBLE PRECISION NOT NULL
    )""",
    # v4: delete_for_runs finds checkpoints by run. A plain CREATE INDEX (the table is new, so
    # this is instant and transactional); never CONCURRENTLY, which cannot run in a transaction.
    """
    CREATE INDEX pitstop_checkpoints_run_id ON {schema}.pitstop_checkpoints (run_id)
    WHERE run_id IS NOT NULL""",
    # v5: idle-thread sweeps.
    "CREATE INDEX pitstop_threads_touched_at ON {schema}.pitstop_threads (touched_at)",
)

# -- writes ------------------------------------------------------------------------------------

_TOUCH: Final = """
    INSERT INTO {schema}.pitstop_threads AS t (thread_id, touched_at)
    VALUES (%(thread_id)s, %(now)s)
    ON CONFLICT (thread_id)
    DO UPDATE SET touched_at = greatest(t.touched_at, excluded.touched_at)"""

_TOUCHED: Final = f"""
touched AS ({_TOUCH}
),"""

_PUT: Final = """
WITH {touched} new_blobs AS (
    INSERT INTO {{schema}}.pitstop_checkpoint_blobs
        (thread_id, checkpoint_ns, channel, version, type, blob)
    SELECT %(thread_id)s, %(checkpoint_ns)s, u.channel, u.version, u.type, u.blob
    FROM unnest(%(channels)s::text[], %(versions)s::text[], %(types)s::text[], %(blobs)s::bytea[])
        AS u (channel, version, type, blob)
    ON CONFLICT (thread_id, checkpoint_ns, channel, version)
    DO UPDATE SET type = excluded.type, blob = excluded.blob
)
INSERT INTO {{schema}}.pitstop_checkpoints (
    thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint,
    channel_versions, metadata, metadata_exact, metadata_type, metadata_blob, run_id, created_at)
VALUES (
    %(thread_id)s, %(checkpoint_ns)s, %(checkpoint_id)s, %(parent_id)s, %(type)s, %(checkpoint)s,
    %(channel_versions)s::jsonb, %(metadata)s::jsonb, %(metadata_exact)s, %(metadata_type)s,
    %(metadata_blob)s, %(run_id)s, %(now)s)
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id) DO UPDATE SET
    parent_checkpoint_id = excluded.parent_checkpoint_id,
    type = excluded.type,
    checkpoint = excluded.checkpoint,
    channel_versions = excluded.channel_versions,
    metadata = excluded.metadata,
    metadata_exact = excluded.metadata_exact,
    metadata_type = excluded.metadata_type,
    metadata_blob = excluded.metadata_blob,
    run_id = excluded.run_id"""

PUT: Final = _PUT.format(touched=_TOUCHED)
"""One statement, one round trip: the thread's clock, the new channel values, the checkpoint."""

PUT_UNTOUCHED: Final = _PUT.format(touched="")
"""``PUT`` when this saver touched the thread's clock recently (see ``TOUCH_INTERVAL``)."""

_PUT_WRITES: Final = """
WITH {touched} kept AS (
    INSERT INTO {{schema}}.pitstop_checkpoint_writes
        (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob, task_path)
    SELECT %(thread_id)s, %(checkpoint_ns)s, %(checkpoint_id)s, %(task_id)s,
           u.idx, u.channel, u.type, u.blob, %(task_path)s
    FROM unnest(%(k_idx)s::int[], %(k_channels)s::text[], %(k_types)s::text[],
                %(k_blobs)s::bytea[]) AS u (idx, channel, type, blob)
    ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO NOTHING
)
INSERT INTO {{schema}}.pitstop_checkpoint_writes
    (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob, task_path)
SELECT %(thread_id)s, %(checkpoint_ns)s, %(checkpoint_id)s, %(task_id)s,
       u.idx, u.channel, u.type, u.blob, %(task_path)s
FROM unnest(%(r_idx)s::int[], %(r_channels)s::text[], %(r_types)s::text[],
            %(r_blobs)s::bytea[]) AS u (idx, channel, type, blob)
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO UPDATE SET
    channel = excluded.channel, type = excluded.type, blob = excluded.blob,
    task_path = excluded.task_path"""

PUT_WRITES: Final = _PUT_WRITES.format(touched=_TOUCHED)
"""One statement: regular writes keep the first value stored at their ``(task_id, idx)``
(a re-run never duplicates them); special channels (error, interrupt, resume, scheduled,
negative idx) replace it (the latest state of the task)."""

PUT_WRITES_UNTOUCHED: Final = _PUT_WRITES.format(touched="")

# -- reads -------------------------------------------------------------------------------------

SELECT_PAGE: Final = """
SELECT c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id, c.type,
       c.checkpoint, c.metadata_type, c.metadata_blob,
       v.channels, v.types, v.blobs,
       w.task_ids, w.channels, w.types, w.blobs
FROM (
    SELECT c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id, c.type,
           c.checkpoint, c.channel_versions, c.metadata_type, c.metadata_blob
    FROM {schema}.pitstop_checkpoints AS c
    WHERE TRUE{where}
    ORDER BY c.checkpoint_id DESC, c.thread_id DESC, c.checkpoint_ns DESC
    LIMIT %(limit)s
) AS c
LEFT JOIN LATERAL (
    SELECT array_agg(cv.channel) AS channels, array_agg(b.type) AS types,
           array_agg(b.blob) AS blobs
    FROM jsonb_each_text(c.channel_versions) AS cv (channel, version)
    CROSS JOIN LATERAL (
        SELECT b.type, b.blob FROM {schema}.pitstop_checkpoint_blobs AS b
        WHERE b.thread_id = c.thread_id AND b.checkpoint_ns = c.checkpoint_ns
          AND b.channel = cv.channel AND b.version = cv.version
        LIMIT 1  -- a primary-key lookup; LIMIT keeps the planner from flattening it
    ) AS b
) AS v ON TRUE
LEFT JOIN LATERAL (
    SELECT array_agg(w.task_id ORDER BY w.task_path, w.task_id, w.idx) AS task_ids,
           array_agg(w.channel ORDER BY w.task_path, w.task_id, w.idx) AS channels,
           array_agg(w.type ORDER BY w.task_path, w.task_id, w.idx) AS types,
           array_agg(w.blob ORDER BY w.task_path, w.task_id, w.idx) AS blobs
    FROM {schema}.pitstop_checkpoint_writes AS w
    WHERE w.thread_id = c.thread_id AND w.checkpoint_ns = c.checkpoint_ns
      AND w.checkpoint_id = c.checkpoint_id
) AS w ON TRUE
ORDER BY c.checkpoint_id DESC, c.thread_id DESC, c.checkpoint_ns DESC"""
"""A page of checkpoints with their channel values and pending writes: one statement.

The inner query picks the page (``{where}`` joins constant ``LIST_*`` pieces), so the lateral
subqueries run for the rows of that page only; each value is one primary-key lookup (a
``LATERAL`` per channel, so the planner cannot hash the thread's whole value table per row).
Pending writes come in the order the runtime applies them (LangGraph's ``writes_sort_key``:
task path, task id, index)."""

LIST_THREAD: Final = " AND c.thread_id = %(thread_id)s"
LIST_NS: Final = " AND c.checkpoint_ns = %(checkpoint_ns)s"
LIST_ID: Final = " AND c.checkpoint_id = %(checkpoint_id)s"
LIST_BEFORE: Final = " AND c.checkpoint_id < %(before)s"
LIST_AFTER_IN_NS: Final = " AND c.checkpoint_id < %(after_id)s"
"""Keyset pagination inside one (thread, namespace): the id alone is unique."""
LIST_AFTER: Final = (
    " AND (c.checkpoint_id, c.thread_id, c.checkpoint_ns)"
    " < (%(after_id)s, %(after_thread)s, %(after_ns)s)"
)
"""Keyset pagination across threads or namespaces, which may share checkpoint ids."""
LIST_FILTER: Final = """
      AND (NOT c.metadata_exact OR NOT EXISTS (
          SELECT 1 FROM jsonb_array_elements(%(filter)s::jsonb) AS f (term)
          WHERE CASE WHEN jsonb_typeof(f.term -> 1) = 'null'
                     THEN coalesce(c.metadata -> (f.term ->> 0), 'null'::jsonb) <> 'null'::jsonb
                     ELSE (c.metadata -> (f.term ->> 0)) IS DISTINCT FROM (f.term -> 1)
                END))"""
"""The metadata filter as one JSONB parameter ``[[key, value], ...]``: every term must hold
(a ``null`` value also matches a missing key). JSONB equality is JSON equality (``1 = 1.0``,
``true <> 1``, objects and arrays whole), so this keeps every row ``metadata_matches`` accepts;
the exact check then runs in Python. Terms SQL cannot decide exactly are never sent."""

SELECT_LATEST_ID: Final = """
SELECT checkpoint_id FROM {schema}.pitstop_checkpoints
WHERE thread_id = %s AND checkpoint_ns = %s ORDER BY checkpoint_id DESC LIMIT 1"""

SELECT_CHAIN: Final = """
WITH RECURSIVE chain (checkpoint_id, parent_checkpoint_id, channel_versions, depth) AS (
    SELECT checkpoint_id, parent_checkpoint_id, channel_versions, 0
    FROM {schema}.pitstop_checkpoints
    WHERE thread_id = %(thread_id)s AND checkpoint_ns = %(checkpoint_ns)s
      AND checkpoint_id = %(checkpoint_id)s
    UNION ALL
    SELECT c.checkpoint_id, c.parent_checkpoint_id, c.channel_versions, chain.depth + 1
    FROM chain JOIN {schema}.pitstop_checkpoints AS c
      ON c.thread_id = %(thread_id)s AND c.checkpoint_ns = %(checkpoint_ns)s
     AND c.checkpoint_id = chain.parent_checkpoint_id
    WHERE chain.depth < %(limit)s
)
SELECT chain.checkpoint_id, chain.parent_checkpoint_id,
       ARRAY(SELECT ch FROM unnest(%(channels)s::text[]) AS ch
             WHERE EXISTS (SELECT 1 FROM {schema}.pitstop_checkpoint_blobs AS b
                           WHERE b.thread_id = %(thread_id)s
                             AND b.checkpoint_ns = %(checkpoint_ns)s
                             AND b.channel = ch
                             AND b.version = chain.channel_versions ->> ch)),
       chain.channel_versions
FROM chain ORDER BY chain.depth"""
"""Up to ``limit + 1`` checkpoints along the parent chain from ``checkpoint_id``, each with the
requested channels it stores a value for (where a delta channel's history stops)."""

SELECT_WRITES_OF_CHECKPOINTS: Final = """
SELECT checkpoint_id, task_id, channel, type, blob
FROM {schema}.pitstop_checkpoint_writes
WHERE thread_id = %s AND checkpoint_ns = %s
  AND checkpoint_id = ANY(%s::text[]) AND channel = ANY(%s::text[])
ORDER BY checkpoint_id, task_path, task_id, idx"""

SELECT_SEEDS: Final = """
SELECT b.channel, b.type, b.blob
FROM unnest(%s::text[], %s::text[]) AS k (channel, version)
JOIN {schema}.pitstop_checkpoint_blobs AS b
  ON b.thread_id = %s AND b.checkpoint_ns = %s
 AND b.channel = k.channel AND b.version = k.version"""

SELECT_CHECKPOINT_SHAPES: Final = """
SELECT checkpoint_id, parent_checkpoint_id, channel_versions,
       metadata -> 'counters_since_delta_snapshot',
       ARRAY(SELECT e.key FROM jsonb_each_text(channel_versions) AS e
             WHERE EXISTS (SELECT 1 FROM {schema}.pitstop_checkpoint_blobs AS b
                           WHERE b.thread_id = c.thread_id AND b.checkpoint_ns = c.checkpoint_ns
                             AND b.channel = e.key AND b.version = e.value))
FROM {schema}.pitstop_checkpoints AS c WHERE thread_id = %s AND checkpoint_ns = %s
ORDER BY checkpoint_id DESC"""
"""What retention needs of each checkpoint of a namespace: ids, parent, delta channels, and
which channels it stores a value for."""

SELECT_NAMESPACES_OF_THREAD: Final = """
SELECT DISTINCT checkpoint_ns FROM {schema}.pitstop_checkpoints WHERE thread_id = %s
ORDER BY checkpoint_ns"""

SELECT_CROWDED_THREADS: Final = """
SELECT DISTINCT thread_id FROM (
    SELECT thread_id FROM {schema}.pitstop_checkpoints
    GROUP BY thread_id, checkpoint_ns HAVING count(*) > %s
) AS crowded ORDER BY thread_id"""

SELECT_IDLE_THREADS: Final = """
SELECT thread_id FROM {schema}.pitstop_threads WHERE touched_at < %s ORDER BY thread_id"""

SELECT_CHECKPOINT_COUNT: Final = (
    "SELECT count(*) FROM {schema}.pitstop_checkpoints WHERE thread_id = %s"
)

SELECT_THREAD_EXISTS: Final = (
    "SELECT 1 FROM {schema}.pitstop_checkpoints WHERE thread_id = %s LIMIT 1"
)

# -- maintenance -------------------------------------------------------------------------------

DELETE_THREAD: Final = """
WITH w AS (DELETE FROM {schema}.pitstop_checkpoint_writes WHERE thread_id = %(thread_id)s),
     b AS (DELETE FROM {schema}.pitstop_checkpoint_blobs WHERE thread_id = %(thread_id)s),
     t AS (DELETE FROM {schema}.pitstop_threads WHERE thread_id = %(thread_id)s),
     c AS (DELETE FROM {schema}.pitstop_checkpoints WHERE thread_id = %(thread_id)s RETURNING 1)
SELECT count(*) FROM c"""
"""Everything of one thread, in one statement; returns how many checkpoints went."""

DELETE_CHECKPOINTS_BY_IDS: Final = """
DELETE FROM {schema}.pitstop_checkpoints
WHERE thread_id = %s AND checkpoint_ns = %s AND checkpoint_id = ANY(%s::text[])"""

DELETE_WRITES_BY_IDS: Final = """
DELETE FROM {schema}.pitstop_checkpoint_writes
WHERE thread_id = %s AND checkpoint_ns = %s AND checkpoint_id = ANY(%s::text[])"""

DELETE_CHECKPOINTS_OF_RUNS: Final = """
DELETE FROM {schema}.pitstop_checkpoints WHERE run_id = ANY(%s::text[])
RETURNING thread_id, checkpoint_ns, checkpoint_id"""

DELETE_UNREFERENCED_BLOBS: Final = """
DELETE FROM {schema}.pitstop_checkpoint_blobs AS b
WHERE b.thread_id = %(thread_id)s AND b.checkpoint_ns = %(checkpoint_ns)s
  AND (b.channel, b.version) NOT IN (
      SELECT e.key, e.value
      FROM {schema}.pitstop_checkpoints AS c, jsonb_each_text(c.channel_versions) AS e
      WHERE c.thread_id = %(thread_id)s AND c.checkpoint_ns = %(checkpoint_ns)s)"""
"""Collect the values of one namespace that no remaining checkpoint references."""

COPY_THREAD: Final = """
WITH b AS (
    INSERT INTO {schema}.pitstop_checkpoint_blobs
        (thread_id, checkpoint_ns, channel, version, type, blob)
    SELECT %(target)s, checkpoint_ns, channel, version, type, blob
    FROM {schema}.pitstop_checkpoint_blobs WHERE thread_id = %(source)s
), w AS (
    INSERT INTO {schema}.pitstop_checkpoint_writes
        (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob, task_path)
    SELECT %(target)s, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob, task_path
    FROM {schema}.pitstop_checkpoint_writes WHERE thread_id = %(source)s
), t AS (
    INSERT INTO {schema}.pitstop_threads (thread_id, touched_at) VALUES (%(target)s, %(now)s)
    ON CONFLICT (thread_id) DO UPDATE SET touched_at = excluded.touched_at
)
INSERT INTO {schema}.pitstop_checkpoints (
    thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint,
    channel_versions, metadata, metadata_exact, metadata_type, metadata_blob, run_id, created_at)
SELECT %(target)s, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint,
       channel_versions, metadata, metadata_exact, metadata_type, metadata_blob, run_id,
       created_at
FROM {schema}.pitstop_checkpoints WHERE thread_id = %(source)s"""
"""A whole thread, copied in one statement (values, writes, checkpoints)."""
