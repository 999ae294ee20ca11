"""PostgreSQL checkpoint savers for LangGraph, on psycopg 3.

``PostgresSaver`` (sync) and ``AsyncPostgresSaver`` (also importable from
``pitstop.checkpoint.postgres.aio`` as in LangGraph)::

    from pitstop.checkpoint.postgres import PostgresSaver

    with PostgresSaver.from_conn_string("postgresql://localhost/app", pool_size=10) as saver:
        graph = builder.compile(checkpointer=saver)
"""

from pitstop.checkpoint.postgres._base import ConnectionLostError
from pitstop.checkpoint.postgres._saver import PostgresSaver
from pitstop.checkpoint.postgres._saver_async import AsyncPostgresSaver

__all__ = ["AsyncPostgresSaver", "ConnectionLostError", "PostgresSaver"]
