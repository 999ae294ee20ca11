"""``from pitstop.checkpoint.redis.aio import AsyncRedisSaver``, as with LangGraph's package."""

from pitstop.checkpoint.redis._saver_async import AsyncRedisSaver

__all__ = ["AsyncRedisSaver"]
