"""Whether this Python can run the SQLite store's sqlite-vec path (store tests only)."""

from __future__ import annotations

import pytest

from pitstop.checkpoint.errors import InvalidArgumentError
from pitstop.store.sqlite import SqliteStore


def _unusable_reason() -> str | None:
    index = {"dims": 1, "embed": lambda texts: [[1.0] for _ in texts]}
    try:
        with SqliteStore.from_conn_string(":memory:", index=index, sqlite_vec=True) as store:  # type: ignore[arg-type]
            store.setup()
    except InvalidArgumentError as exc:
        return str(exc)
    return None


SQLITE_VEC_UNUSABLE = _unusable_reason()
"""Why sqlite-vec cannot be used here (not installed, or no extension loading), else None."""

needs_sqlite_vec = pytest.mark.skipif(
    SQLITE_VEC_UNUSABLE is not None, reason=f"sqlite-vec path not runnable: {SQLITE_VEC_UNUSABLE}"
)

VECTOR_PATHS = [
    pytest.param(False, id="brute-force"),
    pytest.param(True, id="sqlite-vec", marks=needs_sqlite_vec),
]
"""``sqlite_vec=`` values for tests that run both vector-search paths."""
