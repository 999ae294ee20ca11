"""Concurrency: many threads (sync API) or tasks (async API) at once; nothing lost or torn."""

from __future__ import annotations

from typing import Any

from pitstop.conformance.builders import cfg, cid, ckpt, ver
from pitstop.conformance.driver import SaverDriver
from pitstop.conformance.registry import saver_spec

WORKERS = 8
PER_WORKER = 12


def _payload(thread: str, n: int) -> dict[str, Any]:
    tag = f"{thread}:{n}"
    return {"a": tag, "b": [tag] * 3, "c": {"tag": tag, "blob": tag.encode() * 50}}


@saver_spec("put_writes", "W13", parity=False)
def spec_concurrent_writes_one_checkpoint(d: SaverDriver) -> None:
    d.put(cfg("t"), ckpt(1), {}, {})
    config = cfg("t", "", cid(1))
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        ("put_writes", (config, [("a", i), ("b", f"v{i}")], f"task-{i:03}"), {}) for i in range(50)
    ]
    for _ in range(3):  # the same calls again, racing: stored once
        d.concurrently(calls)
    got = d.get_tuple(config)
    assert got is not None
    assert got.pending_writes is not None
    expected = sorted(
        (f"task-{i:03}", ch, v) for i in range(50) for ch, v in (("a", i), ("b", f"v{i}"))
    )
    assert sorted(got.pending_writes, key=repr) == sorted(expected, key=repr), (
        f"{len(got.pending_writes)} of {len(expected)} writes persisted"
    )


@saver_spec("put", parity=False)
def spec_concurrent_puts(d: SaverDriver) -> None:
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    for w in range(WORKERS):
        for n in range(1, PER_WORKER + 1):
            thread = f"thread-{w}"  # different threads ...
            values = _payload(thread, n)
            calls.append(
                ("put", (cfg(thread), ckpt(n, values), {"w": w}, dict.fromkeys(values, ver(n))), {})
            )
            values = _payload("shared", w * 100 + n)  # ... and one shared thread
            n_shared = w * 100 + n
            calls.append(
                (
                    "put",
                    (
                        cfg("shared"),
                        ckpt(n_shared, values),
                        {"w": w},
                        dict.fromkeys(values, ver(n_shared)),
                    ),
                    {},
                )
            )
            calls.append(
                (
                    "put_writes",
                    (cfg("shared", "", cid(n_shared)), [("x", n_shared)], f"task-{w}"),
                    {},
                )
            )
    d.concurrently(calls)
    for w in range(WORKERS):
        thread = f"thread-{w}"
        listed = d.list(cfg(thread))
        assert [t.checkpoint["id"] for t in listed] == [cid(n) for n in range(PER_WORKER, 0, -1)], (
            thread
        )
        for t in listed:
            n = int(t.checkpoint["id"][:8], 16)
            assert t.checkpoint["channel_values"] == _payload(thread, n), f"torn values in {thread}"
    shared = d.list(cfg("shared"))
    assert len(shared) == WORKERS * PER_WORKER, len(shared)
    for t in shared:
        n = int(t.checkpoint["id"][:8], 16)
        assert t.checkpoint["channel_values"] == _payload("shared", n), "torn values"
        assert [w[1:] for w in t.pending_writes or []] == [("x", n)], t.pending_writes


@saver_spec("list", parity=False)
def spec_reads_during_writes(d: SaverDriver) -> None:
    d.put(cfg("t"), ckpt(1, {"x": 0}), {}, {"x": ver(1)})
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    for n in range(2, 40):
        calls.append(("put", (cfg("t", "", cid(n - 1)), ckpt(n, {"x": n}), {}, {"x": ver(n)}), {}))
        calls.append(("get_tuple", (cfg("t"),), {}))
    for result in d.concurrently(calls):
        if hasattr(result, "checkpoint"):
            tup = result
            n = int(tup.checkpoint["id"][:8], 16)
            assert tup.checkpoint["channel_values"] == {"x": 0 if n == 1 else n}, "torn read"
    assert len(d.list(cfg("t"))) == 39
