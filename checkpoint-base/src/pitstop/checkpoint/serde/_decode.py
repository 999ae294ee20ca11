"""msgpack bytes -> value, under pitstop's revival policy.

Every extension payload that names a class goes through :meth:`_Decoder._reviver`, which
decides once per ``(code, module, name)`` and caches the rebuilding function. Nothing here
imports a module or calls a stored name generically: built-in types are rebuilt by pitstop's
own code, other classes are looked up in ``sys.modules`` and rebuilt according to their kind
(dataclass, NamedTuple, Enum, pydantic model).

Large payloads decoded on the main thread are parsed by ``ormsgpack`` when it is installed
(LangGraph depends on it; pitstop does not): it is faster on big documents, and its extension
values go through the same ``ext_hook``, hence the same policy. It is only a parser with a
narrower input: whatever it refuses (non-string map keys, invalid UTF-8, a refused type, the
timestamp extension, a corrupt document) is decoded again by ``msgpack``, so results and errors
are those of ``msgpack``. Two differences are closed off: ``ormsgpack`` ignores bytes after the
document (the payload is read inside an array whose second item is a per-process random marker,
so trailing bytes never pass unnoticed), and it recurses on the C stack (up to 1024 levels, more
than a small thread stack holds; so it runs only on the main thread, and only when that
thread's stack limit is at least 8 MiB).
"""

from __future__ import annotations

import builtins
import dataclasses
import decimal
import ipaddress
import logging
import os
import pathlib
import re
import sys
import threading
import uuid
from collections import deque
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import msgpack

from pitstop.checkpoint.errors import (
    CorruptRecordError,
    DeserializationError,
    RefusedTypeError,
)
from pitstop.checkpoint.serde import _codes as C
from pitstop.checkpoint.serde._policy import (
    KNOWN_TYPES,
    lookup,
    registered,
    revivable_kind,
)
from pitstop.checkpoint.serde.types import DeltaSnapshot, RevivedException

__all__ = ["Decoder", "array_header"]

logger = logging.getLogger("pitstop.checkpoint.serde")

Reviver = Callable[[Any], Any]

_unpackb = msgpack.unpackb


def _fast_parser() -> Callable[..., Any] | None:
    """``ormsgpack.unpackb`` if installed and the main thread's stack is large (see above)."""
    try:
        import resource

        import ormsgpack
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    if soft != resource.RLIM_INFINITY and soft < 8 * 1024 * 1024:  # pragma: no cover
        return None
    parse: Callable[..., Any] = ormsgpack.unpackb
    return parse


_fast_unpackb = _fast_parser()
# Payloads at least this large go to the fast parser (below it, the call costs the same).
_FAST_MIN_BYTES = 2048
_MAIN_THREAD = threading.main_thread().ident
_MARKER = os.urandom(16)
_MARKER_DOC = b"\xc4\x10" + _MARKER  # msgpack bin 8 holding the marker
_NOT_PARSED: Any = object()
# Nesting levels decoded with `unpackb` (fastest, but ~40 KB of C stack each); deeper levels use
# a heap-allocated `Unpacker`, so even MAX_NESTING levels fit in a 1 MB thread stack.
_STACK_LEVELS = 8
_MAX_CACHED_REVIVERS = 4096
_ENVELOPE_CODES = frozenset(
    {
        C.EXT_CONSTRUCTOR_SINGLE_ARG,
        C.EXT_CONSTRUCTOR_POS_ARGS,
        C.EXT_CONSTRUCTOR_KW_ARGS,
        C.EXT_PYDANTIC_V1,
        C.EXT_PYDANTIC_V2,
    }
)
_KIND_OF_CODE = {
    C.EXT_CONSTRUCTOR_SINGLE_ARG: "single-argument constructor",
    C.EXT_CONSTRUCTOR_POS_ARGS: "positional constructor",
    C.EXT_CONSTRUCTOR_KW_ARGS: "keyword constructor",
    C.EXT_PYDANTIC_V1: "pydantic v1 model",
    C.EXT_PYDANTIC_V2: "pydantic v2 model",
}
_TIME_FIELDS = frozenset({"hour", "minute", "second", "microsecond", "tzinfo", "fold"})
_PATH_CLASSES = {
    "Path": pathlib.Path,
    "PosixPath": pathlib.PosixPath,
    "WindowsPath": pathlib.WindowsPath,
    "PurePath": pathlib.PurePath,
    "PurePosixPath": pathlib.PurePosixPath,
    "PureWindowsPath": pathlib.PureWindowsPath,
}
_warned_fallback: set[tuple[str, str]] = set()


def _set_of(items: Any) -> set[Any]:
    return set(items)


def _frozenset_of(items: Any) -> frozenset[Any]:
    return frozenset(items)


def _deque_of(items: Any) -> deque[Any]:
    return deque(items)


def _str_arg(cls: Callable[[str], Any]) -> Reviver:
    def revive(arg: Any) -> Any:
        if not isinstance(arg, str):
            raise TypeError(f"expected a str, got {type(arg).__name__}")
        return cls(arg)

    return revive


def _pos_args(cls: Callable[..., Any]) -> Reviver:
    def revive(args: Any) -> Any:
        return cls(*_as_list(args))

    return revive


def _as_list(args: Any) -> list[Any]:
    if isinstance(args, list | tuple):
        return list(args)
    raise TypeError(f"expected an argument list, got {type(args).__name__}")


def _compile(args: Any) -> re.Pattern[Any]:
    pattern, flags = _as_list(args)
    if not isinstance(pattern, str | bytes) or not isinstance(flags, int):
        raise TypeError("re.compile takes a str/bytes pattern and int flags")
    return re.compile(pattern, flags)


def _time(kwargs: Any) -> time:
    if not isinstance(kwargs, dict) or not kwargs.keys() <= _TIME_FIELDS:
        raise TypeError("unexpected fields for datetime.time")
    return time(**kwargs)


def _timezone(args: Any) -> timezone:
    return timezone(*_as_list(args))


# Pitstop's own rebuilders for built-in types, keyed by (ext code, module, name).
_BUILTINS: dict[tuple[int, str, str], Reviver] = {
    (C.EXT_CONSTRUCTOR_SINGLE_ARG, "uuid", "UUID"): _str_arg(uuid.UUID),
    (C.EXT_CONSTRUCTOR_SINGLE_ARG, "decimal", "Decimal"): _str_arg(decimal.Decimal),
    (C.EXT_CONSTRUCTOR_SINGLE_ARG, "builtins", "set"): _set_of,
    (C.EXT_CONSTRUCTOR_SINGLE_ARG, "builtins", "frozenset"): _frozenset_of,
    (C.EXT_CONSTRUCTOR_SINGLE_ARG, "collections", "deque"): _deque_of,
    (C.EXT_CONSTRUCTOR_SINGLE_ARG, "zoneinfo", "ZoneInfo"): _str_arg(ZoneInfo),
    (C.EXT_CONSTRUCTOR_POS_ARGS, "re", "compile"): _compile,
    (C.EXT_CONSTRUCTOR_POS_ARGS, "datetime", "timedelta"): _pos_args(timedelta),
    (C.EXT_CONSTRUCTOR_POS_ARGS, "datetime", "date"): _pos_args(date),
    (C.EXT_CONSTRUCTOR_POS_ARGS, "datetime", "timezone"): _timezone,
    (C.EXT_CONSTRUCTOR_KW_ARGS, "datetime", "time"): _time,
}
for _ip in (
    ipaddress.IPv4Address,
    ipaddress.IPv4Interface,
    ipaddress.IPv4Network,
    ipaddress.IPv6Address,
    ipaddress.IPv6Interface,
    ipaddress.IPv6Network,
):
    _BUILTINS[(C.EXT_CONSTRUCTOR_SINGLE_ARG, "ipaddress", _ip.__name__)] = _str_arg(_ip)
for _module in ("pathlib", "pathlib._local"):
    for _name, _cls in _PATH_CLASSES.items():
        _BUILTINS[(C.EXT_CONSTRUCTOR_POS_ARGS, _module, _name)] = _pos_args(_cls)


def _heap_unpack(data: bytes, hook: Callable[[int, bytes], Any], use_list: bool) -> Any:
    unpacker = msgpack.Unpacker(
        ext_hook=hook,
        strict_map_key=False,
        unicode_errors="surrogatepass",
        use_list=use_list,
        max_buffer_size=len(data) + 1,
    )
    unpacker.feed(data)
    value = unpacker.unpack()
    if unpacker.tell() != len(data):
        raise ValueError("extra data after the msgpack value")
    return value


class _RealTuple(tuple[Any, ...]):
    """A tuple decoded from ext 16 while arrays are being read as tuples (``_unpack_keys``)."""

    __slots__ = ()


class _Level:
    """Decodes documents found at one extension nesting depth.

    Payloads of extension values found here are decoded by the next level, created on first
    use. The depth is thus known without per-value bookkeeping, and bounded by MAX_NESTING.
    """

    __slots__ = ("_decoder", "_depth", "_hook", "_next", "_revivers")

    def __init__(self, decoder: Decoder, depth: int) -> None:
        self._decoder = decoder
        self._depth = depth
        self._revivers = decoder.revivers
        self._hook = self.ext_hook  # one bound method, not one per extension value
        self._next: _Level | None = None

    def _deeper(self) -> _Level:
        if self._depth >= C.MAX_NESTING:
            raise CorruptRecordError(f"value nests more than {C.MAX_NESTING} extension levels")
        level = self._next = _Level(self._decoder, self._depth + 1)
        return level

    def unpack(self, data: bytes) -> Any:
        """Decode one msgpack document at this level."""
        try:
            if self._depth < _STACK_LEVELS:
                return _unpackb(
                    data, ext_hook=self._hook, strict_map_key=False, unicode_errors="surrogatepass"
                )
            return _heap_unpack(data, self._hook, True)
        except TypeError:
            # LangGraph (ormsgpack) writes tuple dict keys as arrays, which msgpack-python
            # decodes as (unhashable) lists. Re-read this document with arrays as tuples.
            return self._unpack_keys(data)

    def _unpack_keys(self, data: bytes) -> Any:
        def hook(code: int, payload: bytes) -> Any:
            value = self.ext_hook(code, payload)
            return _RealTuple(value) if type(value) is tuple else value

        if self._depth < _STACK_LEVELS:
            raw = _unpackb(
                data,
                ext_hook=hook,
                strict_map_key=False,
                unicode_errors="surrogatepass",
                use_list=False,
            )
        else:
            raw = _heap_unpack(data, hook, False)
        return _lists_back(raw, as_key=False)

    def ext_hook(self, code: int, data: bytes) -> Any:
        """msgpack ``ext_hook``: rebuild one extension value."""
        if code in _ENVELOPE_CODES:
            envelope = (self._next or self._deeper()).unpack(data)
            if (
                type(envelope) is not list
                or len(envelope) < 3
                or type(envelope[0]) is not str
                or type(envelope[1]) is not str
            ):
                raise CorruptRecordError(f"malformed payload for msgpack extension {code}")
            module, name = envelope[0], envelope[1]
            try:
                revive = self._revivers[(code, module, name)]
            except KeyError:
                revive = self._decoder.reviver(code, module, name)
            try:
                return revive(envelope[2])
            except DeserializationError:
                raise
            except Exception as exc:
                raise DeserializationError(
                    f"could not rebuild {module}.{name}: {type(exc).__name__}: {exc}"
                ) from exc
        if code == C.EXT_TUPLE:
            return tuple(self._list(data, code))
        if code == C.EXT_METHOD_SINGLE_ARG:
            return self._method(data)
        if code == C.EXT_DELTA_SNAPSHOT:
            return _delta_snapshot_class()((self._next or self._deeper()).unpack(data))
        if code == C.EXT_BIGINT:
            return int.from_bytes(data, "big", signed=True)
        if code == C.EXT_BYTEARRAY:
            return bytearray(data)
        if code == C.EXT_DATETIME_TZ:
            naive, tz, fold = self._list(data, code, 3)
            if (
                not isinstance(naive, str)
                or not isinstance(tz, tzinfo | None)
                or fold not in (0, 1)
            ):
                raise CorruptRecordError("malformed payload for a zoned datetime")
            return datetime.fromisoformat(naive).replace(tzinfo=tz, fold=fold)
        if code == C.EXT_EXCEPTION:
            return self._exception(data)
        if code == C.EXT_DEQUE:
            items, maxlen = self._list(data, code, 2)
            return deque(_as_list(items), maxlen)
        if code == C.EXT_COMPLEX:
            real, imag = self._list(data, code, 2)
            return complex(real, imag)
        if code == C.EXT_NUMPY_ARRAY:
            return self._ndarray(data)
        raise CorruptRecordError(f"unknown msgpack extension type code {code}")

    def _list(self, data: bytes, code: int, length: int | None = None) -> list[Any]:
        value = (self._next or self._deeper()).unpack(data)
        if type(value) is not list or (length is not None and len(value) != length):
            raise CorruptRecordError(f"malformed payload for msgpack extension {code}")
        return value

    def _method(self, data: bytes) -> Any:
        envelope = self._list(data, C.EXT_METHOD_SINGLE_ARG)
        if len(envelope) != 4:
            raise CorruptRecordError("malformed payload for msgpack extension 3")
        module, name, arg, method = envelope
        if (module, name, method) == ("datetime", "datetime", "fromisoformat") and isinstance(
            arg, str
        ):
            try:
                return datetime.fromisoformat(arg)
            except ValueError as exc:
                raise DeserializationError(f"invalid stored datetime {arg!r}") from exc
        raise RefusedTypeError(
            f"{module}.{name}.{method}",
            "stored method calls are never made (only datetime.fromisoformat is rebuilt)",
        )

    def _exception(self, data: bytes) -> BaseException:
        module, name, args, message = self._list(data, C.EXT_EXCEPTION, 4)
        if not isinstance(module, str) or not isinstance(name, str):
            raise CorruptRecordError("malformed payload for a stored exception")
        args = tuple(_as_list(args))
        cls: object = (
            builtins.__dict__.get(name) if module == "builtins" else registered(module, name)
        )
        if isinstance(cls, type) and issubclass(cls, BaseException):
            try:
                return cls(*args)
            except Exception:
                logger.debug("could not rebuild exception %s.%s", module, name, exc_info=True)
        return RevivedException(f"{module}.{name}", str(message), args)

    def _ndarray(self, data: bytes) -> Any:
        numpy = sys.modules.get("numpy")
        if numpy is None:
            raise RefusedTypeError("numpy.ndarray", "numpy is not imported (pitstop never imports)")
        dtype_str, shape, order, buf = self._list(data, C.EXT_NUMPY_ARRAY, 4)
        dtype = numpy.dtype(dtype_str)
        if dtype.hasobject:
            raise RefusedTypeError("numpy.ndarray", "object arrays are never rebuilt")
        return numpy.frombuffer(buf, dtype=dtype).reshape(shape, order=order)


def array_header(count: int) -> bytes:
    """The msgpack header of an array of ``count`` items (``count < 2**32``)."""
    if count < 16:
        return bytes((0x90 | count,))
    if count < 0x10000:
        return b"\xdc" + count.to_bytes(2, "big")
    return b"\xdd" + count.to_bytes(4, "big")


class Decoder:
    """Decodes pitstop/LangGraph msgpack under one revival policy."""

    __slots__ = ("_classes", "_hook", "_names", "_strict", "_top", "revivers")

    def __init__(
        self, *, strict: bool, names: frozenset[tuple[str, str]], classes: frozenset[type]
    ) -> None:
        self._strict = strict
        self._names = names
        self._classes = classes
        self.revivers: dict[tuple[int, str, str], Reviver] = {}
        self._top = _Level(self, 0)
        self._hook = self._top._hook

    @staticmethod
    def frame(count: int, chunks: list[bytes]) -> bytes:
        """``count`` whole ``"msgpack"`` payloads, given as ``chunks`` of bytes that join into
        them, framed for :meth:`loads_frame` (one copy of the bytes)."""
        return b"".join([b"\x92", array_header(count), *chunks, _MARKER_DOC])

    def loads_frame(self, framed: bytes) -> Any:
        """The list of what each payload in a :meth:`frame` decodes to, by one parser call.

        The same result and errors as :meth:`loads` of the payloads joined under one array
        header, which the frame already holds with the marker the fast parser's exactness
        check needs: a large document is not copied again to add it.
        """
        if _fast_unpackb is not None and threading.get_ident() == _MAIN_THREAD:
            found = self._fast(framed)
            if found is not _NOT_PARSED:
                return found
        return self.loads(framed[1 : -len(_MARKER_DOC)])

    def _fast(self, framed: bytes) -> Any:
        """The fast parser's value of a framed payload (``[payload, marker]``), or
        ``_NOT_PARSED`` when it fails or the marker is not right after the payload (trailing
        bytes it would ignore): msgpack then decodes it, or raises the error."""
        parse = _fast_unpackb
        if parse is None:  # pragma: no cover - callers check first
            return _NOT_PARSED
        try:
            pair = parse(framed, ext_hook=self._hook)
        except Exception:
            return _NOT_PARSED
        if type(pair) is list and len(pair) == 2 and type(pair[1]) is bytes and pair[1] == _MARKER:
            return pair[0]
        return _NOT_PARSED

    def loads(self, data: bytes) -> Any:
        """Decode a whole ``"msgpack"`` payload.

        Raises:
            RefusedTypeError: the payload names a class the policy does not allow.
            CorruptRecordError: the payload is truncated or not valid msgpack.
            DeserializationError: a value could not be rebuilt.
        """
        if (
            _fast_unpackb is not None
            and len(data) >= _FAST_MIN_BYTES
            and threading.get_ident() == _MAIN_THREAD
        ):
            found = self._fast(b"\x92" + data + _MARKER_DOC)
            if found is not _NOT_PARSED:
                return found
        try:
            # `self._top.unpack(data)`, inlined (the top level always decodes on the C stack):
            # most payloads are small, and this saves a Python call per value.
            try:
                return _unpackb(
                    data, ext_hook=self._hook, strict_map_key=False, unicode_errors="surrogatepass"
                )
            except TypeError:
                return self._top._unpack_keys(data)
        except DeserializationError:
            raise
        except RecursionError as exc:
            raise CorruptRecordError("msgpack payload is nested too deeply") from exc
        except Exception as exc:
            raise CorruptRecordError(
                f"invalid msgpack payload: {exc or type(exc).__name__}"
            ) from exc

    # -- policy -------------------------------------------------------------------------------

    def reviver(self, code: int, module: str, name: str) -> Reviver:
        """Decide how (and whether) to rebuild ``module.name`` from extension ``code``."""
        key = (code, module, name)
        revive = _BUILTINS.get(key)
        if revive is None:
            revive = self._class_reviver(code, module, name)
        if len(self.revivers) >= _MAX_CACHED_REVIVERS:
            self.revivers.clear()
        self.revivers[key] = revive
        return revive

    def _class_reviver(self, code: int, module: str, name: str) -> Reviver:
        type_name = f"{module}.{name}"
        known = (module, name) in KNOWN_TYPES
        cls: object = registered(module, name)
        from_registry = cls is not None
        if cls is None:
            cls = lookup(module, name)
            if cls is None:
                reason = (
                    "not found in its module"
                    if module in sys.modules
                    else "its module is not imported (pitstop never imports on load)"
                )
                raise RefusedTypeError(type_name, reason)
        if not isinstance(cls, type):
            raise RefusedTypeError(type_name, "it is not a class")
        if (
            self._strict
            and not known
            and not from_registry
            and cls not in self._classes
            and (module, name) not in self._names
            and (cls.__module__, cls.__qualname__) not in self._names
            and (cls.__module__, cls.__name__) not in self._names
        ):
            raise RefusedTypeError(
                type_name,
                "strict mode: not registered and not in the allowlist "
                "(use register_type() or with_allowlist())",
            )
        kind = revivable_kind(cls)
        if known and module == "langgraph.types" and name == "Send":
            if code == C.EXT_CONSTRUCTOR_POS_ARGS:
                return _send_reviver(cls)
        elif known and module == "langgraph.store.base" and name == "Item":
            # LangGraph writes Item as ext 4 (it has a .dict() method); pitstop as ext 2.
            if code in (C.EXT_CONSTRUCTOR_KW_ARGS, C.EXT_PYDANTIC_V1):
                return _kwargs_reviver(cls)
        elif known and name in ("SecretStr", "SecretBytes"):
            if code == C.EXT_CONSTRUCTOR_SINGLE_ARG:
                return cls
        elif code == C.EXT_PYDANTIC_V2 and kind == "pydantic":
            return _pydantic_reviver(cls, "model_construct")
        elif code == C.EXT_PYDANTIC_V1 and kind == "pydantic.v1":
            return _pydantic_reviver(cls, "construct")
        elif code == C.EXT_CONSTRUCTOR_KW_ARGS and kind == "dataclass":
            return _dataclass_reviver(cls)
        elif code == C.EXT_CONSTRUCTOR_KW_ARGS and kind == "namedtuple":
            return _kwargs_reviver(cls)
        elif code == C.EXT_CONSTRUCTOR_SINGLE_ARG and kind == "enum":
            return cls
        if kind is None:
            raise RefusedTypeError(
                type_name,
                "only dataclasses, NamedTuples, Enums and pydantic models are rebuilt",
            )
        raise RefusedTypeError(
            type_name, f"a {kind} is not stored as a {_KIND_OF_CODE.get(code, str(code))}"
        )


def _send_reviver(cls: type) -> Reviver:
    def revive(args: Any) -> Any:
        args = _as_list(args)
        if len(args) == 2:
            return cls(args[0], args[1])
        node, arg, timeout = args
        return cls(node, arg, timeout=timeout)

    return revive


def _kwargs_reviver(cls: type) -> Reviver:
    def revive(kwargs: Any) -> Any:
        if not isinstance(kwargs, dict):
            raise TypeError(f"expected a field dict, got {type(kwargs).__name__}")
        return cls(**kwargs)

    return revive


def _dataclass_reviver(cls: type) -> Reviver:
    fields = dataclasses.fields(cls)
    init_names = frozenset(f.name for f in fields if f.init)
    other_names = frozenset(f.name for f in fields if not f.init)

    def revive(kwargs: Any) -> Any:
        if not isinstance(kwargs, dict):
            raise TypeError(f"expected a field dict, got {type(kwargs).__name__}")
        if kwargs.keys() <= init_names:
            return cls(**kwargs)
        # Fields removed from the class since the value was stored are dropped; init=False
        # fields are restored after __init__, as they were.
        obj = cls(**{k: v for k, v in kwargs.items() if k in init_names})
        for key in other_names & kwargs.keys():
            object.__setattr__(obj, key, kwargs[key])
        return obj

    return revive


def _pydantic_reviver(cls: type, construct: str) -> Reviver:
    validate = getattr(cls, "model_validate", None) or getattr(cls, "parse_obj", None)
    construct_fn = getattr(cls, construct)

    def revive(data: Any) -> Any:
        if not isinstance(data, dict):
            return validate(data) if validate is not None else cls(data)  # RootModel
        try:
            return cls(**data)
        except Exception as exc:
            # LangGraph compatibility: data that no longer validates (the model changed since
            # it was stored) is loaded unvalidated rather than lost.
            key = (cls.__module__, cls.__qualname__)
            if key not in _warned_fallback and len(_warned_fallback) < 1000:
                _warned_fallback.add(key)
                logger.warning(
                    "stored %s.%s no longer validates (%s); loading it unvalidated",
                    key[0],
                    key[1],
                    type(exc).__name__,
                )
            data.pop("_fields_set", None)  # a construct() parameter, not a field
            return construct_fn(**data)

    return revive


def _delta_snapshot_class() -> Callable[[Any], Any]:
    module = sys.modules.get("langgraph.checkpoint.serde.types")
    if module is not None:
        cls = module.__dict__.get("_DeltaSnapshot")
        if isinstance(cls, type):
            return cls
    return DeltaSnapshot


def _lists_back(obj: Any, *, as_key: bool) -> Any:
    """Undo ``use_list=False`` outside dict keys (arrays -> lists; ext 16 tuples stay tuples)."""
    cls = type(obj)
    if cls is _RealTuple:
        return tuple(obj)
    if cls is tuple:
        items = [_lists_back(item, as_key=as_key) for item in obj]
        return tuple(items) if as_key else items
    if cls is dict:
        return {_lists_back(k, as_key=True): _lists_back(v, as_key=False) for k, v in obj.items()}
    return obj
