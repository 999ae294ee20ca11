"""put_writes (contract §8.2): visibility, idempotency, special indices, ordering."""

from __future__ import annotations

import importlib.util
from typing import Any

from pitstop.conformance.builders import cfg, cid, ckpt
from pitstop.conformance.driver import SaverDriver
from pitstop.conformance.registry import saver_spec


def _writes(d: SaverDriver, thread: str = "t", ns: str = "", n: int = 1) -> list[tuple[Any, ...]]:
    got = d.get_tuple(cfg(thread, ns, cid(n)))
    assert got is not None, "checkpoint missing"
    assert got.pending_writes is not None, "pending_writes is None (expected a list)"
    return [tuple(w) for w in got.pending_writes]


@saver_spec("put_writes", "W01", "W02", "W09")
def spec_writes_visible(d: SaverDriver) -> None:
    d.put(cfg("t"), ckpt(1), {}, {})
    assert _writes(d) == []
    d.put_writes(cfg("t", "", cid(1)), [("a", 1), ("b", {"k": [1]}), ("c", None)], "task-1")
    d.put_writes(cfg("t", "", cid(1)), [("a", "from-2")], "task-2", task_path="~__pregel_pull, n")
    assert _writes(d) == [
        ("task-1", "a", 1),
        ("task-1", "b", {"k": [1]}),
        ("task-1", "c", None),
        ("task-2", "a", "from-2"),
    ], _writes(d)


@saver_spec("put_writes", "W03")
def spec_regular_writes_first_wins(d: SaverDriver) -> None:
    d.put(cfg("t"), ckpt(1), {}, {})
    config = cfg("t", "", cid(1))
    d.put_writes(config, [("a", "first"), ("b", "first")], "task")
    d.put_writes(config, [("a", "first"), ("b", "first")], "task")
    d.put_writes(config, [("a", "second")], "task")  # same (task, idx 0)
    d.put_writes(config, [("z", "other-task")], "task-2")
    assert _writes(d) == [
        ("task", "a", "first"),
        ("task", "b", "first"),
        ("task-2", "z", "other-task"),
    ], _writes(d)


@saver_spec("put_writes", "W04", "W05")
def spec_special_writes(d: SaverDriver) -> None:
    d.put(cfg("t"), ckpt(1), {}, {})
    config = cfg("t", "", cid(1))
    d.put_writes(config, [("__error__", "e1")], "task")
    d.put_writes(config, [("__error__", "e2")], "task")  # special-only: latest wins
    d.put_writes(config, [("__interrupt__", ["i1"])], "task")
    d.put_writes(config, [("__interrupt__", ["i2"])], "task")
    d.put_writes(config, [("__resume__", ["r1"])], "task")
    d.put_writes(config, [("__scheduled__", "s1")], "task")
    d.put_writes(config, [("x", "regular-0")], "task")  # idx 0 must not collide with -1..-4
    got = _writes(d)
    assert sorted(got, key=repr) == sorted(
        [
            ("task", "__error__", "e2"),
            ("task", "__interrupt__", ["i2"]),
            ("task", "__resume__", ["r1"]),
            ("task", "__scheduled__", "s1"),
            ("task", "x", "regular-0"),
        ],
        key=repr,
    ), got
    # a mixed call whose special row exists: either behaviour is accepted (contract §3.3)
    d.put_writes(config, [("__resume__", ["r2"]), ("y", "regular-1")], "task")
    resume = [w[2] for w in _writes(d) if w[1] == "__resume__"]
    assert resume in ([["r1"]], [["r2"]]), resume
    assert ("task", "y", "regular-1") in _writes(d)


@saver_spec("put_writes", "W06", "W14")
def spec_writes_scoped_to_checkpoint(d: SaverDriver) -> None:
    d.put(cfg("t"), ckpt(1), {}, {})
    d.put(cfg("t", "child:1"), ckpt(1), {}, {})
    d.put_writes(cfg("t", "", cid(1)), [("a", "root")], "task")
    d.put_writes(cfg("t", "child:1", cid(1)), [("a", "child")], "task")
    d.put(cfg("t", "", cid(1)), ckpt(2), {}, {})
    assert _writes(d, n=1) == [("task", "a", "root")]
    assert _writes(d, ns="child:1", n=1) == [("task", "a", "child")]
    assert _writes(d, n=2) == []
    d.put(cfg("u"), ckpt(1), {}, {})
    assert _writes(d, thread="u") == []


@saver_spec("put_writes", "W07", "W08")
def spec_writes_before_checkpoint(d: SaverDriver) -> None:
    d.put_writes(cfg("t", "", cid(5)), [("early", 1)], "task")
    d.put_writes(cfg("t", "", cid(5)), [], "task-empty")
    assert d.get_tuple(cfg("t", "", cid(5))) is None
    d.put(cfg("t"), ckpt(5), {}, {})
    assert _writes(d, n=5) == [("task", "early", 1)]
    d.put_writes(cfg("t", "", cid(5)), [], "task-empty")
    assert _writes(d, n=5) == [("task", "early", 1)]


@saver_spec("put_writes", "W10")
def spec_writes_ordered(d: SaverDriver) -> None:
    d.put(cfg("t"), ckpt(1), {}, {})
    config = cfg("t", "", cid(1))
    # inserted in reverse order; same task_path: ordered by (task_id, idx)
    d.put_writes(config, [("c", 3), ("d", 4)], "task-c")
    d.put_writes(config, [("e", 5)], "task-b")
    d.put_writes(config, [("a", 1), ("b", 2), ("__error__", "boom")], "task-a")
    assert _writes(d) == [
        ("task-a", "__error__", "boom"),
        ("task-a", "a", 1),
        ("task-a", "b", 2),
        ("task-b", "e", 5),
        ("task-c", "c", 3),
        ("task-c", "d", 4),
    ], _writes(d)
    # pitstop orders by (task_path, task_id, idx): the order the runtime applies writes in
    d.put(cfg("t"), ckpt(2), {}, {})
    config = cfg("t", "", cid(2))
    d.put_writes(config, [("x", "z-id")], "zzz", task_path="~__pregel_pull, a")
    d.put_writes(config, [("x", "a-id")], "aaa", task_path="~__pregel_pull, b")
    assert _writes(d, n=2) == [("zzz", "x", "z-id"), ("aaa", "x", "a-id")], _writes(d, n=2)


@saver_spec("put_writes", "W11", "W12")
def spec_runtime_objects_in_writes(d: SaverDriver) -> None:
    if importlib.util.find_spec("langgraph") is None:
        return  # Interrupt and Send are LangGraph types
    from langgraph.types import Interrupt, Send

    d.put(cfg("t"), ckpt(1), {}, {})
    interrupt = Interrupt(value={"question": "ok?"}, id="interrupt-id-1")
    d.put_writes(cfg("t", "", cid(1)), [("__interrupt__", (interrupt,))], "task")
    d.put_writes(cfg("t", "", cid(1)), [("__pregel_tasks", Send("node", {"arg": 1}))], "task-2")
    got = {w[1]: w[2] for w in _writes(d)}
    restored = got["__interrupt__"]
    assert isinstance(restored[0], Interrupt), restored
    assert restored[0].id == "interrupt-id-1"
    assert restored[0].value == {"question": "ok?"}
    send = got["__pregel_tasks"]
    assert isinstance(send, Send), send
    assert (send.node, send.arg) == ("node", {"arg": 1})
