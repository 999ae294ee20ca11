"""SQLite long-term memory store: ``SqliteStore`` (sqlite3) and, in ``.aio``, ``AsyncSqliteStore``.

Same results as :class:`~pitstop.store.memory.InMemoryStore` (filters, ordering, TTL, vector
search, ``list_namespaces``), persisted in one file with versioned migrations.
"""

from pitstop.store.sqlite._store import SqliteStore

__all__ = ["SqliteStore"]
