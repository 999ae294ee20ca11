"""pitstop's conformance suite against both PostgreSQL savers.

Sync and async, over a pool (``from_conn_string``, every capability, with ``reopen`` and
``connect``), over one plain connection, and in PgBouncer-safe mode (``prepare_threshold=None``).
"""

from pg_saver_env import (
    async_bouncer,
    async_conn,
    async_pool,
    require_server,
    sync_bouncer,
    sync_conn,
    sync_pool,
)

from pitstop.conformance import conformance_tests

require_server()

TestPostgresSaverPool = conformance_tests(saver=sync_pool)
TestAsyncPostgresSaverPool = conformance_tests(saver=async_pool)

_CORE = ["put", "put_writes", "get_tuple", "list", "delete_thread", "prune", "delta_history"]
_BOUNCER = ["put", "put_writes", "get_tuple", "list"]
TestPostgresSaverConnection = conformance_tests(saver=sync_conn, only=_CORE)
TestAsyncPostgresSaverConnection = conformance_tests(saver=async_conn, only=_CORE)
TestPostgresSaverPgBouncer = conformance_tests(saver=sync_bouncer, only=_BOUNCER)
TestAsyncPostgresSaverPgBouncer = conformance_tests(saver=async_bouncer, only=_BOUNCER)
