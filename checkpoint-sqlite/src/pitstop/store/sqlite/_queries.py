"""Every SQL statement of the SQLite store, as named constants.

``MIGRATIONS`` is append-only: its position is the schema version recorded in
``pitstop_store_migrations``. Never edit or reorder an entry; add a new one.

Schema (version 1):

* ``pitstop_store``: one row per item. ``prefix`` is the namespace joined with ``"."`` (labels
  cannot contain ``"."``); ``value`` is JSON text; ``created_at``/``updated_at``/``expires_at``
  are integer microseconds since the Unix epoch (UTC); ``seq`` is the write order, which breaks
  ``updated_at`` ties; ``ttl_minutes`` is the item's own TTL (``NULL``: never expires).
* ``pitstop_store_vectors``: one float32 embedding per (item, field path).

Dynamic parts of a search (namespace range, filter conditions, paging) are composed from the
fragments below by ``_base.py``; filter keys and operands are always bound parameters.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BEGIN",
    "BEGIN_IMMEDIATE",
    "CREATE_MIGRATIONS_TABLE",
    "DELETE_EXPIRED",
    "DELETE_EXPIRED_VECTORS",
    "DELETE_ITEM",
    "DELETE_VECTORS",
    "FILTER_FALSE_EQ",
    "FILTER_FALSE_NE",
    "FILTER_NEVER",
    "FILTER_NULL_EQ",
    "FILTER_NULL_NE",
    "FILTER_NUMBER_RANGE",
    "FILTER_TEXT_CMP",
    "FILTER_TEXT_EQ",
    "FILTER_TEXT_NE",
    "FILTER_TRUE_EQ",
    "FILTER_TRUE_NE",
    "GET_ITEM",
    "INSERT_MIGRATION",
    "INSERT_VECTOR",
    "LIST_PREFIXES",
    "MAX_SEQ",
    "MIGRATIONS",
    "NAMESPACE_UNDER",
    "PAGE",
    "PRAGMA_BUSY_TIMEOUT",
    "PRAGMA_WAL",
    "REFRESH_TTL",
    "SEARCH_ITEMS",
    "SEARCH_ORDER",
    "SEARCH_SCORED",
    "SEARCH_VECTORS",
    "SCORED_ORDER",
    "SELECT_MIGRATION_VERSION",
    "UPSERT_ITEM",
    "VECTORS_OF",
    "VEC_VERSION",
    "WITHOUT_VECTORS",
]

BUSY_TIMEOUT_MS: Final = 10_000

PRAGMA_BUSY_TIMEOUT: Final = f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}"
PRAGMA_WAL: Final = "PRAGMA journal_mode = WAL"
BEGIN: Final = "BEGIN"
BEGIN_IMMEDIATE: Final = "BEGIN IMMEDIATE"

# -- migrations -------------------------------------------------------------------------------

CREATE_MIGRATIONS_TABLE: Final = """
CREATE TABLE IF NOT EXISTS pitstop_store_migrations (
    v INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
)"""
SELECT_MIGRATION_VERSION: Final = "SELECT COALESCE(MAX(v), -1) FROM pitstop_store_migrations"
INSERT_MIGRATION: Final = "INSERT INTO pitstop_store_migrations (v) VALUES (?)"

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # v0: items, vectors, and the indexes for ordering and sweeping.
    (
        """
        CREATE TABLE pitstop_store (
            prefix TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            expires_at INTEGER,
            ttl_minutes REAL,
            PRIMARY KEY (prefix, key)
        ) WITHOUT ROWID""",
        "CREATE INDEX pitstop_store_recent ON pitstop_store (updated_at DESC, seq DESC)",
        "CREATE INDEX pitstop_store_seq ON pitstop_store (seq)",
        """
        CREATE INDEX pitstop_store_expiry ON pitstop_store (expires_at)
        WHERE expires_at IS NOT NULL""",
        """
        CREATE TABLE pitstop_store_vectors (
            prefix TEXT NOT NULL,
            key TEXT NOT NULL,
            field_name TEXT NOT NULL,
            embedding BLOB NOT NULL,
            PRIMARY KEY (prefix, key, field_name)
        ) WITHOUT ROWID""",
    ),
)

# -- writes -----------------------------------------------------------------------------------

MAX_SEQ: Final = "SELECT COALESCE(MAX(seq), 0) FROM pitstop_store"

# A put on a live item keeps its created_at; a put on an expired (unswept) one starts afresh.
UPSERT_ITEM: Final = """
INSERT INTO pitstop_store
    (prefix, key, value, created_at, updated_at, seq, expires_at, ttl_minutes)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (prefix, key) DO UPDATE SET
    value = excluded.value,
    created_at = CASE
        WHEN pitstop_store.expires_at IS NOT NULL
            AND pitstop_store.expires_at <= excluded.updated_at
        THEN excluded.created_at
        ELSE pitstop_store.created_at
    END,
    updated_at = excluded.updated_at,
    seq = excluded.seq,
    expires_at = excluded.expires_at,
    ttl_minutes = excluded.ttl_minutes"""
DELETE_ITEM: Final = "DELETE FROM pitstop_store WHERE prefix = ? AND key = ?"
DELETE_VECTORS: Final = "DELETE FROM pitstop_store_vectors WHERE prefix = ? AND key = ?"
INSERT_VECTOR: Final = """
INSERT OR REPLACE INTO pitstop_store_vectors (prefix, key, field_name, embedding)
VALUES (?, ?, ?, ?)"""
REFRESH_TTL: Final = "UPDATE pitstop_store SET expires_at = ? WHERE prefix = ? AND key = ?"

# -- TTL sweep --------------------------------------------------------------------------------

DELETE_EXPIRED_VECTORS: Final = """
DELETE FROM pitstop_store_vectors WHERE (prefix, key) IN (
    SELECT prefix, key FROM pitstop_store WHERE expires_at IS NOT NULL AND expires_at <= ?
)"""
DELETE_EXPIRED: Final = "DELETE FROM pitstop_store WHERE expires_at IS NOT NULL AND expires_at <= ?"

# -- reads ------------------------------------------------------------------------------------

GET_ITEM: Final = """
SELECT value, created_at, updated_at, ttl_minutes FROM pitstop_store
WHERE prefix = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)"""

# Search = SEARCH_ITEMS [AND NAMESPACE_UNDER] [AND <filter fragment>]... SEARCH_ORDER [PAGE].
# The alias ``s`` is what the filter fragments refer to.
SEARCH_ITEMS: Final = """
SELECT s.prefix, s.key, s.value, s.created_at, s.updated_at, s.ttl_minutes
FROM pitstop_store AS s
WHERE (s.expires_at IS NULL OR s.expires_at > ?)"""
SEARCH_VECTORS: Final = """
SELECT s.prefix, s.key, v.embedding
FROM pitstop_store AS s
JOIN pitstop_store_vectors AS v ON v.prefix = s.prefix AND v.key = s.key
WHERE (s.expires_at IS NULL OR s.expires_at > ?)"""
LIST_PREFIXES: Final = """
SELECT DISTINCT s.prefix FROM pitstop_store AS s
WHERE (s.expires_at IS NULL OR s.expires_at > ?)"""
SEARCH_ORDER: Final = " ORDER BY s.updated_at DESC, s.seq DESC"

# -- sqlite-vec (optional): the extension scores the stored float32 blobs as they are ------------

VEC_VERSION: Final = "SELECT vec_version()"
# Scored candidates, best float32 score first: SEARCH_SCORED [AND NAMESPACE_UNDER]
# [AND <filter fragment>]... SCORED_ORDER. Parameters: a zero vector, the query, then the
# WHERE's. An item with a vector whose norm float32 cannot square safely (overflow, underflow,
# zero) gets no score (NULL) and comes first, so it is always scored again exactly.
SEARCH_SCORED: Final = """
SELECT s.prefix, s.key, s.value, s.created_at, s.updated_at, s.ttl_minutes,
       CASE WHEN MIN(COALESCE(vec_distance_l2(v.embedding, ?) BETWEEN 1e-15 AND 1e15, 0))
            THEN MAX(1.0 - vec_distance_cosine(v.embedding, ?)) END AS score,
       s.seq
FROM pitstop_store AS s
JOIN pitstop_store_vectors AS v ON v.prefix = s.prefix AND v.key = s.key
WHERE (s.expires_at IS NULL OR s.expires_at > ?)"""
SCORED_ORDER: Final = (
    " GROUP BY s.prefix, s.key"
    " ORDER BY score IS NULL DESC, score DESC, s.updated_at DESC, s.seq DESC"
)
WITHOUT_VECTORS: Final = """ AND NOT EXISTS (
    SELECT 1 FROM pitstop_store_vectors AS v WHERE v.prefix = s.prefix AND v.key = s.key)"""
# The vectors of some items: VECTORS_OF + ", ".join(["(?, ?)"] * n) + ")".
VECTORS_OF: Final = """
SELECT prefix, key, embedding FROM pitstop_store_vectors WHERE (prefix, key) IN (VALUES """
PAGE: Final = " LIMIT ? OFFSET ?"

# Namespace prefix p (dot-joined): the namespace itself, or anything starting with "p." --
# the half-open range ["p.", "p/") since "/" follows "." (exact: no LIKE, nothing to escape).
NAMESPACE_UNDER: Final = " AND (s.prefix = ? OR (s.prefix >= ? AND s.prefix < ?))"

# Filter fragments: a top-level key of the value (bound, matched by json_each) and a condition
# on its JSON type and value. A missing key reads as null, as in the in-memory store.
_MEMBER: Final = "SELECT 1 FROM json_each(s.value) AS j WHERE j.key = ?"
FILTER_TEXT_EQ: Final = f" AND EXISTS ({_MEMBER} AND j.type = 'text' AND j.atom = ?)"
FILTER_TEXT_NE: Final = f" AND NOT EXISTS ({_MEMBER} AND j.type = 'text' AND j.atom = ?)"
FILTER_TEXT_CMP: Final = {
    "$gt": f" AND EXISTS ({_MEMBER} AND j.type = 'text' AND j.atom > ?)",
    "$gte": f" AND EXISTS ({_MEMBER} AND j.type = 'text' AND j.atom >= ?)",
    "$lt": f" AND EXISTS ({_MEMBER} AND j.type = 'text' AND j.atom < ?)",
    "$lte": f" AND EXISTS ({_MEMBER} AND j.type = 'text' AND j.atom <= ?)",
}
FILTER_TRUE_EQ: Final = f" AND EXISTS ({_MEMBER} AND j.type = 'true')"
FILTER_TRUE_NE: Final = f" AND NOT EXISTS ({_MEMBER} AND j.type = 'true')"
FILTER_FALSE_EQ: Final = f" AND EXISTS ({_MEMBER} AND j.type = 'false')"
FILTER_FALSE_NE: Final = f" AND NOT EXISTS ({_MEMBER} AND j.type = 'false')"
FILTER_NULL_EQ: Final = f" AND NOT EXISTS ({_MEMBER} AND j.type <> 'null')"
FILTER_NULL_NE: Final = f" AND EXISTS ({_MEMBER} AND j.type <> 'null')"
# A number within [lo, hi]: a necessary condition, widened so that SQLite's own decimal
# parsing can never drop a match; the exact comparison is then made in Python.
FILTER_NUMBER_RANGE: Final = (
    f" AND EXISTS ({_MEMBER} AND j.type IN ('integer', 'real') AND j.atom BETWEEN ? AND ?)"
)
FILTER_NEVER: Final = " AND 0"
