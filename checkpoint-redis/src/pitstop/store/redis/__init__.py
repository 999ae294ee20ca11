"""Redis long-term memory stores for LangGraph: ``RedisStore`` and ``AsyncRedisStore``."""

from pitstop.store.redis._store import RedisStore
from pitstop.store.redis._store_async import AsyncRedisStore

__all__ = ["AsyncRedisStore", "RedisStore"]
