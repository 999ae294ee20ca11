"""InMemorySaver behaviour beyond LangGraph's published suite."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import pytest

from pitstop.checkpoint.base import (
    Checkpoint,
    DeserializationError,
    InvalidArgumentError,
    RetentionPolicy,
    SerializationError,
    SweepResult,
    empty_checkpoint,
    next_version,
)
from pitstop.checkpoint.memory import InMemorySaver


def cfg(thread: str, ns: str = "", cid: str | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"thread_id": thread, "checkpoint_ns": ns}
    if cid is not None:
        c["checkpoint_id"] = cid
    return {"configurable": c}


def make_checkpoint(values: dict[str, Any], versions: dict[str, str] | None = None) -> Checkpoint:
    cp = empty_checkpoint()
    cp["channel_values"] = dict(values)
    cp["channel_versions"] = dict(versions or {k: next_version(None) for k in values})
    return cp


def put_chain(
    saver: InMemorySaver, thread: str, steps: int, ns: str = "", run_id: str | None = None
) -> list[str]:
    """Put ``steps`` checkpoints, each appending to a list channel and bumping its version."""
    ids: list[str] = []
    parent: str | None = None
    version: str | None = None
    items: list[int] = []
    fixed = next_version(None)
    for step in range(steps):
        items = [*items, step]
        version = next_version(version)
        cp = make_checkpoint({"items": items, "fixed": "same"}, {"items": version, "fixed": fixed})
        new_versions = {"items": version, **({"fixed": fixed} if step == 0 else {})}
        meta: dict[str, Any] = {"source": "loop", "step": step}
        if run_id:
            meta["run_id"] = run_id
        saver.put(cfg(thread, ns, parent), cp, meta, new_versions)  # type: ignore[arg-type]
        ids.append(cp["id"])
        parent = cp["id"]
    return ids


def test_put_does_not_mutate_arguments_and_reads_are_fresh() -> None:
    saver = InMemorySaver()
    cp = make_checkpoint({"a": [1, 2]})
    meta = {"source": "input", "step": -1}
    snapshot = (repr(cp), repr(meta))
    saver.put(cfg("t"), cp, meta, cp["channel_versions"])  # type: ignore[arg-type]
    assert (repr(cp), repr(meta)) == snapshot
    first = saver.get_tuple(cfg("t"))
    assert first is not None
    first.checkpoint["channel_values"]["a"].append(3)
    first.checkpoint["channel_versions"]["a"] = "mutated"
    second = saver.get_tuple(cfg("t"))
    assert second is not None
    assert second.checkpoint["channel_values"] == {"a": [1, 2]}
    assert second.checkpoint["channel_versions"] == cp["channel_versions"]


def test_unchanged_channel_is_read_from_an_earlier_version() -> None:
    saver = InMemorySaver()
    ids = put_chain(saver, "t", 4)
    # "fixed" was only written by the first put; every checkpoint still reads it.
    for cid in ids:
        tup = saver.get_tuple(cfg("t", cid=cid))
        assert tup is not None
        assert tup.checkpoint["channel_values"]["fixed"] == "same"
    fixed_blobs = [k for k in saver.blobs if k[2] == "fixed"]
    assert len(fixed_blobs) == 1


def test_channel_in_new_versions_but_without_value_loads_absent() -> None:
    saver = InMemorySaver()
    v1 = next_version(None)
    cp1 = make_checkpoint({"a": "x"}, {"a": v1})
    saver.put(cfg("t"), cp1, {}, {"a": v1})
    v2 = next_version(v1)
    cp2 = make_checkpoint({}, {"a": v2})
    saver.put(cfg("t", cid=cp1["id"]), cp2, {}, {"a": v2})
    tup = saver.get_tuple(cfg("t"))
    assert tup is not None
    assert "a" not in tup.checkpoint["channel_values"]


def test_fork_siblings_keep_distinct_values() -> None:
    saver = InMemorySaver()
    v1 = next_version(None)
    root = make_checkpoint({"x": "one"}, {"x": v1})
    saver.put(cfg("t"), root, {}, {"x": v1})
    a_version, b_version = next_version(v1), next_version(v1)
    assert a_version != b_version
    a = make_checkpoint({"x": "A"}, {"x": a_version})
    saver.put(cfg("t", cid=root["id"]), a, {}, {"x": a_version})
    b = make_checkpoint({"x": "B"}, {"x": b_version})
    saver.put(cfg("t", cid=root["id"]), b, {}, {"x": b_version})
    got_a = saver.get_tuple(cfg("t", cid=a["id"]))
    assert got_a is not None
    assert got_a.checkpoint["channel_values"] == {"x": "A"}


def test_delete_thread_spares_threads_sharing_a_prefix() -> None:
    saver = InMemorySaver()
    for thread in ("t", "t1", "t-1", "tt", "T"):
        put_chain(saver, thread, 2)
        saver.put_writes(
            cfg(thread, cid=saver.get_tuple(cfg(thread)).checkpoint["id"]),  # type: ignore[union-attr]
            [("c", 1)],
            "task",
        )
    saver.delete_thread("t")
    assert saver.get_tuple(cfg("t")) is None
    for thread in ("t1", "t-1", "tt", "T"):
        tup = saver.get_tuple(cfg(thread))
        assert tup is not None, thread
        assert tup.pending_writes, thread
        assert len(list(saver.list(cfg(thread)))) == 2
    assert not [k for k in saver.blobs if k[0] == "t"]


def test_prune_keep_latest_keeps_values_the_head_needs_and_frees_the_rest() -> None:
    saver = InMemorySaver()
    ids = put_chain(saver, "t", 5)
    put_chain(saver, "other", 3)
    head = ids[-1]
    saver.put_writes(cfg("t", cid=head), [("__interrupt__", ["wait"])], "task")
    saver.prune(["t"])
    remaining = [t.checkpoint["id"] for t in saver.list(cfg("t"))]
    assert remaining == [head]
    tup = saver.get_tuple(cfg("t"))
    assert tup is not None
    assert tup.checkpoint["channel_values"] == {"items": [0, 1, 2, 3, 4], "fixed": "same"}
    assert tup.pending_writes == [("task", "__interrupt__", ["wait"])]
    # "items" grew by appending, so the head's value (version 5, position 4) is a delta on the
    # full version 1, which is kept; versions 2-4 are freed; "fixed" (written by a pruned
    # checkpoint) is kept.
    assert len([k for k in saver.blobs if k[0] == "t"]) == 3
    assert len(list(saver.list(cfg("other")))) == 3


def test_prune_frees_every_value_the_head_does_not_need() -> None:
    saver = InMemorySaver(max_chain=0)  # full values only: nothing older is needed
    ids = put_chain(saver, "t", 5)
    saver.prune(["t"])
    assert [t.checkpoint["id"] for t in saver.list(cfg("t"))] == [ids[-1]]
    assert len([k for k in saver.blobs if k[0] == "t"]) == 2


def test_prune_after_growth_frees_values_outside_the_head_chain() -> None:
    saver = InMemorySaver(max_chain=4)
    ids = put_chain(saver, "t", 12)
    saver.prune(["t"])
    tup = saver.get_tuple(cfg("t"))
    assert tup is not None
    assert tup.checkpoint["id"] == ids[-1]
    assert tup.checkpoint["channel_values"]["items"] == list(range(12))
    # items: versions 1..12 at positions 0..11; the head (position 11, binary 1011) is a delta
    # on positions 0, 8 and 10 (versions 1, 9, 11)
    kept = sorted(k[3] for k in saver.blobs if k[0] == "t" and k[2] == "items")
    assert [int(k.split(".")[0]) for k in kept] == [1, 9, 11, 12]


def test_prune_keeps_delta_ancestors_up_to_the_nearest_stored_value() -> None:
    saver = InMemorySaver()
    parent = None
    ids = []
    delta_version: str | None = None
    for step in range(6):
        delta_version = next_version(delta_version)
        # Steps 0 and 3 store a snapshot of the delta channel; the others only bump its version.
        values = {"log": ["snap", step]} if step in (0, 3) else {}
        cp = make_checkpoint(values, {"log": delta_version})
        meta = {"step": step, "counters_since_delta_snapshot": {"log": [step % 3, step % 3]}}
        saver.put(cfg("t", cid=parent), cp, meta, {"log": delta_version})  # type: ignore[arg-type]
        saver.put_writes(cfg("t", cid=cp["id"]), [("log", f"w{step}")], f"task{step}")
        ids.append(cp["id"])
        parent = cp["id"]
    before = saver.get_delta_channel_history(config=cfg("t", cid=ids[-1]), channels=["log"])
    saver.prune(["t"])
    kept = sorted(t.checkpoint["id"] for t in saver.list(cfg("t")))
    assert kept == ids[3:]
    after = saver.get_delta_channel_history(config=cfg("t", cid=ids[-1]), channels=["log"])
    assert after == before
    assert before["log"]["seed"] == ["snap", 3]
    assert [w[2] for w in before["log"]["writes"]] == ["w3", "w4"]


def test_prune_unknown_strategy_is_rejected() -> None:
    saver = InMemorySaver()
    with pytest.raises(InvalidArgumentError, match="strategy"):
        saver.prune(["t"], strategy="keep_some")


def test_delete_for_runs_keeps_values_of_survivors() -> None:
    saver = InMemorySaver()
    first = put_chain(saver, "t", 2, run_id="r1")
    # The second run continues the same thread; its checkpoint reuses "fixed" from run r1.
    tup = saver.get_tuple(cfg("t"))
    assert tup is not None
    items_version = next_version(tup.checkpoint["channel_versions"]["items"])
    cp = make_checkpoint(
        {"fixed": "same", "items": [9]},
        {**tup.checkpoint["channel_versions"], "items": items_version},  # type: ignore[dict-item]
    )
    saver.put(
        cfg("t", cid=first[-1]),
        cp,
        {"run_id": "r2"},  # type: ignore[typeddict-unknown-key]
        {"items": items_version},
    )
    saver.delete_for_runs(["r1"])
    remaining = list(saver.list(cfg("t")))
    assert [t.checkpoint["id"] for t in remaining] == [cp["id"]]
    assert remaining[0].checkpoint["channel_values"] == {"fixed": "same", "items": [9]}


def test_copy_thread_is_independent_of_its_source() -> None:
    saver = InMemorySaver()
    ids = put_chain(saver, "src", 3, ns="")
    put_chain(saver, "src", 2, ns="child:1")
    saver.put_writes(cfg("src", cid=ids[-1]), [("c", {"w": 1})], "task")
    saver.copy_thread("src", "dst")
    saver.delete_thread("src")
    copied = list(saver.list({"configurable": {"thread_id": "dst"}}))
    assert len(copied) == 5
    head = saver.get_tuple(cfg("dst"))
    assert head is not None
    assert head.checkpoint["id"] == ids[-1]
    assert head.pending_writes == [("task", "c", {"w": 1})]
    assert head.checkpoint["channel_values"]["items"] == [0, 1, 2]
    assert head.parent_config == cfg("dst", cid=ids[-2])


def test_copy_thread_refuses_a_non_empty_target() -> None:
    saver = InMemorySaver()
    put_chain(saver, "a", 1)
    put_chain(saver, "b", 1)
    with pytest.raises(InvalidArgumentError, match="already has checkpoints"):
        saver.copy_thread("a", "b")


def test_put_writes_first_value_wins_special_channels_replace() -> None:
    saver = InMemorySaver()
    (cid,) = put_chain(saver, "t", 1)
    c = cfg("t", cid=cid)
    saver.put_writes(c, [("a", 1), ("b", 2)], "task")
    saver.put_writes(c, [("a", 10), ("b", 20)], "task")
    saver.put_writes(c, [("__error__", "e1")], "task")
    saver.put_writes(c, [("__error__", "e2")], "task")
    saver.put_writes(c, [], "task")
    tup = saver.get_tuple(c)
    assert tup is not None
    assert tup.pending_writes == [("task", "__error__", "e2"), ("task", "a", 1), ("task", "b", 2)]


def test_pending_writes_sorted_by_task_path_then_task_id_then_idx() -> None:
    saver = InMemorySaver()
    (cid,) = put_chain(saver, "t", 1)
    c = cfg("t", cid=cid)
    saver.put_writes(c, [("x", "late")], "a-task", "~__pregel_pull, z")
    saver.put_writes(c, [("x", "early"), ("y", "second")], "b-task", "~__pregel_pull, a")
    saver.put_writes(c, [("x", "input")], "00000000-0000-0000-0000-000000000000")
    tup = saver.get_tuple(c)
    assert tup is not None
    assert [w[2] for w in tup.pending_writes or []] == ["input", "early", "second", "late"]


def test_writes_before_their_checkpoint_show_up_once_it_is_put() -> None:
    saver = InMemorySaver()
    cp = make_checkpoint({"a": 1})
    saver.put_writes(cfg("t", cid=cp["id"]), [("a", 2)], "task")
    saver.put(cfg("t"), cp, {}, cp["channel_versions"])
    tup = saver.get_tuple(cfg("t"))
    assert tup is not None
    assert tup.pending_writes == [("task", "a", 2)]


def test_concurrent_put_writes_from_threads_all_persist() -> None:
    saver = InMemorySaver()
    (cid,) = put_chain(saver, "t", 1)
    barrier = threading.Barrier(16)

    def work(n: int) -> None:
        barrier.wait()
        for i in range(20):
            saver.put_writes(cfg("t", cid=cid), [("c", (n, i))], f"task-{n:02}-{i:02}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tup = saver.get_tuple(cfg("t"))
    assert tup is not None
    assert sorted(w[2] for w in tup.pending_writes or []) == [
        (n, i) for n in range(16) for i in range(20)
    ]


async def test_concurrent_async_put_writes_all_persist() -> None:
    saver = InMemorySaver()
    (cid,) = put_chain(saver, "t", 1)
    await asyncio.gather(
        *(saver.aput_writes(cfg("t", cid=cid), [("c", n)], f"task-{n:03}") for n in range(50))
    )
    tup = await saver.aget_tuple(cfg("t"))
    assert tup is not None
    assert sorted(w[2] for w in tup.pending_writes or []) == list(range(50))


async def test_sync_and_async_apis_agree() -> None:
    saver = InMemorySaver()
    put_chain(saver, "t", 4)
    put_chain(saver, "t", 2, ns="child:1")
    sync_list = list(saver.list(cfg("t"), limit=3))
    async_list = [t async for t in saver.alist(cfg("t"), limit=3)]
    assert sync_list == async_list
    assert saver.get_tuple(cfg("t")) == await saver.aget_tuple(cfg("t"))


def test_unserializable_value_names_the_channel() -> None:
    saver = InMemorySaver()
    cp = make_checkpoint({"good": 1, "bad": {"inner": [1, object()]}})
    with pytest.raises(SerializationError) as info:
        saver.put(cfg("t"), cp, {}, cp["channel_versions"])
    assert info.value.channel == "bad"
    assert "bad" in str(info.value)
    assert saver.get_tuple(cfg("t")) is None  # nothing half-stored


def test_corrupt_value_raises_naming_the_record_and_the_rest_stays_readable() -> None:
    saver = InMemorySaver()
    ids = put_chain(saver, "t", 3)
    head = saver.get_tuple(cfg("t"))
    assert head is not None
    version = head.checkpoint["channel_versions"]["items"]
    saver.blobs[("t", "", "items", str(version))] = ("msgpack", b"\xc1\xc1garbage")
    with pytest.raises(DeserializationError) as info:
        saver.get_tuple(cfg("t"))
    err = info.value
    assert (err.thread_id, err.checkpoint_id, err.channel) == ("t", ids[-1], "items")
    older = saver.get_tuple(cfg("t", cid=ids[0]))
    assert older is not None
    assert older.checkpoint["channel_values"]["items"] == [0]


def test_list_limit_applies_after_filter_and_before() -> None:
    saver = InMemorySaver()
    ids = put_chain(saver, "t", 10)
    got = list(saver.list(cfg("t"), filter={"step": 2}, before=cfg("t", cid=ids[5]), limit=1))
    assert [t.checkpoint["id"] for t in got] == [ids[2]]
    assert list(saver.list(cfg("t"), limit=0)) == []


def test_list_namespace_semantics() -> None:
    saver = InMemorySaver()
    put_chain(saver, "t", 2)
    put_chain(saver, "t", 3, ns="child:1")
    assert len(list(saver.list(cfg("t")))) == 2
    assert len(list(saver.list(cfg("t", ns="child:1")))) == 3
    assert len(list(saver.list({"configurable": {"thread_id": "t"}}))) == 5
    assert len(list(saver.list(None))) == 5


def test_int_thread_id_is_stored_as_string() -> None:
    saver = InMemorySaver()
    cp = make_checkpoint({"a": 1})
    saver.put({"configurable": {"thread_id": 7, "checkpoint_ns": ""}}, cp, {}, {})
    assert saver.get_tuple({"configurable": {"thread_id": "7"}}) is not None


def test_retention_keep_last_per_namespace() -> None:
    saver = InMemorySaver(retention=RetentionPolicy(keep_last=2))
    ids = put_chain(saver, "t", 5)
    child = put_chain(saver, "t", 3, ns="child:1")
    result = saver.sweep()
    assert result == SweepResult(threads_deleted=0, checkpoints_deleted=4)
    assert [x.checkpoint["id"] for x in saver.list(cfg("t"))] == ids[:2:-1]
    assert [x.checkpoint["id"] for x in saver.list(cfg("t", ns="child:1"))] == child[:0:-1]
    tup = saver.get_tuple(cfg("t"))
    assert tup is not None
    assert tup.checkpoint["channel_values"] == {"items": [0, 1, 2, 3, 4], "fixed": "same"}


def test_retention_expires_idle_threads() -> None:
    now = [1000.0]
    saver = InMemorySaver(clock=lambda: now[0])
    put_chain(saver, "old", 3)
    now[0] += 3600
    put_chain(saver, "fresh", 2)
    result = saver.sweep(RetentionPolicy(max_idle=timedelta(minutes=30)))
    assert result == SweepResult(threads_deleted=1, checkpoints_deleted=3)
    assert saver.get_tuple(cfg("old")) is None
    assert saver.get_tuple(cfg("fresh")) is not None
    assert not [k for k in saver.blobs if k[0] == "old"]


def test_retention_policy_validation_and_missing_policy() -> None:
    with pytest.raises(InvalidArgumentError, match="keep_last"):
        RetentionPolicy(keep_last=0)
    with pytest.raises(InvalidArgumentError, match="max_idle"):
        RetentionPolicy(max_idle=timedelta(0))
    with pytest.raises(InvalidArgumentError, match="retention"):
        InMemorySaver().sweep()


async def test_asweep_matches_sweep() -> None:
    saver = InMemorySaver()
    put_chain(saver, "t", 4)
    assert await saver.asweep(RetentionPolicy(keep_last=1)) == SweepResult(0, 3)
