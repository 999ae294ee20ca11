"""``AsyncSqliteStore``: the SQLite store over ``aiosqlite``."""

from pitstop.store.sqlite._store_async import AsyncSqliteStore

__all__ = ["AsyncSqliteStore"]
