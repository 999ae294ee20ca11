"""Child processes of the durability tests: ``python redis_workers.py CMD URL PREFIX``.

The workloads are :mod:`pitstop.conformance.durability`'s; this script only opens the saver.
"""

from __future__ import annotations

import sys

from pitstop.checkpoint.redis import RedisSaver
from pitstop.conformance import durability


def puts(url: str, prefix: str) -> None:
    """Put checkpoints (with a value and three writes each) as fast as possible, forever."""
    with RedisSaver.from_conn_string(url, prefix=prefix) as saver:
        durability.put_forever(saver)


def graph_start(url: str, prefix: str) -> None:
    """Run until the interrupt, then die by SIGKILL."""
    with RedisSaver.from_conn_string(url, prefix=prefix) as saver:
        durability.run_until_interrupt(saver)


def graph_resume(url: str, prefix: str) -> None:
    """Resume the interrupted thread and print its final state."""
    with RedisSaver.from_conn_string(url, prefix=prefix) as saver:
        durability.resume(saver)


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    {"puts": puts, "graph-start": graph_start, "graph-resume": graph_resume}[command](*rest)
