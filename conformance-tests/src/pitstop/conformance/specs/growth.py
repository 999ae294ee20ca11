"""Growing values (issue 7): a chat history read back exactly however the backend stores it.

A backend may store a list that grows by appending as a delta against an earlier version
(``pitstop.checkpoint.base.values``) or in full; either way every checkpoint must read back
its own list exactly: at every step, on a fork that extends an earlier step differently, after
``prune``, after a reopen, and nothing may be left once the thread is deleted. The checks sit
under the capability of the operation they exercise (``put``, ``prune``, ``copy_thread``,
``delete_thread``, the ``durability`` group), so a custom backend using the layer is checked by
the suite it already claims.
"""

from __future__ import annotations

from typing import Any

from pitstop.conformance.builders import cfg, cid, ckpt
from pitstop.conformance.driver import SaverDriver
from pitstop.conformance.registry import saver_spec

STEPS = 50
FORK_AT = 20


def version(n: int, branch: int = 0) -> str:
    """A version that sorts like ``n``; forked branches differ in the fraction."""
    return f"{n:032}.{branch:016}"


def message(n: int, branch: int = 0) -> dict[str, Any]:
    return {"id": f"m{branch}-{n}", "role": "ai" if n % 2 else "human", "content": f"{n} " * 40}


def grow(
    d: SaverDriver,
    thread: str,
    steps: int,
    *,
    start: int = 1,
    branch: int = 0,
    base: list[dict[str, Any]] | None = None,
    parent: str | None = None,
    run: str | None = None,
) -> list[list[dict[str, Any]]]:
    """Put ``steps`` checkpoints whose ``messages`` list gains one message each.

    ``step`` (unchanged after the first checkpoint) is stored once; ``turn`` changes every
    step and is not a list. Returns the list each checkpoint holds, oldest first.
    """
    messages = list(base or [])
    history: list[list[dict[str, Any]]] = []
    for n in range(start, start + steps):
        messages = [*messages, message(n, branch)]
        values = {"messages": messages, "turn": n, "config": {"model": "m"}}
        versions = {
            "messages": version(n, branch),
            "turn": version(n, branch),
            "config": version(1),
        }
        new_versions = {"messages": versions["messages"], "turn": versions["turn"]}
        if n == 1:
            new_versions["config"] = versions["config"]
        checkpoint = ckpt(n + 1000 * branch, values, versions)
        metadata = {"step": n, **({"run_id": run} if run else {})}
        d.put(cfg(thread, "", parent), checkpoint, metadata, new_versions)
        parent = checkpoint["id"]
        history.append(messages)
    return history


def _messages_at(d: SaverDriver, thread: str, checkpoint_id: str | None = None) -> Any:
    got = d.get_tuple(cfg(thread, "", checkpoint_id))
    assert got is not None, f"{thread}/{checkpoint_id}: checkpoint missing"
    return got.checkpoint["channel_values"].get("messages")


@saver_spec("put")
def spec_growing_list_reads_back_at_every_step(d: SaverDriver) -> None:
    history = grow(d, "t", STEPS)
    for n, expected in enumerate(history, start=1):
        assert _messages_at(d, "t", cid(n)) == expected, f"step {n} reads back wrong"
    latest = d.get_tuple(cfg("t"))
    assert latest is not None
    assert latest.checkpoint["channel_values"] == {
        "messages": history[-1],
        "turn": STEPS,
        "config": {"model": "m"},
    }
    listed = d.list(cfg("t"))
    assert [t.checkpoint["channel_values"]["messages"] for t in listed] == history[::-1]
    # a non-append change (an edit, then a removal) still reads back exactly
    edited = [{**history[-1][0], "content": "edited"}, *history[-1][1:]]
    n = STEPS + 1
    d.put(
        cfg("t", "", cid(STEPS)),
        ckpt(n, {"messages": edited}, {"messages": version(n)}),
        {},
        {"messages": version(n)},
    )
    assert _messages_at(d, "t") == edited
    d.put(
        cfg("t", "", cid(n)),
        ckpt(n + 1, {"messages": edited[:3]}, {"messages": version(n + 1)}),
        {},
        {"messages": version(n + 1)},
    )
    assert _messages_at(d, "t") == edited[:3]
    assert _messages_at(d, "t", cid(STEPS)) == history[-1]


@saver_spec("put")
def spec_fork_reads_only_its_own_branch(d: SaverDriver) -> None:
    main = grow(d, "t", STEPS)
    fork_point = main[FORK_AT - 1]
    assert _messages_at(d, "t", cid(FORK_AT)) == fork_point  # time travel reads first
    fork = grow(d, "t", 15, start=FORK_AT + 1, branch=1, base=fork_point, parent=cid(FORK_AT))
    for i, expected in enumerate(fork):
        n = FORK_AT + 1 + i
        assert _messages_at(d, "t", cid(n + 1000)) == expected, f"fork step {n}"
    for n, expected in enumerate(main, start=1):
        assert _messages_at(d, "t", cid(n)) == expected, f"main step {n} after the fork"
    assert _messages_at(d, "t") == fork[-1]  # the fork's ids are the newest


@saver_spec("prune")
def spec_prune_after_growth_keeps_the_head_exact(d: SaverDriver) -> None:
    history = grow(d, "t", STEPS)
    other = grow(d, "u", 10)
    d.prune(["t"], "keep_latest")
    listed = d.list(cfg("t"))
    assert [t.checkpoint["id"] for t in listed] == [cid(STEPS)]
    assert listed[0].checkpoint["channel_values"]["messages"] == history[-1]
    # and the thread keeps growing from the kept head
    more = grow(d, "t", 5, start=STEPS + 1, base=history[-1], parent=cid(STEPS))
    assert _messages_at(d, "t") == more[-1]
    d.prune(["t"], "keep_latest")
    assert _messages_at(d, "t") == more[-1]
    assert [t.checkpoint["channel_values"]["messages"] for t in d.list(cfg("u"))] == other[::-1]


@saver_spec("copy_thread")
def spec_copy_after_growth_reads_the_same_history(d: SaverDriver) -> None:
    history = grow(d, "t", 30)
    d.copy_thread("t", "copy")
    d.delete_thread("t")
    for n, expected in enumerate(history, start=1):
        assert _messages_at(d, "copy", cid(n)) == expected, f"copied step {n}"
    more = grow(d, "copy", 3, start=31, base=history[-1], parent=cid(30))
    assert _messages_at(d, "copy") == more[-1]


@saver_spec("delete_thread")
def spec_delete_after_growth_leaves_nothing(d: SaverDriver) -> None:
    grow(d, "t", 30)
    kept = grow(d, "t2", 5)
    d.delete_thread("t")
    assert d.list(cfg("t", None)) == []
    assert d.get_tuple(cfg("t")) is None
    # the same thread grows again from scratch: nothing of the old history comes back
    again = grow(d, "t", 5)
    for n, expected in enumerate(again, start=1):
        assert _messages_at(d, "t", cid(n)) == expected
    assert _messages_at(d, "t2") == kept[-1]


@saver_spec("durability")
def spec_reopen_after_growth_reads_every_step(d: SaverDriver) -> None:
    history = grow(d, "t", 30)
    d.reopen()
    for n, expected in enumerate(history, start=1):
        assert _messages_at(d, "t", cid(n)) == expected, f"step {n} after reopen"
    more = grow(d, "t", 10, start=31, base=history[-1], parent=cid(30))
    d.reopen()
    assert _messages_at(d, "t") == more[-1]
    assert _messages_at(d, "t", cid(35)) == more[4]
