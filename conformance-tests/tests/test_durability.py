"""pitstop.conformance.durability against the in-memory saver: the workloads and their checks."""

from __future__ import annotations

import signal
import sys
from typing import Any

import pytest

from pitstop.checkpoint.memory import InMemorySaver
from pitstop.conformance import durability


class _Stop(Exception):
    """Raised by :class:`_Crashing` to end :func:`durability.put_forever`."""


class _Crashing(InMemorySaver):
    """An in-memory saver that 'crashes' on call ``crash_at`` of ``put`` or ``put_writes``."""

    def __init__(self, crash_at: int) -> None:
        super().__init__()
        self.calls = 0
        self.crash_at = crash_at

    def _count(self) -> None:
        self.calls += 1
        if self.calls == self.crash_at:
            raise _Stop

    def put(self, *args: Any, **kwargs: Any) -> Any:
        self._count()
        return super().put(*args, **kwargs)

    def put_writes(self, *args: Any, **kwargs: Any) -> None:
        self._count()
        super().put_writes(*args, **kwargs)


@pytest.mark.parametrize("crash_at", [1, 2, 7, 8, 41])
def test_put_forever_survivors_check_out(crash_at: int, capsys: pytest.CaptureFixture[str]) -> None:
    saver = _Crashing(crash_at)
    with pytest.raises(_Stop):
        durability.put_forever(saver)
    assert capsys.readouterr().out == durability.READY + "\n"
    # calls alternate put, put_writes: crashing on call k leaves k // 2 checkpoints
    assert durability.check_put_survivors(saver) == crash_at // 2
    head = saver.get_tuple({"configurable": {"thread_id": durability.THREAD_ID}})
    if crash_at % 2 == 0:  # crashed in put_writes: the newest checkpoint has no writes
        assert head is not None
        assert head.pending_writes == []


def _filled(steps: int) -> InMemorySaver:
    saver = _Crashing(2 * steps + 1)
    with pytest.raises(_Stop):
        durability.put_forever(saver)
    return saver


def _config(step: int) -> Any:
    cp_id = durability.checkpoint(step, {})["id"]
    return {"configurable": {"thread_id": "t", "checkpoint_ns": "", "checkpoint_id": cp_id}}


def _put_step(saver: InMemorySaver, n: int, data: bytes) -> None:
    """Put step ``n`` with ``data`` as its value, a child of step 3."""
    versions: dict[str, str | int | float] = {"data": f"test-{n}", "n": f"test-{n}"}
    cp: Any = durability.checkpoint(n, versions)
    cp["channel_values"] = {"data": data, "n": n}
    saver.put(_config(3), cp, {"step": n}, versions)


def test_partial_writes_fail_the_check() -> None:
    saver = _filled(3)
    _put_step(saver, 4, durability.payload(4))
    assert durability.check_put_survivors(saver) == 4
    saver.put_writes(_config(4), [("a", 4)], "task-4")  # one write of three
    with pytest.raises(AssertionError, match="partial writes"):
        durability.check_put_survivors(saver)


def test_a_gap_or_a_wrong_value_fails_the_check() -> None:
    saver = _filled(3)
    _put_step(saver, 5, durability.payload(5))
    with pytest.raises(AssertionError, match="gap"):
        durability.check_put_survivors(saver)

    saver = _filled(3)
    _put_step(saver, 4, durability.payload(4)[:-1])
    with pytest.raises(AssertionError, match="step 4 has a wrong or partial value"):
        durability.check_put_survivors(saver)


def test_approval_graph_resumes_and_checks(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("langgraph.graph")
    saver = InMemorySaver()
    durability.approval_graph(saver).invoke({"log": [], "answer": ""}, durability.GRAPH_CONFIG)
    durability.resume(saver)
    durability.check_resumed(capsys.readouterr().out, saver)
    assert durability.expected_final_state()["answer"] == "yes"

    lost = InMemorySaver()  # a saver that kept nothing of the interrupted run
    with pytest.raises(AssertionError):
        durability.check_resumed(repr(durability.expected_final_state()), lost)


_PUTS = (
    "from pitstop.checkpoint.memory import InMemorySaver\n"
    "from pitstop.conformance import durability\n"
    "durability.put_forever(InMemorySaver())\n"
)


def test_kill_after_ready_kills_a_running_worker() -> None:
    durability.kill_after_ready([sys.executable, "-c", _PUTS], delay=0.05)


def test_kill_after_ready_reports_a_worker_that_never_gets_ready() -> None:
    with pytest.raises(AssertionError, match="expected 'ready'"):
        durability.kill_after_ready([sys.executable, "-c", "print('nope')"], delay=0)


def test_kill_at_interrupt_then_resume_needs_a_sigkill() -> None:
    pytest.importorskip("langgraph.graph")
    start = (
        "from pitstop.checkpoint.memory import InMemorySaver\n"
        "from pitstop.conformance import durability\n"
        "durability.run_until_interrupt(InMemorySaver())\n"
    )
    out = durability.kill_at_interrupt_then_resume(
        [sys.executable, "-c", start], [sys.executable, "-c", "print('resumed')"]
    )
    assert out == "resumed"
    with pytest.raises(AssertionError) as info:
        durability.kill_at_interrupt_then_resume(
            [sys.executable, "-c", "print('interrupted')"], [sys.executable, "-c", "pass"]
        )
    assert str(-signal.SIGKILL) not in str(info.value)
