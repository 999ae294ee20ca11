"""``from pitstop.checkpoint.postgres.aio import AsyncPostgresSaver``, as in LangGraph."""

from pitstop.checkpoint.postgres._saver_async import AsyncPostgresSaver

__all__ = ["AsyncPostgresSaver"]
