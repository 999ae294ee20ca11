"""Redis-specific behaviour: round trips, key schema and hash tags, TTL, retention, memory."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
import redis
import redis.asyncio
from redis_factories import URL, async_saver, prefix_keys, sync_saver

from pitstop.checkpoint.base import InvalidArgumentError, RetentionPolicy
from pitstop.checkpoint.redis import AsyncRedisSaver, RedisSaver
from pitstop.checkpoint.redis import _keys as k
from pitstop.checkpoint.redis import _scripts as lua
from pitstop.checkpoint.redis._base import INLINE_VALUES_MAX, INLINE_VALUES_MAX_ASYNC, _split


def ckpt(
    n: int, values: dict[str, Any] | None = None, versions: dict[str, str] | None = None
) -> Any:
    return {
        "v": 4,
        "id": f"1ef00000-0000-6000-8000-{n:012x}",
        "ts": "2024-07-31T20:14:19.804150+00:00",
        "channel_values": values or {},
        "channel_versions": versions or {},
        "versions_seen": {},
        "updated_channels": None,
    }


def conf(thread: str, ns: str = "", checkpoint_id: str | None = None) -> Any:
    c: dict[str, Any] = {"thread_id": thread, "checkpoint_ns": ns}
    if checkpoint_id:
        c["checkpoint_id"] = checkpoint_id
    return {"configurable": c}


def _command_names(packed: Any) -> tuple[str, ...]:
    """The command names in one RESP request buffer (or list of buffers)."""
    data = packed if isinstance(packed, bytes) else b"".join(bytes(p) for p in packed)
    names: list[str] = []
    pos = 0
    while pos < len(data):
        end = data.index(b"\r\n", pos)
        count = int(data[pos + 1 : end])
        pos = end + 2
        for i in range(count):
            end = data.index(b"\r\n", pos)
            size = int(data[pos + 1 : end])
            if i == 0:
                names.append(data[end + 2 : end + 2 + size].decode())
            pos = end + 2 + size + 2
    return tuple(names)


class Counting:
    """Counts round trips at the client: every request buffer written to a connection."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cls: Any) -> None:
        # the server knows every script (as it does once any saver used them): a first use
        # right after the scripts changed would add an EVAL to the counts
        admin = redis.Redis.from_url(URL)
        for script in (lua.PUT, lua.PUT_WRITES, lua.PAGE, lua.HISTORY):
            admin.script_load(script.text)
        admin.close()
        self.calls: list[tuple[str, ...]] = []
        original = cls.send_packed_command

        def send(conn: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
            self.calls.append(_command_names(command))
            return original(conn, command, *args, **kwargs)

        monkeypatch.setattr(cls, "send_packed_command", send)


PUT_REQUEST = ("MULTI", "HSET", "EVAL", "EXEC")
GET_REQUEST = ("EVALSHA", "HMGET")


def test_get_tuple_value_hints_are_one_round_trip_and_never_stale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """get_tuple guesses the head's value fields; a cold or wrong guess is still one trip."""
    with sync_saver() as writer:
        v1 = {"a": "1", "b": "1"}
        writer.put(conf("t"), ckpt(1, {"a": "x", "b": "y"}, v1), {}, v1)
        with sync_saver(writer.prefix) as reader:
            reader.client.ping()
            counter = Counting(monkeypatch, redis.connection.AbstractConnection)
            found = reader.get_tuple(conf("t"))  # cold: the values come through the script
            assert found is not None
            assert found.checkpoint["channel_values"] == {"a": "x", "b": "y"}
            assert counter.calls == [("EVALSHA",)]
            assert reader.get_tuple(conf("t")) == found  # now hinted
            assert counter.calls[1:] == [GET_REQUEST]
            # another saver moves the head: the hint is wrong, the answer still right
            v2 = {"a": "2", "b": "1"}
            writer.put(conf("t", "", ckpt(1)["id"]), ckpt(2, {"a": "z", "b": "y"}, v2), {}, v2)
            counter.calls.clear()
            newer = reader.get_tuple(conf("t"))
            assert newer is not None
            assert newer.checkpoint["channel_values"] == {"a": "z", "b": "y"}
            assert newer.parent_config == found.config
            assert counter.calls == [GET_REQUEST]
            # an older checkpoint by id, other namespaces, a missing thread
            assert reader.get_tuple(conf("t", "", ckpt(1)["id"])) == found
            assert reader.get_tuple(conf("t", "sub")) is None
            assert reader.get_tuple(conf("nope")) is None
            # the server does not know the script (e.g. restarted): loaded, same answer
            monkeypatch.setattr(
                lua, "PAGE", lua.Script("page", lua.PAGE.text + f"-- {uuid.uuid4().hex}\n")
            )
            counter.calls.clear()
            assert reader.get_tuple(conf("t")) == newer
            assert counter.calls == [GET_REQUEST, ("EVALSHA",), ("EVAL",)]


def test_hinted_get_tuple_missing_a_value_reads_again_in_one_script(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hinted HMGET is not in the script: a value gone in between is read again atomically."""
    with sync_saver() as saver:
        v1 = {"a": "1", "b": "1"}
        saver.put(conf("t"), ckpt(1, {"a": "x", "b": "y"}, v1), {}, v1)
        assert saver.get_tuple(conf("t")) is not None
        # as if a concurrent maintenance dropped a value between the script and the HMGET
        saver.client.hdel(k.thread_keys(saver.prefix, "t")[5], k.value_field("", "b", "1"))
        counter = Counting(monkeypatch, redis.connection.AbstractConnection)
        found = saver.get_tuple(conf("t"))
        assert found is not None
        assert found.checkpoint["channel_values"] == {"a": "x"}
        assert counter.calls == [GET_REQUEST, ("EVALSHA",)]


def test_hinted_get_tuple_after_a_put_that_left_a_delta_channel_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The head's values still include a delta record written by an earlier put."""
    with sync_saver() as saver:
        parent = None
        for n in range(1, 5):
            versions = {"msgs": f"{min(n, 3):032}.1", "n": f"{n:032}.2"}
            new = {"n": versions["n"]} if n == 4 else versions
            values = {"msgs": ["m"] * min(n, 3), "n": n}
            saver.put(conf("t", "", parent), ckpt(n, values, versions), {}, new)
            parent = ckpt(n)["id"]
        saver.client.ping()
        counter = Counting(monkeypatch, redis.connection.AbstractConnection)
        found = saver.get_tuple(conf("t"))
        assert found is not None
        assert found.checkpoint["channel_values"] == {"msgs": ["m"] * 3, "n": 4}
        assert counter.calls == [GET_REQUEST]


def test_put_get_list_are_one_round_trip_each(monkeypatch: pytest.MonkeyPatch) -> None:
    with sync_saver() as saver:
        saver.client.ping()  # connected: the handshake is not counted
        counter = Counting(monkeypatch, redis.connection.AbstractConnection)
        parent = None
        for n in range(1, 30):
            values = {"msgs": ["m"] * n, "n": n}
            versions = {"msgs": f"{n:032}.1", "n": f"{n:032}.2"}
            saver.put(conf("t", "", parent), ckpt(n, values, versions), {"step": n}, versions)
            parent = ckpt(n)["id"]
            saver.put_writes(conf("t", "", parent), [("a", n), ("b", n)], "task")
        assert counter.calls == [("EVALSHA",), ("EVALSHA",)] * 29  # small values: inline
        counter.calls.clear()
        found = saver.get_tuple(conf("t"))
        assert found is not None
        assert found.checkpoint["channel_values"]["n"] == 29
        assert found.pending_writes == [("task", "a", 29), ("task", "b", 29)]
        assert counter.calls == [GET_REQUEST]  # values by HMGET: this saver wrote the head
        counter.calls.clear()
        assert len(list(saver.list(conf("t"), limit=10))) == 10
        # "msgs" grows: the chain records the page's delta records need come in the same reply
        assert counter.calls == [("EVALSHA",)]
        counter.calls.clear()
        assert len(list(saver.list(conf("t")))) == 29  # the whole chain is in the page
        assert counter.calls == [("EVALSHA",)]
        counter.calls.clear()
        big = "x" * (INLINE_VALUES_MAX + 1)  # large values: a plain HSET, never through Lua
        new = {"msgs": f"{30:032}.1"}
        versions = {**new, "n": f"{29:032}.2"}  # "n" unchanged: not written again
        saver.put(conf("t", "", parent), ckpt(30, {"msgs": big, "n": 29}, versions), {}, new)
        assert counter.calls == [PUT_REQUEST]
        counter.calls.clear()
        found = saver.get_tuple(conf("t"))
        assert found is not None
        assert found.checkpoint["channel_values"] == {"msgs": big, "n": 29}
        assert found.parent_config is not None
        assert found.parent_config["configurable"]["checkpoint_id"] == parent
        assert counter.calls == [GET_REQUEST]


async def test_async_put_get_list_are_one_round_trip_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with contextlib.aclosing(async_saver()) as savers:
        saver = await anext(savers)
        await saver.client.ping()  # connected: the handshake is not counted
        counter = Counting(monkeypatch, redis.asyncio.connection.AbstractConnection)
        versions = {"msgs": "1", "n": "1"}
        await saver.aput(conf("t"), ckpt(1, {"msgs": ["m"], "n": 1}, versions), {}, versions)
        big = ["m" * (INLINE_VALUES_MAX_ASYNC + 1)]
        v2 = {"msgs": "2", "n": "1"}
        await saver.aput(
            conf("t", "", ckpt(1)["id"]), ckpt(2, {"msgs": big, "n": 1}, v2), {}, {"msgs": "2"}
        )
        await saver.aput_writes(conf("t", "", ckpt(2)["id"]), [("a", 1)], "task")
        assert counter.calls == [("EVALSHA",), PUT_REQUEST, ("EVALSHA",)]
        counter.calls.clear()
        found = await saver.aget_tuple(conf("t"))
        assert found is not None
        assert found.checkpoint["channel_values"] == {"msgs": big, "n": 1}
        assert found.pending_writes == [("task", "a", 1)]
        assert [x async for x in saver.alist(conf("t"), limit=1)] == [found]
        assert counter.calls == [GET_REQUEST, ("EVALSHA",)]


def test_round_trips_survive_a_killed_connection_a_server_error_and_noscript() -> None:
    with sync_saver() as saver:
        versions = {"msgs": "1"}
        saver.put(conf("t"), ckpt(1, {"msgs": ["m"]}, versions), {}, versions)
        admin = redis.Redis.from_url(URL)
        try:
            # the pooled connection dies between two calls: the request is retried once
            name = f"victim-{uuid.uuid4().hex}"
            saver.client.client_setname(name)  # the pool's only connection so far
            (victim,) = [c["id"] for c in admin.client_list() if c.get("name") == name]
            admin.client_kill_filter(_id=victim)
            saver.put(conf("t", "", ckpt(1)["id"]), ckpt(2, {"msgs": ["n"]}, versions), {}, {})
            found = saver.get_tuple(conf("t"))
            assert found is not None
            assert found.checkpoint["id"] == ckpt(2)["id"]
            # a server error inside the MULTI is raised; the connection stays usable
            wrong = k.thread_keys(saver.prefix, "wrong")[5]
            admin.set(wrong, b"not a hash")
            for value in (["m"], ["m" * (INLINE_VALUES_MAX + 1)]):  # inline and MULTI
                with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
                    saver.put(conf("wrong"), ckpt(1, {"msgs": value}, versions), {}, versions)
                assert saver.get_tuple(conf("t")) == found
        finally:
            admin.close()
        # a script the server does not know yet: EVALSHA gets NOSCRIPT, EVAL loads it
        script = lua.Script("probe", f"return '{uuid.uuid4().hex}'")
        assert saver._eval(script, [], []) == script.text.split("'")[1].encode()
        assert saver._eval(script, [], []) == script.text.split("'")[1].encode()


def test_every_key_of_a_thread_shares_one_slot_even_with_braces() -> None:
    for thread in ["plain", "with {braces}", "}{", "ünïcode", "a" * 500, "x" * 3]:
        keys = k.thread_keys("p", thread)
        slots = {redis.cluster.key_slot(key.encode()) for key in keys}
        assert len(slots) == 1, thread
    assert k.tag("abc") != k.tag("616263")
    assert k.tag("{x}").startswith("x")
    # parts are prefix-free: a namespace range never reaches another namespace
    assert not k.part("ab").startswith(k.part("a"))
    with sync_saver() as saver:
        for thread in ["with {braces}", "}{", "ünïcode"]:
            saver.put(conf(thread), ckpt(1), {}, {})
            assert saver.get_tuple(conf(thread)) is not None
        assert sorted(t.config["configurable"]["thread_id"] for t in saver.list(None)) == sorted(
            ["with {braces}", "}{", "ünïcode"]
        )


def test_values_are_stored_once_per_version_as_msgpack() -> None:
    with sync_saver() as saver:
        big = "x" * 10_000
        saver.put(conf("t"), ckpt(1, {"big": big}, {"big": "1"}), {}, {"big": "1"})
        for n in range(2, 6):  # "big" unchanged: never written again
            saver.put(conf("t", "", ckpt(n - 1)["id"]), ckpt(n, {"big": big}, {"big": "1"}), {}, {})
        client = redis.Redis.from_url(URL)
        values = client.hgetall(k.thread_keys(saver.prefix, "t")[5])
        assert len(values) == 1
        (blob,) = values.values()
        assert blob.startswith(b"msgpack\x00")
        assert b"x" * 10_000 in blob
        found = saver.get_tuple(conf("t"))
        assert found is not None
        assert found.checkpoint["channel_values"] == {"big": big}
        client.close()


def test_ttl_every_key_expires_and_the_whole_thread_goes() -> None:
    with sync_saver(ttl=timedelta(seconds=1.5)) as saver:
        saver.put(conf("t"), ckpt(1, {"a": 1}, {"a": "1"}), {"run_id": "r1"}, {"a": "1"})
        saver.put_writes(conf("t", "", ckpt(1)["id"]), [("w", 1)], "task")
        saver.put(conf("t", "child:1"), ckpt(2), {}, {})
        client = redis.Redis.from_url(URL)
        keys = prefix_keys(saver.prefix)
        assert len(keys) >= 9
        ttls = {key: client.pttl(key) for key in keys}
        assert all(0 < ttl <= 1500 for ttl in ttls.values()), ttls  # no key without expiry
        time.sleep(1.0)
        saver.put(conf("t", "", ckpt(1)["id"]), ckpt(3), {}, {})  # a write refreshes all keys
        thread_keys = [key.encode() for key in k.thread_keys(saver.prefix, "t")]
        assert set(thread_keys) <= set(keys)
        assert all(1000 < client.pttl(key) <= 1500 for key in thread_keys)
        time.sleep(1.0)
        assert saver.get_tuple(conf("t")) is not None  # 2.0 s after the first write
        time.sleep(0.8)
        assert saver.get_tuple(conf("t")) is None
        assert list(saver.list(None)) == []
        assert prefix_keys(saver.prefix) == []  # the whole thread went together
        client.close()


def test_ttl_refresh_on_read() -> None:
    with sync_saver(ttl=timedelta(seconds=1.2), refresh_on_read=True) as saver:
        saver.put(conf("t"), ckpt(1), {}, {})
        for _ in range(3):
            time.sleep(0.6)
            assert saver.get_tuple(conf("t")) is not None  # each read pushes expiry back
        time.sleep(1.5)
        assert saver.get_tuple(conf("t")) is None
    with sync_saver(ttl=timedelta(seconds=1.2)) as saver:
        saver.put(conf("t"), ckpt(1), {}, {})
        time.sleep(0.7)
        assert saver.get_tuple(conf("t")) is not None
        time.sleep(0.7)
        assert saver.get_tuple(conf("t")) is None  # reads did not refresh


def test_ttl_in_minutes_and_validation() -> None:
    with sync_saver(ttl=2) as saver:
        assert saver.ttl_ms == 120_000
    with pytest.raises(InvalidArgumentError):
        RedisSaver(redis.Redis.from_url(URL), ttl=0)
    with pytest.raises(InvalidArgumentError):
        RedisSaver(redis.Redis.from_url(URL), prefix="a{b}")
    with pytest.raises(InvalidArgumentError):
        RedisSaver(redis.Redis.from_url(URL, decode_responses=True))


def test_sweep_idle_threads_and_keep_last() -> None:
    now = [1_000_000.0]
    with sync_saver(clock=lambda: now[0]) as saver:
        for thread in ("old", "new"):
            parent = None
            for n in range(1, 6):
                versions = {"x": f"{n:032}.5"}
                saver.put(conf(thread, "", parent), ckpt(n, {"x": n}, versions), {}, versions)
                parent = ckpt(n)["id"]
            now[0] += 3600
        result = saver.sweep(RetentionPolicy(max_idle=timedelta(minutes=90)))
        assert (result.threads_deleted, result.checkpoints_deleted) == (1, 5)
        assert saver.get_tuple(conf("old")) is None
        result = saver.sweep(RetentionPolicy(keep_last=2))
        assert result.checkpoints_deleted == 3
        listed = list(saver.list(conf("new")))
        assert [t.checkpoint["channel_values"] for t in listed] == [{"x": 5}, {"x": 4}]
        client = redis.Redis.from_url(URL)
        assert len(client.hgetall(k.thread_keys(saver.prefix, "new")[5])) == 2  # values collected
        client.close()


def test_memory_usage_of_a_thread() -> None:
    with sync_saver() as saver:
        assert saver.memory_usage("t") == 0
        saver.put(conf("t"), ckpt(1, {"a": "x" * 5000}, {"a": "1"}), {}, {"a": "1"})
        assert saver.memory_usage("t") > 5000


def test_async_saver_sync_call_on_its_loop_raises() -> None:
    async def main() -> None:
        async with AsyncRedisSaver.from_conn_string(URL, prefix="pitstop-test-loop") as saver:
            with pytest.raises(asyncio.InvalidStateError):
                saver.get_tuple(conf("t"))
            # from another thread, the sync API runs on the saver's loop
            assert await asyncio.to_thread(saver.get_tuple, conf("t")) is None

    asyncio.run(main())


def _grow(saver: Any, thread: str, steps: range, parent: str | None = None) -> list[list[str]]:
    history: list[list[str]] = []
    for n in steps:
        msgs = [f"message {i} " * 20 for i in range(1, n + 1)]
        versions = {"msgs": f"{n:032}.1", "n": f"{n:032}.2"}
        saver.put(conf(thread, "", parent), ckpt(n, {"msgs": msgs, "n": n}, versions), {}, versions)
        parent = ckpt(n)["id"]
        history.append(msgs)
    return history


def _value_tags(saver: Any, thread: str) -> dict[str, str]:
    raw = saver.client.hgetall(k.thread_keys(saver.prefix, thread)[5])
    return {f.decode(): _split(v)[0] for f, v in raw.items()}


def test_growing_list_is_stored_as_deltas_and_read_in_one_round_trip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with sync_saver() as saver:
        history = _grow(saver, "t", range(1, 41))
        tags = _value_tags(saver, "t")
        msgs = sorted(t for f, t in tags.items() if "msgs" in f)
        # one full record (1), every later version a delta (chains of at most log2 records)
        assert msgs.count("pitstop-delta") == 39
        assert len(msgs) == 40
        saver.client.ping()
        counter = Counting(monkeypatch, redis.connection.AbstractConnection)
        found = saver.get_tuple(conf("t"))
        assert found is not None
        assert found.checkpoint["channel_values"]["msgs"] == history[-1]
        assert counter.calls == [GET_REQUEST]  # the chain came with the hinted HMGET
        with sync_saver(saver.prefix) as cold:
            cold.client.ping()
            counter.calls.clear()
            got = cold.get_tuple(conf("t", "", ckpt(30)["id"]))
            assert got is not None
            assert got.checkpoint["channel_values"]["msgs"] == history[29]
            assert counter.calls == [("EVALSHA",)]  # cold: the chain came with the script's reply
        for n in (1, 2, 33, 34, 40):
            got = saver.get_tuple(conf("t", "", ckpt(n)["id"]))
            assert got is not None
            assert got.checkpoint["channel_values"]["msgs"] == history[n - 1]
        # keep_latest keeps the head's chain only (version 40 at position 39 = 100111b needs
        # positions 0, 32, 36, 38: versions 1, 33, 37, 39), frees the rest
        saver.prune(["t"])
        assert len([f for f in _value_tags(saver, "t") if "msgs" in f]) == 5
        latest = saver.get_tuple(conf("t"))
        assert latest is not None
        assert latest.checkpoint["channel_values"]["msgs"] == history[-1]
    with sync_saver(max_chain=0) as full:
        _grow(full, "t", range(1, 6))
        assert "pitstop-delta" not in _value_tags(full, "t").values()


def test_put_whose_delta_base_was_deleted_elsewhere_stores_in_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with sync_saver() as writer, sync_saver(writer.prefix) as other:
        _grow(writer, "t", range(1, 4))
        other.delete_thread("t")
        writer.client.ping()
        counter = Counting(monkeypatch, redis.connection.AbstractConnection)
        history = _grow(writer, "t", range(4, 6), parent=ckpt(3)["id"])
        # the first put found its base gone (nothing stored) and was sent again in full
        assert counter.calls == [("EVALSHA",), ("EVALSHA",), ("EVALSHA",)]
        tags = _value_tags(writer, "t")
        assert sorted(t for f, t in tags.items() if "msgs" in f) == ["msgpack", "pitstop-delta"]
        for n, expected in zip((4, 5), history, strict=True):
            got = other.get_tuple(conf("t", "", ckpt(n)["id"]))
            assert got is not None
            assert got.checkpoint["channel_values"]["msgs"] == expected


def test_reads_reuse_a_parsed_chain_only_for_the_same_stored_records() -> None:
    with sync_saver() as reader, sync_saver(reader.prefix) as writer:
        _grow(writer, "t", range(1, 30))
        first = reader.get_tuple(conf("t"))
        assert first is not None
        assert reader._parsed  # the chain of "msgs" was parsed and kept
        # the thread is rebuilt elsewhere with the same versions and other values
        writer.delete_thread("t")
        parent = None
        for n in range(1, 30):
            msgs = [f"other {i} " * 20 for i in range(1, n + 1)]
            versions = {"msgs": f"{n:032}.1", "n": f"{n:032}.2"}
            writer.put(
                conf("t", "", parent), ckpt(n, {"msgs": msgs, "n": n}, versions), {}, versions
            )
            parent = ckpt(n)["id"]
        again = reader.get_tuple(conf("t"))
        assert again is not None
        assert again.checkpoint["channel_values"]["msgs"] == msgs
        # a second read of the same records reuses the parse and returns an equal, new list
        third = reader.get_tuple(conf("t"))
        assert third is not None
        assert third.checkpoint["channel_values"]["msgs"] == msgs
        assert third.checkpoint["channel_values"]["msgs"] is not msgs
        third.checkpoint["channel_values"]["msgs"].append("mutated by the caller")
        fourth = reader.get_tuple(conf("t"))
        assert fourth is not None
        assert fourth.checkpoint["channel_values"]["msgs"] == msgs


def test_a_chain_version_holding_a_nul_is_stored_inside_the_record_only() -> None:
    with sync_saver() as saver, sync_saver(saver.prefix) as cold:
        parent = None
        history = []
        for n in range(1, 6):
            msgs = [f"m{i}" for i in range(n)]
            versions = {"msgs": f"{n}\x00v"}
            saver.put(conf("t", "", parent), ckpt(n, {"msgs": msgs}, versions), {}, versions)
            parent = ckpt(n)["id"]
            history.append(msgs)
        stored = saver.client.hgetall(k.thread_keys(saver.prefix, "t")[5])
        assert not any(v.startswith(b"\x01") for v in stored.values())
        assert sorted(_split(v)[0] for v in stored.values()).count("pitstop-delta") == 4
        for got in (saver.get_tuple(conf("t")), cold.get_tuple(conf("t"))):
            assert got is not None
            assert got.checkpoint["channel_values"]["msgs"] == history[-1]
        listed = [t.checkpoint["channel_values"]["msgs"] for t in cold.list(conf("t"))]
        assert listed == history[::-1]


async def test_async_growing_list_with_large_values_and_zstd() -> None:
    async with contextlib.aclosing(async_saver(compress="zstd")) as savers:
        saver = await anext(savers)
        parent = None
        history = []
        for n in range(1, 40):
            msgs = ["y" * 2000 + str(i) for i in range(n)]  # past the inline size: HSET path
            versions = {"msgs": f"{n:032}.1"}
            await saver.aput(conf("t", "", parent), ckpt(n, {"msgs": msgs}, versions), {}, versions)
            parent = ckpt(n)["id"]
            history.append(msgs)
        listed = [t.checkpoint["channel_values"]["msgs"] async for t in saver.alist(conf("t"))]
        assert listed == history[::-1]
        found = await saver.aget_tuple(conf("t"))
        assert found is not None
        assert found.checkpoint["channel_values"]["msgs"] == history[-1]
