"""pitstop quickstart: a LangGraph workflow that pauses for a human and resumes."""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from pitstop.checkpoint.memory import InMemorySaver


class State(TypedDict):
    draft: str
    log: Annotated[list[str], operator.add]


def write(state: State) -> dict[str, object]:
    return {"draft": "pitstop saves every step", "log": ["drafted"]}


def review(state: State) -> dict[str, object]:
    verdict = interrupt({"question": "publish this?", "draft": state["draft"]})
    return {"log": [f"review: {verdict}"]}


def publish(state: State) -> dict[str, object]:
    return {"log": ["published"]}


builder = StateGraph(State)
builder.add_node("write", write)
builder.add_node("review", review)
builder.add_node("publish", publish)
builder.add_edge(START, "write")
builder.add_edge("write", "review")
builder.add_edge("review", "publish")
builder.add_edge("publish", END)

graph = builder.compile(checkpointer=InMemorySaver())
config = {"configurable": {"thread_id": "article-1"}}

first = graph.invoke({"draft": "", "log": []}, config)
print("paused:", first["__interrupt__"][0].value)
print("waiting on:", graph.get_state(config).next)

final = graph.invoke(Command(resume="approved"), config)
print("log:", final["log"])
for snapshot in graph.get_state_history(config):
    print(snapshot.metadata["step"], snapshot.metadata["source"], snapshot.next)
