"""Durability: write, close, reopen the same storage; everything reads back the same."""

from __future__ import annotations

from typing import Any

from pitstop.conformance.builders import cfg, cid, ckpt, put_chain, ver
from pitstop.conformance.driver import SaverDriver
from pitstop.conformance.registry import saver_spec
from pitstop.conformance.specs.values import _rich_values


def _everything(d: SaverDriver) -> Any:
    return sorted(
        (
            repr(t.config),
            repr(t.checkpoint),
            repr(t.metadata),
            repr(t.parent_config),
            repr(t.pending_writes),
        )
        for t in d.list(None)
    )


@saver_spec("durability")
def spec_reopen_reads_everything(d: SaverDriver) -> None:
    put_chain(d, "t", 4, metadata={"run_id": "r"})
    put_chain(d, "t", 2, ns="child:1", start=10)
    values = _rich_values()
    d.put(cfg("u"), ckpt(20, values), {"source": "input"}, dict.fromkeys(values, ver(20)))
    d.put_writes(cfg("t", "", cid(4)), [("a", 1), ("__interrupt__", ["why"])], "task")
    d.put_writes(cfg("u", "", cid(20)), [("v", (1, 2))], "task")
    d.put_writes(cfg("z", "", cid(30)), [("early", "w")], "task")  # checkpoint never put
    before = _everything(d)
    latest = d.get_tuple(cfg("t"))
    d.reopen()
    assert _everything(d) == before, "data changed across reopen"
    assert repr(d.get_tuple(cfg("t"))) == repr(latest)
    d.put(cfg("z"), ckpt(30), {}, {})
    got = d.get_tuple(cfg("z"))
    assert got is not None
    assert got.pending_writes == [("task", "early", "w")]
    # and the reopened saver keeps working
    d.put(cfg("t", "", cid(4)), ckpt(5, {"x": "after"}), {}, {"x": ver(5)})
    d.delete_thread("u")
    d.reopen()
    head = d.get_tuple(cfg("t"))
    assert head is not None
    assert head.checkpoint["channel_values"] == {"x": "after"}
    assert d.list(cfg("u", None)) == []
