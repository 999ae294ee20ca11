"""The store conformance specs against RedisStore and AsyncRedisStore."""

from redis_factories import async_store, sync_store

from pitstop.conformance import conformance_tests

TestRedisStoreConformance = conformance_tests(store=sync_store)
TestAsyncRedisStoreConformance = conformance_tests(store=async_store)
