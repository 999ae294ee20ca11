"""pitstop's conformance suite against both SQLite savers, on files, with ``reopen``."""

from typing import Any

from sqlite_factories import async_saver, new_path, sync_saver

from pitstop.checkpoint.sqlite.aio import AsyncSqliteSaver
from pitstop.conformance import conformance_tests

TestSqliteSaver = conformance_tests(saver=sync_saver)
TestAsyncSqliteSaver = conformance_tests(saver=async_saver)


def from_conn_string_async() -> Any:
    """The way most users open the async saver: ``from_conn_string`` as an async context manager."""
    return AsyncSqliteSaver.from_conn_string(new_path())


TestAsyncSqliteSaverContextManager = conformance_tests(
    saver=from_conn_string_async, only=["graphs", "put", "list"]
)
