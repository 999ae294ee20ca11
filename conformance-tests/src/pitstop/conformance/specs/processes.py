"""Several processes writing one storage at once (capability ``multiprocess``).

The factory's ``connect(saver)`` names what a child process calls to open the same storage. Each
child writes a checkpoint chain on a thread of its own and pending writes on one shared
checkpoint, through the API under test; the parent then checks that nothing was lost or torn.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

from pitstop.conformance.builders import cfg, cid, ckpt, ver
from pitstop.conformance.driver import NotRunError, SaverDriver
from pitstop.conformance.factory import Session, load_object
from pitstop.conformance.registry import saver_spec

PROCESSES = 3
STEPS = 12


def _child(api: str, target: str, args: tuple[Any, ...], n: int) -> None:
    """Runs in a child process: open the shared storage and write through ``api``."""
    session = Session()
    try:
        saver = session.open(load_object(target)(*args))

        def call(name: str, *a: Any) -> Any:
            if api == "sync":
                return getattr(saver, name)(*a)
            return session.run(getattr(saver, "a" + name)(*a))

        parent: str | None = None
        for step in range(STEPS):
            values = {"owner": f"proc-{n}", "step": step, "blob": bytes([n]) * 2048}
            call(
                "put",
                cfg(f"proc-{n}", "", parent),
                ckpt(1000 * n + step, values),
                {"step": step, "writer": n},
                dict.fromkeys(values, ver(1000 * n + step)),
            )
            parent = cid(1000 * n + step)
            call("put_writes", cfg("shared", "", cid(1)), [("w", (n, step))], f"task-{n}-{step:03}")
    finally:
        session.close()


@saver_spec("multiprocess", parity=False)
def spec_processes_write_one_storage(d: SaverDriver) -> None:
    if d.factory.connect is None:
        raise NotRunError("the factory has no connect hook")
    d.put(cfg("shared"), ckpt(1), {}, {})
    target, args = d.factory.connect(d.saver)
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_child, args=(d.api, target, args, n)) for n in range(PROCESSES)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
    codes = [child.exitcode for child in children]
    assert codes == [0] * PROCESSES, f"child processes failed: exit codes {codes}"
    for n in range(PROCESSES):
        history = d.list(cfg(f"proc-{n}"))
        assert len(history) == STEPS, f"proc-{n}: {len(history)} of {STEPS} checkpoints"
        for tup in history:
            values = tup.checkpoint["channel_values"]
            step = tup.metadata["step"]
            assert values == {"owner": f"proc-{n}", "step": step, "blob": bytes([n]) * 2048}
    shared = d.get_tuple(cfg("shared"))
    assert shared is not None
    got = sorted(w[2] for w in shared.pending_writes or [])
    assert got == sorted((n, s) for n in range(PROCESSES) for s in range(STEPS))
