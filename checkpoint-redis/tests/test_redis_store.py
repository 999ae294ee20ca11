"""RedisStore against InMemoryStore: random operations give the same results (differential)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from redis_factories import _PENDING, URL, new_prefix

from pitstop.store.memory import InMemoryStore
from pitstop.store.redis import RedisStore

NAMESPACES = [("a",), ("a", "b"), ("a", "b", "c"), ("ab",), ("x", "y")]


def _shape(result: Any) -> Any:
    if isinstance(result, list):
        return [_shape(r) for r in result]
    if hasattr(result, "key") and hasattr(result, "value"):
        return (result.namespace, result.key, result.value, getattr(result, "score", None))
    return result


def test_random_operations_match_the_in_memory_store() -> None:
    rng = random.Random(7)
    now = [datetime(2024, 1, 1, tzinfo=UTC)]

    def clock() -> datetime:
        return now[0]

    prefix = new_prefix()
    _PENDING.append(prefix)
    client = redis.Redis.from_url(URL)
    ours = RedisStore(client, prefix=prefix, clock=clock, ttl={"default_ttl": None})
    reference = InMemoryStore(clock=clock, ttl={"default_ttl": None})
    for step in range(400):
        now[0] += timedelta(milliseconds=rng.randint(1, 2000))
        ns = rng.choice(NAMESPACES)
        key = f"k{rng.randint(0, 12)}"
        kind = rng.random()
        if kind < 0.4:
            value = {"n": rng.randint(0, 20), "tag": rng.choice(["red", "blue", None])}
            ttl = rng.choice([None, None, 0.05])
            for store in (ours, reference):
                store.put(ns, key, value, ttl=ttl)
        elif kind < 0.5:
            for store in (ours, reference):
                store.delete(ns, key)
        elif kind < 0.65:
            assert _shape(ours.get(ns, key)) == _shape(reference.get(ns, key)), step
        elif kind < 0.9:
            flt = rng.choice([None, {"tag": "red"}, {"n": {"$gt": 10}}, {"tag": {"$ne": "blue"}}])
            prefix_ns = rng.choice([(), ("a",), ("a", "b"), ("x",)])
            kwargs = {"filter": flt, "limit": rng.randint(1, 6), "offset": rng.randint(0, 3)}
            got = ours.search(prefix_ns, **kwargs)
            want = reference.search(prefix_ns, **kwargs)
            assert _shape(got) == _shape(want), (step, prefix_ns, kwargs)
            assert len(got) == len(want)
        else:
            kwargs = {"prefix": rng.choice([None, ("a",)]), "max_depth": rng.choice([None, 1, 2])}
            assert ours.list_namespaces(**kwargs) == reference.list_namespaces(**kwargs), step
        if step % 50 == 0:
            assert ours.sweep_ttl() == reference.sweep_ttl()
    client.close()


def test_created_at_is_kept_on_update_and_expired_items_vanish() -> None:
    now = [datetime(2024, 1, 1, tzinfo=UTC)]
    prefix = new_prefix()
    _PENDING.append(prefix)
    client = redis.Redis.from_url(URL)
    store = RedisStore(client, prefix=prefix, clock=lambda: now[0])
    store.put(("a",), "k", {"v": 1}, ttl=1)
    first = store.get(("a",), "k")
    now[0] += timedelta(seconds=30)
    store.put(("a",), "k", {"v": 2}, ttl=1)
    second = store.get(("a",), "k")
    assert first is not None
    assert second is not None
    assert second.created_at == first.created_at
    assert second.updated_at > first.updated_at
    now[0] += timedelta(minutes=2)
    assert store.get(("a",), "k") is None
    assert store.search(("a",)) == []
    assert store.sweep_ttl() == 1
    client.close()
