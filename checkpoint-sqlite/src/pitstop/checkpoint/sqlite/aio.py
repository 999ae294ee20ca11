"""``from pitstop.checkpoint.sqlite.aio import AsyncSqliteSaver``, as with LangGraph's package."""

from pitstop.checkpoint.sqlite._saver_async import AsyncSqliteSaver

__all__ = ["AsyncSqliteSaver"]
