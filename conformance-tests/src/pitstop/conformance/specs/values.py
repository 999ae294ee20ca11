"""Values and identifiers: rich Python types, empty and 16 MiB values, odd thread ids."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from pitstop.conformance.builders import cfg, cid, ckpt, ver
from pitstop.conformance.driver import SaverDriver
from pitstop.conformance.registry import saver_spec

UTC = dt.UTC


@dataclasses.dataclass
class SampleData:
    """A dataclass value (checked only when the saver's serializer round-trips it)."""

    name: str
    items: list[int]


def _rich_values() -> dict[str, Any]:
    return {
        "tuple": (1, "two", (3, None)),
        "list_of_tuples": [(1, 2), ("a", b"b")],
        "set": {1, 2, 3},
        "frozenset": frozenset({"a", "b"}),
        "datetime_tz": dt.datetime(2024, 7, 31, 20, 14, 19, 804150, tzinfo=UTC),
        "datetime_offset": dt.datetime(2024, 1, 1, 8, tzinfo=dt.timezone(dt.timedelta(hours=5))),
        "datetime_naive": dt.datetime(1999, 12, 31, 23, 59, 59),
        "date": dt.date(2024, 2, 29),
        "time": dt.time(13, 37, 0, 1),
        "timedelta": dt.timedelta(days=2, seconds=3, microseconds=4),
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "decimal": Decimal("3.14159265358979323846264338327950288"),
        "nested_bytes": {"k": [b"\x00\x01", {"deep": b"\xff" * 3}], "ba": bytearray(b"xy")},
        "big_int": 2**100,
        "neg_big_int": -(2**70) - 1,
        "float_exact": 0.1 + 0.2,
        "unicode": "héllo wörld 🙂 \u200b 中文 \U0010ffff",
        "dict_int_keys": {1: "a", 2: "b"},
    }


def _same(expected: Any, actual: Any) -> bool:
    if type(expected) is not type(actual):
        return False
    if isinstance(expected, dict):
        return expected.keys() == actual.keys() and all(
            _same(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list | tuple):
        return len(expected) == len(actual) and all(map(_same, expected, actual))
    if isinstance(expected, dt.datetime):
        return bool(expected == actual and expected.utcoffset() == actual.utcoffset())
    return bool(expected == actual)


def _optional_values(d: SaverDriver) -> dict[str, Any]:
    """Dataclass / pydantic values, kept only if the saver's own serializer round-trips them."""
    candidates: dict[str, Any] = {"dataclass": SampleData("n", [1, 2])}
    try:
        import pydantic
    except ImportError:
        pass
    else:

        class Model(pydantic.BaseModel):
            name: str
            when: dt.datetime

        candidates["pydantic"] = Model(name="m", when=dt.datetime(2024, 1, 1, tzinfo=UTC))
    serde = getattr(d.saver, "serde", None)
    kept = {}
    for key, value in candidates.items():
        try:
            if _same(value, serde.loads_typed(serde.dumps_typed(value))):  # type: ignore[union-attr]
                kept[key] = value
        except Exception:
            continue
    return kept


@saver_spec("put", "P03")
def spec_rich_python_types(d: SaverDriver) -> None:
    values = {**_rich_values(), **_optional_values(d)}
    d.put(cfg("t"), ckpt(1, values), {}, dict.fromkeys(values, ver(1)))
    d.put_writes(cfg("t", "", cid(1)), list(values.items()), "task")
    got = d.get_tuple(cfg("t"))
    assert got is not None
    for key, expected in values.items():
        actual = got.checkpoint["channel_values"].get(key)
        assert _same(expected, actual), f"channel {key!r}: {expected!r} came back as {actual!r}"
    written = {w[1]: w[2] for w in got.pending_writes or []}
    for key, expected in values.items():
        assert _same(expected, written.get(key)), f"write {key!r} came back as {written.get(key)!r}"


@saver_spec("put", "P03", parity=False)
def spec_large_values(d: SaverDriver) -> None:
    big = bytes(range(256)) * (16 * 1024 * 1024 // 256)  # 16 MiB
    medium = "ü" * (1024 * 1024 + 1)  # > 1 MiB of text (2 MiB encoded)
    values = {"big": big, "medium": medium, "small": "s"}
    d.put(cfg("t"), ckpt(1, values), {"note": "x" * 70_000}, dict.fromkeys(values, ver(1)))
    d.put_writes(cfg("t", "", cid(1)), [("medium", medium)], "task")
    got = d.get_tuple(cfg("t"))
    assert got is not None
    cv = got.checkpoint["channel_values"]
    assert set(cv) == {"big", "medium", "small"}, sorted(cv)
    assert cv["big"] == big, "16 MiB value corrupted"
    assert cv["medium"] == medium, "1 MiB+ value corrupted"
    assert got.pending_writes == [("task", "medium", medium)], "1 MiB+ write lost"
    assert got.metadata.get("note") == "x" * 70_000
    assert [t.checkpoint["id"] for t in d.list(cfg("t"))] == [cid(1)]


THREAD_IDS = (
    "héllo-wörld",
    "🙂 emoji thread",
    "tab\there\nnewline",
    "'; DROP TABLE checkpoints; --",
    'quote"double',
    "back\\slash/and:colon",
    "%_like*?[glob]",
    "ctrl-\x01\x1f\x7f",
    "a" * 300,
)
NAMESPACES = ("", "child:1", "ü:🙂|sub", "graph:task-1|inner:task-2", "ns with spaces")


@saver_spec("put", "P13", "P14")
def spec_unusual_ids(d: SaverDriver) -> None:
    for i, thread in enumerate(THREAD_IDS):
        for j, ns in enumerate(NAMESPACES):
            n = 1 + i * 10 + j
            d.put(
                cfg(thread, ns), ckpt(n, {"who": [thread, ns]}), {"thread": thread}, {"who": ver(n)}
            )
            d.put_writes(cfg(thread, ns, cid(n)), [("w", (thread, ns))], "task")
    for i, thread in enumerate(THREAD_IDS):
        for j, ns in enumerate(NAMESPACES):
            got = d.get_tuple(cfg(thread, ns))
            assert got is not None, (thread, ns)
            assert got.checkpoint["id"] == cid(1 + i * 10 + j)
            assert got.checkpoint["channel_values"] == {"who": [thread, ns]}
            assert got.pending_writes == [("task", "w", (thread, ns))]
            assert got.config["configurable"]["thread_id"] == thread
            assert got.config["configurable"]["checkpoint_ns"] == ns
        listed = d.list(cfg(thread, None))
        assert len(listed) == len(NAMESPACES), (thread, len(listed))
        assert len(d.list(cfg(thread, NAMESPACES[2]))) == 1
    d.delete_thread(THREAD_IDS[0])
    assert d.list(cfg(THREAD_IDS[0], None)) == []
    for thread in THREAD_IDS[1:]:
        assert len(d.list(cfg(thread, None))) == len(NAMESPACES), thread
