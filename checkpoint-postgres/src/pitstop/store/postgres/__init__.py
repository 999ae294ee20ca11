"""PostgreSQL long-term memory store: ``PostgresStore`` and, in ``.aio``, ``AsyncPostgresStore``.

Same results as :class:`~pitstop.store.memory.InMemoryStore` (filters, ordering, TTL, vector
search, ``list_namespaces``), on psycopg 3, with versioned migrations.
"""

from pitstop.store.postgres._store import PostgresStore

__all__ = ["PostgresStore"]
