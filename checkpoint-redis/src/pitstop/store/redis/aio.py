"""``from pitstop.store.redis.aio import AsyncRedisStore``."""

from pitstop.store.redis._store_async import AsyncRedisStore

__all__ = ["AsyncRedisStore"]
