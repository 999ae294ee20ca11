"""Every test here needs the Redis server: skip (locally) or fail (CI) when it is down."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis_factories import cleanup, require_server


@pytest.fixture(autouse=True)
def _redis_server() -> Iterator[None]:
    require_server()
    yield
    cleanup()
