"""The README's quickstart runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("langgraph")

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_quickstart_runs(capsys: pytest.CaptureFixture[str]) -> None:
    text = README.read_text()
    section = text[text.index("## Quickstart") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block in the quickstart section"
    exec(compile(match.group(1), str(README), "exec"), {"__name__": "readme_quickstart"})
    out = capsys.readouterr().out
    assert "['drafted', 'review: approved', 'published']" in out
    assert "paused: {'question': 'publish this?'" in out
