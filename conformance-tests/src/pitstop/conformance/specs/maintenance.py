"""delete_thread (§8.4), delete_for_runs / copy_thread / prune / delta history (§8.5).

Every destructive operation is checked against neighbouring threads whose ids share a prefix
(or differ only in case) with the target, so prefix- or case-insensitive deletes are caught.
"""

from __future__ import annotations

import contextlib
from typing import Any

from pitstop.conformance.builders import cfg, cid, ckpt, put_chain, ver
from pitstop.conformance.driver import SaverDriver
from pitstop.conformance.registry import saver_spec

NEIGHBOURS = ("t1", "t-1", "T", "tt", "t ", "t%")


def _snapshot(d: SaverDriver, thread: str) -> Any:
    return [
        (t.config, t.checkpoint, t.metadata, t.parent_config, t.pending_writes)
        for t in d.list(cfg(thread, None))
    ]


def _populate(d: SaverDriver, thread: str, *, base: int, run: str | None = None) -> None:
    metadata = {"run_id": run} if run else None
    put_chain(d, thread, 3, start=base, metadata=metadata)
    put_chain(d, thread, 2, ns="child:1", start=base + 3, metadata=metadata)
    d.put_writes(cfg(thread, "", cid(base + 2)), [("w", f"{thread}-w")], "task")
    d.put_writes(cfg(thread, "child:1", cid(base + 4)), [("w", f"{thread}-cw")], "task")


def _neighbours(d: SaverDriver) -> dict[str, Any]:
    for i, name in enumerate(NEIGHBOURS):
        _populate(d, name, base=100 * (i + 1))
    return {name: _snapshot(d, name) for name in NEIGHBOURS}


def _assert_neighbours(d: SaverDriver, before: dict[str, Any]) -> None:
    for name, snapshot in before.items():
        assert _snapshot(d, name) == snapshot, f"neighbouring thread {name!r} was changed"


@saver_spec("delete_thread", "D01", "D02", "D03", "D04")
def spec_delete_thread(d: SaverDriver) -> None:
    before = _neighbours(d)
    _populate(d, "t", base=1)
    d.delete_thread("t")
    assert d.get_tuple(cfg("t")) is None
    assert d.get_tuple(cfg("t", "child:1")) is None
    assert d.list(cfg("t", None)) == []
    _assert_neighbours(d, before)
    # re-create with the same ids: no old writes or values come back
    d.put(cfg("t"), ckpt(3, {}, {}), {}, {})
    got = d.get_tuple(cfg("t", "", cid(3)))
    assert got is not None
    assert got.pending_writes == [], got.pending_writes
    assert got.checkpoint["channel_values"] == {}
    d.put(cfg("t"), ckpt(2, {}, {"x": ver(2)}), {}, {})  # references the deleted value
    got = d.get_tuple(cfg("t", "", cid(2)))
    assert got is not None
    assert got.checkpoint["channel_values"] == {}, "stale value survived"
    d.delete_thread("never-existed")
    d.delete_thread("t")
    d.delete_thread("t")
    _assert_neighbours(d, before)


@saver_spec("delete_for_runs", "X01", "X02")
def spec_delete_for_runs(d: SaverDriver) -> None:
    before = _neighbours(d)
    _populate(d, "t", base=1, run="run-a")
    put_chain(d, "t", 2, start=20, metadata={"run_id": "run-b"})
    put_chain(d, "u", 2, start=30, metadata={"run_id": "run-a"})
    put_chain(d, "u", 1, start=40, metadata={"run_id": "run-a1"})
    d.delete_for_runs([])
    d.delete_for_runs(["no-such-run"])
    _assert_neighbours(d, before)
    assert len(d.list(cfg("t", None))) == 7
    d.delete_for_runs(["run-a"])
    assert sorted(t.checkpoint["id"] for t in d.list(cfg("t", None))) == [cid(20), cid(21)]
    assert [t.checkpoint["id"] for t in d.list(cfg("u", None))] == [cid(40)], "prefix run id"
    assert d.get_tuple(cfg("t", "child:1")) is None
    for t in d.list(cfg("t", None)):
        assert t.metadata.get("run_id") == "run-b"
    # writes of a deleted checkpoint do not reappear when its id is re-used
    d.put(cfg("t"), ckpt(3), {}, {})
    got = d.get_tuple(cfg("t", "", cid(3)))
    assert got is not None
    assert got.pending_writes == []
    _assert_neighbours(d, before)


@saver_spec("copy_thread", "X03", "X04", "X05")
def spec_copy_thread(d: SaverDriver) -> None:
    before = _neighbours(d)
    _populate(d, "t", base=1)
    source = _snapshot(d, "t")
    d.copy_thread("t", "copy")
    assert _snapshot(d, "t") == source, "source changed"
    copied = _snapshot(d, "copy")
    assert len(copied) == len(source)

    def relabel(snapshot: Any) -> Any:
        out = []
        for config, checkpoint, metadata, parent, writes in snapshot:
            config = {"configurable": {**config["configurable"], "thread_id": "X"}}
            if parent is not None:
                parent = {"configurable": {**parent["configurable"], "thread_id": "X"}}
            metadata = {k: v for k, v in metadata.items() if k != "thread_id"}
            out.append((config, checkpoint, metadata, parent, writes))
        return sorted(out, key=repr)

    assert relabel(copied) == relabel(source)
    ordered = [t.checkpoint["id"] for t in d.list(cfg("copy", ""))]
    assert ordered == [t.checkpoint["id"] for t in d.list(cfg("t", ""))]
    # the copy can be continued: latest values and parent links are usable
    head = d.get_tuple(cfg("copy"))
    assert head is not None
    assert head.checkpoint["channel_values"] == {"x": "t//3"}
    d.put(head.config, ckpt(50, {"x": "continued"}), {"step": 9}, {"x": ver(50)})
    cont = d.get_tuple(cfg("copy"))
    assert cont is not None
    assert cont.parent_config is not None
    assert cont.parent_config["configurable"]["checkpoint_id"] == cid(3)
    assert _snapshot(d, "t") == source
    _assert_neighbours(d, before)
    with contextlib.suppress(Exception):  # raising is allowed for an unknown source
        d.copy_thread("no-such-thread", "empty-target")
    assert d.list(cfg("empty-target", None)) == []


@saver_spec("prune", "X06", "X07", "X08", "X09")
def spec_prune(d: SaverDriver) -> None:
    before = _neighbours(d)
    # "a" is written once (checkpoint 1) and then only referenced: a shared value
    d.put(cfg("t"), ckpt(1, {"a": "shared", "x": 1}), {}, {"a": ver(1), "x": ver(1)})
    for n in (2, 3):
        checkpoint = ckpt(n, {"a": "shared", "x": n}, {"a": ver(1), "x": ver(n)})
        d.put(cfg("t", "", cid(n - 1)), checkpoint, {}, {"x": ver(n)})
    d.put_writes(cfg("t", "", cid(3)), [("x", "pending")], "task")
    d.put_writes(cfg("t", "", cid(2)), [("x", "old")], "task")
    put_chain(d, "t", 2, ns="child:1", start=10)
    d.prune([])
    d.prune(["no-such-thread"])
    _assert_neighbours(d, before)
    d.prune(["t"], "keep_latest")
    assert [t.checkpoint["id"] for t in d.list(cfg("t", ""))] == [cid(3)]
    assert [t.checkpoint["id"] for t in d.list(cfg("t", "child:1"))] == [cid(11)]
    kept = d.get_tuple(cfg("t"))
    assert kept is not None
    assert kept.checkpoint["channel_values"] == {"a": "shared", "x": 3}, "shared value collected"
    assert kept.pending_writes == [("task", "x", "pending")]
    child = d.get_tuple(cfg("t", "child:1"))
    assert child is not None
    assert child.checkpoint["channel_values"] == {"x": "t/child:1/11"}
    _assert_neighbours(d, before)
    put_chain(d, "v", 3)
    d.prune(["v", "t"], "delete")
    assert d.list(cfg("v", None)) == []
    assert d.list(cfg("t", None)) == []
    _assert_neighbours(d, before)


def _delta_fixture(d: SaverDriver) -> None:
    # 1 (seed a="s1") <- 2 <- 3 <- 4 (target); b has no stored value anywhere
    d.put(cfg("t"), ckpt(1, {"a": "s1"}, {"a": ver(1), "b": ver(1)}), {}, {"a": ver(1)})
    for n in (2, 3, 4):
        versions = {"a": ver(n), "b": ver(n)}
        d.put(cfg("t", "", cid(n - 1)), ckpt(n, {}, versions), {}, {})
    for n in (1, 2, 3, 4):
        d.put_writes(cfg("t", "", cid(n)), [("a", f"a{n}-1"), ("b", f"b{n}")], "task-2")
        d.put_writes(cfg("t", "", cid(n)), [("a", f"a{n}-0")], "task-1")
    # a second fixture where the seed sits on the parent itself, for channel c
    d.put(cfg("t"), ckpt(5, {"c": "seed5"}, {"c": ver(5)}), {}, {"c": ver(5)})
    d.put(cfg("t", "", cid(5)), ckpt(6, {}, {"c": ver(6)}), {}, {})
    d.put_writes(cfg("t", "", cid(5)), [("c", "c5")], "task")


@saver_spec("delta_history", "X10", "X11", "X12", "X13", "X14", "X15")
def spec_delta_history(d: SaverDriver) -> None:
    _delta_fixture(d)
    assert dict(d.delta_history(cfg("t", "", cid(4)), [])) == {}
    history = d.delta_history(cfg("t", "", cid(4)), ["a", "b", "zz"])
    a, b, zz = history["a"], history["b"], history["zz"]
    assert a.get("seed") == "s1", a
    assert [w[2] for w in a["writes"]] == ["a1-0", "a1-1", "a2-0", "a2-1", "a3-0", "a3-1"], a
    assert all(w[1] == "a" for w in a["writes"])
    assert b == {"writes": [("task-2", "b", f"b{n}") for n in (1, 2, 3)]}, b
    assert zz == {"writes": []}, zz
    c = d.delta_history(cfg("t", "", cid(6)), ["c"])["c"]
    assert c == {"writes": [("task", "c", "c5")], "seed": "seed5"}, c
    root = d.delta_history(cfg("t", "", cid(1)), ["a"])["a"]
    assert root == {"writes": []}, root
