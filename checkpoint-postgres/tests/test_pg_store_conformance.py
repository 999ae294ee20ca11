"""The store conformance specs against PostgresStore and AsyncPostgresStore.

Both flavours over a pool and over a single connection, each store in a fresh schema.
"""

from __future__ import annotations

from pg_store_factories import (
    async_store,
    async_store_on_connection,
    sync_store,
    sync_store_on_connection,
)

from pitstop.conformance import conformance_tests

TestPostgresStoreConformance = conformance_tests(store=sync_store)
TestPostgresStoreOnConnectionConformance = conformance_tests(store=sync_store_on_connection)
TestAsyncPostgresStoreConformance = conformance_tests(store=async_store)
TestAsyncPostgresStoreOnConnectionConformance = conformance_tests(store=async_store_on_connection)
