"""MsgpackSerializer round trips, tags and errors, with the standard library only.

Pydantic, LangChain and LangGraph types are covered in ``test_serde_langgraph.py``; the loading
policy in ``test_serde_security.py``; encryption in ``test_serde_encrypted.py``.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import decimal
import enum
import ipaddress
import math
import pathlib
import re
import sys
import threading
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pitstop.checkpoint.errors import (
    CorruptRecordError,
    DeserializationError,
    SerializationError,
)
from pitstop.checkpoint.serde import (
    DeltaSnapshot,
    EncryptedSerializer,
    MsgpackSerializer,
    RevivedException,
    SerializerProtocol,
    _encode,
    _policy,
    register_type,
)
from pitstop.checkpoint.serde._codes import MAX_NESTING

SERDE = MsgpackSerializer(strict=False)


# --- module-level types (revivable: their module is imported) --------------------------------


class Color(enum.Enum):
    RED = "red"
    BLUE = 2


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mode(enum.StrEnum):
    READ = "r"
    WRITE = "w"


class Perm(enum.Flag):
    R = 4
    W = 2
    X = 1


@dataclasses.dataclass
class Box:
    item: Any


@dataclasses.dataclass(slots=True)
class Slotted:
    x: int
    pair: tuple[int, int] = (1, 2)


@dataclasses.dataclass(frozen=True)
class Frozen:
    name: str
    tags: tuple[str, ...] = ()


@dataclasses.dataclass
class Derived:
    base: int
    doubled: int = dataclasses.field(init=False)
    items: list[int] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self.doubled = self.base * 2


@dataclasses.dataclass
class Outer:
    inner: Frozen
    boxes: list[Box]
    point: tuple[int, tuple[int, int]]


class Point(NamedTuple):
    x: int
    y: int = 0


Pair = collections.namedtuple("Pair", ["left", "right"])


class Holder:
    @dataclasses.dataclass
    class Nested:
        v: int


class AppError(Exception):
    """An application exception (not a builtin): revived as RevivedException."""


@dataclasses.dataclass
class Message:
    content: str
    metadata: Any = None


# --- helpers -------------------------------------------------------------------------------


def roundtrip(value: Any, serde: SerializerProtocol = SERDE) -> Any:
    return serde.loads_typed(serde.dumps_typed(value))


def assert_same(actual: Any, expected: Any, where: str = "value") -> None:
    """Deep equality that also requires identical types (and sign of zero, NaN-ness)."""
    assert type(actual) is type(expected), f"{where}: {type(actual)} != {type(expected)}"
    if isinstance(expected, float):
        if math.isnan(expected):
            assert math.isnan(actual), where
        else:
            assert actual == expected, where
            assert math.copysign(1, actual) == math.copysign(1, expected), where
    elif isinstance(expected, decimal.Decimal) and expected.is_nan():
        assert actual.is_nan(), where
        assert str(actual) == str(expected), where
    elif isinstance(expected, dict):
        assert len(actual) == len(expected), where
        for (ak, av), (ek, ev) in zip(actual.items(), expected.items(), strict=True):
            assert_same(ak, ek, f"{where} key")
            assert_same(av, ev, f"{where}[{ek!r}]")
    elif isinstance(expected, list | tuple | collections.deque) and not hasattr(
        expected, "_fields"
    ):
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{where}[{i}]")
        if isinstance(expected, collections.deque):
            assert actual.maxlen == expected.maxlen, where
    elif hasattr(expected, "_fields"):  # NamedTuple
        for name in expected._fields:
            assert_same(getattr(actual, name), getattr(expected, name), f"{where}.{name}")
    elif dataclasses.is_dataclass(expected) and not isinstance(expected, type):
        for f in dataclasses.fields(expected):
            assert_same(getattr(actual, f.name), getattr(expected, f.name), f"{where}.{f.name}")
    elif isinstance(expected, datetime | time):
        assert actual == expected, where
        assert actual.tzinfo == expected.tzinfo, where
        assert type(actual.tzinfo) is type(expected.tzinfo), where
        assert actual.fold == expected.fold, where
        if isinstance(expected.tzinfo, timezone):
            assert actual.tzinfo.tzname(None) == expected.tzinfo.tzname(None), where
    elif isinstance(expected, BaseException):
        assert actual.args == expected.args, where
        assert str(actual) == str(expected), where
    else:
        assert actual == expected, where
        if isinstance(expected, set | frozenset):
            assert sorted(map(repr, actual)) == sorted(map(repr, expected)), where


NAIVE = datetime(2024, 3, 9, 14, 30, 5, 123456)
NY = ZoneInfo("America/New_York")

# (id, value): every type the serializer promises to round-trip exactly.
CASES: list[tuple[str, Any]] = [
    ("true", True),
    ("false", False),
    ("zero", 0),
    ("int64-max", 2**63 - 1),
    ("int64-min", -(2**63)),
    ("uint64-max", 2**64 - 1),
    ("uint64-max+1", 2**64),
    ("int64-min-1", -(2**63) - 1),
    ("int-2**200", 2**200),
    ("int--2**100", -(2**100)),
    ("float", 1.25),
    ("nan", math.nan),
    ("inf", math.inf),
    ("-inf", -math.inf),
    ("-0.0", -0.0),
    ("empty-str", ""),
    ("nul", "a\x00b"),
    ("emoji", "chat 🎉 ünïcødé"),
    ("lone-high-surrogate", "x\ud800y"),
    ("lone-low-surrogate", "\udfff"),
    ("bytes", b"\x00\xffraw"),
    ("bytearray", bytearray(b"\x00mutable")),
    ("empty-list", []),
    ("list", [1, "a", None, [2.5]]),
    ("empty-tuple", ()),
    ("tuple", (1, "a", None)),
    ("nested-tuple", (1, (2, (3, [4, (5,)])))),
    ("dict-non-str-keys", {1: "int", (1, 2): "tuple", None: "none", "s": "str", 2.5: "f"}),
    ("dict-nested-tuple-key", {(1, (2, "x")): {(): [()]}}),
    ("set", {1, "a", (2, 3)}),
    ("empty-set", set()),
    ("frozenset", frozenset({1, frozenset({2})})),
    ("datetime-naive", NAIVE),
    ("datetime-utc", NAIVE.replace(tzinfo=UTC)),
    ("datetime-offset", NAIVE.replace(tzinfo=timezone(timedelta(hours=5, minutes=30)))),
    ("datetime-negative-offset", NAIVE.replace(tzinfo=timezone(timedelta(hours=-3)))),
    ("datetime-named-tz", NAIVE.replace(tzinfo=timezone(timedelta(hours=1), "CET"))),
    ("datetime-zoneinfo", NAIVE.replace(tzinfo=ZoneInfo("Europe/Paris"))),
    ("datetime-zoneinfo-fold", datetime(2024, 11, 3, 1, 30, tzinfo=NY, fold=1)),
    ("datetime-naive-fold", datetime(2024, 11, 3, 1, 30, fold=1)),
    ("date", date(1999, 12, 31)),
    ("time", time(23, 59, 58, 999)),
    ("time-tz", time(8, 0, tzinfo=timezone(timedelta(hours=2)))),
    ("time-zoneinfo", time(8, 0, tzinfo=NY)),
    ("timedelta", timedelta(days=-3, seconds=5, microseconds=7)),
    ("timezone-utc", UTC),
    ("timezone-named", timezone(timedelta(hours=-8), "PST")),
    ("zoneinfo", NY),
    ("uuid", uuid.UUID("12345678-1234-5678-1234-567812345678")),
    ("decimal", decimal.Decimal("1.10")),
    ("decimal-nan", decimal.Decimal("NaN")),
    ("decimal-snan", decimal.Decimal("-sNaN")),
    ("decimal-inf", decimal.Decimal("-Infinity")),
    ("enum", Color.RED),
    ("enum-int-value", Color.BLUE),
    ("intenum", Level.HIGH),
    ("strenum", Mode.WRITE),
    ("flag", Perm.R | Perm.W),
    ("pure-posix-path", pathlib.PurePosixPath("/etc/hosts")),
    ("pure-windows-path", pathlib.PureWindowsPath(r"C:\Users\x")),
    ("path", pathlib.Path("relative/file.txt")),
    ("regex", re.compile(r"a+b?", re.IGNORECASE | re.MULTILINE)),
    ("regex-bytes", re.compile(rb"\d+", re.DOTALL)),
    ("deque", collections.deque([1, (2, 3)])),
    ("deque-maxlen", collections.deque([1, 2], maxlen=5)),
    ("ipv4", ipaddress.IPv4Address("192.168.0.1")),
    ("ipv4-interface", ipaddress.IPv4Interface("10.0.0.1/24")),
    ("ipv4-network", ipaddress.IPv4Network("10.0.0.0/8")),
    ("ipv6", ipaddress.IPv6Address("::1")),
    ("ipv6-interface", ipaddress.IPv6Interface("fe80::1/64")),
    ("ipv6-network", ipaddress.IPv6Network("2001:db8::/32")),
    ("complex", complex(1.5, -2)),
    ("dataclass", Box(item=(1, 2))),
    ("dataclass-slots", Slotted(3, (4, 5))),
    ("dataclass-frozen", Frozen("f", ("a", "b"))),
    ("dataclass-init-false", Derived(4, items=[1])),
    ("dataclass-nested", Outer(Frozen("x"), [Box(1), Box(Box((2,)))], (1, (2, 3)))),
    ("dataclass-nested-class", Holder.Nested(7)),
    ("namedtuple", Point(1, 2)),
    ("namedtuple-collections", Pair((1,), [2])),
    ("delta-snapshot", DeltaSnapshot({"a": (1,)})),
]


def _without_langgraph_types(monkeypatch: pytest.MonkeyPatch) -> None:
    # ext 7 decodes to LangGraph's _DeltaSnapshot when that module is imported.
    monkeypatch.delitem(sys.modules, "langgraph.checkpoint.serde.types", raising=False)


@pytest.mark.parametrize(("value"), [v for _, v in CASES], ids=[i for i, _ in CASES])
def test_roundtrip_exact(value: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _without_langgraph_types(monkeypatch)
    assert_same(roundtrip(value), value)


@pytest.mark.parametrize(("value"), [v for _, v in CASES], ids=[i for i, _ in CASES])
def test_roundtrip_nested(value: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _without_langgraph_types(monkeypatch)
    nested = {
        "list": [value, [value]],
        "dict": {"k": value},
        "tuple": (value, (value,)),
        "dataclass": Box(value),
        "namedtuple": Point(value, 0),
    }
    assert_same(roundtrip(nested), nested)


def test_none_tags() -> None:
    assert SERDE.dumps_typed(None) == ("null", b"")
    assert SERDE.loads_typed(("null", b"")) is None
    assert roundtrip([None, {"a": None}]) == [None, {"a": None}]


def test_bytes_and_bytearray_tags() -> None:
    assert SERDE.dumps_typed(b"raw") == ("bytes", b"raw")
    tag, data = SERDE.dumps_typed(bytearray(b"raw"))
    assert (tag, data, type(data)) == ("bytearray", b"raw", bytes)
    loaded = SERDE.loads_typed((tag, data))
    assert type(loaded) is bytearray
    assert loaded == bytearray(b"raw")
    # drivers may hand back a memoryview
    assert SERDE.loads_typed(("bytes", memoryview(b"mv"))) == b"mv"
    assert SERDE.dumps_typed({"a": 1})[0] == "msgpack"


def test_nested_bytearray_and_bytes_keep_their_types() -> None:
    value = {"ba": bytearray(b"\xc4"), "b": b"\xc4", "list": [bytearray(), b"", [bytearray(b"x")]]}
    assert_same(roundtrip(value), value)
    assert_same(roundtrip(Box(bytearray(b"z"))), Box(bytearray(b"z")))


def test_bin_byte_false_positive_keeps_value() -> None:
    # 0xc4/0xc5 occur in Latin Extended-A text and in floats: the slow path must agree.
    value = {"text": "Łódź żółć ĉ", "floats": [1e300, -2.5e-300, 3.14159], "b": b"\xc5"}
    assert_same(roundtrip(value), value)


def test_protocol() -> None:
    assert isinstance(SERDE, SerializerProtocol)


# --- exceptions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad", 1),
        KeyError("k"),
        FileNotFoundError(2, "No such file", "/x"),
        RuntimeError(),
        ExceptionGroup("group", [ValueError("a"), TypeError("b")]),
    ],
    ids=lambda e: type(e).__name__,
)
def test_builtin_exceptions_come_back_as_themselves(exc: BaseException) -> None:
    loaded = roundtrip(exc)
    assert type(loaded) is type(exc)
    assert str(loaded) == str(exc)
    if isinstance(exc, ExceptionGroup):
        assert [type(e) for e in loaded.exceptions] == [ValueError, TypeError]
    else:
        assert loaded.args == exc.args


def test_other_exceptions_come_back_inert() -> None:
    loaded = roundtrip({"error": AppError("boom", 3)})["error"]
    assert type(loaded) is RevivedException
    assert loaded.type_name == f"{__name__}.AppError"
    assert (str(loaded), loaded.args) == ("('boom', 3)", ("boom", 3))
    assert roundtrip(loaded) == loaded  # stable when stored again


def test_registered_exception_comes_back_as_itself(registry: None) -> None:
    register_type(AppError)
    loaded = roundtrip(AppError("boom"))
    assert type(loaded) is AppError
    assert loaded.args == ("boom",)


def test_exception_with_unserializable_args_keeps_reprs() -> None:
    marker = object()
    loaded = roundtrip(ValueError(marker))
    assert type(loaded) is ValueError
    assert loaded.args == (repr(marker),)


# --- delta snapshots ------------------------------------------------------------------------


def test_delta_snapshot_without_langgraph(monkeypatch: pytest.MonkeyPatch) -> None:
    _without_langgraph_types(monkeypatch)
    tag, data = SERDE.dumps_typed(DeltaSnapshot([1, 2]))
    assert msgpack.unpackb(data, ext_hook=lambda code, _: code) == 7
    loaded = SERDE.loads_typed((tag, data))
    assert type(loaded) is DeltaSnapshot
    assert loaded.value == [1, 2]


# --- ext codes -----------------------------------------------------------------------------


def _top_ext_code(data: bytes) -> int:
    code: int = msgpack.unpackb(data, ext_hook=lambda code, _: code)
    return code


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (uuid.UUID(int=1), 0),
        (Color.RED, 0),
        ({1}, 0),
        (collections.deque([1]), 0),
        (pathlib.PurePosixPath("/a"), 1),
        (timedelta(1), 1),
        (Box(1), 2),
        (Point(1), 2),
        (time(1), 2),
        (NAIVE, 3),
        (NAIVE.replace(tzinfo=UTC), 3),
        (DeltaSnapshot(1), 7),
        ((1,), 16),
        (2**64, 17),
        (ValueError(), 18),
        (NAIVE.replace(tzinfo=NY), 19),
        (collections.deque([1], maxlen=2), 20),
        (complex(1, 1), 22),
    ],
    ids=repr,
)
def test_ext_codes(value: Any, code: int) -> None:
    _, data = SERDE.dumps_typed(value)
    assert _top_ext_code(data) == code


def test_datetime_payload_matches_langgraph_layout() -> None:
    _, data = SERDE.dumps_typed(NAIVE)
    payload = msgpack.unpackb(data, ext_hook=lambda c, d: msgpack.unpackb(d))
    assert payload == ["datetime", "datetime", NAIVE.isoformat(), "fromisoformat"]


def test_nested_bytearray_uses_ext_21() -> None:
    _, data = SERDE.dumps_typed([bytearray(b"x")])
    assert msgpack.unpackb(data, ext_hook=lambda c, d: (c, d)) == [(21, b"x")]


def test_non_bmp_and_surrogates_in_dict_keys() -> None:
    value = {"\ud83d": 1, "🎉": (2,)}
    assert_same(roundtrip(value), value)


def test_subclasses_of_builtins_are_stored_as_the_base_type() -> None:
    class Tag(str):
        pass

    class Counter(dict[str, int]):
        pass

    loaded = roundtrip({"tag": Tag("x"), "counter": Counter(a=1), "od": collections.OrderedDict()})
    assert_same(loaded, {"tag": "x", "counter": {"a": 1}, "od": {}})


def test_local_class_is_registered_by_qualname(registry: None) -> None:
    @register_type
    @dataclasses.dataclass
    class Local:
        a: tuple[int, ...]

    assert_same(roundtrip(Local((1, 2))), Local((1, 2)))


# --- serialization errors -------------------------------------------------------------------


class Opaque:
    pass


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (Opaque(), ""),
        ({"messages": [Message("a"), Message("b", Opaque())]}, "messages[1].metadata"),
        ({"key": {"nested key": [1, (2, Opaque())]}}, 'key["nested key"][1][1]'),
        ({"not an identifier": Opaque()}, '["not an identifier"]'),
        ([{"a": 1}, {2: Opaque()}], "[1][2]"),
        (Box({"x": {Opaque()}}), '.item["x"][0]'),
        (Point(1, Opaque()), ".y"),
        ({"k": DeltaSnapshot([Opaque()])}, "k.value[0]"),
    ],
)
def test_serialization_error_names_the_path(value: Any, path: str) -> None:
    with pytest.raises(SerializationError) as info:
        SERDE.dumps_typed(value)
    assert info.value.path == path
    assert "Opaque" in info.value.reason
    assert isinstance(info.value, TypeError)  # LangGraph callers catch TypeError


def test_serialization_error_for_an_unserializable_key() -> None:
    with pytest.raises(SerializationError) as info:
        SERDE.dumps_typed({"ok": 1, "d": {Opaque(): 1}})
    assert info.value.path.startswith("d[")
    assert info.value.path.endswith("(the key)")


def test_serialization_error_for_cycles() -> None:
    cyclic: list[Any] = [1]
    cyclic.append({"again": cyclic})
    with pytest.raises(SerializationError) as info:
        SERDE.dumps_typed(cyclic)
    assert "cyclic" in info.value.reason or "contains itself" in info.value.reason


def test_zoneinfo_without_key_is_an_error() -> None:
    tzfile = pathlib.Path("/usr/share/zoneinfo/UTC")
    if not tzfile.exists():
        pytest.skip("no system tz database")
    with tzfile.open("rb") as fh:
        zone = ZoneInfo.from_file(fh)
    with pytest.raises(SerializationError) as info:
        SERDE.dumps_typed({"tz": zone})
    assert info.value.path == "tz"


def test_happy_path_never_walks_for_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any) -> Any:
        raise AssertionError("_locate must only run when packing failed")

    monkeypatch.setattr(_encode, "_locate", fail)
    value = {"m": [Message("x", {"a": (1, bytearray(b"\xc4"))})] * 3, "s": "\ud800"}
    assert_same(roundtrip(value), value)


def _nested_tuples(levels: int) -> tuple[Any, ...]:
    value: tuple[Any, ...] = ()  # itself one extension level
    for _ in range(levels - 1):
        value = (value,)
    return value


def test_nesting_limit_is_the_same_both_ways() -> None:
    deepest = _nested_tuples(MAX_NESTING)
    assert roundtrip(deepest) == deepest
    with pytest.raises(SerializationError, match="extension levels"):
        SERDE.dumps_typed(_nested_tuples(MAX_NESTING + 1))


def test_deeply_nested_crafted_payload_fails_cleanly() -> None:
    # Each nested unpackb keeps ~40 KB on the C stack: without the limit (and the switch to
    # heap-allocated unpackers for deep levels) this crashed the interpreter, not just raised.
    data = msgpack.packb(None)
    for _ in range(5000):
        data = msgpack.packb(msgpack.ExtType(7, data))
    outcome: list[BaseException] = []

    def load() -> None:
        try:
            SERDE.loads_typed(("msgpack", data))
        except BaseException as exc:
            outcome.append(exc)

    previous = threading.stack_size(1024 * 1024)
    try:
        thread = threading.Thread(target=load)
        thread.start()
        thread.join()
    finally:
        threading.stack_size(previous)
    assert len(outcome) == 1
    assert isinstance(outcome[0], CorruptRecordError)
    assert "extension levels" in str(outcome[0])


# --- deserialization errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        b"\x92\x01",
        b"\x91\x01\x01",
        b"\xd9\x05abc",
        msgpack.packb(msgpack.ExtType(5, b"\x93\xa1a")),  # truncated envelope
        msgpack.packb(msgpack.ExtType(5, msgpack.packb("not a list"))),
        msgpack.packb(msgpack.ExtType(2, msgpack.packb([1, 2, 3]))),
        msgpack.packb(msgpack.ExtType(99, b"")),
        msgpack.packb(msgpack.ExtType(16, msgpack.packb({"a": 1}))),
        msgpack.packb(msgpack.ExtType(19, msgpack.packb(["nope", None, 0]))),
        b"\x81\x80\x01",  # {{}: 1}: a dict as a key
    ],
    ids=[
        "empty",
        "reserved-byte",
        "truncated-array",
        "extra-data",
        "truncated-str",
        "truncated-envelope",
        "envelope-not-list",
        "envelope-bad-names",
        "unknown-ext",
        "tuple-not-list",
        "bad-zoned-datetime",
        "unhashable-key",
    ],
)
def test_corrupt_payloads_raise(data: bytes) -> None:
    with pytest.raises(CorruptRecordError):
        SERDE.loads_typed(("msgpack", data))


def test_every_truncation_of_a_real_payload_raises() -> None:
    value = {"when": NAIVE, "items": [Box((1, 2)), {3}, 2**70], "text": "x" * 40}
    _, data = SERDE.dumps_typed(value)
    for end in range(len(data)):
        with pytest.raises(DeserializationError):
            SERDE.loads_typed(("msgpack", data[:end]))


def test_rebuild_failure_raises() -> None:
    payload = msgpack.packb(msgpack.ExtType(1, msgpack.packb(["datetime", "date", [2024, 13, 1]])))
    with pytest.raises(DeserializationError, match=r"datetime\.date"):
        SERDE.loads_typed(("msgpack", payload))


@pytest.mark.parametrize("tag", ["json", "empty", "msgpack+aesgcm", "", "MSGPACK"])
def test_unknown_tags_raise(tag: str) -> None:
    with pytest.raises(DeserializationError, match="unknown serialization type"):
        SERDE.loads_typed((tag, b"\x90"))


def test_pickle_is_never_loaded() -> None:
    with pytest.raises(DeserializationError, match="never unpickles"):
        SERDE.loads_typed(("pickle", b"\x80\x04K\x01."))


# --- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "strict"),
    [
        ({}, False),
        ({"PITSTOP_STRICT_SERDE": "1"}, True),
        ({"PITSTOP_STRICT_SERDE": "TRUE"}, True),
        ({"PITSTOP_STRICT_SERDE": "yes"}, True),
        ({"PITSTOP_STRICT_SERDE": "0"}, False),
        ({"LANGGRAPH_STRICT_MSGPACK": "true"}, True),
        ({"LANGGRAPH_STRICT_MSGPACK": "no"}, False),
    ],
)
def test_strict_from_env(
    env: dict[str, str], strict: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PITSTOP_STRICT_SERDE", raising=False)
    monkeypatch.delenv("LANGGRAPH_STRICT_MSGPACK", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert MsgpackSerializer().strict is strict
    assert MsgpackSerializer(strict=False).strict is False
    assert MsgpackSerializer(strict=True).strict is True


def test_with_allowlist_returns_self_when_nothing_changes() -> None:
    serde = MsgpackSerializer(strict=True, allowlist=[Box])
    assert serde.with_allowlist([]) is serde
    assert serde.with_allowlist([Box]) is serde
    assert serde.with_allowlist([(__name__, "Box")]) is serde


def test_with_allowlist_clones_and_memoizes() -> None:
    serde = MsgpackSerializer(strict=True)
    clone = serde.with_allowlist([Box])
    assert clone is not serde
    assert clone.strict
    assert (__name__, "Box") in clone.allowlist
    assert not serde.allowlist
    assert serde.with_allowlist([Box]) is clone
    assert serde.with_msgpack_allowlist([Box]) is clone  # LangGraph's spelling


def test_allowlist_rejects_malformed_entries() -> None:
    with pytest.raises(TypeError):
        MsgpackSerializer(allowlist=["module.Name"])  # type: ignore[list-item]


def test_encrypted_serializer_without_cryptography(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.ciphers.aead", None)
    with pytest.raises(ImportError, match=r"pitstop-checkpoint\[crypto\]"):
        EncryptedSerializer(key=bytes(32))


def test_register_type_rejects_other_classes() -> None:
    with pytest.raises(TypeError):
        register_type(Opaque)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_policy, "_REGISTRY", {})


# --- property-based -------------------------------------------------------------------------

_keys = st.one_of(
    st.integers(),
    st.text(),
    st.none(),
    st.tuples(st.integers(), st.text()),
)
_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**130), max_value=2**130),
    st.floats(allow_nan=True),
    st.text(alphabet=st.characters(exclude_categories=())),  # lone surrogates included
    st.binary(),
    st.binary().map(bytearray),
    st.datetimes(timezones=st.none() | st.just(UTC)),
    st.uuids(),
    st.decimals(),
)
_values = st.recursive(
    _leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(_keys, children, max_size=4),
        st.frozensets(st.integers() | st.text(), max_size=4),
        children.map(Box),
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, database=None)
@given(_values)
def test_roundtrip_property(value: Any) -> None:
    assert_same(roundtrip(value), value)


def test_serializer_is_immutable_under_deepcopy() -> None:
    serde = MsgpackSerializer(strict=True, allowlist=[Box])
    assert copy.deepcopy({"serde": serde})["serde"] is serde


@pytest.mark.parametrize("thread", ["main", "worker"])
def test_a_frame_decodes_its_payloads_as_loads_typed_does(thread: str) -> None:
    """Several payloads, one given in pieces, decode by one call to what each decodes to; on
    the main thread large frames take the fast parser, elsewhere msgpack's."""
    values = [{"big": "x" * 5000, "when": datetime(2024, 1, 2, tzinfo=UTC)}, [1, (2, 3)], "z"]
    payloads = [SERDE.dumps_typed(v)[1] for v in values]
    items = msgpack.packb([1, 2, 3])
    chunks = [*payloads, items[:1], items[1:]]  # a payload in two pieces
    framed = SERDE.frame(4, chunks)
    found: list[Any] = []
    if thread == "main":
        found = SERDE.loads_frame(framed)
    else:
        worker = threading.Thread(target=lambda: found.extend(SERDE.loads_frame(framed)))
        worker.start()
        worker.join()
    assert_same(found, [*values, [1, 2, 3]])


@pytest.mark.parametrize("size", [10, 5000])
def test_a_frame_holding_a_payload_with_trailing_bytes_is_corrupt(size: int) -> None:
    """A payload holding one document too many must not shift the others: it is an error,
    on the fast parser (which ignores trailing data alone) as on msgpack's."""
    good = SERDE.dumps_typed("y" * size)[1]
    binary = msgpack.packb(b"z" * 16, use_bin_type=True)  # what follows looks like the marker
    for second in (good, binary):
        framed = SERDE.frame(2, [good + msgpack.packb(1), second])
        with pytest.raises(CorruptRecordError):
            SERDE.loads_frame(framed)
    short = SERDE.frame(3, [good, good])  # fewer documents than the header says
    with pytest.raises(CorruptRecordError):
        SERDE.loads_frame(short)
