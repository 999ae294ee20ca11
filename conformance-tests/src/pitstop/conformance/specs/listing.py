"""list (contract §8.3): scoping, ordering, before/limit, metadata filters."""

from __future__ import annotations

from typing import Any

from pitstop.conformance.builders import cfg, cid, ckpt, put_chain
from pitstop.conformance.driver import SaverDriver
from pitstop.conformance.registry import saver_spec


def _ids(tuples: list[Any]) -> list[str]:
    return [t.checkpoint["id"] for t in tuples]


def _c(*ns: int) -> list[str]:
    return [cid(n) for n in ns]


@saver_spec("list", "L01", "L02", "L04", "L12")
def spec_scoping_and_order(d: SaverDriver) -> None:
    put_chain(d, "t", 4)
    put_chain(d, "u", 2, start=10)
    d.put_writes(cfg("t", "", cid(2)), [("w", 1)], "task")
    listed = d.list(cfg("t"))
    assert _ids(listed) == _c(4, 3, 2, 1), _ids(listed)
    for t in listed:
        assert t.config["configurable"]["thread_id"] == "t"
        assert t.config["configurable"]["checkpoint_id"] == t.checkpoint["id"]
        assert isinstance(t.pending_writes, list)
        expected_parent = None if t.checkpoint["id"] == cid(1) else "set"
        assert (t.parent_config is None) == (expected_parent is None), t
    by_id = {t.checkpoint["id"]: t for t in listed}
    assert by_id[cid(2)].pending_writes == [("task", "w", 1)]
    assert by_id[cid(3)].parent_config["configurable"]["checkpoint_id"] == cid(2)
    assert d.list(cfg("nobody")) == []
    everything = d.list(None)
    assert sorted(_ids(everything)) == _c(1, 2, 3, 4, 10, 11)
    assert _ids(d.list(cfg("u"))) == _c(11, 10)


@saver_spec("list", "L03")
def spec_namespaces(d: SaverDriver) -> None:
    put_chain(d, "t", 2)
    put_chain(d, "t", 2, ns="child:1", start=3)
    put_chain(d, "t", 1, ns="child:2", start=5)
    assert _ids(d.list(cfg("t", ""))) == _c(2, 1)
    assert _ids(d.list(cfg("t", "child:1"))) == _c(4, 3)
    assert sorted(_ids(d.list(cfg("t", None)))) == _c(1, 2, 3, 4, 5)
    assert d.list(cfg("t", "child:9")) == []
    explicit_none = {"configurable": {"thread_id": "t", "checkpoint_ns": None}}
    assert sorted(_ids(d.list(explicit_none))) == _c(1, 2, 3, 4, 5)
    for t in d.list(cfg("t", "child:1")):
        assert t.config["configurable"]["checkpoint_ns"] == "child:1"


@saver_spec("list", "L05", "L06", "L07", "L08", "L09")
def spec_before_and_limit(d: SaverDriver) -> None:
    put_chain(d, "t", 6)
    put_chain(d, "u", 3, start=20)
    assert _ids(d.list(cfg("t", "", cid(3)))) == _c(3)
    assert _ids(d.list(cfg("t"), before=cfg("t", "", cid(4)))) == _c(3, 2, 1)
    assert _ids(d.list(cfg("t"), before=cfg("t", "", cid(4)), limit=1)) == _c(3)
    assert _ids(d.list(cfg("t"), limit=2)) == _c(6, 5)
    assert _ids(d.list(cfg("t"), limit=1)) == _c(6)
    assert _ids(d.list(cfg("t"), limit=100)) == _c(6, 5, 4, 3, 2, 1)
    # before from another thread / never stored: still a plain id comparison
    assert _ids(d.list(cfg("u"), before=cfg("t", "", cid(21)))) == _c(20)
    assert _ids(d.list(cfg("t"), before={"configurable": {"checkpoint_id": cid(3)}})) == _c(2, 1)
    assert _ids(d.list(cfg("t"), before=cfg("x", "", cid(100)), limit=2)) == _c(6, 5)
    assert d.list(cfg("t"), before=cfg("t", "", cid(1))) == []
    # pagination walks the whole history one page at a time
    pages: list[str] = []
    before = None
    while True:
        page = d.list(cfg("t"), before=before, limit=2)
        if not page:
            break
        pages.extend(_ids(page))
        before = page[-1].config
    assert pages == _c(6, 5, 4, 3, 2, 1), pages


@saver_spec("list", "L08", "L10", "L11")
def spec_filters(d: SaverDriver) -> None:
    for i in range(1, 9):
        metadata = {
            "source": "loop" if i % 2 else "input",
            "step": i,
            "owner": "alice" if i <= 4 else "bob",
            "score": i * 1.5,
        }
        d.put(cfg("t"), ckpt(i), metadata, {})
    assert _ids(d.list(cfg("t"), filter={"source": "input"})) == _c(8, 6, 4, 2)
    assert _ids(d.list(cfg("t"), filter={"step": 3})) == _c(3)
    assert _ids(d.list(cfg("t"), filter={"source": "loop", "owner": "bob"})) == _c(7, 5)
    assert _ids(d.list(cfg("t"), filter={"score": 6.0})) == _c(4)
    assert d.list(cfg("t"), filter={"owner": "carol"}) == []
    assert d.list(cfg("t"), filter={"source": "input", "step": 3}) == []
    assert len(d.list(cfg("t"), filter={})) == 8
    # limit applies after the filter, and combines with before
    assert _ids(d.list(cfg("t"), filter={"owner": "alice"}, limit=2)) == _c(4, 3)
    assert _ids(d.list(cfg("t"), filter={"source": "input"}, limit=1)) == _c(8)
    got = d.list(cfg("t"), filter={"source": "loop"}, before=cfg("t", "", cid(6)), limit=2)
    assert _ids(got) == _c(5, 3), _ids(got)
    assert _ids(d.list(None, filter={"owner": "bob", "step": 8})) == _c(8)


@saver_spec("list", "L10")
def spec_filter_json_types_and_keys(d: SaverDriver) -> None:
    rows: dict[int, dict[str, Any]] = {
        1: {"nested": {"a": {"b": 1}}, "tags": ["x", "y"], "flag": True, "n": 1},
        2: {"nested": {"a": {"b": 2}}, "tags": ["x"], "flag": False, "n": 1.5},
        3: {"a.b": "dotted", 'q"uote': "dq", "it's": "sq", "nul": None, "n": 0, "empty": ""},
        4: {"a": {"b": "dotted"}, "flag": 1, "n": 10, "big": 2**40},
    }
    for n, metadata in rows.items():
        d.put(cfg("t"), ckpt(n), metadata, {})

    def ids(flt: dict[str, Any]) -> list[str]:
        return sorted(_ids(d.list(cfg("t"), filter=flt)))

    assert ids({"nested": {"a": {"b": 1}}}) == _c(1)
    assert ids({"tags": ["x", "y"]}) == _c(1)
    assert ids({"tags": ["x"]}) == _c(2)
    assert ids({"flag": True}) == _c(1), "True must not match 1"
    assert ids({"flag": False}) == _c(2)
    assert ids({"flag": 1}) == _c(4), "1 must not match True"
    assert ids({"n": 1.5}) == _c(2)
    assert ids({"n": 0}) == _c(3)
    assert ids({"big": 2**40}) == _c(4)
    assert ids({"a.b": "dotted"}) == _c(3), "dotted keys are literal keys"
    assert ids({'q"uote': "dq"}) == _c(3)
    assert ids({"it's": "sq"}) == _c(3)
    assert ids({"empty": ""}) == _c(3)
    assert ids({"nul": None}) == _c(1, 2, 3, 4), "None matches null and missing"
    assert ids({"n": "1"}) == [], "strings never equal numbers"
    assert ids({"nested": {"a": {"b": 3}}}) == []
    assert ids({"unknown_key": "x"}) == []
