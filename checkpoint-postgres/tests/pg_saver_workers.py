"""Child processes of the durability tests: ``python pg_saver_workers.py CMD URI SCHEMA``.

The workloads are :mod:`pitstop.conformance.durability`'s; this script only opens the saver.
"""

from __future__ import annotations

import sys

from pitstop.checkpoint.postgres import PostgresSaver
from pitstop.conformance import durability


def puts(uri: str, schema: str) -> None:
    """Put checkpoints (with a value and three writes each) as fast as possible, forever."""
    with PostgresSaver.from_conn_string(uri, schema=schema, pool_size=1) as saver:
        durability.put_forever(saver)


def graph_start(uri: str, schema: str) -> None:
    """Run until the interrupt, then die by SIGKILL."""
    with PostgresSaver.from_conn_string(uri, schema=schema) as saver:
        durability.run_until_interrupt(saver)


def graph_resume(uri: str, schema: str) -> None:
    """Resume the interrupted thread and print its final state."""
    with PostgresSaver.from_conn_string(uri, schema=schema) as saver:
        durability.resume(saver)


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    {"puts": puts, "graph-start": graph_start, "graph-resume": graph_resume}[command](*rest)
