"""put / get_tuple (contract §8.1) and channel versions (§8.6)."""

from __future__ import annotations

import copy

from pitstop.conformance.builders import TS, cfg, cid, ckpt, put_chain, ver
from pitstop.conformance.driver import SaverDriver
from pitstop.conformance.registry import saver_spec


def _conf(thread: str, ns: str, checkpoint_id: str) -> dict[str, object]:
    return {"thread_id": thread, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}


@saver_spec("put", "P01", "P12")
def spec_returns_config(d: SaverDriver) -> None:
    for ns in ("", "child:1"):
        returned = d.put(cfg("t", ns), ckpt(1, {"a": 1}), {"source": "input", "step": -1}, {})
        assert returned["configurable"] == _conf("t", ns, cid(1)), returned
    returned = d.put(cfg("t", None), ckpt(2, {"a": 1}), {}, {})  # no checkpoint_ns key
    assert returned["configurable"] == _conf("t", "", cid(2)), returned
    got = d.get_tuple(cfg("t", None))
    assert got is not None
    assert got.config["configurable"] == _conf("t", "", cid(2)), got.config


@saver_spec("get_tuple", "P02", "P04", "P27", "P28")
def spec_checkpoint_fields_roundtrip(d: SaverDriver) -> None:
    for n, v in ((1, 1), (2, 2), (3, 4)):
        checkpoint = ckpt(
            n,
            {"a": "x", "b": 2},
            {"a": ver(n), "b": n},
            {"node": {"a": ver(n - 1)}, "__interrupt__": {"a": ver(n), "b": 1}, "__input__": {}},
            v=v,
            updated=["a", "b"] if n != 2 else None,
        )
        d.put(cfg("t"), checkpoint, {}, {"a": ver(n), "b": n})
        got = d.get_tuple(cfg("t", "", cid(n)))
        assert got is not None
        c = got.checkpoint
        assert (c["id"], c["v"], c["ts"]) == (cid(n), v, TS)
        assert c["versions_seen"] == checkpoint["versions_seen"], c["versions_seen"]
        assert c.get("updated_channels") == checkpoint["updated_channels"]
        assert {k: str(x) for k, x in c["channel_versions"].items()} == {
            k: str(x) for k, x in checkpoint["channel_versions"].items()
        }
        assert c["channel_values"] == {"a": "x", "b": 2}
    legacy = ckpt(9, {"a": 1})
    legacy["pending_sends"] = []  # an unknown extra key (P28)
    d.put(cfg("t"), legacy, {}, {"a": ver(9)})
    got = d.get_tuple(cfg("t"))
    assert got is not None
    assert got.checkpoint["channel_values"] == {"a": 1}


@saver_spec("put", "P03")
def spec_json_channel_values(d: SaverDriver) -> None:
    values = {
        "s": "hello",
        "empty_s": "",
        "i": -42,
        "f": 3.25,
        "t": True,
        "fa": False,
        "n": None,
        "l": [1, "two", [3.0], {"k": None}],
        "d": {"nested": {"deep": [1, {"x": b"\x00\xff"}]}, "": 0},
        "b": b"\x00binary\xff",
        "empty_l": [],
        "empty_d": {},
        "empty_b": b"",
    }
    d.put(cfg("t"), ckpt(1, values), {}, dict.fromkeys(values, ver(1)))
    got = d.get_tuple(cfg("t"))
    assert got is not None
    for key, expected in values.items():
        assert key in got.checkpoint["channel_values"], f"channel {key!r} missing"
        actual = got.checkpoint["channel_values"][key]
        assert type(actual) is type(expected), (key, actual)
        assert actual == expected, (key, actual)


@saver_spec("put", "P05", "P06", "P07")
def spec_parent_config(d: SaverDriver) -> None:
    d.put(cfg("t"), ckpt(1), {}, {})
    d.put(
        {"configurable": {"thread_id": "t", "checkpoint_ns": "", "checkpoint_id": None}},
        ckpt(2),
        {},
        {},
    )
    d.put(cfg("t", "", cid(1)), ckpt(3), {}, {})
    d.put(cfg("t", "", cid(77)), ckpt(4), {}, {})  # parent never stored
    for n in (1, 2):
        got = d.get_tuple(cfg("t", "", cid(n)))
        assert got is not None
        assert got.parent_config is None, got
    got = d.get_tuple(cfg("t", "", cid(3)))
    assert got is not None
    assert got.parent_config is not None
    assert got.parent_config["configurable"] == _conf("t", "", cid(1)), got.parent_config
    got = d.get_tuple(cfg("t", "", cid(4)))
    assert got is not None
    assert got.parent_config is not None
    assert got.parent_config["configurable"] == _conf("t", "", cid(77))
    d.put(cfg("t", "child:1", cid(3)), ckpt(5), {}, {})
    got = d.get_tuple(cfg("t", "child:1"))
    assert got is not None
    assert got.parent_config is not None
    assert got.parent_config["configurable"] == _conf("t", "child:1", cid(3))


@saver_spec("get_tuple", "P08", "P09", "P10", "L13")
def spec_latest_is_greatest_id(d: SaverDriver) -> None:
    # insertion order deliberately differs from id order; 3 and 5 fork from 2
    for n, parent in ((2, None), (5, 2), (1, None), (3, 2), (4, 3)):
        d.put(cfg("t", "", cid(parent) if parent else None), ckpt(n, {"n": n}), {}, {"n": ver(n)})
    for config in (
        cfg("t"),
        cfg("t", None),
        {"configurable": {"thread_id": "t", "checkpoint_ns": "", "checkpoint_id": None}},
        {"configurable": {"thread_id": "t", "checkpoint_ns": "", "checkpoint_id": ""}},
    ):
        got = d.get_tuple(config)
        assert got is not None
        assert got.checkpoint["id"] == cid(5), (config, got)
        assert got.checkpoint["channel_values"] == {"n": 5}
    got = d.get_tuple(cfg("t", "", cid(3)))
    assert got is not None
    assert got.checkpoint["channel_values"] == {"n": 3}
    ids = [t.checkpoint["id"] for t in d.list(cfg("t"))]
    assert ids == [cid(n) for n in (5, 4, 3, 2, 1)], ids


@saver_spec("get_tuple", "P11")
def spec_missing_is_none(d: SaverDriver) -> None:
    assert d.get_tuple(cfg("nobody")) is None
    d.put(cfg("t"), ckpt(1), {}, {})
    assert d.get_tuple(cfg("t", "", cid(2))) is None
    assert d.get_tuple(cfg("t", "child:1")) is None
    assert d.get_tuple(cfg("t2")) is None


@saver_spec("get_tuple", "P13", "P14")
def spec_namespaces_and_threads_isolated(d: SaverDriver) -> None:
    d.put(cfg("t", ""), ckpt(1, {"x": "root"}), {}, {"x": ver(1)})
    d.put(cfg("t", "child:1"), ckpt(2, {"x": "child"}), {}, {"x": ver(2)})
    d.put(cfg("u", ""), ckpt(3, {"x": "other"}), {}, {"x": ver(3)})
    d.put_writes(cfg("t", "", cid(1)), [("w", "root-write")], "task")
    d.put_writes(cfg("t", "child:1", cid(2)), [("w", "child-write")], "task")
    root = d.get_tuple(cfg("t", ""))
    child = d.get_tuple(cfg("t", "child:1"))
    other = d.get_tuple(cfg("u"))
    assert root is not None
    assert child is not None
    assert other is not None
    assert (root.checkpoint["id"], root.checkpoint["channel_values"]) == (cid(1), {"x": "root"})
    assert (child.checkpoint["id"], child.checkpoint["channel_values"]) == (cid(2), {"x": "child"})
    assert other.checkpoint["channel_values"] == {"x": "other"}
    assert root.pending_writes == [("task", "w", "root-write")]
    assert child.pending_writes == [("task", "w", "child-write")]
    assert other.pending_writes == []
    assert d.get_tuple(cfg("t", "", cid(2))) is None
    assert d.get_tuple(cfg("u", "", cid(1))) is None


@saver_spec("put", "P15", "P16", "P17")
def spec_incremental_channels(d: SaverDriver) -> None:
    d.put(cfg("t"), ckpt(1, {"a": "a1", "b": "b1"}), {}, {"a": ver(1), "b": ver(1)})
    # only b changes; a is not in new_versions and must come from checkpoint 1
    c2 = ckpt(2, {"a": "a1", "b": "b2", "c": "c2"}, {"a": ver(1), "b": ver(2), "c": ver(2)})
    d.put(cfg("t", "", cid(1)), c2, {}, {"b": ver(2), "c": ver(2)})
    got = d.get_tuple(cfg("t"))
    assert got is not None
    assert got.checkpoint["channel_values"] == {"a": "a1", "b": "b2", "c": "c2"}
    # c dropped from channel_versions: absent; b in new_versions but without a value: absent
    c3 = ckpt(3, {"a": "a1"}, {"a": ver(1), "b": ver(3)})
    d.put(cfg("t", "", cid(2)), c3, {}, {"b": ver(3)})
    got = d.get_tuple(cfg("t"))
    assert got is not None
    assert got.checkpoint["channel_values"] == {"a": "a1"}, got.checkpoint["channel_values"]
    earlier = d.get_tuple(cfg("t", "", cid(2)))
    assert earlier is not None
    assert earlier.checkpoint["channel_values"] == {"a": "a1", "b": "b2", "c": "c2"}


@saver_spec("put", "P18", "P19")
def spec_forks_keep_their_values(d: SaverDriver) -> None:
    d.put(cfg("t"), ckpt(1, {"a": "one"}), {}, {"a": ver(1)})
    d.put(cfg("t", "", cid(1)), ckpt(2, {"a": "one"}, {"a": ver(1)}), {}, {})  # __copy__ fork
    got = d.get_tuple(cfg("t", "", cid(2)))
    assert got is not None
    assert got.checkpoint["channel_values"] == {"a": "one"}
    d.put(
        cfg("t", "", cid(1)),
        ckpt(3, {"a": "left"}, {"a": "00000002.left"}),
        {},
        {"a": "00000002.left"},
    )
    d.put(
        cfg("t", "", cid(1)),
        ckpt(4, {"a": "right"}, {"a": "00000002.right"}),
        {},
        {"a": "00000002.right"},
    )
    left = d.get_tuple(cfg("t", "", cid(3)))
    right = d.get_tuple(cfg("t", "", cid(4)))
    assert left is not None
    assert right is not None
    assert left.checkpoint["channel_values"] == {"a": "left"}
    assert right.checkpoint["channel_values"] == {"a": "right"}


@saver_spec("put", "P20")
def spec_reput_overwrites(d: SaverDriver) -> None:
    d.put(cfg("t"), ckpt(1, {"a": "first"}), {"step": 1, "mark": "first"}, {"a": ver(1)})
    d.put(
        cfg("t"),
        ckpt(1, {"a": "second"}, {"a": ver(2)}),
        {"step": 1, "mark": "second"},
        {"a": ver(2)},
    )
    got = d.get_tuple(cfg("t"))
    assert got is not None
    assert got.metadata.get("mark") == "second", got.metadata
    assert got.checkpoint["channel_values"] == {"a": "second"}
    assert len(d.list(cfg("t"))) == 1


@saver_spec("put", "P21")
def spec_metadata_roundtrip(d: SaverDriver) -> None:
    cases = [
        {"source": "input", "step": -1, "parents": {}},
        {"source": "loop", "step": 0, "parents": {"": cid(1)}, "run_id": "run-1"},
        {"source": "update", "step": -2, "writes": {"node": {"k": [1, 2]}}},
        {"source": "fork", "step": 7, "custom": {"a": [1, None, "x"]}, "flag": False, "f": 1.5},
    ]
    for n, metadata in enumerate(cases, start=1):
        d.put(cfg("t"), ckpt(n), metadata, {})
        got = d.get_tuple(cfg("t", "", cid(n)))
        assert got is not None
        for key, value in metadata.items():
            assert got.metadata.get(key) == value, (key, got.metadata)


@saver_spec("put", "P22", "P23", "P24")
def spec_metadata_merge(d: SaverDriver) -> None:
    config = {
        "configurable": {
            "thread_id": "t",
            "checkpoint_ns": "",
            "user_id": "u-1",
            "retries": 3,
            "ratio": 0.5,
            "flag": True,
            "shadowed": "from-config",
            "__pregel_secret": "no",
            "checkpoint_map": {"": "x"},
            "a_dict": {"no": 1},
            "a_list": [1],
            "an_object": object(),
            "nul": "a\x00b",
            "langgraph_step": 3,
        },
        "metadata": {"run_id": "run-7", "from_meta": "yes", "also_dict": {"x": 1}},
    }
    d.put(config, ckpt(1), {"source": "loop", "step": 1, "shadowed": "explicit", "s": "x\x00y"}, {})
    got = d.get_tuple(cfg("t"))
    assert got is not None
    md = got.metadata
    expected = {
        "user_id": "u-1",
        "retries": 3,
        "ratio": 0.5,
        "flag": True,
        "run_id": "run-7",
        "from_meta": "yes",
        "shadowed": "explicit",
        "s": "xy",
        "nul": "ab",
    }
    for key, value in expected.items():
        assert md.get(key) == value, (key, md)
    for key in (
        "thread_id", "checkpoint_ns", "checkpoint_id", "checkpoint_map", "__pregel_secret",
        "a_dict", "a_list", "an_object", "also_dict", "langgraph_step",
    ):  # fmt: skip
        assert key not in md, (key, md)


@saver_spec("get_tuple", "P25", "P26")
def spec_no_aliasing(d: SaverDriver) -> None:
    checkpoint = ckpt(1, {"a": [1, 2], "b": {"k": "v"}}, seen={"n": {"a": ver(1)}})
    metadata = {"source": "loop", "step": 1, "parents": {}}
    before = copy.deepcopy((checkpoint, metadata))
    d.put(cfg("t", None, None) | {"metadata": {"extra": "x"}}, checkpoint, metadata, {
        "a": ver(1), "b": ver(1)
    })  # fmt: skip
    assert (checkpoint, metadata) == before, "put modified its arguments"
    first = d.get_tuple(cfg("t"))
    assert first is not None
    first.checkpoint["channel_values"]["a"].append(3)
    first.checkpoint["channel_values"]["c"] = "new"
    first.checkpoint["channel_versions"]["a"] = "mutated"
    first.checkpoint["versions_seen"]["n"]["a"] = "mutated"
    first.metadata["step"] = 99
    checkpoint["channel_values"]["a"].append(4)
    again = d.get_tuple(cfg("t"))
    assert again is not None
    assert again.checkpoint["channel_values"] == {"a": [1, 2], "b": {"k": "v"}}
    assert str(again.checkpoint["channel_versions"]["a"]) == ver(1)
    assert again.checkpoint["versions_seen"] == {"n": {"a": ver(1)}}
    assert again.metadata["step"] == 1


@saver_spec("put", "V01", "V02", "V03", "V04", parity=False)
def spec_versions(d: SaverDriver) -> None:
    current = None
    seen = []
    for _ in range(12):
        nxt = d.next_version(current)
        assert current is None or nxt > current, (current, nxt)
        seen.append(nxt)
        current = nxt
    assert len({type(v) for v in seen}) == 1, "versions of mixed types"
    legacy = d.next_version(5)  # an int version from a legacy thread
    assert int(str(legacy).split(".")[0]) > 5, legacy
    base = seen[3]
    a, b = d.next_version(base), d.next_version(base)
    assert a != b, "two branches from one version got the same next version"
    assert a > base
    assert b > base
    if isinstance(seen[0], str):
        ints = [d.next_version(None)]
        for _ in range(11):
            ints.append(d.next_version(ints[-1]))
        assert ints == sorted(ints), "string versions do not sort like their counters"


@saver_spec("put", "P15", "P21")
def spec_history_reads_back(d: SaverDriver) -> None:
    configs = put_chain(d, "t", 5, metadata={"kind": "chain"})
    for i, config in enumerate(configs, start=1):
        got = d.get_tuple(config)
        assert got is not None
        assert got.checkpoint["channel_values"] == {"x": f"t//{i}"}
        assert got.metadata.get("step") == i - 1
