"""The test server and saver factories of the PostgreSQL saver tests.

``PITSTOP_POSTGRES_URI`` names the server (default ``postgresql://postgres@127.0.0.1:5432/postgres``).
Every factory call works in a schema of its own (``pitstop_t_<pid>_<n>``), created by the saver's
``setup()`` and dropped when this process exits. Unreachable server: the tests skip with a
message, or fail under ``CI=true``.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pitstop.checkpoint.postgres import AsyncPostgresSaver, PostgresSaver

URI = os.environ.get("PITSTOP_POSTGRES_URI", "postgresql://postgres@127.0.0.1:5432/postgres")

_RUN = f"pitstop_t_{os.getpid()}_{secrets.token_hex(3)}"
_COUNT = itertools.count()
_SCHEMAS: list[str] = []


def server_problem() -> str | None:
    """Why the server cannot be used, or None."""
    try:
        with psycopg.connect(URI, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def require_server() -> None:
    """Skip the calling test module without a server (fail under ``CI=true``)."""
    problem = server_problem()
    if problem is None:
        return
    message = (
        f"PostgreSQL is not reachable at {URI} ({problem}). Start it (./scripts/services.sh) or "
        "point the tests at a server with PITSTOP_POSTGRES_URI=postgresql://user@host:port/db."
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


def new_schema() -> str:
    """A schema name nothing uses yet (dropped when this process exits)."""
    name = f"{_RUN}_{next(_COUNT)}"
    _SCHEMAS.append(name)
    return name


def drop_schemas() -> None:
    """Drop every schema this process created."""
    if not _SCHEMAS:
        return
    with contextlib.suppress(psycopg.Error), psycopg.connect(URI, autocommit=True) as conn:
        for name in _SCHEMAS:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
    _SCHEMAS.clear()


atexit.register(drop_schemas)


def stored_bytes(saver: Any) -> int:
    """Bytes of the saver's tables, their indexes and TOAST data."""
    with psycopg.connect(URI, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class AS c "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r'",
            (saver.schema,),
        ).fetchone()
    return int(row[0]) if row else 0


# -- sync factories ----------------------------------------------------------------------------


@contextlib.contextmanager
def sync_conn(schema: str | None = None, **kwargs: Any) -> Iterator[PostgresSaver]:
    """A ``PostgresSaver`` over one autocommit connection."""
    with psycopg.connect(URI, autocommit=True, **kwargs) as conn:
        yield PostgresSaver(conn, schema=schema or new_schema())


@contextlib.contextmanager
def sync_pool(schema: str | None = None, **kwargs: Any) -> Iterator[PostgresSaver]:
    """A ``PostgresSaver`` over a pool (``from_conn_string``)."""
    with PostgresSaver.from_conn_string(
        URI, schema=schema or new_schema(), pool_size=4, **kwargs
    ) as saver:
        yield saver


@contextlib.contextmanager
def sync_bouncer(schema: str | None = None) -> Iterator[PostgresSaver]:
    """PgBouncer-safe: a pool whose connections never prepare statements on the server."""
    with sync_pool(schema, prepare_threshold=None) as saver:
        yield saver


def open_sync(schema: str) -> Any:
    """What another process calls to open the same storage (``connect`` hook)."""
    return PostgresSaver.from_conn_string(URI, schema=schema, pool_size=2)


# -- async factories ---------------------------------------------------------------------------


async def async_conn(schema: str | None = None, **kwargs: Any) -> AsyncIterator[AsyncPostgresSaver]:
    """An ``AsyncPostgresSaver`` over one autocommit connection."""
    async with await psycopg.AsyncConnection.connect(URI, autocommit=True, **kwargs) as conn:
        yield AsyncPostgresSaver(conn, schema=schema or new_schema())


async def async_pool(schema: str | None = None, **kwargs: Any) -> AsyncIterator[AsyncPostgresSaver]:
    """An ``AsyncPostgresSaver`` over a pool (``from_conn_string``)."""
    async with AsyncPostgresSaver.from_conn_string(
        URI, schema=schema or new_schema(), pool_size=4, **kwargs
    ) as saver:
        yield saver


async def async_bouncer(schema: str | None = None) -> AsyncIterator[AsyncPostgresSaver]:
    """PgBouncer-safe async saver over one connection with ``prepare_threshold=None``."""
    async for saver in async_conn(schema, prepare_threshold=None):
        yield saver


def open_async(schema: str) -> Any:
    """What another process calls to open the same storage (``connect`` hook)."""
    return AsyncPostgresSaver.from_conn_string(URI, schema=schema, pool_size=2)


def _wire(factory: Any, opener: str) -> None:
    factory.reopen = lambda old: factory(old.schema)
    factory.stored_bytes = stored_bytes
    factory.connect = lambda saver: (f"pg_saver_env:{opener}", (saver.schema,))


for _factory in (sync_conn, sync_pool, sync_bouncer):
    _wire(_factory, "open_sync")
for _factory in (async_conn, async_pool, async_bouncer):
    _wire(_factory, "open_async")
