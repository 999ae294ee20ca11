"""Ids, versions, the metadata merge and filter, and the LangGraph bridge."""

from __future__ import annotations

import importlib.util
import itertools
import threading
import uuid

import pytest

from pitstop.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    InvalidArgumentError,
    empty_checkpoint,
    get_checkpoint_id,
    get_checkpoint_metadata,
    metadata_matches,
    next_version,
    uuid6,
)
from pitstop.checkpoint.memory import InMemorySaver

HAS_LANGGRAPH = importlib.util.find_spec("langgraph") is not None


def test_uuid6_is_version_6_and_sorts_like_creation_order() -> None:
    ids = [uuid6(clock_seq=i) for i in range(5000)]
    assert all(u.version == 6 and u.variant == uuid.RFC_4122 for u in ids)
    as_str = [str(u) for u in ids]
    assert as_str == sorted(as_str)
    assert len(set(as_str)) == len(as_str)


def test_uuid6_strictly_increasing_under_thread_contention() -> None:
    per_thread: dict[int, list[str]] = {}
    barrier = threading.Barrier(8)

    def make(n: int) -> None:
        barrier.wait()
        per_thread[n] = [str(uuid6()) for _ in range(20_000)]

    threads = [threading.Thread(target=make, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [i for ids in per_thread.values() for i in ids]
    assert len(set(everything)) == len(everything) == 160_000
    for ids in per_thread.values():
        assert all(a < b for a, b in itertools.pairwise(ids))
    # Timestamps are unique too, not just the random parts.
    stamps = {uuid.UUID(i).int >> 64 for i in everything}
    assert len(stamps) == len(everything)


def test_uuid6_masks_negative_clock_seq() -> None:
    assert ((uuid6(clock_seq=-1).int >> 48) & 0x3FFF) == 0x3FFF
    assert ((uuid6(clock_seq=-2).int >> 48) & 0x3FFF) == 0x3FFE


def test_versions_increase_and_sort_as_strings() -> None:
    versions = []
    current = None
    for _ in range(120):
        current = next_version(current)
        versions.append(current)
    assert all(a < b for a, b in itertools.pairwise(versions))
    assert versions == sorted(versions)
    assert all(isinstance(v, str) for v in versions)
    assert int(versions[-1].split(".")[0]) == 120


def test_versions_differ_between_branches() -> None:
    base = next_version(next_version(None))
    siblings = {next_version(base) for _ in range(50)}
    assert len(siblings) == 50
    assert all(s > base for s in siblings)


def test_versions_accept_legacy_int_and_float() -> None:
    assert next_version(5).startswith("0" * 31 + "6.")
    assert next_version(5.0).startswith("0" * 31 + "6.")
    assert next_version(5) > "00000000000000000000000000000005.9999999999999999"


def test_saver_get_next_version_uses_the_string_scheme() -> None:
    saver = InMemorySaver()
    v1 = saver.get_next_version(None, None)
    assert isinstance(v1, str)
    assert saver.get_next_version(v1, None) > v1


def test_get_checkpoint_id_treats_none_and_empty_as_absent() -> None:
    assert get_checkpoint_id({"configurable": {"checkpoint_id": None}}) is None
    assert get_checkpoint_id({"configurable": {"checkpoint_id": ""}}) is None
    assert get_checkpoint_id({"configurable": {}}) is None
    assert get_checkpoint_id(None) is None
    assert get_checkpoint_id({"configurable": {"checkpoint_id": "x"}}) == "x"


def test_metadata_merge_rules() -> None:
    config = {
        "metadata": {"run_id": "r1", "source": "ignored", "obj": {"a": 1}},
        "configurable": {
            "thread_id": "t",
            "checkpoint_ns": "",
            "checkpoint_id": "c",
            "checkpoint_map": {},
            "__super_private": "x",
            "user_id": "u\x00ser",
            "flag": True,
            "ratio": 0.5,
            "items": [1, 2],
        },
    }
    explicit = {"source": "loop", "step": 1, "note": "a\x00b", "parents": {}}
    before = dict(explicit)
    merged = get_checkpoint_metadata(config, explicit)
    assert explicit == before  # not mutated
    assert merged == {
        "source": "loop",
        "step": 1,
        "note": "ab",
        "parents": {},
        "run_id": "r1",
        "user_id": "user",
        "flag": True,
        "ratio": 0.5,
    }


@pytest.mark.parametrize(
    ("metadata", "flt", "expected"),
    [
        ({"source": "loop"}, {"source": "loop"}, True),
        ({"source": "loop"}, {"source": "input"}, False),
        ({"step": 1}, {"step": 1}, True),
        ({"step": 1}, {"step": 1.0}, True),
        ({"step": 1}, {"step": True}, False),
        ({"flag": True}, {"flag": 1}, False),
        ({"a": {"b": [1, 2]}}, {"a": {"b": [1, 2]}}, True),
        ({"a": {"b": [1, 2]}}, {"a": {"b": [1]}}, False),
        ({"a.b": 1}, {"a.b": 1}, True),
        ({"a": {"b": 1}}, {"a.b": 1}, False),
        ({}, {"missing": None}, True),
        ({"x": None}, {"x": None}, True),
        ({"x": 0}, {"x": None}, False),
        ({"a": 1, "b": 2}, {"a": 1, "b": 3}, False),
        ({"a": 1}, {}, True),
        ({"a') OR 1=1 --": "x"}, {"a') OR 1=1 --": "x"}, True),
    ],
)
def test_metadata_filter(metadata: dict, flt: dict, expected: bool) -> None:
    assert metadata_matches(metadata, flt) is expected


def test_writes_idx_map() -> None:
    assert WRITES_IDX_MAP == {
        "__error__": -1,
        "__scheduled__": -2,
        "__interrupt__": -3,
        "__resume__": -4,
    }


def test_empty_checkpoint_shape() -> None:
    cp = empty_checkpoint()
    assert cp["v"] == 4
    assert cp["channel_values"] == {}
    assert uuid.UUID(cp["id"]).version == 6


def test_base_methods_are_abstract() -> None:
    saver = BaseCheckpointSaver()
    with pytest.raises(NotImplementedError):
        saver.get_tuple({"configurable": {"thread_id": "t"}})
    with pytest.raises(NotImplementedError):
        saver.prune(["t"])


def test_missing_thread_id_is_a_typed_key_error() -> None:
    saver = InMemorySaver()
    with pytest.raises(InvalidArgumentError, match="thread_id") as info:
        saver.get_tuple({"configurable": {}})
    assert isinstance(info.value, KeyError)


@pytest.mark.skipif(not HAS_LANGGRAPH, reason="LangGraph not installed")
def test_bridge_to_langgraph() -> None:
    from langgraph.checkpoint.base import BaseCheckpointSaver as LangGraphSaver

    saver = InMemorySaver()
    assert isinstance(saver, LangGraphSaver)
    # Every public method LangGraph defines is pitstop's own, nothing falls through.
    for name in dir(LangGraphSaver):
        if name.startswith("_") or not callable(getattr(LangGraphSaver, name)):
            continue
        owner = next(k for k in type(saver).__mro__ if name in vars(k))
        assert owner.__module__.startswith("pitstop."), f"{name} comes from {owner}"


@pytest.mark.skipif(HAS_LANGGRAPH, reason="only meaningful without LangGraph")
def test_works_without_langgraph() -> None:
    import sys

    assert "langgraph" not in sys.modules
    assert "langchain_core" not in sys.modules
    assert BaseCheckpointSaver.__mro__[1] is object
