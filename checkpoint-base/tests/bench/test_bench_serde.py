"""Serializer round trip on a chat-like state: pitstop's MsgpackSerializer vs LangGraph's.

Not timed assertions: ``make bench`` (or ``pytest checkpoint-base/tests/bench
--benchmark-enable``) prints the comparison; a normal test run executes each body once.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langgraph.checkpoint.serde.jsonplus")

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from pitstop.checkpoint.serde import MsgpackSerializer, SerializerProtocol

pytestmark = pytest.mark.benchmark_suite

GROUP = "serde: chat state (200 messages) dumps_typed + loads_typed"


def _text(rng: random.Random, size: int) -> str:
    words = ["the", "agent", "calls", "a", "tool", "with", "results", "weather", "in", "Paris"]
    out: list[str] = []
    while sum(len(w) + 1 for w in out) < size:
        out.append(rng.choice(words))
    return " ".join(out)[:size]


def chat_state(n_messages: int = 200) -> dict[str, Any]:
    """200 messages alternating Human/AI (~300 chars each); every third AI message calls tools."""
    rng = random.Random(42)
    messages: list[BaseMessage] = []
    for i in range(n_messages):
        if i % 2 == 0:
            messages.append(HumanMessage(content=_text(rng, 300), id=f"human-{i}"))
        elif i % 6 == 1:
            messages.append(
                AIMessage(
                    content=_text(rng, 300),
                    id=f"ai-{i}",
                    tool_calls=[
                        {
                            "name": "search",
                            "args": {"query": _text(rng, 40), "limit": 5},
                            "id": f"call-{i}",
                        }
                    ],
                    response_metadata={"model_name": "model-x", "finish_reason": "tool_calls"},
                )
            )
        else:
            messages.append(
                AIMessage(
                    content=_text(rng, 300),
                    id=f"ai-{i}",
                    response_metadata={"model_name": "model-x", "finish_reason": "stop"},
                    usage_metadata={"input_tokens": 120, "output_tokens": 80, "total_tokens": 200},
                )
            )
    return {"messages": messages, "step": 7, "summary": _text(rng, 500)}


STATE = chat_state()


def _roundtrip(serde: SerializerProtocol) -> Any:
    return serde.loads_typed(serde.dumps_typed(STATE))


@pytest.mark.parametrize(
    "serde",
    [
        pytest.param(MsgpackSerializer(), id="pitstop-MsgpackSerializer"),
        pytest.param(JsonPlusSerializer(), id="langgraph-JsonPlusSerializer"),
    ],
)
def test_chat_state_roundtrip(benchmark: Any, serde: SerializerProtocol) -> None:
    benchmark.group = GROUP
    result = benchmark(_roundtrip, serde)
    assert result == STATE
