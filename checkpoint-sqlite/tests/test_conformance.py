"""pitstop's conformance suite against both SQLite savers, on files, with ``reopen``."""

from sqlite_factories import async_saver, sync_saver

from pitstop.conformance import conformance_tests

TestSqliteSaver = conformance_tests(saver=sync_saver)
TestAsyncSqliteSaver = conformance_tests(saver=async_saver)
