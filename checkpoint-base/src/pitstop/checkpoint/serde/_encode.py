"""Value -> msgpack bytes, with LangGraph-compatible extension payloads.

The C packer does the walking; ``_Encoder.default`` is only called for what msgpack does not
know, and picks a handler per exact type (cached). Nothing here slows down the happy path for
error reporting: when packing fails, :func:`_locate` re-walks the value to name the offending
path.

Two things the C packer cannot be told are handled by re-packing, only when needed:

* a string with a lone surrogate makes the fast (strict UTF-8) packer raise
  ``UnicodeEncodeError``; the value is then packed again with ``surrogatepass``;
* a ``bytearray`` nested in a list or dict is packed by msgpack as plain bytes. Any packed bin
  value starts with 0xc4, 0xc5 or 0xc6, so if none of those bytes occurs in the output there
  is no nested ``bytearray`` (the common case, checked with three ``memchr`` scans). Otherwise
  the value is packed again by an encoder that swaps nested ``bytearray`` for ext 21.
"""

from __future__ import annotations

import dataclasses
import decimal
import enum
import functools
import ipaddress
import json
import pathlib
import re
import sys
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import msgpack

from pitstop.checkpoint.errors import SerializationError
from pitstop.checkpoint.serde import _codes as C
from pitstop.checkpoint.serde._policy import is_namedtuple_class, pydantic_v2_base
from pitstop.checkpoint.serde.types import DeltaSnapshot, RevivedException

__all__ = ["dumps"]

ExtType = msgpack.ExtType
# ExtType's Python-level __new__ only validates its arguments; building the namedtuple
# directly is 3x cheaper and the C packer accepts it (it checks `type(o) is ExtType`).
_ext = functools.partial(tuple.__new__, ExtType)
Handler = Callable[["_Encoder", Any], Any]

_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1
_MAX_CACHED_TYPES = 4096
_IP_TYPES = (
    ipaddress.IPv4Address,
    ipaddress.IPv4Interface,
    ipaddress.IPv4Network,
    ipaddress.IPv6Address,
    ipaddress.IPv6Interface,
    ipaddress.IPv6Network,
)


class _Encoder:
    """Packs values found at one extension nesting depth.

    Extension payloads built here are packed by the next level's encoder (created on first
    use), so the depth is known without per-value bookkeeping, and bounded by MAX_NESTING.
    """

    __slots__ = ("_box", "_depth", "_next", "_options", "_pool", "_surrogates")

    def __init__(self, *, box_bytearrays: bool, surrogates: bool, depth: int = 0) -> None:
        self._box = box_bytearrays
        self._surrogates = surrogates
        self._depth = depth
        self._next: _Encoder | None = None
        self._options: dict[str, Any] = {
            "default": self.default,
            "use_bin_type": True,
            "strict_types": True,  # so tuple, int/str subclasses (enums) reach `default`
            "unicode_errors": "surrogatepass" if surrogates else None,
            "datetime": False,
        }
        # list.pop()/append() are atomic, so threads share the pool without a lock; a packer
        # is never used by two `pack` calls at once.
        self._pool: list[Any] = []

    def pack(self, obj: Any) -> bytes:
        """Pack ``obj`` (calling :meth:`default` for values msgpack does not know)."""
        if self._box:
            obj = _box_bytearrays(obj)
        pool = self._pool
        try:
            packer = pool.pop()
        except IndexError:
            packer = msgpack.Packer(**self._options)
        try:
            out: bytes = packer.pack(obj)
        finally:
            pool.append(packer)
        return out

    def _deeper(self) -> _Encoder:
        if self._depth >= C.MAX_NESTING:
            raise ValueError(f"value nests more than {C.MAX_NESTING} extension levels")
        child = self._next = _Encoder(
            box_bytearrays=self._box, surrogates=self._surrogates, depth=self._depth + 1
        )
        return child

    def default(self, obj: Any) -> Any:
        """msgpack ``default`` hook: turn a value msgpack does not know into an ``ExtType``."""
        cls = type(obj)
        handler = _HANDLERS.get(cls)
        if handler is None:
            handler = _handler_for(cls)
            if len(_HANDLERS) < _MAX_CACHED_TYPES:
                _HANDLERS[cls] = handler
        return handler(self._next or self._deeper(), obj)


_FAST = _Encoder(box_bytearrays=False, surrogates=False)
_SURROGATES = _Encoder(box_bytearrays=False, surrogates=True)
_BOXING = _Encoder(box_bytearrays=True, surrogates=True)


def dumps(obj: Any) -> bytes:
    """Serialize ``obj`` to msgpack bytes.

    Raises:
        SerializationError: ``obj`` holds a value that cannot be serialized; ``.path`` says where.
    """
    try:
        try:
            out = _FAST.pack(obj)
        except UnicodeEncodeError:
            out = _SURROGATES.pack(obj)
        if b"\xc4" in out or b"\xc5" in out or b"\xc6" in out:
            out = _BOXING.pack(obj)
    except SerializationError:
        raise
    except Exception as exc:
        path, reason, cause = _locate(obj, exc)
        raise SerializationError(reason, path=path) from cause
    return out


# --------------------------------------------------------------------------------------------
# nested bytearray


def _box_bytearrays(obj: Any) -> Any:
    """Return ``obj`` with nested ``bytearray`` values swapped for ext 21 (copy on write)."""
    cls = type(obj)
    if cls is bytearray:
        return _ext((C.EXT_BYTEARRAY, bytes(obj)))
    if cls is list:
        new_list: list[Any] | None = None
        for i, item in enumerate(obj):
            item_cls = type(item)
            if item_cls is bytearray or item_cls is list or item_cls is dict:
                boxed = _box_bytearrays(item)
                if boxed is not item:
                    if new_list is None:
                        new_list = list(obj)
                    new_list[i] = boxed
        return obj if new_list is None else new_list
    if cls is dict:
        new_dict: dict[Any, Any] | None = None
        for key, value in obj.items():
            value_cls = type(value)
            if value_cls is bytearray or value_cls is list or value_cls is dict:
                boxed = _box_bytearrays(value)
                if boxed is not value:
                    if new_dict is None:
                        new_dict = dict(obj)
                    new_dict[key] = boxed
        return obj if new_dict is None else new_dict
    return obj


# --------------------------------------------------------------------------------------------
# handlers: (encoder, value) -> ExtType or a msgpack-native replacement


def _name(cls: type) -> tuple[str, str]:
    return cls.__module__, cls.__qualname__


def _enc_tuple(enc: _Encoder, obj: Any) -> Any:
    return _ext((C.EXT_TUPLE, enc.pack(list(obj))))


def _bigint_bytes(value: int) -> bytes:
    return value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)


def _enc_bigint(enc: _Encoder, obj: Any) -> Any:
    return _ext((C.EXT_BIGINT, _bigint_bytes(obj)))


def _enc_int_subclass(enc: _Encoder, obj: Any) -> Any:
    value = int.__index__(obj)
    if _INT64_MIN <= value <= _UINT64_MAX:
        return value
    return _ext((C.EXT_BIGINT, _bigint_bytes(value)))


def _enc_delta(enc: _Encoder, obj: Any) -> Any:
    return _ext((C.EXT_DELTA_SNAPSHOT, enc.pack(obj.value)))


def _enc_enum(enc: _Encoder, obj: Any) -> Any:
    module, name = _name(type(obj))
    return _ext((C.EXT_CONSTRUCTOR_SINGLE_ARG, enc.pack([module, name, obj.value])))


def _make_pydantic_v2(cls: type) -> Handler:
    module, name = _name(cls)
    base = pydantic_v2_base()
    # Measured: calling the core serializer directly skips model_dump's Python-level argument
    # handling (~25% of a LangChain message dump). Same output as model_dump() with defaults;
    # only used when the class does not override model_dump.
    direct = base is not None and getattr(cls, "model_dump", None) is vars(base).get("model_dump")

    def handler(enc: _Encoder, obj: Any) -> Any:
        dump = type(obj).__pydantic_serializer__.to_python(obj) if direct else obj.model_dump()
        return _ext((C.EXT_PYDANTIC_V2, enc.pack([module, name, dump, "model_validate_json"])))

    return handler


def _enc_secret(enc: _Encoder, obj: Any) -> Any:
    module, name = _name(type(obj))
    return _ext((C.EXT_CONSTRUCTOR_SINGLE_ARG, enc.pack([module, name, obj.get_secret_value()])))


def _enc_pydantic_v1(enc: _Encoder, obj: Any) -> Any:
    module, name = _name(type(obj))
    return _ext((C.EXT_PYDANTIC_V1, enc.pack([module, name, obj.dict()])))


def _enc_namedtuple(enc: _Encoder, obj: Any) -> Any:
    module, name = _name(type(obj))
    return _ext((C.EXT_CONSTRUCTOR_KW_ARGS, enc.pack([module, name, obj._asdict()])))


def _enc_path(enc: _Encoder, obj: Any) -> Any:
    module, name = _name(type(obj))
    return _ext((C.EXT_CONSTRUCTOR_POS_ARGS, enc.pack([module, name, list(obj.parts)])))


def _enc_pattern(enc: _Encoder, obj: Any) -> Any:
    return _ext((C.EXT_CONSTRUCTOR_POS_ARGS, enc.pack(["re", "compile", [obj.pattern, obj.flags]])))


def _single(module: str, name: str, to_arg: Callable[[Any], Any]) -> Handler:
    def handler(enc: _Encoder, obj: Any) -> Any:
        return _ext((C.EXT_CONSTRUCTOR_SINGLE_ARG, enc.pack([module, name, to_arg(obj)])))

    return handler


def _enc_deque(enc: _Encoder, obj: Any) -> Any:
    if obj.maxlen is None:
        return _ext((C.EXT_CONSTRUCTOR_SINGLE_ARG, enc.pack(["collections", "deque", list(obj)])))
    return _ext((C.EXT_DEQUE, enc.pack([list(obj), obj.maxlen])))


def _enc_ip(enc: _Encoder, obj: Any) -> Any:
    module, name = _name(type(obj))
    return _ext((C.EXT_CONSTRUCTOR_SINGLE_ARG, enc.pack([module, name, str(obj)])))


def _plain_offset(tz: tzinfo | None) -> bool:
    """True if ``fromisoformat(dt.isoformat())`` gives back this exact tzinfo."""
    if tz is None or tz is UTC:
        return True
    if type(tz) is not timezone:
        return False
    offset = tz.utcoffset(None)
    return tz.tzname(None) == timezone(offset).tzname(None)


def _enc_datetime(enc: _Encoder, obj: Any) -> Any:
    tz = obj.tzinfo
    storable = tz is None or isinstance(tz, ZoneInfo | timezone)
    if not storable or (obj.fold == 0 and _plain_offset(tz)):
        # LangGraph's layout. A tzinfo pitstop cannot store (pytz, dateutil) keeps its UTC
        # offset but comes back as a fixed-offset `timezone`.
        return _ext(
            (
                C.EXT_METHOD_SINGLE_ARG,
                enc.pack(["datetime", "datetime", obj.isoformat(), "fromisoformat"]),
            )
        )
    naive = obj.replace(tzinfo=None, fold=0).isoformat()
    return _ext((C.EXT_DATETIME_TZ, enc.pack([naive, tz, obj.fold])))


def _enc_timedelta(enc: _Encoder, obj: Any) -> Any:
    args = [obj.days, obj.seconds, obj.microseconds]
    return _ext((C.EXT_CONSTRUCTOR_POS_ARGS, enc.pack(["datetime", "timedelta", args])))


def _enc_date(enc: _Encoder, obj: Any) -> Any:
    args = [obj.year, obj.month, obj.day]
    return _ext((C.EXT_CONSTRUCTOR_POS_ARGS, enc.pack(["datetime", "date", args])))


def _enc_time(enc: _Encoder, obj: Any) -> Any:
    kwargs = {
        "hour": obj.hour,
        "minute": obj.minute,
        "second": obj.second,
        "microsecond": obj.microsecond,
        "tzinfo": obj.tzinfo,
        "fold": obj.fold,
    }
    return _ext((C.EXT_CONSTRUCTOR_KW_ARGS, enc.pack(["datetime", "time", kwargs])))


def _enc_timezone(enc: _Encoder, obj: Any) -> Any:
    args = list(obj.__getinitargs__())
    return _ext((C.EXT_CONSTRUCTOR_POS_ARGS, enc.pack(["datetime", "timezone", args])))


def _enc_zoneinfo(enc: _Encoder, obj: Any) -> Any:
    if obj.key is None:
        raise TypeError("a ZoneInfo built from a file (no key) cannot be serialized")
    return _ext((C.EXT_CONSTRUCTOR_SINGLE_ARG, enc.pack(["zoneinfo", "ZoneInfo", obj.key])))


def _enc_send(enc: _Encoder, obj: Any) -> Any:
    module, name = _name(type(obj))
    args = [obj.node, obj.arg]
    timeout = getattr(obj, "timeout", None)
    if timeout is not None:
        args.append(timeout)
    return _ext((C.EXT_CONSTRUCTOR_POS_ARGS, enc.pack([module, name, args])))


def _make_dataclass(cls: type) -> Handler:
    module, name = _name(cls)
    names = tuple(f.name for f in dataclasses.fields(cls))

    def handler(enc: _Encoder, obj: Any) -> Any:
        fields = {n: getattr(obj, n) for n in names}
        return _ext((C.EXT_CONSTRUCTOR_KW_ARGS, enc.pack([module, name, fields])))

    return handler


def _enc_ndarray(enc: _Encoder, obj: Any) -> Any:
    order = "F" if obj.flags.f_contiguous and not obj.flags.c_contiguous else "C"
    meta = [obj.dtype.str, list(obj.shape), order, obj.tobytes(order="A")]
    return _ext((C.EXT_NUMPY_ARRAY, enc.pack(meta)))


def _enc_exception(enc: _Encoder, obj: Any) -> Any:
    if isinstance(obj, RevivedException):
        module, _, name = obj.type_name.rpartition(".")
    else:
        module, name = _name(type(obj))
    try:
        message = str(obj)
    except Exception:
        message = f"<{name} with an unprintable message>"
    args = list(obj.args)
    if isinstance(obj, OSError) and obj.filename is not None and len(args) == 2:
        # OSError keeps the file names out of .args; store the constructor's arguments.
        args.append(obj.filename)
        if obj.filename2 is not None:
            args += [None, obj.filename2]
    try:
        payload = enc.pack([module, name, args, message])
    except Exception:  # unserializable args are kept as their repr
        payload = enc.pack([module, name, [repr(arg) for arg in obj.args], message])
    return _ext((C.EXT_EXCEPTION, payload))


def _enc_complex(enc: _Encoder, obj: Any) -> Any:
    return _ext((C.EXT_COMPLEX, enc.pack([obj.real, obj.imag])))


def _enc_str_subclass(enc: _Encoder, obj: Any) -> Any:
    return str.__str__(obj)


def _enc_float_subclass(enc: _Encoder, obj: Any) -> Any:
    return float.__float__(obj)


def _enc_bytes_subclass(enc: _Encoder, obj: Any) -> Any:
    return bytes(obj)


def _enc_list_subclass(enc: _Encoder, obj: Any) -> Any:
    return list(obj)


def _enc_dict_subclass(enc: _Encoder, obj: Any) -> Any:
    return dict(obj)


_HANDLERS: dict[type, Handler] = {
    tuple: _enc_tuple,
    int: _enc_bigint,
    DeltaSnapshot: _enc_delta,
    datetime: _enc_datetime,
    date: _enc_date,
    time: _enc_time,
    timedelta: _enc_timedelta,
    timezone: _enc_timezone,
    ZoneInfo: _enc_zoneinfo,
    uuid.UUID: _single("uuid", "UUID", lambda u: u.hex),
    decimal.Decimal: _single("decimal", "Decimal", str),
    set: _single("builtins", "set", list),
    frozenset: _single("builtins", "frozenset", list),
    deque: _enc_deque,
    re.Pattern: _enc_pattern,
    complex: _enc_complex,
}


def _handler_for(cls: type) -> Handler:
    """Pick the handler for a type msgpack cannot pack natively (LangGraph's precedence)."""
    module, name = cls.__module__, cls.__qualname__
    if module == "langgraph.checkpoint.serde.types" and name == "_DeltaSnapshot":
        return _enc_delta
    if issubclass(cls, DeltaSnapshot):
        return _enc_delta
    if issubclass(cls, enum.Enum):
        return _enc_enum
    if callable(getattr(cls, "model_dump", None)):
        return _make_pydantic_v2(cls)
    if callable(getattr(cls, "get_secret_value", None)):
        return _enc_secret
    if callable(getattr(cls, "dict", None)) and (
        hasattr(cls, "__fields__") or (module == "langgraph.store.base" and name == "Item")
    ):
        return _enc_pydantic_v1  # LangGraph writes its store Item this way too
    if is_namedtuple_class(cls):
        return _enc_namedtuple
    if issubclass(cls, pathlib.PurePath):
        return _enc_path
    if issubclass(cls, uuid.UUID):
        return _HANDLERS[uuid.UUID]
    if issubclass(cls, decimal.Decimal):
        return _HANDLERS[decimal.Decimal]
    if issubclass(cls, frozenset):
        return _HANDLERS[frozenset]
    if issubclass(cls, set):
        return _HANDLERS[set]
    if issubclass(cls, deque):
        return _enc_deque
    if issubclass(cls, _IP_TYPES):
        return _enc_ip
    for base in (datetime, date, time, timedelta, timezone, ZoneInfo):  # datetime before date
        if issubclass(cls, base):
            return _HANDLERS[base]
    if module == "langgraph.types" and name == "Send":
        return _enc_send
    if dataclasses.is_dataclass(cls):
        return _make_dataclass(cls)
    numpy = sys.modules.get("numpy")
    if numpy is not None and issubclass(cls, numpy.ndarray):
        return _enc_ndarray
    if issubclass(cls, BaseException):
        return _enc_exception
    # Subclasses of msgpack-native types (strict_types sends them here): pack as the base type.
    for native, handler in (
        (bool, _enc_int_subclass),  # unreachable (bool is final); kept for clarity
        (int, _enc_int_subclass),
        (str, _enc_str_subclass),
        (float, _enc_float_subclass),
        (complex, _enc_complex),
        (bytes, _enc_bytes_subclass),
        (tuple, _enc_tuple),
        (list, _enc_list_subclass),
        (dict, _enc_dict_subclass),
    ):
        if issubclass(cls, native):
            return handler
    return _unsupported


def _unsupported(enc: _Encoder, obj: Any) -> Any:
    raise TypeError(f"Object of type {type(obj).__qualname__} is not serializable")


# --------------------------------------------------------------------------------------------
# failure path: find where in the value the unserializable part sits

_MAX_DEPTH = 400


def _children(obj: Any) -> list[tuple[str, Any]] | None:
    """The parts of ``obj`` the encoder packs separately, as ``(path suffix, value)``."""
    if isinstance(obj, dict):
        return [(_key_suffix(k), v) for k, v in obj.items()] + [
            (f"[{k!r}] (the key)", k) for k in obj
        ]
    if isinstance(obj, list | tuple | set | frozenset | deque) and not is_namedtuple_class(
        type(obj)
    ):
        return [(f"[{i}]", v) for i, v in enumerate(obj)]
    cls = type(obj)
    try:
        if dataclasses.is_dataclass(cls):
            return [(f".{f.name}", getattr(obj, f.name)) for f in dataclasses.fields(cls)]
        if is_namedtuple_class(cls):
            return [(f".{k}", v) for k, v in obj._asdict().items()]
        if callable(getattr(cls, "model_dump", None)):
            dump = obj.model_dump()
            if isinstance(dump, dict):
                return [(f".{k}", v) for k, v in dump.items()]
            return [("", dump)]
        if callable(getattr(cls, "dict", None)) and hasattr(cls, "__fields__"):
            return [(f".{k}", v) for k, v in obj.dict().items()]
        if isinstance(obj, DeltaSnapshot) or (
            cls.__module__ == "langgraph.checkpoint.serde.types"
            and cls.__qualname__ == "_DeltaSnapshot"
        ):
            return [(".value", obj.value)]
        if cls.__module__ == "langgraph.types" and cls.__qualname__ == "Send":
            return [(".node", obj.node), (".arg", obj.arg)]
    except Exception:
        return None
    return None


def _key_suffix(key: Any) -> str:
    if isinstance(key, str):
        return f"[{json.dumps(key, ensure_ascii=False)}]"
    return f"[{key!r}]"


def _join(path: str, suffix: str, *, at_root: bool) -> str:
    # A top-level dict key that is an identifier reads best bare: `messages[3].metadata`.
    if at_root and suffix.startswith('["') and suffix.endswith('"]'):
        name = suffix[2:-2]
        if name.isidentifier():
            return name
    return path + suffix


def _locate(root: Any, error: BaseException) -> tuple[str, str, BaseException]:
    """Return ``(path, reason, cause)`` for the innermost value that fails to serialize."""
    on_path: set[int] = set()

    def leaf_error(obj: Any) -> BaseException | None:
        try:
            _BOXING.pack(obj)
        except Exception as exc:
            return exc
        return None

    def visit(obj: Any, path: str, depth: int) -> tuple[str, str, BaseException] | None:
        if depth > _MAX_DEPTH:
            return path, "value is nested too deeply", error
        kids = _children(obj)
        if kids is None:
            exc = leaf_error(obj)
            return None if exc is None else (path, _reason(obj, exc), exc)
        if id(obj) in on_path:
            return path, "cyclic reference (the value contains itself)", error
        on_path.add(id(obj))
        try:
            for suffix, kid in kids:
                found = visit(kid, _join(path, suffix, at_root=depth == 0), depth + 1)
                if found is not None:
                    return found
        finally:
            on_path.discard(id(obj))
        exc = leaf_error(obj)
        return None if exc is None else (path, _reason(obj, exc), exc)

    try:
        found = visit(root, "", 0)
    except RecursionError:
        found = None
    if found is None:
        return "", _reason(root, error), error
    return found


def _reason(obj: Any, exc: BaseException) -> str:
    if isinstance(exc, ValueError) and "recursion limit" in str(exc):
        return "value is nested too deeply or contains itself"
    if isinstance(exc, ValueError) and "extension levels" in str(exc):
        return str(exc)
    if isinstance(exc, TypeError) and "is not serializable" in str(exc):
        return str(exc)
    return f"{type(obj).__qualname__} could not be serialized: {type(exc).__name__}: {exc}"
