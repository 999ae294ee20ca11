"""``AsyncPostgresStore``: the PostgreSQL store over ``psycopg.AsyncConnection`` or a pool."""

from pitstop.store.postgres._store_async import AsyncPostgresStore

__all__ = ["AsyncPostgresStore"]
