"""Every SQL statement of the PostgreSQL store, as named templates.

Templates are ``psycopg.sql.SQL`` format strings: ``{store}``, ``{vectors}``, ``{pgvectors}``,
``{migrations}``, ``{seq}`` and ``{schema}`` are table/sequence identifiers (schema-qualified
when the store has a ``schema=``), filled in once per store through ``psycopg.sql.Identifier``;
``{e}``, ``{sub}`` and the like are composed fragments. Every value (keys, filter keys and
operands, timestamps) is a bound ``%s`` parameter, never text of the statement.

``MIGRATIONS`` is append-only: its position is the schema version recorded in ``{migrations}``.
Never edit or reorder an entry; add a new one.

Schema (version 0):

* ``pitstop_store``: one row per item. ``prefix`` is the namespace joined with ``"."`` (labels
  cannot contain ``"."``), collated ``"C"`` so that the prefix range scan below is byte order;
  ``value`` is JSONB; ``seq`` (from ``pitstop_store_seq``) is the write order, which breaks
  ``updated_at`` ties; ``ttl_minutes`` is the item's own TTL (``NULL``: never expires).
* ``pitstop_store_vectors``: one float32 embedding (little-endian ``BYTEA``) per (item, field
  path), deleted with its item; the brute-force fallback when ``pgvector`` is not available.
* ``pitstop_store_pgvectors`` (only with an index and the ``vector`` extension): the same rows
  as ``vector`` values, scored by the server. Created by ``setup()`` outside the versioned
  migrations, since it depends on what the server offers.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ADVISORY_XACT_LOCK",
    "BOOL_AND",
    "CREATE_MIGRATIONS_TABLE",
    "CREATE_PGVECTORS",
    "CREATE_SCHEMA",
    "CREATE_VECTOR_EXTENSION",
    "DELETE_EXPIRED",
    "DELETE_ITEM",
    "DELETE_PGVECTORS",
    "DELETE_VECTORS",
    "FILTER_ARRAY",
    "FILTER_EQ",
    "FILTER_EQ_NULL",
    "FILTER_FALSE",
    "FILTER_NE",
    "FILTER_NUMBER_CMP",
    "FILTER_OBJECT",
    "FILTER_TEXT_CMP",
    "FILTER_TRUE",
    "FILTER_TYPE",
    "GET_ITEM",
    "INSERT_MIGRATION",
    "INSERT_PGVECTOR",
    "INSERT_VECTOR",
    "JSON_INDEX",
    "JSON_MEMBER",
    "LIST_PREFIXES",
    "MIGRATIONS",
    "NAMESPACE_UNDER",
    "NEXT_SEQS",
    "PAGE",
    "PGVECTOR_AVAILABLE",
    "REFRESH_TTL",
    "SEARCH_ITEMS",
    "SEARCH_ORDER",
    "SEARCH_PGVECTORS",
    "SEARCH_VECTORS",
    "SELECT_MIGRATION_VERSION",
    "TOP_MEMBER",
    "UPSERT_ITEM",
]

# -- migrations -------------------------------------------------------------------------------

# Taken by every migration transaction: several processes may run setup() at once.
ADVISORY_XACT_LOCK: Final = "SELECT pg_advisory_xact_lock(hashtext(%s))"
CREATE_SCHEMA: Final = "CREATE SCHEMA IF NOT EXISTS {schema}"
CREATE_MIGRATIONS_TABLE: Final = """
CREATE TABLE IF NOT EXISTS {migrations} (
    v INTEGER PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""
SELECT_MIGRATION_VERSION: Final = "SELECT COALESCE(MAX(v), -1) FROM {migrations}"
INSERT_MIGRATION: Final = "INSERT INTO {migrations} (v) VALUES (%s)"

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # v0: items, the write-order sequence, fallback vectors, and the indexes for ordering
    # and sweeping.
    (
        "CREATE SEQUENCE {seq}",
        """
        CREATE TABLE {store} (
            prefix TEXT COLLATE "C" NOT NULL,
            key TEXT NOT NULL,
            value JSONB NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            seq BIGINT NOT NULL,
            expires_at TIMESTAMPTZ,
            ttl_minutes DOUBLE PRECISION,
            PRIMARY KEY (prefix, key)
        )""",
        "CREATE INDEX ON {store} (updated_at DESC, seq DESC)",
        "CREATE INDEX ON {store} (expires_at) WHERE expires_at IS NOT NULL",
        """
        CREATE TABLE {vectors} (
            prefix TEXT COLLATE "C" NOT NULL,
            key TEXT NOT NULL,
            field_name TEXT NOT NULL,
            embedding BYTEA NOT NULL,
            PRIMARY KEY (prefix, key, field_name),
            FOREIGN KEY (prefix, key) REFERENCES {store} (prefix, key) ON DELETE CASCADE
        )""",
    ),
)

# -- pgvector (optional) ------------------------------------------------------------------------

PGVECTOR_AVAILABLE: Final = "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
CREATE_VECTOR_EXTENSION: Final = "CREATE EXTENSION IF NOT EXISTS vector"
CREATE_PGVECTORS: Final = """
CREATE TABLE IF NOT EXISTS {pgvectors} (
    prefix TEXT COLLATE "C" NOT NULL,
    key TEXT NOT NULL,
    field_name TEXT NOT NULL,
    embedding vector NOT NULL,
    PRIMARY KEY (prefix, key, field_name),
    FOREIGN KEY (prefix, key) REFERENCES {store} (prefix, key) ON DELETE CASCADE
)"""
DELETE_PGVECTORS: Final = "DELETE FROM {pgvectors} WHERE prefix = %s AND key = %s"
INSERT_PGVECTOR: Final = """
INSERT INTO {pgvectors} (prefix, key, field_name, embedding) VALUES (%s, %s, %s, %s::vector)"""

# -- writes -----------------------------------------------------------------------------------

NEXT_SEQS: Final = "SELECT nextval({seq_name}::regclass) FROM generate_series(1, %s)"

# A put on a live item keeps its created_at; a put on an expired (unswept) one starts afresh.
UPSERT_ITEM: Final = """
INSERT INTO {store} AS t
    (prefix, key, value, created_at, updated_at, seq, expires_at, ttl_minutes)
VALUES (%s, %s, %s::jsonb, %s, %s, %s, %s, %s)
ON CONFLICT (prefix, key) DO UPDATE SET
    value = excluded.value,
    created_at = CASE
        WHEN t.expires_at IS NOT NULL AND t.expires_at <= excluded.updated_at
        THEN excluded.created_at
        ELSE t.created_at
    END,
    updated_at = excluded.updated_at,
    seq = excluded.seq,
    expires_at = excluded.expires_at,
    ttl_minutes = excluded.ttl_minutes"""
DELETE_ITEM: Final = "DELETE FROM {store} WHERE prefix = %s AND key = %s"
DELETE_VECTORS: Final = "DELETE FROM {vectors} WHERE prefix = %s AND key = %s"
INSERT_VECTOR: Final = """
INSERT INTO {vectors} (prefix, key, field_name, embedding) VALUES (%s, %s, %s, %s)"""
REFRESH_TTL: Final = "UPDATE {store} SET expires_at = %s WHERE prefix = %s AND key = %s"

# -- TTL sweep (vectors go with their item: ON DELETE CASCADE) ----------------------------------

DELETE_EXPIRED: Final = "DELETE FROM {store} WHERE expires_at IS NOT NULL AND expires_at <= %s"

# -- reads ------------------------------------------------------------------------------------

GET_ITEM: Final = """
SELECT value, created_at, updated_at, ttl_minutes FROM {store}
WHERE prefix = %s AND key = %s AND (expires_at IS NULL OR expires_at > %s)"""

# Search = SEARCH_ITEMS [NAMESPACE_UNDER] [AND <filter>] SEARCH_ORDER [PAGE].
# The alias ``s`` is what the filter fragments refer to.
SEARCH_ITEMS: Final = """
SELECT s.prefix, s.key, s.value, s.created_at, s.updated_at, s.ttl_minutes
FROM {store} AS s
WHERE (s.expires_at IS NULL OR s.expires_at > %s)"""
SEARCH_VECTORS: Final = """
SELECT s.prefix, s.key, v.embedding
FROM {store} AS s
JOIN {vectors} AS v ON v.prefix = s.prefix AND v.key = s.key
WHERE (s.expires_at IS NULL OR s.expires_at > %s)"""
# pgvector: the server computes the cosine similarity (1 - cosine distance) of every vector.
SEARCH_PGVECTORS: Final = """
SELECT s.prefix, s.key, 1 - (v.embedding <=> %s::vector)
FROM {store} AS s
JOIN {pgvectors} AS v ON v.prefix = s.prefix AND v.key = s.key
WHERE (s.expires_at IS NULL OR s.expires_at > %s)"""
LIST_PREFIXES: Final = """
SELECT DISTINCT s.prefix FROM {store} AS s
WHERE (s.expires_at IS NULL OR s.expires_at > %s)"""
SEARCH_ORDER: Final = " ORDER BY s.updated_at DESC, s.seq DESC"
PAGE: Final = " LIMIT %s OFFSET %s"

# Namespace prefix p (dot-joined): the namespace itself, or anything starting with "p." --
# the half-open range ["p.", "p/") in byte order ("/" follows "."): no LIKE, nothing to escape.
NAMESPACE_UNDER: Final = " AND (s.prefix = %s OR (s.prefix >= %s AND s.prefix < %s))"

# -- filters ----------------------------------------------------------------------------------
# A filter compiles to one boolean expression over JSONB paths of ``s.value``. Keys and array
# indexes are bound parameters; a missing member is SQL NULL and reads as JSON null. Every
# expression is TRUE or FALSE, never NULL, so NOT and AND compose exactly. CASE guards every
# cast (SQL does not promise the evaluation order of AND).

TOP_MEMBER: Final = "(s.value -> %s::text)"
JSON_MEMBER: Final = "({e} -> %s::text)"
JSON_INDEX: Final = "({e} -> %s::int)"
FILTER_TYPE: Final = "COALESCE(jsonb_typeof({e}), 'null')"
FILTER_TRUE: Final = "TRUE"
FILTER_FALSE: Final = "FALSE"
BOOL_AND: Final = " AND "
# JSON equality: jsonb compares numbers by value (1 = 1.0), objects and arrays structurally.
FILTER_EQ: Final = "COALESCE({e} = %s::jsonb, FALSE)"
FILTER_EQ_NULL: Final = "({e} IS NULL OR {e} = 'null'::jsonb)"
FILTER_NE: Final = "(NOT {cond})"
# Ordering: two numbers numerically, two strings by code point (collation "C" is UTF-8 byte
# order); any other pair does not match.
FILTER_NUMBER_CMP: Final = (
    "(CASE WHEN {type} = 'number' THEN ({e})::numeric {op} %s::numeric ELSE FALSE END)"
)
FILTER_TEXT_CMP: Final = (
    "(CASE WHEN {type} = 'string' "
    'THEN ({e} #>> ARRAY[]::text[]) COLLATE "C" {op} (%s::text) COLLATE "C" '
    "ELSE FALSE END)"
)
# Subset match on an object (missing members read as null) / element-wise on an array.
FILTER_OBJECT: Final = "(CASE WHEN {type} = 'object' THEN {sub} ELSE FALSE END)"
FILTER_ARRAY: Final = (
    "(CASE WHEN {type} <> 'array' THEN FALSE "
    "WHEN jsonb_array_length({e}) <> %s THEN FALSE ELSE {sub} END)"
)
