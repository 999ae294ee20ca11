"""Tests of tools/async_to_sync.py: exact outputs of the transformer, and the CLI on a fake tree."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import libcst as cst
import pytest

from tools import async_to_sync as a2s

if TYPE_CHECKING:
    from pathlib import Path


def convert(source: str, table: a2s.RenameTable | None = None) -> str:
    return a2s.async_to_sync(textwrap.dedent(source), table)


def dedent(code: str) -> str:
    return textwrap.dedent(code)


# -- the rename table


def test_rename_table_is_alphabetical() -> None:
    keys = list(a2s.RENAMES)
    assert keys == sorted(keys), "keep RENAMES in sorted() order"


def test_rename_table_rules_are_well_formed() -> None:
    for key, value in a2s.RENAMES.items():
        assert key != value
        if key.startswith("*"):
            assert value.startswith("*"), key
        else:
            assert key.isidentifier() or all(p.isidentifier() for p in key.split(".")), key
            assert value.isidentifier() or all(p.isidentifier() for p in value.split(".")), key


# -- async syntax


def test_async_def_await_with_for() -> None:
    source = """\
        async def f(conn):
            await conn.execute("x")
            async with conn.cursor() as cur, lock:
                async for row in cur:
                    yield await row.fetch()
            return await (await conn.fetch()).first()
        """
    assert convert(source) == dedent(
        """\
        def f(conn):
            conn.execute("x")
            with conn.cursor() as cur, lock:
                for row in cur:
                    yield row.fetch()
            return (conn.fetch()).first()
        """
    )


def test_comprehensions() -> None:
    source = """\
        async def f(it):
            a = [x async for x in it]
            b = {k: await v async for k, v in it}
            c = (await x for x in it)
        """
    assert convert(source) == dedent(
        """\
        def f(it):
            a = [x for x in it]
            b = {k: v for k, v in it}
            c = (x for x in it)
        """
    )


def test_decorated_method_and_dunders() -> None:
    source = """\
        class AsyncSqliteSaver(BaseCheckpointSaver):
            @classmethod
            @asynccontextmanager
            async def from_conn_string(cls, s: str) -> AsyncIterator[AsyncSqliteSaver]:
                async with aiosqlite.connect(s) as conn:
                    yield cls(conn)

            async def __aenter__(self) -> AsyncSqliteSaver:
                return self

            async def __aexit__(self, *exc: object) -> None:
                await self.conn.aclose()
        """
    assert convert(source) == dedent(
        """\
        class SqliteSaver(BaseCheckpointSaver):
            @classmethod
            @contextmanager
            def from_conn_string(cls, s: str) -> Iterator[SqliteSaver]:
                with sqlite3.connect(s) as conn:
                    yield cls(conn)

            def __enter__(self) -> SqliteSaver:
                return self

            def __exit__(self, *exc: object) -> None:
                self.conn.close()
        """
    )


# -- renames


def test_renames_names_attributes_params_and_keywords() -> None:
    source = """\
        async def aget_tuple(self, alist: ALock) -> None:
            await saver.aput(config, aput_writes=1)
            x = saver.alist(alist)
            raise StopAsyncIteration
        """
    assert convert(source) == dedent(
        """\
        def get_tuple(self, list: Lock) -> None:
            saver.put(config, put_writes=1)
            x = saver.list(list)
            raise StopIteration
        """
    )


def test_renames_imports() -> None:
    source = """\
        import aiosqlite
        import redis.asyncio as aioredis
        from collections.abc import AsyncIterator
        from contextlib import asynccontextmanager
        from psycopg import AsyncConnection, AsyncCursor
        from psycopg_pool import AsyncConnectionPool
        from redis.asyncio.client import Pipeline
        from pitstop.checkpoint.base._acompat import ALock, aclosing, asleep
        """
    assert convert(source) == dedent(
        """\
        import sqlite3
        import redis as aioredis
        from collections.abc import Iterator
        from contextlib import contextmanager
        from psycopg import Connection, Cursor
        from psycopg_pool import ConnectionPool
        from redis.client import Pipeline
        from pitstop.checkpoint.base._acompat import Lock, closing, sleep
        """
    )


def test_renames_dotted_paths() -> None:
    source = """\
        a: psycopg.AsyncConnection
        b = redis.asyncio.Redis()
        c = (redis.asyncio).from_url
        d = aiosqlite.Row
        """
    assert convert(source) == dedent(
        """\
        a: psycopg.Connection
        b = redis.Redis()
        c = (redis).from_url
        d = sqlite3.Row
        """
    )


def test_renames_async_module_suffix() -> None:
    source = """\
        from ._queries_async import UPSERT
        from . import _base_async
        from pitstop.checkpoint.sqlite.aio_async import AsyncSqliteSaver
        import pitstop.store.sqlite.store_async
        x = _base_async.helper
        """
    assert convert(source) == dedent(
        """\
        from ._queries import UPSERT
        from . import _base
        from pitstop.checkpoint.sqlite.aio import SqliteSaver
        import pitstop.store.sqlite.store
        x = _base.helper
        """
    )


def test_strings_docstrings_and_comments_untouched() -> None:
    source = '''\
        """The AsyncSqliteSaver module: aget_tuple, aiosqlite."""


        async def aget(self) -> None:
            """Like aget_tuple, but async."""
            # aget_tuple is the AsyncSqliteSaver way
            log("aget_tuple", f"{AsyncSqliteSaver}", key="aput")
        '''
    assert convert(source) == dedent(
        '''\
        """The AsyncSqliteSaver module: aget_tuple, aiosqlite."""


        def get(self) -> None:
            """Like aget_tuple, but async."""
            # aget_tuple is the AsyncSqliteSaver way
            log("aget_tuple", f"{SqliteSaver}", key="aput")
        '''
    )


def test_names_in_quotes_are_renamed() -> None:
    source = """\
        __all__ = ["AsyncSqliteSaver", "helper"]
        __all__ += ["AsyncSqliteStore"]


        def f(x: "AsyncSqliteSaver") -> "AsyncIterator[AsyncSqliteSaver]":
            y: "aiosqlite.Row" = "AsyncSqliteSaver"
        """
    assert convert(source) == dedent(
        """\
        __all__ = ["SqliteSaver", "helper"]
        __all__ += ["SqliteStore"]


        def f(x: "SqliteSaver") -> "Iterator[SqliteSaver]":
            y: "sqlite3.Row" = "AsyncSqliteSaver"
        """
    )


def test_literal_values_in_annotations_are_not_renamed() -> None:
    source = """\
        def f(op: Literal["aput", "aget"], t: typing.Literal["alist"]) -> "AsyncIterator[str]":
            pass
        """
    assert convert(source) == dedent(
        """\
        def f(op: Literal["aput", "aget"], t: typing.Literal["alist"]) -> "Iterator[str]":
            pass
        """
    )


def test_custom_table_and_usage() -> None:
    table = a2s.RenameTable(rules={"*_aio": "*_io", "aget": "get", "x.y": "z", "unused": "u"})
    assert convert("r = x.y.aget(foo_aio)\n", table) == "r = z.get(foo_io)\n"
    assert sorted(table.used) == ["*_aio", "aget", "x.y"]
    assert table.unused() == ["unused"]


# -- fences and markers


def test_fence_keeps_else_branch_dedented() -> None:
    source = """\
        async def f():
            before()
            # why the two flavours differ
            if True:  # ASYNC
                await asyncio.sleep(1)
                async with lock:
                    pass
            else:
                # sync flavour
                time.sleep(1)
                with lock:
                    pass
                # end of the sync flavour
            after()
        """
    assert convert(source) == dedent(
        """\
        def f():
            before()
            # why the two flavours differ
            # sync flavour
            time.sleep(1)
            with lock:
                pass
            # end of the sync flavour
            after()
        """
    )


def test_fence_without_else_is_dropped() -> None:
    source = """\
        import os

        if True:  # ASYNC
            import asyncio

        X = 1


        class C:
            a = 1
            if True:  # ASYNC
                b = asyncio.Lock()
        """
    assert convert(source) == dedent(
        """\
        import os

        X = 1


        class C:
            a = 1
        """
    )


def test_if_false_fence_keeps_if_branch() -> None:
    source = """\
        def f():
            if False:  # ASYNC: sync only
                x = threading.Lock()
            else:
                x = asyncio.Lock()
            return x
        """
    assert convert(source) == dedent(
        """\
        def f():
            x = threading.Lock()
            return x
        """
    )


def test_nested_fences_and_one_line_else() -> None:
    source = """\
        async def f():
            if True:  # ASYNC
                await a()
            else:
                if True:  # ASYNC
                    await b()
                else: c(); d()
        """
    assert convert(source) == dedent(
        """\
        def f():
            c(); d()
        """
    )


def test_fence_at_end_of_module_keeps_trailing_comments() -> None:
    source = """\
        if True:  # ASYNC
            from asyncio import Lock
        else:
            from threading import Lock
            # trailing
        """
    assert convert(source) == dedent(
        """\
        from threading import Lock
        # trailing
        """
    )


def test_line_marker_drops_statement_and_decorator() -> None:
    source = """\
        import asyncio  # ASYNC
        import os

        pytestmark = pytest.mark.anyio  # ASYNC


        @pytest.mark.anyio  # ASYNC
        @pytest.mark.slow
        async def test_x():
            await asyncio.sleep(0)  # ASYNC
            os.sync()
        """
    assert convert(source) == dedent(
        """\
        import os


        @pytest.mark.slow
        def test_x():
            os.sync()
        """
    )


def test_unused_branch_does_not_count_as_rule_use() -> None:
    table = a2s.RenameTable()
    convert(
        """\
        if True:  # ASYNC
            x = aiosqlite.connect()
        else:
            x = ALock()
        y = asleep  # ASYNC
        """,
        table,
    )
    assert table.used == {"ALock"}


def test_plain_if_true_and_other_comments_are_untouched() -> None:
    source = """\
        if True:  # not a fence
            x = 1
        # ASYNCHRONOUS is not the marker either
        """
    assert convert(source) == dedent(source)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("if x:  # ASYNC\n    pass\n", "line 1: a '# ASYNC' fence must read"),
        (
            "if True:  # ASYNC\n    pass\nelif y:\n    pass\n",
            "line 1: a '# ASYNC' fence takes an 'else:'",
        ),
        ("def f():\n    if True:  # ASYNC\n        pass\n", "line 2: this block is empty"),
        ("if True: pass  # ASYNC\n", "line 1: misplaced '# ASYNC'"),
        ("x = 1\nwith a:  # ASYNC\n    pass\n", "line 2: misplaced '# ASYNC'"),
        ("if True:  # ASYNC\n    pass\nelse:  # ASYNC\n    pass\n", "line 3: misplaced"),
    ],
)
def test_marker_errors(source: str, message: str) -> None:
    with pytest.raises(a2s.ConversionError, match=message.replace("(", r"\(")):
        a2s.async_to_sync(source)


def test_syntax_error_is_reported() -> None:
    with pytest.raises(cst.ParserSyntaxError):
        a2s.async_to_sync("async def (:\n")


# -- header


def test_render_adds_header() -> None:
    out = a2s.render("x = aiosqlite\n", "pkg/src/pitstop/m_async.py")
    assert out == (
        "# WARNING: this file is generated by tools/async_to_sync.py from\n"
        "# pkg/src/pitstop/m_async.py.\n"
        "# Do not edit: edit the source and run 'make generate'.\n"
        "x = sqlite3\n"
    )


def test_render_keeps_leading_comments_after_header() -> None:
    out = a2s.render("# leading\n\nx = 1\n", "a_async.py")
    assert out.endswith("run 'make generate'.\n# leading\n\nx = 1\n")


# -- the command line, on a fake workspace

SAVER = '''\
"""A saver."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pitstop.demo._queries_async import Q

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class AsyncSqliteSaver:
    async def alist(self) -> AsyncIterator[str]:
        if True:  # ASYNC
            await   self.aget_tuple( )
        else:
            self.aget_tuple( )   # unformatted on purpose
        yield Q
'''

QUERIES = 'Q = "SELECT 1"\n'


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.ruff]\nline-length = 100\n[tool.ruff.lint.isort]\nknown-first-party = ["pitstop"]\n'
    )
    pkg = tmp_path / "pkg" / "src" / "pitstop" / "demo"
    pkg.mkdir(parents=True)
    (pkg / "saver_async.py").write_text(SAVER)
    (pkg / "_queries_async.py").write_text(QUERIES)
    (pkg / "hand.py").write_text("x = 1\n")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = a2s.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_generates_formatted_output(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--root", str(workspace))
    assert code == 0
    assert "generated pkg/src/pitstop/demo/saver.py" in out
    saver = workspace / "pkg/src/pitstop/demo/saver.py"
    assert saver.read_text() == (
        "# WARNING: this file is generated by tools/async_to_sync.py from\n"
        "# pkg/src/pitstop/demo/saver_async.py.\n"
        "# Do not edit: edit the source and run 'make generate'.\n"
        '"""A saver."""\n'
        "\n"
        "from __future__ import annotations\n"
        "\n"
        "from typing import TYPE_CHECKING\n"
        "\n"
        "from pitstop.demo._queries import Q\n"
        "\n"
        "if TYPE_CHECKING:\n"
        "    from collections.abc import Iterator\n"
        "\n"
        "\n"
        "class SqliteSaver:\n"
        "    def list(self) -> Iterator[str]:\n"
        "        self.get_tuple()  # unformatted on purpose\n"
        "        yield Q\n"
    )
    assert (workspace / "pkg/src/pitstop/demo/_queries.py").is_file()
    # A second run changes nothing, and the check passes.
    assert run(capsys, "--root", str(workspace))[1] == ""
    assert run(capsys, "--root", str(workspace), "--check")[0] == 0


def test_check_detects_hand_edit(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "--root", str(workspace))
    saver = workspace / "pkg/src/pitstop/demo/saver.py"
    saver.write_text(saver.read_text().replace("yield Q", "yield Q  # hand edit"))
    code, out, err = run(capsys, "--root", str(workspace), "--check")
    assert code == 1
    assert "-        yield Q  # hand edit\n+        yield Q\n" in out
    assert "pkg/src/pitstop/demo/saver.py: out of date" in err
    assert "hand edit" in saver.read_text()  # --check writes nothing


def test_check_detects_missing_output(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--root", str(workspace), "--check")
    assert code == 1
    assert "pkg/src/pitstop/demo/saver.py: missing" in err
    assert not (workspace / "pkg/src/pitstop/demo/saver.py").exists()


def test_check_detects_orphan(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "--root", str(workspace))
    (workspace / "pkg/src/pitstop/demo/_queries_async.py").unlink()
    code, _, err = run(capsys, "--root", str(workspace), "--check")
    assert code == 1
    assert "pkg/src/pitstop/demo/_queries.py: orphan" in err
    assert "hand.py" not in err


def test_unused_rules_are_reported_and_fail_when_strict(
    workspace: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        a2s,
        "RENAMES",
        {
            "*_async": "*",
            "AsyncIterator": "Iterator",
            "AsyncSqliteSaver": "SqliteSaver",
            "aget_tuple": "get_tuple",
            "alist": "list",
            "aput": "put",
        },
    )
    run(capsys, "--root", str(workspace))
    code, _, err = run(capsys, "--root", str(workspace), "--check")
    assert code == 0
    assert "note: 1 rename rule(s) used by no source: aput" in err
    code, _, err = run(capsys, "--root", str(workspace), "--check", "--strict-rules")
    assert code == 1
    assert "error: 1 rename rule(s) used by no source: aput" in err


def test_rule_used_only_in_dropped_code_is_unused(
    workspace: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(a2s, "RENAMES", {"aget_tuple": "get_tuple"})
    (workspace / "pkg/src/pitstop/demo/saver_async.py").write_text(
        "async def f(s):\n    await s.aget_tuple()  # ASYNC\n    return 1\n"
    )
    code, _, err = run(capsys, "--root", str(workspace), "--strict-rules")
    assert code == 1
    assert "error: 1 rename rule(s) used by no source: aget_tuple" in err


def test_files_argument_limits_the_run(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = workspace / "pkg/src/pitstop/demo/_queries_async.py"
    code, out, err = run(capsys, "--root", str(workspace), "--strict-rules", str(source))
    assert code == 0, err
    assert out == "generated pkg/src/pitstop/demo/_queries.py\n"
    assert not (workspace / "pkg/src/pitstop/demo/saver.py").exists()
    assert "rename rule" not in err  # the unused-rule check needs a full run


def test_files_argument_outside_root_is_an_error(
    workspace: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "x_async.py"
    elsewhere.write_text("x = 1\n")
    code, _, err = run(capsys, "--root", str(workspace), str(elsewhere))
    assert code == 1
    assert "not under --root" in err
    assert not elsewhere.with_name("x.py").exists()


def test_refuses_to_overwrite_hand_written_file(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace / "pkg/src/pitstop/demo/hand_async.py").write_text("x = 2\n")
    code, _, err = run(capsys, "--root", str(workspace))
    assert code == 1
    assert "pkg/src/pitstop/demo/hand.py: hand-written, will not overwrite" in err
    assert (workspace / "pkg/src/pitstop/demo/hand.py").read_text() == "x = 1\n"


def test_conversion_error_names_the_file(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace / "pkg/src/pitstop/demo/bad_async.py").write_text("with a:  # ASYNC\n    pass\n")
    code, _, err = run(capsys, "--root", str(workspace))
    assert code == 1
    assert "pkg/src/pitstop/demo/bad_async.py: line 1: misplaced" in err
