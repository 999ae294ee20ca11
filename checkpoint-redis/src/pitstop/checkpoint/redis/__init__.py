"""Redis checkpoint savers for LangGraph on plain Redis 6.2+ / Valkey: no modules, cluster-safe.

``RedisSaver`` (``redis``) and ``AsyncRedisSaver`` (``redis.asyncio``, also importable from
``pitstop.checkpoint.redis.aio``)::

    from pitstop.checkpoint.redis import RedisSaver

    with RedisSaver.from_conn_string("redis://localhost:6379/0") as saver:
        graph = builder.compile(checkpointer=saver)
"""

from pitstop.checkpoint.redis._saver import RedisSaver
from pitstop.checkpoint.redis._saver_async import AsyncRedisSaver

__all__ = ["AsyncRedisSaver", "RedisSaver"]
