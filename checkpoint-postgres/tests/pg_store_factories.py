"""Store factories and the server fixture for the PostgreSQL store tests.

Every store lives in a fresh schema (``pitstop_store_t_<random>``), dropped when the factory
exits. The server comes from ``PITSTOP_POSTGRES_URI`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``); when it is unreachable the tests skip with a
message, except under ``CI=true`` where that is a failure.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from functools import cache
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pitstop.store.postgres import PostgresStore
from pitstop.store.postgres.aio import AsyncPostgresStore

DEFAULT_URI = "postgresql://postgres@127.0.0.1:5432/postgres"


def pg_uri() -> str:
    """The server the tests use."""
    return os.environ.get("PITSTOP_POSTGRES_URI", DEFAULT_URI)


@cache
def _unreachable() -> str | None:
    try:
        with psycopg.connect(pg_uri(), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip()
    return None


def require_server() -> None:
    """Skip (locally) or fail (under ``CI=true``) when the server cannot be reached."""
    reason = _unreachable()
    if reason is None:
        return
    message = (
        f"PostgreSQL is unreachable at {pg_uri()} ({reason}). Start one "
        "(./scripts/services.sh) or point PITSTOP_POSTGRES_URI at a server."
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def new_schema() -> str:
    """A schema name no other test run uses."""
    return f"pitstop_store_t_{uuid.uuid4().hex[:12]}"


def drop_schema(schema: str) -> None:
    """Drop a test schema and everything in it."""
    with psycopg.connect(pg_uri(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@contextlib.contextmanager
def fresh_schema() -> Iterator[str]:
    """A schema for one test, dropped afterwards."""
    require_server()
    schema = new_schema()
    try:
        yield schema
    finally:
        drop_schema(schema)


def sync_store(*, index: Any = None, ttl: Any = None, **kwargs: Any) -> Iterator[PostgresStore]:
    """A ``PostgresStore`` over a pool, in a fresh schema."""
    with (
        fresh_schema() as schema,
        PostgresStore.from_conn_string(
            pg_uri(), schema=schema, index=index, ttl=ttl, pool_size=4, **kwargs
        ) as store,
    ):
        yield store


def sync_store_on_connection(*, index: Any = None, ttl: Any = None) -> Iterator[PostgresStore]:
    """A ``PostgresStore`` over one plain autocommit connection, in a fresh schema."""
    with (
        fresh_schema() as schema,
        psycopg.connect(pg_uri(), autocommit=True) as conn,
    ):
        yield PostgresStore(conn, schema=schema, index=index, ttl=ttl)


async def async_store(
    *, index: Any = None, ttl: Any = None, **kwargs: Any
) -> AsyncIterator[AsyncPostgresStore]:
    """An ``AsyncPostgresStore`` over a pool, in a fresh schema."""
    with fresh_schema() as schema:
        async with AsyncPostgresStore.from_conn_string(
            pg_uri(), schema=schema, index=index, ttl=ttl, pool_size=4, **kwargs
        ) as store:
            yield store


async def async_store_on_connection(
    *, index: Any = None, ttl: Any = None
) -> AsyncIterator[AsyncPostgresStore]:
    """An ``AsyncPostgresStore`` over one plain autocommit connection, in a fresh schema."""
    with fresh_schema() as schema:
        async with await psycopg.AsyncConnection.connect(pg_uri(), autocommit=True) as conn:
            yield AsyncPostgresStore(conn, schema=schema, index=index, ttl=ttl)
