"""Embedding adapters and the path syntax that selects which parts of a value get embedded.

Nothing here imports LangChain: an "embeddings object" is anything with ``embed_documents``
and/or ``aembed_documents`` (LangChain's ``Embeddings`` qualifies), and plain sync or async
functions ``list[str] -> list[list[float]]`` are accepted too.

Path syntax (same as LangGraph's): ``a.b`` nested keys, ``arr[0]`` / ``arr[-1]`` one element,
``arr[*]`` every element (each embedded separately), ``*`` every value of a dict or list,
``{f1,f2}`` several fields, ``$`` the whole value as JSON. Missing fields are skipped.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from pitstop.checkpoint.errors import InvalidArgumentError

__all__ = [
    "AEmbeddingsFunc",
    "Embeddings",
    "EmbeddingsAdapter",
    "EmbeddingsFunc",
    "cosine_similarity",
    "ensure_embeddings",
    "extract_texts",
    "get_text_at_path",
    "tokenize_fields",
    "tokenize_path",
]

EmbeddingsFunc = Callable[[Sequence[str]], list[list[float]]]
"""A synchronous embedding function: one vector per input text."""

AEmbeddingsFunc = Callable[[Sequence[str]], Awaitable[list[list[float]]]]
"""An asynchronous embedding function: one vector per input text."""


@runtime_checkable
class Embeddings(Protocol):
    """The LangChain ``Embeddings`` interface, structurally (only ``embed_documents`` is needed)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed several texts."""
        ...

    def embed_query(self, text: str) -> list[float]:
        """Embed one search query."""
        ...


def _is_async_callable(func: object) -> bool:
    if inspect.iscoroutinefunction(func):
        return True
    call = getattr(func, "__call__", None)  # noqa: B004 - callable objects with async __call__
    return call is not None and inspect.iscoroutinefunction(call)


def _vectors(raw: object, expected: int, source: str) -> list[list[float]]:
    """Check an embedder's output: a sequence of ``expected`` float vectors."""
    try:
        vectors = [[float(x) for x in vector] for vector in raw]  # type: ignore[attr-defined]
    except TypeError as exc:
        raise InvalidArgumentError(f"{source} did not return a list of vectors") from exc
    if len(vectors) != expected:
        raise InvalidArgumentError(f"{source} returned {len(vectors)} vectors for {expected} texts")
    return vectors


class EmbeddingsAdapter:
    """A uniform sync + async view of an embedder.

    Accepts an embeddings object (``embed_documents`` / ``aembed_documents`` / ``embed_query`` /
    ``aembed_query``, any subset containing one ``*embed_documents``), a sync function or an
    async function. Missing flavours fall back: async calls run a sync embedder in a worker
    thread; sync calls run an async-only embedder with ``asyncio.run`` when no event loop is
    running in the calling thread, and raise :class:`InvalidArgumentError` otherwise.
    """

    __slots__ = ("_afunc", "_func", "_obj", "wrapped")

    def __init__(self, embed: object) -> None:
        self.wrapped = embed
        self._obj: Any = None
        self._func: Callable[[list[str]], Any] | None = None
        self._afunc: Callable[[list[str]], Awaitable[Any]] | None = None
        if callable(getattr(embed, "embed_documents", None)) or callable(
            getattr(embed, "aembed_documents", None)
        ):
            self._obj = embed
        elif _is_async_callable(embed):
            self._afunc = embed  # type: ignore[assignment]
        elif callable(embed):
            self._func = embed
        else:
            raise InvalidArgumentError(
                f"cannot embed with {type(embed).__name__}: expected an Embeddings object, "
                "a function list[str] -> list[list[float]] or an async one"
            )

    def _sync_documents(self) -> Callable[[list[str]], Any] | None:
        if self._obj is not None:
            method = getattr(self._obj, "embed_documents", None)
            return method if callable(method) else None
        return self._func

    def _async_documents(self) -> Callable[[list[str]], Awaitable[Any]] | None:
        if self._obj is not None:
            method = getattr(self._obj, "aembed_documents", None)
            return method if callable(method) else None
        return self._afunc

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts`` synchronously."""
        batch = list(texts)
        if not batch:
            return []
        sync = self._sync_documents()
        if sync is not None:
            return _vectors(sync(batch), len(batch), "the embedder")
        afunc = self._async_documents()
        assert afunc is not None  # __init__ guarantees one flavour
        return _vectors(_run_sync(afunc(batch)), len(batch), "the embedder")

    def embed_query(self, text: str) -> list[float]:
        """Embed one query synchronously (``embed_query`` if the object has one)."""
        method = getattr(self._obj, "embed_query", None) if self._obj is not None else None
        if callable(method):
            return _vectors([method(text)], 1, "embed_query")[0]
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts`` asynchronously."""
        batch = list(texts)
        if not batch:
            return []
        afunc = self._async_documents()
        if afunc is not None:
            return _vectors(await afunc(batch), len(batch), "the embedder")
        sync = self._sync_documents()
        assert sync is not None  # __init__ guarantees one flavour
        return _vectors(await asyncio.to_thread(sync, batch), len(batch), "the embedder")

    async def aembed_query(self, text: str) -> list[float]:
        """Embed one query asynchronously (``aembed_query`` if the object has one)."""
        if self._obj is not None:
            method = getattr(self._obj, "aembed_query", None)
            if callable(method):
                return _vectors([await method(text)], 1, "aembed_query")[0]
            sync_query = getattr(self._obj, "embed_query", None)
            if self._async_documents() is None and callable(sync_query):
                return await asyncio.to_thread(self.embed_query, text)
        return (await self.aembed_documents([text]))[0]


def _run_sync(awaitable: Awaitable[Any]) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:

        async def _await() -> Any:
            return await awaitable

        return asyncio.run(_await())
    if inspect.iscoroutine(awaitable):
        awaitable.close()
    raise InvalidArgumentError(
        "the embedder is async-only and this thread runs an event loop: "
        "use the store's async methods (aput, asearch, ...)"
    )


def ensure_embeddings(embed: object) -> EmbeddingsAdapter:
    """Wrap an embeddings object, a sync or async function, or a ``"provider:model"`` string.

    Raises:
        InvalidArgumentError: ``embed`` is None or unusable, or a provider string was given and
            ``langchain`` (which resolves those strings) is not installed.
    """
    if isinstance(embed, EmbeddingsAdapter):
        return embed
    if embed is None:
        raise InvalidArgumentError("an index config needs 'embed'")
    if isinstance(embed, str):
        try:  # resolved lazily: pitstop never depends on LangChain
            module = importlib.import_module("langchain.embeddings")
        except ImportError as exc:
            raise InvalidArgumentError(
                f"cannot resolve embeddings {embed!r}: provider strings need the 'langchain' "
                "package; pass an Embeddings object or a function instead"
            ) from exc
        return EmbeddingsAdapter(module.init_embeddings(embed))
    return EmbeddingsAdapter(embed)


# --- paths -------------------------------------------------------------------------------------


def tokenize_path(path: str) -> list[str]:
    """Split a path into tokens: field names, ``[...]`` indexes and ``{...}`` multi-selects."""
    tokens: list[str] = []
    buf: list[str] = []
    i, n = 0, len(path)
    while i < n:
        char = path[i]
        if char in "[{":
            if buf:
                tokens.append("".join(buf))
                buf = []
            close = "]" if char == "[" else "}"
            depth, j = 0, i
            while j < n:
                if path[j] == char:
                    depth += 1
                elif path[j] == close:
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            tokens.append(path[i : j + 1])
            i = j + 1
            continue
        if char == ".":
            if buf:
                tokens.append("".join(buf))
                buf = []
        else:
            buf.append(char)
        i += 1
    if buf:
        tokens.append("".join(buf))
    return tokens


def _split_fields(inner: str) -> list[str]:
    """Split ``a,b.c,{d,e}`` on the commas that are not nested in brackets or braces."""
    fields: list[str] = []
    depth, start = 0, 0
    for i, char in enumerate(inner):
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            fields.append(inner[start:i].strip())
            start = i + 1
    fields.append(inner[start:].strip())
    return [f for f in fields if f]


def _to_text(obj: Any) -> list[str]:
    if obj is None:
        return []
    if isinstance(obj, str | int | float | bool):
        return [str(obj)]
    if isinstance(obj, Mapping | list | tuple):
        return [_json(obj)]
    return []


def _json(obj: Any) -> str:
    if isinstance(obj, Mapping) and not isinstance(obj, dict):
        obj = dict(obj)
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)


def _extract(obj: Any, tokens: Sequence[str], pos: int) -> list[str]:
    if pos >= len(tokens):
        return _to_text(obj)
    token = tokens[pos]
    if token.startswith("[") and token.endswith("]"):
        if not isinstance(obj, list | tuple):
            return []
        index = token[1:-1].strip()
        if index == "*":
            return [text for element in obj for text in _extract(element, tokens, pos + 1)]
        try:
            idx = int(index)
        except ValueError:
            return []
        if -len(obj) <= idx < len(obj):
            return _extract(obj[idx], tokens, pos + 1)
        return []
    if token.startswith("{") and token.endswith("}"):
        if not isinstance(obj, Mapping):
            return []
        rest = list(tokens[pos + 1 :])
        return [
            text
            for field in _split_fields(token[1:-1])
            for text in _extract(obj, [*tokenize_path(field), *rest], 0)
        ]
    if token == "*":
        values = obj.values() if isinstance(obj, Mapping) else obj
        if not isinstance(obj, Mapping | list | tuple):
            return []
        return [text for value in values for text in _extract(value, tokens, pos + 1)]
    if isinstance(obj, Mapping) and token in obj:
        return _extract(obj[token], tokens, pos + 1)
    return []


def get_text_at_path(obj: Any, path: str | Sequence[str]) -> list[str]:
    """Return the texts a path selects in ``obj`` (``"$"`` or ``""``: the whole value as JSON)."""
    if not path or path == "$" or (not isinstance(path, str) and list(path) == ["$"]):
        return [_json(obj)]
    tokens = tokenize_path(path) if isinstance(path, str) else list(path)
    return _extract(obj, tokens, 0)


def tokenize_fields(fields: Sequence[str] | None) -> list[tuple[str, list[str]]]:
    """Pre-tokenize index fields (``None`` means ``["$"]``) into ``(path, tokens)`` pairs."""
    if isinstance(fields, str):
        raise InvalidArgumentError(f"index fields must be a list of paths, got {fields!r}")
    result: list[tuple[str, list[str]]] = []
    for path in fields if fields is not None else ["$"]:
        if not isinstance(path, str):
            raise InvalidArgumentError(f"index field paths must be strings, got {path!r}")
        result.append((path, ["$"] if path in ("$", "") else tokenize_path(path)))
    return result


def extract_texts(
    value: Mapping[str, Any], fields: Sequence[tuple[str, Sequence[str]]]
) -> list[tuple[str, str]]:
    """Return the ``(field_name, text)`` pairs to embed for one value.

    A path that selects several texts (``arr[*]``) yields ``path.0``, ``path.1``, ...
    """
    pairs: list[tuple[str, str]] = []
    for path, tokens in fields:
        texts = get_text_at_path(value, tokens)
        if len(texts) == 1:
            pairs.append((path, texts[0]))
        else:
            pairs.extend((f"{path}.{i}", text) for i, text in enumerate(texts))
    return pairs


def cosine_similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0.0 if either has zero norm)."""
    dot = math.fsum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(y * y for y in b))
    return dot / norm if norm > 0 else 0.0
