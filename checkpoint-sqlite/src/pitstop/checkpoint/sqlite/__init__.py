"""SQLite checkpoint savers for LangGraph: one file, durable across crashes and processes.

``SqliteSaver`` (stdlib ``sqlite3``) and ``AsyncSqliteSaver`` (``aiosqlite``, also importable
from ``pitstop.checkpoint.sqlite.aio`` as in LangGraph)::

    from pitstop.checkpoint.sqlite import SqliteSaver

    with SqliteSaver.from_conn_string("checkpoints.db") as saver:
        graph = builder.compile(checkpointer=saver)
"""

from pitstop.checkpoint.sqlite._saver import SqliteSaver
from pitstop.checkpoint.sqlite._saver_async import AsyncSqliteSaver

__all__ = ["AsyncSqliteSaver", "SqliteSaver"]
