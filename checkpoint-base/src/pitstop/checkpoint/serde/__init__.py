"""Serializers: values to ``(type_tag, bytes)`` and back, secure by default.

``MsgpackSerializer`` writes the same ``"msgpack"`` format as LangGraph's
``JsonPlusSerializer`` (same extension codes 0-7 and payload layouts) and reads what LangGraph
wrote. It uses the C ``msgpack`` package; ``cryptography`` is needed only for
``EncryptedSerializer``; LangGraph, langchain-core and pydantic are never imported here. When
``ormsgpack`` is installed (LangGraph depends on it), large payloads decoded on the main thread
are parsed by it, through the same extension hook and policy; anything it refuses is decoded
again by ``msgpack``, so values and errors are the same either way.

Type tags
    ``None`` -> ``"null"``; ``bytes`` -> ``"bytes"``; ``bytearray`` -> ``"bytearray"``;
    everything else -> ``"msgpack"``. Loading refuses ``"pickle"`` (pitstop never unpickles),
    LangGraph's legacy ``"json"`` and any unknown tag with ``DeserializationError``.

What round-trips (type and value)
    Everything LangGraph round-trips, plus what it loses, through pitstop's own extension codes
    (16+, unknown to LangGraph): ``tuple`` (also nested and as dict keys, 16), ints beyond 64
    bits (17), exceptions (18), datetimes with a ``ZoneInfo`` or named ``timezone`` (19; other
    aware datetimes use LangGraph's isoformat layout and keep their offset), deques with a
    ``maxlen`` (20), ``bytearray`` nested in a value (21) and ``complex`` (22).
    Strings with lone surrogates are written with ``surrogatepass`` (readable by pitstop only).
    Exceptions: built-in exception classes come back as themselves, rebuilt from their
    ``args``; other exception classes come back as an inert :class:`RevivedException`
    carrying the class name, message and args (unless registered with :func:`register_type`).
    Tracebacks, ``__cause__`` and notes are not kept. Subclasses of ``dict``/``list``/``str``/
    ``int``/``float`` that pitstop does not know are stored as their base type.

Loading policy (what a stored payload may name)
    Loading never imports a module, never calls a stored method name and never unpickles.

    * Built-in types (datetime family, UUID, Decimal, set/frozenset/deque, pathlib paths,
      ``re.compile``, ipaddress, ZoneInfo, builtin exceptions) are rebuilt by pitstop's code.
    * LangChain messages/Document and LangGraph ``Send``/``Interrupt``/``Command``/``Item``/...
      are rebuilt if their module is already in ``sys.modules``.
    * Default mode: any other class is rebuilt only if its module is already imported and it
      is a dataclass, NamedTuple, Enum or pydantic (v1/v2) model.
    * Strict mode (``strict=True``, or env ``PITSTOP_STRICT_SERDE`` / LangGraph's
      ``LANGGRAPH_STRICT_MSGPACK`` set to 1/true/yes): other classes also need
      :func:`register_type` or an allowlist entry (``allowlist=``/``with_allowlist``; a class
      and its ``(module, name)`` pair are equivalent).
    * Anything else - a function (``os.system``), an arbitrary class (``subprocess.Popen``), a
      method call other than ``datetime.fromisoformat`` - raises ``RefusedTypeError`` naming
      ``module.name``. Unlike LangGraph, which returns the raw payload, the load fails: a run
      must never resume on a hollowed-out state.

Schema changes
    Dataclass / NamedTuple fields that no longer exist are dropped on load; a pydantic model
    whose stored data no longer validates is loaded unvalidated (``model_construct``, as
    LangGraph does) with a warning.

Limits
    Extension values nest at most 100 levels deep (``MAX_NESTING``), checked the same way when
    writing and reading, so a crafted payload cannot exhaust the C stack.

Errors
    ``SerializationError`` (``.path`` locates the bad value: ``[3]`` for an index, ``.name``
    for a field, ``["key"]`` for a dict key, a top-level identifier key bare, as in
    ``messages[3].response_metadata["raw"]``);
    ``CorruptRecordError`` for truncated or garbage payloads; ``DeserializationError`` when a
    value cannot be rebuilt; ``DecryptionError`` from ``EncryptedSerializer``. Loading never
    returns ``None`` for a payload it could not decode.
"""

from __future__ import annotations

from pitstop.checkpoint.serde._policy import register_type
from pitstop.checkpoint.serde._serializer import MsgpackSerializer
from pitstop.checkpoint.serde.base import SerializerProtocol
from pitstop.checkpoint.serde.encrypted import EncryptedSerializer
from pitstop.checkpoint.serde.types import DeltaSnapshot, RevivedException

__all__ = [
    "DeltaSnapshot",
    "EncryptedSerializer",
    "MsgpackSerializer",
    "RevivedException",
    "SerializerProtocol",
    "register_type",
]
