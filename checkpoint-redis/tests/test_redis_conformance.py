"""pitstop's conformance suite against both Redis savers, with ``reopen`` and ``connect``."""

from redis_factories import async_saver, sync_saver

from pitstop.conformance import conformance_tests

TestRedisSaver = conformance_tests(saver=sync_saver)
TestAsyncRedisSaver = conformance_tests(saver=async_saver)
