"""The loading policy: stored payloads can name classes, and nothing unsafe may happen.

Payloads are crafted by hand, the way an attacker with write access to the store would.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import pathlib
import subprocess
import sys
import types
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

import msgpack
import pytest

from pitstop.checkpoint.errors import DeserializationError, RefusedTypeError
from pitstop.checkpoint.serde import MsgpackSerializer, _policy, register_type

PERMISSIVE = MsgpackSerializer(strict=False)
STRICT = MsgpackSerializer(strict=True)
BOTH = pytest.mark.parametrize("serde", [PERMISSIVE, STRICT], ids=["default", "strict"])


@dataclasses.dataclass
class Record:
    name: str
    size: int = 0


class Shade(enum.Enum):
    DARK = "dark"


class Coord(NamedTuple):
    lat: float
    lon: float


def ext(code: int, *envelope: Any) -> bytes:
    """A stored ``"msgpack"`` payload holding one extension value."""
    packed: bytes = msgpack.packb(msgpack.ExtType(code, msgpack.packb(list(envelope))))
    return packed


def load(serde: MsgpackSerializer, data: bytes) -> Any:
    return serde.loads_typed(("msgpack", data))


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    """Replace dangerous callables with recorders; the test asserts the list stays empty."""
    recorded: list[tuple[str, tuple[Any, ...]]] = []

    def recorder(name: str) -> Callable[..., Any]:
        def record(*args: Any, **kwargs: Any) -> Any:
            recorded.append((name, args))

        return record

    monkeypatch.setattr(os, "system", recorder("os.system"))
    monkeypatch.setattr(subprocess.Popen, "__init__", recorder("Popen"))
    monkeypatch.setattr(pathlib.Path, "read_text", recorder("Path.read_text"))
    monkeypatch.setattr(pathlib.Path, "unlink", recorder("Path.unlink"))
    return recorded


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_policy, "_REGISTRY", {})


# --- gadgets are refused in every mode --------------------------------------------------------


GADGETS = [
    pytest.param(ext(0, "os", "system", "echo pwned"), "os.system", id="os.system-single-arg"),
    pytest.param(ext(1, "os", "system", ["echo pwned"]), "os.system", id="os.system-pos-args"),
    pytest.param(ext(2, "os", "system", {"command": "x"}), "os.system", id="os.system-kwargs"),
    pytest.param(ext(5, "os", "system", {}, "model_validate_json"), "os.system", id="os.system-v2"),
    pytest.param(ext(4, "os", "system", {}), "os.system", id="os.system-v1"),
    pytest.param(
        ext(1, "subprocess", "Popen", [["echo", "pwned"]]), "subprocess.Popen", id="Popen"
    ),
    pytest.param(
        ext(2, "subprocess", "Popen", {"args": ["echo"]}), "subprocess.Popen", id="Popen-kwargs"
    ),
    pytest.param(ext(0, "builtins", "eval", "1+1"), "builtins.eval", id="eval"),
    pytest.param(ext(1, "builtins", "exec", ["x=1"]), "builtins.exec", id="exec"),
    pytest.param(ext(0, "builtins", "dict", {}), "builtins.dict", id="builtin-class"),
    pytest.param(ext(1, "builtins", "getattr", [1, "real"]), "builtins.getattr", id="getattr"),
    pytest.param(
        ext(3, "pathlib", "Path", "/etc/passwd", "read_text"),
        "pathlib.Path.read_text",
        id="method-gadget",
    ),
    pytest.param(
        ext(3, "pathlib", "Path", "/tmp/x", "unlink"), "pathlib.Path.unlink", id="unlink-gadget"
    ),
    pytest.param(
        ext(3, "datetime", "datetime", "2024-01-01", "strptime"),
        "datetime.datetime.strptime",
        id="other-datetime-method",
    ),
    pytest.param(ext(0, "os", "environ", "x"), "os.environ", id="instance-not-class"),
    pytest.param(ext(2, "pathlib", "Path", {}), "pathlib.Path", id="known-type-wrong-code"),
]


@BOTH
@pytest.mark.parametrize(("data", "type_name"), GADGETS)
def test_gadgets_are_refused(
    serde: MsgpackSerializer,
    data: bytes,
    type_name: str,
    calls: list[tuple[str, tuple[Any, ...]]],
) -> None:
    modules_before = set(sys.modules)
    with pytest.raises(RefusedTypeError) as info:
        load(serde, data)
    assert info.value.type_name == type_name
    assert type_name in str(info.value)
    assert calls == []
    assert set(sys.modules) == modules_before


@BOTH
def test_gadget_nested_deep_in_a_value_fails_the_whole_load(
    serde: MsgpackSerializer, calls: list[tuple[str, tuple[Any, ...]]]
) -> None:
    inner = msgpack.ExtType(0, msgpack.packb(["os", "system", "echo pwned"]))
    data = msgpack.packb({"messages": [1, 2, {"meta": [inner]}], "step": 3})
    with pytest.raises(RefusedTypeError):
        load(serde, data)
    assert calls == []


@BOTH
@pytest.mark.parametrize("module", ["this", "antigravity", "pitstop_never_existed"])
def test_modules_are_never_imported(
    serde: MsgpackSerializer, module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # `this` prints the Zen of Python on import, `antigravity` opens a browser.
    assert module not in sys.modules
    for code, arg in [(0, "x"), (1, []), (2, {}), (4, {}), (5, {})]:
        with pytest.raises(RefusedTypeError, match="not imported"):
            load(serde, ext(code, module, "Record", arg))
    assert module not in sys.modules
    assert capsys.readouterr().out == ""


def test_a_dataclass_whose_module_is_not_imported_is_refused() -> None:
    # Hand-crafted: a dataclass payload naming a module that nothing has imported.
    module = "pitstop_models_not_imported"
    assert module not in sys.modules
    with pytest.raises(RefusedTypeError) as info:
        load(PERMISSIVE, ext(2, module, "Record", {"name": "x"}))
    assert info.value.type_name == f"{module}.Record"
    assert module not in sys.modules


def test_module_getattr_hooks_are_not_triggered(monkeypatch: pytest.MonkeyPatch) -> None:
    looked_up: list[str] = []
    lazy = types.ModuleType("pitstop_lazy_module")

    def module_getattr(name: str) -> Any:
        looked_up.append(name)
        return Record

    lazy.__getattr__ = module_getattr  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, "pitstop_lazy_module", lazy)
    with pytest.raises(RefusedTypeError, match="not found"):
        load(PERMISSIVE, ext(2, "pitstop_lazy_module", "Record", {"name": "x"}))
    assert looked_up == []


def test_arbitrary_classes_in_imported_modules_are_refused() -> None:
    class Plain:
        def __init__(self, **kwargs: Any) -> None:
            raise AssertionError("must not be instantiated")

    module = types.ModuleType("pitstop_plain_module")
    module.Plain = Plain  # type: ignore[attr-defined]
    sys.modules["pitstop_plain_module"] = module
    try:
        with pytest.raises(RefusedTypeError, match="only dataclasses"):
            load(PERMISSIVE, ext(2, "pitstop_plain_module", "Plain", {}))
    finally:
        del sys.modules["pitstop_plain_module"]


@BOTH
def test_datetime_fromisoformat_is_the_one_allowed_method(serde: MsgpackSerializer) -> None:
    data = ext(3, "datetime", "datetime", "2024-05-06T07:08:09", "fromisoformat")
    assert load(serde, data) == datetime(2024, 5, 6, 7, 8, 9)


# --- default mode: safe kinds from imported modules ---------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (ext(2, __name__, "Record", {"name": "r", "size": 2}), Record("r", 2)),
        (ext(0, __name__, "Shade", "dark"), Shade.DARK),
        (ext(2, __name__, "Coord", {"lat": 1.0, "lon": 2.0}), Coord(1.0, 2.0)),
    ],
    ids=["dataclass", "enum", "namedtuple"],
)
def test_default_mode_revives_safe_kinds(data: bytes, expected: Any) -> None:
    assert load(PERMISSIVE, data) == expected


def test_kind_must_match_the_extension_code() -> None:
    with pytest.raises(RefusedTypeError, match="not stored as"):
        load(PERMISSIVE, ext(0, __name__, "Record", "x"))  # a dataclass called with one arg
    with pytest.raises(RefusedTypeError, match="not stored as"):
        load(PERMISSIVE, ext(2, __name__, "Shade", {"value": "dark"}))


def test_fields_removed_since_storing_are_dropped() -> None:
    data = ext(2, __name__, "Record", {"name": "r", "size": 1, "gone": True})
    assert load(PERMISSIVE, data) == Record("r", 1)


def test_rebuild_errors_are_deserialization_errors() -> None:
    with pytest.raises(DeserializationError, match="Record"):
        load(PERMISSIVE, ext(2, __name__, "Record", {"size": 1}))  # missing `name`
    with pytest.raises(DeserializationError, match="Shade"):
        load(PERMISSIVE, ext(0, __name__, "Shade", "no such member"))


# --- strict mode ------------------------------------------------------------------------------


def test_strict_refuses_an_unregistered_dataclass() -> None:
    with pytest.raises(RefusedTypeError, match="strict mode") as info:
        load(STRICT, ext(2, __name__, "Record", {"name": "r"}))
    assert info.value.type_name == f"{__name__}.Record"


@pytest.mark.parametrize(
    "entry",
    [Record, (__name__, "Record")],
    ids=["class", "module-name-pair"],
)
def test_strict_allowlist_entries_are_equivalent(entry: Any) -> None:
    data = ext(2, __name__, "Record", {"name": "r"})
    assert load(MsgpackSerializer(strict=True, allowlist=[entry]), data) == Record("r")
    assert load(STRICT.with_allowlist([entry]), data) == Record("r")
    # ... and allowing one type allows nothing else
    with pytest.raises(RefusedTypeError):
        load(STRICT.with_allowlist([entry]), ext(0, __name__, "Shade", "dark"))


def test_class_and_pair_allowlists_produce_the_same_serializer_policy() -> None:
    by_class = STRICT.with_allowlist([Record])
    by_name = STRICT.with_allowlist([(__name__, "Record")])
    assert (__name__, "Record") in by_class.allowlist
    assert (__name__, "Record") in by_name.allowlist


def test_strict_allowlist_does_not_unlock_gadgets() -> None:
    serde = STRICT.with_allowlist([("os", "system"), ("subprocess", "Popen")])
    with pytest.raises(RefusedTypeError):
        load(serde, ext(0, "os", "system", "echo"))
    with pytest.raises(RefusedTypeError):
        load(serde, ext(1, "subprocess", "Popen", [["echo"]]))


def test_strict_accepts_registered_types(registry: None) -> None:
    register_type(Record)
    serde = MsgpackSerializer(strict=True)  # fresh: revivers are cached per serializer
    assert load(serde, ext(2, __name__, "Record", {"name": "r"})) == Record("r")


def test_strict_still_rebuilds_builtin_types() -> None:
    value = {
        "when": datetime(2024, 1, 1),
        "ids": {1, 2},
        "path": pathlib.PurePosixPath("/a"),
        "t": (1, 2),
        "big": 2**100,
        "err": ValueError("x"),
    }
    loaded = STRICT.loads_typed(STRICT.dumps_typed(value))
    assert loaded["err"].args == ("x",)
    del loaded["err"], value["err"]
    assert loaded == value


def test_refused_type_error_is_a_deserialization_error() -> None:
    with pytest.raises(DeserializationError):
        load(STRICT, ext(2, __name__, "Record", {"name": "r"}))


def test_numpy_payload_without_numpy_imported_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "numpy", raising=False)
    data = msgpack.packb(msgpack.ExtType(6, msgpack.packb(["<i8", [1], "C", b"\x00" * 8])))
    with pytest.raises(RefusedTypeError, match="numpy"):
        load(PERMISSIVE, data)
    assert "numpy" not in sys.modules
