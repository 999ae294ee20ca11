"""Every SQL statement of the PostgreSQL savers, and the append-only ``MIGRATIONS``.

Statements are templates for :class:`psycopg.sql.SQL`: ``{schema}`` is filled with
:class:`psycopg.sql.Identifier` (never string formatting), ``{where}``/``{order}`` only with the
constant ``LIST_*`` pieces below. Every value — ids, namespaces, metadata filter keys and values —
is a bound parameter. The position of a migration in ``MIGRATIONS`` is its schema version.
"""

from __future__ import annotations

import re
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
    "LOCK_THREAD",
    "MIGRATIONS",
    "MIGRATIONS_TABLE",
    "SELECT_CHAIN",
    "SELECT_CHECKPOINT_COUNT",
    "SELECT_CHECKPOINT_SHAPES",
    "SELECT_CROWDED_THREADS",
    "SELECT_IDLE_THREADS",
    "SELECT_LATEST_ID",
    "SELECT_LATEST_MANY",
    "SELECT_MIGRATION_VERSION",
    "SELECT_NAMESPACES_OF_THREAD",
    "SELECT_PAGE",
    "SELECT_SEEDS",
    "SELECT_THREAD_EXISTS",
    "SELECT_WRITES_OF_CHECKPOINTS",
    "SCHEMA_EXISTS",
    "VALUES_MAX",
    "put",
    "put_deltas",
    "put_writes",
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
    # v6: channel values compress with lz4 where the server has it (PostgreSQL 14+ built with
    # lz4): several times faster than the default pglz on the large values `put` writes, for
    # about the same size. Metadata only: existing values stay as they are; without lz4 this
    # does nothing.
    """
    DO $pitstop$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression'
                   AND 'lz4' = ANY (enumvals)) THEN
            ALTER TABLE {schema}.pitstop_checkpoint_blobs ALTER COLUMN blob SET COMPRESSION lz4;
        END IF;
    END $pitstop$""",
    # v7: the chain of a delta value (pitstop.checkpoint.base.values): the versions of the same
    # (thread, namespace, channel) it is built on, oldest first, one row per delta value,
    # written in the same statement as the value. Reads fetch the chain records with the value;
    # GC keeps the chains of reachable values.
    """
    CREATE TABLE {schema}.pitstop_checkpoint_blob_deps (
        thread_id TEXT NOT NULL,
        checkpoint_ns TEXT NOT NULL DEFAULT '',
        channel TEXT NOT NULL,
        version TEXT NOT NULL,
        dep_versions TEXT[] NOT NULL,
        PRIMARY KEY (thread_id, checkpoint_ns, channel, version)
    )""",
    # v8-v10: a delta's chain moves into its own value row (`deps`, NULL for a full value):
    # written with the value (no second row, no second index entry per put) and read with it.
    "ALTER TABLE {schema}.pitstop_checkpoint_blobs ADD COLUMN deps TEXT[]",
    """
    UPDATE {schema}.pitstop_checkpoint_blobs AS b SET deps = d.dep_versions
    FROM {schema}.pitstop_checkpoint_blob_deps AS d
    WHERE d.thread_id = b.thread_id AND d.checkpoint_ns = b.checkpoint_ns
      AND d.channel = b.channel AND d.version = b.version""",
    "DROP TABLE {schema}.pitstop_checkpoint_blob_deps",
    # v11: what a `put` writing deltas checks first (see `put_deltas`): it takes the thread's
    # advisory lock in shared mode (collection takes it exclusively, see `LOCK_THREAD`), then,
    # with a snapshot taken after the lock (a VOLATILE function's statements each take a new
    # one), whether the records the deltas extend still exist.
    """
    CREATE FUNCTION {schema}.pitstop_bases_present(
        p_lock BIGINT, p_thread TEXT, p_ns TEXT, p_channels TEXT[], p_versions TEXT[]
    ) RETURNS BOOLEAN LANGUAGE plpgsql VOLATILE AS $pitstop$
    BEGIN
        IF NOT pg_try_advisory_xact_lock_shared(p_lock) THEN  -- a simple expression: no SPI
            PERFORM pg_advisory_xact_lock_shared(p_lock);
        END IF;
        FOR i IN 1 .. coalesce(cardinality(p_channels), 0) LOOP
            -- one primary-key lookup per base; a plan with nothing to estimate, so the
            -- function's cached generic plan serves every call (no planning per put)
            PERFORM FROM {schema}.pitstop_checkpoint_blobs AS b
            WHERE b.thread_id = p_thread AND b.checkpoint_ns = p_ns
              AND b.channel = p_channels[i] AND b.version = p_versions[i];
            IF NOT FOUND THEN
                RETURN FALSE;
            END IF;
        END LOOP;
        RETURN TRUE;
    END $pitstop$""",
)

# -- writes ------------------------------------------------------------------------------------


def _binary(statement: str) -> str:
    """``statement`` with every ``%(name)s`` parameter sent in binary (``%(name)b``).

    The hot writes carry arrays of serialized values: in text format psycopg would hex-escape
    every ``bytea`` (and quote every array element) and the server would parse it back; in
    binary they travel as is. Casts in the SQL (``::text[]``, ``::jsonb``) fix the types.
    """
    return re.sub(r"%\((\w+)\)s", r"%(\1)b", statement)


VALUES_MAX: Final = 8
"""Up to this many rows (channel values of a ``put``, writes of a ``put_writes``) travel as a
``VALUES`` list of scalar parameters (dumped by psycopg's C code, nothing to parse on the
server); more travel as ``unnest``ed arrays (one statement whatever the count)."""

_BLOB_COLUMNS: Final = (("c", "channel", "text"), ("v", "version", "text"), ("t", "type", "text"))
_WRITE_COLUMNS: Final = (("i", "idx", "int"), ("c", "channel", "text"), ("t", "type", "text"))


def _rows(
    fixed: tuple[str, ...], prefix: str, columns: tuple[tuple[str, str, str], ...], n: int
) -> str:
    """The rows an ``INSERT`` takes: the ``fixed`` parameters, then ``n`` rows of ``columns``
    plus a ``bytea`` blob (parameters ``<prefix><key><row>``, or arrays ``<prefix><key>``)."""
    keys = [*(key for key, _, _ in columns), "b"]
    head = [f"%({name})s" for name in fixed]
    if n <= VALUES_MAX:
        rows = (", ".join([*head, *(f"%({prefix}{key}{i})s" for key in keys)]) for i in range(n))
        return "VALUES " + ",\n       ".join(f"({row})" for row in rows)
    arrays = [f"%({prefix}{key})s::{type_}[]" for key, _, type_ in columns]
    names = [name for _, name, _ in columns]
    return (
        f"SELECT {', '.join([*head, *(f'u.{name}' for name in names), 'u.blob'])}\n"
        f"FROM unnest({', '.join([*arrays, f'%({prefix}b)s::bytea[]'])})"
        f" AS u ({', '.join([*names, 'blob'])})"
    )


_TOUCH: Final = """touched AS (
    INSERT INTO {schema}.pitstop_threads AS t (thread_id, touched_at)
    VALUES (%(thread_id)s, %(now)s)
    ON CONFLICT (thread_id)
    DO UPDATE SET touched_at = greatest(t.touched_at, excluded.touched_at)
)"""

_PUT_CHECKPOINT: Final = """
INSERT INTO {schema}.pitstop_checkpoints (
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


_PUT_CHECKPOINT_IF_OK: Final = _PUT_CHECKPOINT.replace(
    "VALUES (\n    %(thread_id)s", "SELECT\n    %(thread_id)s"
).replace("%(now)s)\nON CONFLICT", "%(now)s\nWHERE (SELECT ok FROM ok)\nON CONFLICT")

_BASES_PRESENT: Final = """ok AS (
    SELECT {schema}.pitstop_bases_present(
        %(lock)s, %(thread_id)s, %(checkpoint_ns)s, %(base_c)s::text[], %(base_v)s::text[]
    ) AS ok
)"""
"""Whether every record the delta values extend still exists, checked under the thread's
advisory lock (shared; held until the statement's transaction ends): a collection takes it
exclusively, so it waits for this ``put`` and then sees (and keeps) what the deltas need, and a
``put`` arriving during a collection waits for it and then finds a freed base gone."""


def _delta_rows(n: int) -> str:
    """The rows of a ``put`` with deltas: ``VALUES`` of scalars up to ``VALUES_MAX`` rows (the
    chain ``d<i>`` a ``text[]``, ``NULL`` for a full value), else arrays (each chain a JSON
    array, arrays of arrays being rectangular in PostgreSQL)."""
    if n <= VALUES_MAX:
        rows = ",\n           ".join(
            f"(%(thread_id)s, %(checkpoint_ns)s, %(c{i})s, %(v{i})s, %(t{i})s, %(b{i})s,"
            f" %(d{i})s::text[])"
            for i in range(n)
        )
        return f"SELECT * FROM (VALUES {rows}) AS r"
    return """SELECT %(thread_id)s, %(checkpoint_ns)s, u.channel, u.version, u.type, u.blob,
           CASE WHEN u.deps IS NOT NULL
                THEN ARRAY(SELECT jsonb_array_elements_text(u.deps::jsonb)) END
    FROM unnest(%(c)s::text[], %(v)s::text[], %(t)s::text[], %(b)s::bytea[], %(d)s::text[])
        AS u (channel, version, type, blob, deps)"""


def _with(ctes: list[str], main: str) -> str:
    return ("\nWITH " + ",\n".join(ctes) if ctes else "") + main


def put(values: int, touched: bool) -> str:
    """The ``put`` statement for ``values`` changed channel values: one statement, one round
    trip (the thread's clock when ``touched``, the values, the checkpoint). A template: fill
    ``{schema}``; every parameter travels in binary."""
    ctes = [_TOUCH] if touched else []
    if values:
        rows = _rows(("thread_id", "checkpoint_ns"), "", _BLOB_COLUMNS, values)
        ctes.append(f"""new_blobs AS (
    INSERT INTO {{schema}}.pitstop_checkpoint_blobs
        (thread_id, checkpoint_ns, channel, version, type, blob)
    {rows}
    ON CONFLICT (thread_id, checkpoint_ns, channel, version)
    DO UPDATE SET type = excluded.type, blob = excluded.blob, deps = NULL
)""")
    return _binary(_with(ctes, _PUT_CHECKPOINT))


def put_deltas(values: int, touched: bool) -> str:
    """The ``put`` statement when some of its ``values`` changed channel values are deltas:
    still one statement. It checks the records the deltas extend (``_BASES_PRESENT``), and
    writes the values with their chains and the checkpoint only if all are there; it returns
    whether it wrote (``false``: a base was deleted meanwhile, store those values in full). A
    template: fill ``{schema}``; every parameter travels in binary."""
    ctes = [_TOUCH] if touched else []
    ctes += [
        _BASES_PRESENT,
        f"""new_blobs AS (
    INSERT INTO {{schema}}.pitstop_checkpoint_blobs
        (thread_id, checkpoint_ns, channel, version, type, blob, deps)
    {_delta_rows(values)}
    WHERE (SELECT ok FROM ok)
    ON CONFLICT (thread_id, checkpoint_ns, channel, version)
    DO UPDATE SET type = excluded.type, blob = excluded.blob, deps = excluded.deps
)""",
        f"saved AS ({_PUT_CHECKPOINT_IF_OK}\n)",
    ]
    return _binary(_with(ctes, "\nSELECT ok FROM ok"))


_WRITES_FIXED: Final = ("thread_id", "checkpoint_ns", "checkpoint_id", "task_id", "task_path")


def _insert_writes(prefix: str, n: int) -> str:
    return f"""
INSERT INTO {{schema}}.pitstop_checkpoint_writes
    (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob)
{_rows(_WRITES_FIXED, prefix, _WRITE_COLUMNS, n)}
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) """


def put_writes(keep: int, replace: int, touched: bool) -> str:
    """The ``put_writes`` statement for ``keep`` regular writes and ``replace`` special ones
    (at least one of them): regular writes keep the first value stored at their
    ``(task_id, idx)`` (a re-run never duplicates them); special channels (error, interrupt,
    resume, scheduled, negative idx) replace it (the latest state of the task). Only the parts
    a call needs are sent. A template: fill ``{schema}``; every parameter travels in binary."""
    ctes = [_TOUCH] if touched else []
    keeping = _insert_writes("k", keep) + "DO NOTHING" if keep else ""
    replacing = (
        _insert_writes("r", replace)
        + """DO UPDATE SET
    channel = excluded.channel, type = excluded.type, blob = excluded.blob,
    task_path = excluded.task_path"""
        if replace
        else ""
    )
    if keeping and replacing:
        ctes.append(f"kept AS ({keeping}\n)")
    return _binary(_with(ctes, replacing or keeping))


# -- reads -------------------------------------------------------------------------------------

_PAGE_INNER: Final = """
    FROM {schema}.pitstop_checkpoints AS c
    WHERE TRUE{where}
    ORDER BY c.checkpoint_id DESC, c.thread_id DESC, c.checkpoint_ns DESC
    LIMIT %(limit)s
)"""

SELECT_PAGE: Final = (
    """
WITH page AS MATERIALIZED (
    SELECT c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id, c.type,
           c.checkpoint, c.channel_versions, c.metadata_type, c.metadata_blob"""
    + _PAGE_INNER
    + """, deps AS (
    SELECT p.thread_id, p.checkpoint_ns, p.checkpoint_id, d.channel, d.dep_version,
           row_number() OVER (
               PARTITION BY p.thread_id, p.checkpoint_ns, d.channel, d.dep_version
               ORDER BY p.checkpoint_id DESC) AS nth
    FROM page AS p
    CROSS JOIN LATERAL jsonb_each_text(p.channel_versions) AS cv (channel, version)
    CROSS JOIN LATERAL (
        SELECT d.channel, unnest(d.deps) AS dep_version
        FROM {schema}.pitstop_checkpoint_blobs AS d
        WHERE d.thread_id = p.thread_id AND d.checkpoint_ns = p.checkpoint_ns
          AND d.channel = cv.channel AND d.version = cv.version AND d.deps IS NOT NULL
        OFFSET 0  -- a primary-key lookup per channel, never a hash of the thread's values
    ) AS d
), chains AS (
    SELECT d.thread_id, d.checkpoint_ns, d.checkpoint_id,
           array_agg(d.channel) AS channels, array_agg(d.dep_version) AS versions,
           array_agg(db.type) AS types, array_agg(db.blob) AS blobs
    FROM deps AS d
    CROSS JOIN LATERAL (
        SELECT b.type, b.blob FROM {schema}.pitstop_checkpoint_blobs AS b
        WHERE b.thread_id = d.thread_id AND b.checkpoint_ns = d.checkpoint_ns
          AND b.channel = d.channel AND b.version = d.dep_version
        LIMIT 1
    ) AS db
    WHERE d.nth = 1
    GROUP BY d.thread_id, d.checkpoint_ns, d.checkpoint_id
)
SELECT c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id, c.type,
       c.checkpoint, c.metadata_type, c.metadata_blob,
       v.channels, v.types, v.blobs, v.versions,
       w.task_ids, w.channels, w.types, w.blobs,
       d.channels, d.versions, d.types, d.blobs
FROM page AS c
LEFT JOIN LATERAL (
    SELECT array_agg(cv.channel) AS channels, array_agg(b.type) AS types,
           array_agg(b.blob) AS blobs, array_agg(cv.version) AS versions
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
LEFT JOIN chains AS d
  ON d.thread_id = c.thread_id AND d.checkpoint_ns = c.checkpoint_ns
 AND d.checkpoint_id = c.checkpoint_id
ORDER BY c.checkpoint_id DESC, c.thread_id DESC, c.checkpoint_ns DESC"""
)
"""A page of checkpoints with their channel values and pending writes: one statement.

``page`` picks the checkpoints (``{where}`` joins constant ``LIST_*`` pieces), so the other
parts run for the rows of that page only; each value is one primary-key lookup (a ``LATERAL``
per channel, so the planner cannot hash the thread's whole value table per row). Pending writes
come in the order the runtime applies them (LangGraph's ``writes_sort_key``: task path, task id,
index). The chain records of delta values (the versions in their ``deps``) come with them, so
a delta is rebuilt from this one statement; consecutive checkpoints share most of a chain, so
each chain record comes once per page, with the newest row of its namespace that needs it
(``_decode_page`` keeps the page's records for the rows after it)."""

SELECT_LATEST_MANY: Final = SELECT_PAGE.replace(
    _PAGE_INNER,
    """
    FROM unnest(%(thread_ids)s::text[], %(checkpoint_nss)s::text[]) AS k (thread_id, ns)
    CROSS JOIN LATERAL (
        SELECT * FROM {schema}.pitstop_checkpoints AS c
        WHERE c.thread_id = k.thread_id AND c.checkpoint_ns = k.ns
        ORDER BY c.checkpoint_id DESC
        LIMIT 1
    ) AS c
)""",
)
"""The latest checkpoint of each of several (thread, namespace) pairs, shaped like
``SELECT_PAGE`` (one row per pair that has a checkpoint): concurrent ``get_tuple`` calls
combined into one statement."""

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
SELECT b.channel, b.type, b.blob, b.version, d.versions, d.types, d.blobs
FROM unnest(%s::text[], %s::text[]) AS k (channel, version)
JOIN {schema}.pitstop_checkpoint_blobs AS b
  ON b.thread_id = %s AND b.checkpoint_ns = %s
 AND b.channel = k.channel AND b.version = k.version
LEFT JOIN LATERAL (
    SELECT array_agg(db.version) AS versions, array_agg(db.type) AS types,
           array_agg(db.blob) AS blobs
    FROM unnest(b.deps) AS dv (dep_version)
    CROSS JOIN LATERAL (
        SELECT db.version, db.type, db.blob FROM {schema}.pitstop_checkpoint_blobs AS db
        WHERE db.thread_id = b.thread_id AND db.checkpoint_ns = b.checkpoint_ns
          AND db.channel = b.channel AND db.version = dv.dep_version
        LIMIT 1
    ) AS db
) AS d ON TRUE"""
"""The seed values of a delta-channel history, each with its chain records."""

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

_REACHABLE: Final = """
WITH refs AS (
    SELECT e.key AS channel, e.value AS version
    FROM {schema}.pitstop_checkpoints AS c, jsonb_each_text(c.channel_versions) AS e
    WHERE c.thread_id = %(thread_id)s AND c.checkpoint_ns = %(checkpoint_ns)s
), reachable AS (
    SELECT channel, version FROM refs
    UNION
    SELECT d.channel, unnest(d.deps)
    FROM refs JOIN {schema}.pitstop_checkpoint_blobs AS d
      ON d.thread_id = %(thread_id)s AND d.checkpoint_ns = %(checkpoint_ns)s
     AND d.channel = refs.channel AND d.version = refs.version
    WHERE d.deps IS NOT NULL
)"""

LOCK_THREAD: Final = "SELECT pg_advisory_xact_lock(%s)"
"""Taken (until the transaction ends) before a collection or a delete of the thread's values:
waits for every ``put`` building deltas on the thread (they hold this lock shared, see
``put_deltas``), so a later statement sees what they committed; a ``put`` arriving meanwhile
waits, then finds a freed base gone and stores the value in full. The key is the thread's
(``lock_key``), which hash collisions only make wait for an unrelated thread."""

DELETE_UNREFERENCED_BLOBS: Final = (
    _REACHABLE
    + """
DELETE FROM {schema}.pitstop_checkpoint_blobs AS b
WHERE b.thread_id = %(thread_id)s AND b.checkpoint_ns = %(checkpoint_ns)s
  AND (b.channel, b.version) NOT IN (SELECT channel, version FROM reachable)"""
)
"""Delete the values of one namespace no checkpoint references (directly or through the
chain of a referenced delta value). Run after ``LOCK_THREAD``, as a separate statement: in READ
COMMITTED it sees the checkpoints of every ``put`` the lock waited for."""

COPY_THREAD: Final = """
WITH b AS (
    INSERT INTO {schema}.pitstop_checkpoint_blobs
        (thread_id, checkpoint_ns, channel, version, type, blob, deps)
    SELECT %(target)s, checkpoint_ns, channel, version, type, blob, deps
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
"""A whole thread, copied in one statement (values with their chains, writes, checkpoints)."""
