"""MsgpackSerializer with pydantic, LangChain and LangGraph: round trips and wire compatibility."""

from __future__ import annotations

import collections
import dataclasses
import decimal
import enum
import ipaddress
import logging
import pathlib
import re
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import msgpack
import pytest

pytest.importorskip("pydantic")
pytest.importorskip("langchain_core")
pytest.importorskip("langgraph.checkpoint.serde.jsonplus")

import pydantic
import pydantic.v1
from langchain_core.documents import Document
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    HumanMessageChunk,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
    ToolMessageChunk,
)
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from langgraph.store.base import Item
from langgraph.types import Command, Interrupt, Overwrite, Send

from pitstop.checkpoint.errors import RefusedTypeError, SerializationError
from pitstop.checkpoint.serde import DeltaSnapshot, MsgpackSerializer

SERDE = MsgpackSerializer(strict=False)
STRICT = MsgpackSerializer(strict=True)
LANGGRAPH = JsonPlusSerializer()


class Address(pydantic.BaseModel):
    city: str
    zip_code: str | None = None


class User(pydantic.BaseModel):
    name: str
    tags: tuple[str, ...] = ()
    address: Address | None = None
    joined: datetime | None = None
    secret: pydantic.SecretStr | None = None
    scores: dict[str, float] = {}


class Aliased(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(populate_by_name=True)
    full_name: str = pydantic.Field(alias="fullName")


class CustomDump(pydantic.BaseModel):
    value: int

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        return {"value": self.value + 1}


class Ids(pydantic.RootModel[list[int]]):
    pass


class LegacyUser(pydantic.v1.BaseModel):
    name: str
    age: int = 0


class Kind(enum.Enum):
    A = "a"


@dataclasses.dataclass
class Box:
    item: Any


class Pt(NamedTuple):
    x: int
    y: int


def roundtrip(value: Any, serde: MsgpackSerializer = SERDE) -> Any:
    return serde.loads_typed(serde.dumps_typed(value))


AI_WITH_TOOLS = AIMessage(
    content="calling tools",
    id="ai-1",
    tool_calls=[
        {"name": "search", "args": {"q": "weather", "k": 3}, "id": "call-1"},
        {"name": "lookup", "args": {}, "id": "call-2"},
    ],
    usage_metadata={"input_tokens": 10, "output_tokens": 5, "total_tokens": 15},
    response_metadata={"model": "m", "finish_reason": "tool_calls"},
)

MESSAGES = [
    HumanMessage(content="hello", id="h-1"),
    HumanMessage(content=[{"type": "text", "text": "multi"}], name="bob"),
    AI_WITH_TOOLS,
    AIMessage(content="plain"),
    ToolMessage(content="result", tool_call_id="call-1", name="search", status="error"),
    SystemMessage(content="you are helpful", additional_kwargs={"x": [1, 2]}),
    ChatMessage(content="c", role="critic"),
    FunctionMessage(content="f", name="fn"),
    AIMessageChunk(content="chu", id="c-1"),
    HumanMessageChunk(content="nk"),
    ToolMessageChunk(content="t", tool_call_id="call-3"),
    RemoveMessage(id="h-1"),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_langchain_messages_roundtrip(message: Any) -> None:
    loaded = roundtrip(message)
    assert type(loaded) is type(message)
    assert loaded == message
    assert loaded.model_dump() == message.model_dump()
    nested = {"messages": [message, Box(message)], "by_id": {("k", 1): message}}
    assert roundtrip(nested) == nested


def test_ai_message_tool_calls_survive() -> None:
    loaded = roundtrip(AI_WITH_TOOLS)
    assert loaded.tool_calls == AI_WITH_TOOLS.tool_calls
    assert loaded.usage_metadata == AI_WITH_TOOLS.usage_metadata


def test_document_roundtrip() -> None:
    doc = Document(page_content="text", metadata={"source": "s", "page": 2}, id="d1")
    assert roundtrip(doc) == doc


@pytest.mark.parametrize(
    "model",
    [
        User(name="u"),
        User(
            name="u",
            tags=("a", "b"),
            address=Address(city="Paris", zip_code="75001"),
            joined=datetime(2024, 1, 1, tzinfo=UTC),
            secret=pydantic.SecretStr("hunter2"),
            scores={"x": 1.5},
        ),
        Aliased(fullName="Ada Lovelace"),
        Ids([1, 2, 3]),
        LegacyUser(name="old", age=3),
    ],
    ids=["v2-defaults", "v2-nested", "v2-alias", "v2-root", "v1"],
)
def test_pydantic_models_roundtrip(model: Any) -> None:
    loaded = roundtrip(model)
    assert type(loaded) is type(model)
    assert loaded == model
    assert roundtrip([Box(model)]) == [Box(model)]


def test_pydantic_secret_is_revived() -> None:
    loaded = roundtrip(User(name="u", secret=pydantic.SecretStr("s3")))
    assert loaded.secret.get_secret_value() == "s3"


def test_direct_core_serializer_matches_model_dump() -> None:
    # The encoder calls the core serializer directly when model_dump is not overridden.
    for model in [*MESSAGES, User(name="u", tags=("t",)), Aliased(fullName="x")]:
        assert type(model).__pydantic_serializer__.to_python(model) == model.model_dump()
        _, data = SERDE.dumps_typed(model)
        envelope = msgpack.unpackb(data, ext_hook=lambda c, d: SERDE.loads_typed(("msgpack", d)))
        assert envelope[2] == model.model_dump()


def test_overridden_model_dump_is_used() -> None:
    _, data = SERDE.dumps_typed(CustomDump(value=1))
    envelope = msgpack.unpackb(data, ext_hook=lambda c, d: msgpack.unpackb(d))
    assert envelope[2] == {"value": 2}


def test_model_that_no_longer_validates_loads_unvalidated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    payload = msgpack.packb(
        msgpack.ExtType(
            5,
            msgpack.packb([__name__, "Address", {"city": 12345}, "model_validate_json"]),
        )
    )
    with caplog.at_level(logging.WARNING, logger="pitstop.checkpoint.serde"):
        loaded = SERDE.loads_typed(("msgpack", payload))
    assert type(loaded) is Address
    assert loaded.city == 12345
    assert "no longer validates" in caplog.text


# --- LangGraph control types -------------------------------------------------------------------


LANGGRAPH_VALUES = [
    Send("node", {"x": (1, 2)}),
    Send("node", 3, timeout=5.0),
    Interrupt(value={"question": "ok?"}, id="intr-1"),
    Command(resume={"intr-1": "yes"}),
    Command(update={"messages": [AI_WITH_TOOLS]}, goto=[Send("a", 1), "b"]),
    Command(update=[("k", 1)], goto="end", graph=Command.PARENT),
    Overwrite(value=[1, 2]),
    Item(
        value={"a": 1},
        key="k",
        namespace=("users", "42"),
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        updated_at=datetime(2024, 1, 2, tzinfo=UTC),
    ),
]


@pytest.mark.parametrize("value", LANGGRAPH_VALUES, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("serde", [SERDE, STRICT], ids=["default", "strict"])
def test_langgraph_types_roundtrip(value: Any, serde: MsgpackSerializer) -> None:
    loaded = roundtrip(value, serde)
    assert type(loaded) is type(value)
    assert loaded == value


def test_command_keeps_tuples() -> None:
    command = Command(update=[("k", 1)], goto=("a", "b"))
    loaded = roundtrip(command)
    assert loaded.update == [("k", 1)]
    assert loaded.goto == ("a", "b")


def test_delta_snapshot_decodes_to_langgraph_class() -> None:
    for value in (_DeltaSnapshot([1, (2,)]), DeltaSnapshot([1, (2,)])):
        loaded = roundtrip(value)
        assert type(loaded) is _DeltaSnapshot
        assert loaded.value == [1, (2,)]
    assert LANGGRAPH.dumps_typed(_DeltaSnapshot(1)) == SERDE.dumps_typed(DeltaSnapshot(1))


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_strict_mode_accepts_known_langchain_types(message: Any) -> None:
    assert roundtrip(message, STRICT) == message


def test_strict_mode_refuses_user_models_unless_allowed() -> None:
    user = User(name="u")
    with pytest.raises(RefusedTypeError, match="User"):
        roundtrip(user, STRICT)
    assert roundtrip(user, STRICT.with_allowlist([User])) == user
    assert roundtrip(user, STRICT.with_allowlist([(__name__, "User")])) == user


# --- wire compatibility with LangGraph's JsonPlusSerializer ---------------------------------------

NOW = datetime(2024, 2, 3, 4, 5, 6, 789)

# Values whose encoding is the same in both libraries (no tuples inside).
SHARED = {
    "uuid": uuid.UUID(int=7),
    "datetime": NOW,
    "datetime-utc": NOW.replace(tzinfo=UTC),
    "datetime-offset": NOW.replace(tzinfo=timezone(timedelta(hours=-4))),
    "date": NOW.date(),
    "time": time(1, 2, 3, 4),
    "time-tz": time(1, 2, tzinfo=timezone(timedelta(hours=1))),
    "timedelta": timedelta(days=2, seconds=3),
    "timezone": timezone(timedelta(hours=3)),
    "zoneinfo": ZoneInfo("Asia/Tokyo"),
    "decimal": decimal.Decimal("-1.50"),
    "set": {1, 2},
    "frozenset": frozenset({"a"}),
    "deque": collections.deque([1, 2]),
    "path": pathlib.Path("/srv/data"),
    "regex": re.compile("^x+$", re.MULTILINE),
    "ipv4": ipaddress.IPv4Address("1.2.3.4"),
    "ipv6-network": ipaddress.IPv6Network("::/0"),
    "enum": Kind.A,
    "dataclass": Box({"a": [1, 2]}),
    "namedtuple": Pt(1, 2),
    "pydantic-v2": Address(city="x"),
    "pydantic-v1": LegacyUser(name="n"),
    "message": HumanMessage(content="hi", id="1"),
    "ai-message": AI_WITH_TOOLS,
    "send": Send("n", {"a": 1}),
    "interrupt": Interrupt(value=1, id="i"),
    "command": Command(resume=1, goto=[Send("n", 1)]),
    "item": LANGGRAPH_VALUES[-1],
    "delta": _DeltaSnapshot({"k": 1}),
    "int-keys": {1: "a", 2: None},
    "nested": {"messages": [HumanMessage(content="x")], "step": 7, "blob": b"\x00\x01"},
}


@pytest.mark.parametrize("value", SHARED.values(), ids=SHARED.keys())
def test_bytes_match_langgraph(value: Any) -> None:
    assert SERDE.dumps_typed(value) == LANGGRAPH.dumps_typed(value)


@pytest.mark.parametrize("value", SHARED.values(), ids=SHARED.keys())
def test_langgraph_reads_pitstop(value: Any) -> None:
    assert LANGGRAPH.loads_typed(SERDE.dumps_typed(value)) == value


# Everything LangGraph round-trips (contract §5.4), as LangGraph writes it.
LANGGRAPH_WRITTEN = {
    **SHARED,
    "none": None,
    "bool": True,
    "int64": -(2**63),
    "float": 0.1,
    "str-nul": "a\x00",
    "bytes": b"raw",
    "bytearray": bytearray(b"raw"),
    "nested-bytes": {"b": [b"x"]},
    "tuple-keys": {(1, (2, 3)): [1, {(4,): "x"}], ("a",): None},
    "secret": pydantic.SecretStr("s"),
    "message-list": MESSAGES,
    "zoned-datetime": NOW.replace(tzinfo=ZoneInfo("Europe/Paris")),
    "numbers-map": {0.5: 1, -1: 2},
}


@pytest.mark.parametrize("value", LANGGRAPH_WRITTEN.values(), ids=LANGGRAPH_WRITTEN.keys())
def test_pitstop_reads_langgraph(value: Any) -> None:
    loaded = SERDE.loads_typed(LANGGRAPH.dumps_typed(value))
    assert loaded == value
    assert type(loaded) is type(value)


def test_pitstop_reads_langgraph_tuple_keys_as_tuples_and_lists_as_lists() -> None:
    written = LANGGRAPH.dumps_typed({(1, (2, 3)): [[1], {"k": [2]}], "x": [(4, 5)]})
    loaded = SERDE.loads_typed(written)
    # LangGraph itself loses the tuple in the value: it comes back as a list in both.
    assert loaded == {(1, (2, 3)): [[1], {"k": [2]}], "x": [[4, 5]]}
    assert loaded == LANGGRAPH.loads_typed(written)
    assert type(next(iter(loaded))[1]) is tuple


def test_pitstop_reads_langgraph_exceptions_as_their_repr() -> None:
    assert SERDE.loads_typed(LANGGRAPH.dumps_typed(ValueError("x"))) == "ValueError('x')"


@pytest.mark.parametrize("value", [date(2020, 1, 1), UTC], ids=repr)
def test_langgraph_reads_pitstop_builtins(value: Any) -> None:
    assert LANGGRAPH.loads_typed(SERDE.dumps_typed(value)) == value


def test_serialization_error_path_inside_a_message() -> None:
    state = {"messages": [HumanMessage("a"), AIMessage("b", response_metadata={"raw": object()})]}
    with pytest.raises(SerializationError) as info:
        SERDE.dumps_typed(state)
    assert info.value.path == 'messages[1].response_metadata["raw"]'
