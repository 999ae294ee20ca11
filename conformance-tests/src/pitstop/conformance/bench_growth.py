"""Storage growth of one chat thread (``pitstop-conformance bench --growth``).

Each factory grows one thread the way LangGraph's loop writes a chat: one ~300-byte message
(prose-like words, so compression is not flattered) appended per step to a ``messages`` list
channel, a ``step`` counter and a ``system`` prompt written once; versions from the saver's own
``get_next_version``, ``new_versions`` = the channels that changed, each ``put`` parented on the
previous checkpoint. At every *mark* (default 50, 200 and 800 steps) it records:

- the stored bytes, from the factory's ``stored_bytes(saver)`` hook (``None`` without one);
- ``put`` latency: the median of the last ``samples`` puts before the mark (a delta chain's
  full snapshot is one of them now and then, so the median is the typical put);
- ``get_tuple`` latency of the latest checkpoint: the median of ``samples`` calls at the mark;

and checks that the latest checkpoint reads back the exact list written. The factories advance
in lockstep (step 1 on every factory, then step 2, ...; the ``get_tuple`` samples alternate
between factories too), so machine noise hits them alike. ``trials`` > 1 grows that many fresh
threads per factory and takes the medians over all of them.

:func:`render_growth` prints the tables (stored MiB with KiB/step between marks, put and get
latency, and subject/baseline ratios at the last mark), :func:`growth_to_json` the JSON and
:func:`growth_chart` a chart (stored MiB, put and get latency against steps; needs matplotlib).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import itertools
import json
import random
import statistics
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pitstop.conformance.factory import SaverFactory, Session

__all__ = [
    "MARKS",
    "GrowthError",
    "GrowthPoint",
    "GrowthResult",
    "chat_message",
    "compare_layouts",
    "growth_chart",
    "growth_to_json",
    "render_growth",
    "run_growth",
]

MARKS: tuple[int, ...] = (50, 200, 800)
MIB = 1024 * 1024
SYSTEM_PROMPT = "You are a helpful assistant. Answer briefly and cite your sources."
_WORDS = [
    "".join(random.Random(n).choices(string.ascii_lowercase, k=2 + n % 7)) for n in range(2000)
]


class GrowthError(RuntimeError):
    """A factory failed while growing its thread, or read back a different list."""


def chat_message(i: int) -> dict[str, Any]:
    """Message ``i`` of the thread: about 300 bytes serialized, text that compresses like prose."""
    content = " ".join(random.Random(i).choices(_WORDS, k=60))[:260]
    return {"type": "ai" if i % 2 else "human", "id": f"msg-{i:06d}", "content": content}


@dataclass
class GrowthPoint:
    """What one factory measured at one mark (latencies in milliseconds)."""

    steps: int
    stored_bytes: int | None
    put_ms: float
    get_ms: float


@dataclass
class GrowthResult:
    """The growth curve of one factory."""

    factory: str
    api: str
    points: list[GrowthPoint] = field(default_factory=list)

    def at(self, steps: int) -> GrowthPoint | None:
        """The point measured at ``steps``, if any."""
        return next((p for p in self.points if p.steps == steps), None)


class _Thread:
    """One factory's saver and the chat thread growing on it."""

    def __init__(self, factory: SaverFactory, api: str) -> None:
        self.factory = factory
        self.api = api
        self.session = Session()
        try:
            self.saver = self.session.open(factory.create())
        except BaseException:
            self.session.close()
            raise
        self.config: dict[str, Any] = {"configurable": {"thread_id": "chat", "checkpoint_ns": ""}}
        self.messages: list[dict[str, Any]] = []
        self.versions: dict[str, Any] = {}
        self.put_ms: list[float] = []

    def step(self, n: int) -> None:
        """Append message ``n`` and ``put`` the checkpoint; the time goes to ``put_ms``."""
        self.messages = [*self.messages, chat_message(n)]
        changed = ["messages", "step"] if n > 1 else ["messages", "step", "system"]
        for channel in changed:
            self.versions[channel] = self.saver.get_next_version(self.versions.get(channel), None)
        checkpoint = {
            "v": 4,
            "id": f"{n:08x}-0000-6000-8000-{n:012x}",
            "ts": "2025-01-01T00:00:00.000000+00:00",
            "channel_values": {"messages": self.messages, "step": n, "system": SYSTEM_PROMPT},
            "channel_versions": dict(self.versions),
            "versions_seen": {"agent": {"messages": self.versions["messages"]}},
            "updated_channels": changed,
        }
        metadata = {"source": "loop", "step": n, "parents": {}}
        new_versions = {channel: self.versions[channel] for channel in changed}
        if self.api == "sync":
            started = time.perf_counter()
            self.config = self.saver.put(self.config, checkpoint, metadata, new_versions)
            self.put_ms.append((time.perf_counter() - started) * 1000)
            return

        async def put() -> tuple[Any, float]:
            started = time.perf_counter()
            config = await self.saver.aput(self.config, checkpoint, metadata, new_versions)
            return config, (time.perf_counter() - started) * 1000

        self.config, elapsed = self.session.run(put())
        self.put_ms.append(elapsed)

    def get_latest(self) -> tuple[Any, float]:
        """``get_tuple`` of the latest checkpoint and its time in ms."""
        latest = {"configurable": {"thread_id": "chat", "checkpoint_ns": ""}}
        if self.api == "sync":
            started = time.perf_counter()
            got = self.saver.get_tuple(latest)
            return got, (time.perf_counter() - started) * 1000

        async def get() -> tuple[Any, float]:
            started = time.perf_counter()
            found = await self.saver.aget_tuple(latest)
            return found, (time.perf_counter() - started) * 1000

        result: tuple[Any, float] = self.session.run(get())
        return result

    def check(self, got: Any, n: int) -> None:
        values = got.checkpoint["channel_values"] if got is not None else {}
        if values.get("messages") != self.messages:
            found = values.get("messages")
            size = len(found) if isinstance(found, list) else found
            raise GrowthError(
                f"{self.factory.label()}: the latest checkpoint at step {n} reads back "
                f"{size!r} messages, not the {len(self.messages)} written"
            )


def run_growth(
    factories: Sequence[SaverFactory],
    *,
    marks: Sequence[int] = MARKS,
    api: str = "sync",
    samples: int = 20,
    trials: int = 1,
) -> list[GrowthResult]:
    """Grow one chat thread per factory to each mark; see the module docstring.

    Raises :class:`GrowthError` (naming the factory) when a factory fails or reads back a
    different list.
    """
    if api not in ("sync", "async"):
        raise ValueError(f"api must be 'sync' or 'async', got {api!r}")
    wanted = sorted({int(m) for m in marks})
    if not wanted or wanted[0] < 1:
        raise ValueError(f"marks must be positive step counts, got {list(marks)!r}")
    samples = max(1, samples)
    marked = set(wanted)
    puts: list[dict[int, list[float]]] = [{m: [] for m in wanted} for _ in factories]
    gets: list[dict[int, list[float]]] = [{m: [] for m in wanted} for _ in factories]
    sizes: list[dict[int, list[int]]] = [{m: [] for m in wanted} for _ in factories]
    for _ in range(max(1, trials)):
        threads: list[_Thread] = []
        try:
            for factory in factories:
                threads.append(_guarded(factory, lambda f=factory: _Thread(f, api)))
            for n in range(1, wanted[-1] + 1):
                for thread in threads:
                    _guarded(thread.factory, lambda t=thread, n=n: t.step(n))
                if n not in marked:
                    continue
                for i, thread in enumerate(threads):
                    puts[i][n] += thread.put_ms[-samples:]
                    thread.put_ms.clear()
                    if thread.factory.stored_bytes is not None:
                        hook = thread.factory.stored_bytes
                        sizes[i][n].append(
                            _guarded(thread.factory, lambda h=hook, t=thread: h(t.saver))
                        )
                for _ in range(samples):
                    for i, thread in enumerate(threads):
                        got, elapsed = _guarded(thread.factory, thread.get_latest)
                        thread.check(got, n)
                        gets[i][n].append(elapsed)
        finally:
            for thread in reversed(threads):
                thread.session.close()
    results = []
    for i, factory in enumerate(factories):
        result = GrowthResult(factory.label(), api)
        for m in wanted:
            stored = int(statistics.median(sizes[i][m])) if sizes[i][m] else None
            result.points.append(
                GrowthPoint(m, stored, statistics.median(puts[i][m]), statistics.median(gets[i][m]))
            )
        results.append(result)
    return results


def _guarded(factory: SaverFactory, call: Any) -> Any:
    try:
        return call()
    except GrowthError:
        raise
    except Exception as exc:
        raise GrowthError(f"{factory.label()}: {type(exc).__name__}: {exc}") from exc


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / MIB:.2f}"


def render_growth(results: Sequence[GrowthResult]) -> str:
    """Tables: stored MiB (and KiB per step between marks), put and get latency, ratios."""
    if not results:
        return "no results"
    marks = [p.steps for p in results[0].points]
    width = max(32, *(len(r.factory) for r in results)) + 1
    steps_header = "".join(f"{m:>10,}" for m in marks)
    intervals = list(itertools.pairwise(marks))
    lines = [
        f"one chat thread, one ~300-byte message per step ({results[0].api} API); "
        "factories grown in lockstep",
        "",
        f"{'stored MiB':<{width}}{steps_header}",
    ]
    for r in results:
        lines.append(
            f"{r.factory:<{width}}" + "".join(f"{_mib(p.stored_bytes):>10}" for p in r.points)
        )
    if intervals:
        labels = [f"{a}-{b}" for a, b in intervals]
        cell = max(10, *(len(label) + 2 for label in labels))
        lines += [
            "",
            f"{'KiB/step between marks':<{width}}" + "".join(f"{x:>{cell}}" for x in labels),
        ]
        for r in results:
            line = f"{r.factory:<{width}}"
            for a, b in intervals:
                pa, pb = r.at(a), r.at(b)
                if pa and pb and pa.stored_bytes is not None and pb.stored_bytes is not None:
                    line += f"{(pb.stored_bytes - pa.stored_bytes) / (b - a) / 1024:>{cell}.2f}"
                else:
                    line += f"{'n/a':>{cell}}"
            lines.append(line)
    for title, attr in (("put ms", "put_ms"), ("get_tuple latest ms", "get_ms")):
        lines += ["", f"{title:<{width}}{steps_header}"]
        for r in results:
            cells = "".join(f"{getattr(p, attr):>10.3f}" for p in r.points)
            lines.append(f"{r.factory:<{width}}{cells}")
    if len(results) > 1 and results[0].points:
        subject = results[0].points[-1]
        last = subject.steps
        lines += [
            "",
            f"{f'subject / baseline, {last:,} steps':<{width}}{'bytes':>10}{'put':>10}{'get':>10}",
        ]
        for r in results[1:]:
            other = r.at(last)
            ratios = ["n/a"] * 3
            if other is not None:
                ratios = [
                    _ratio(subject.stored_bytes, other.stored_bytes),
                    _ratio(subject.put_ms, other.put_ms),
                    _ratio(subject.get_ms, other.get_ms),
                ]
            lines.append(f"{r.factory:<{width}}" + "".join(f"{c:>10}" for c in ratios))
        lines.append(
            f"ratio = subject ({results[0].factory}) / baseline; "
            "<1: the subject is smaller / faster"
        )
    lines.append(
        "put ms: median of the last puts before the mark; get_tuple ms: median of the calls at "
        "the mark; linear growth = the same KiB/step in every interval"
    )
    return "\n".join(lines)


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}x"


def growth_to_json(results: Sequence[GrowthResult]) -> str:
    """The results as JSON."""
    return json.dumps(
        [
            {
                "factory": r.factory,
                "api": r.api,
                "points": [
                    {
                        "steps": p.steps,
                        "stored_bytes": p.stored_bytes,
                        "put_ms": round(p.put_ms, 4),
                        "get_ms": round(p.get_ms, 4),
                    }
                    for p in r.points
                ],
            }
            for r in results
        ],
        indent=2,
    )


def _stored_mib(point: GrowthPoint) -> float | None:
    return None if point.stored_bytes is None else point.stored_bytes / MIB


def _spread(marks: Sequence[int]) -> list[int]:
    """The marks to label on the x axis: none closer than 8% of the range to the previous one."""
    if not marks:
        return []
    gap = 0.08 * (max(marks) - min(marks))
    kept = [marks[0]]
    for mark in marks[1:]:
        if mark - kept[-1] >= gap:
            kept.append(mark)
    return kept


def growth_chart(results: Sequence[GrowthResult], path: str, *, title: str = "") -> None:
    """Save stored MiB, put ms and get_tuple ms against steps, one line per factory."""
    importlib.import_module("matplotlib").use("Agg")
    plt: Any = importlib.import_module("matplotlib.pyplot")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    panels: tuple[tuple[str, Callable[[GrowthPoint], float | None]], ...] = (
        ("stored MiB", _stored_mib),
        ("put ms (median)", lambda p: p.put_ms),
        ("get_tuple latest ms (median)", lambda p: p.get_ms),
    )
    for ax, (label, value) in zip(axes, panels, strict=True):
        for r in results:
            points = [(p.steps, value(p)) for p in r.points if value(p) is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", label=r.factory)
        ax.set_xlabel("steps (messages in the thread)")
        ax.set_ylabel(label)
        ax.set_title(label)
        ax.set_xticks(_spread([p.steps for p in results[0].points] if results else []))
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title or "storage and latency as a chat thread grows")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def compare_layouts(
    pitstop: Callable[..., Callable[[], Any]],
    stored_bytes: Callable[[Any], int],
    *,
    backend: str,
    chart: str,
    stored_note: str,
    official: Callable[[str], Callable[[], Any]] | None = None,
    official_name: str = "",
    official_module: str = "",
    unavailable: str = "",
    cleanup: Callable[[], None] | None = None,
    marks: str = "50,100,200,400,600,800",
    argv: Sequence[str] | None = None,
) -> None:
    """Command line of a backend's growth comparison: deltas, deltas + zstd, full values, official.

    ``pitstop(api, **options)`` returns a factory of the backend's saver built with ``options``
    (``compress="zstd"``, ``max_chain=0``); ``official(api)`` one of the backend's official
    saver, run when ``official_module`` imports (else, or without ``official``, ``unavailable``
    is printed). Options: ``--steps``, ``--repeat``, ``--trials``, ``--api sync|async``,
    ``--no-official``, ``--json``, ``--save-json FILE``, ``--chart FILE`` (``''`` for none).
    """
    parser = argparse.ArgumentParser(description=f"{backend}: storage growth of a chat thread")
    parser.add_argument("--steps", default=marks, help="marks, comma-separated")
    parser.add_argument("--repeat", type=int, default=20, help="timed calls per mark")
    parser.add_argument("--trials", type=int, default=1, help="fresh threads per saver")
    parser.add_argument("--api", choices=("sync", "async"), default="sync")
    parser.add_argument("--no-official", action="store_true", help="skip the official saver")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--save-json", help="also write the JSON to this file")
    parser.add_argument("--chart", default=chart, help="chart path ('' for none)")
    args = parser.parse_args(argv)
    api = args.api
    variants: list[tuple[str, dict[str, Any]]] = [("pitstop deltas (default)", {})]
    if _importable("zstandard"):
        variants.append(("pitstop deltas + zstd", {"compress": "zstd"}))
    variants.append(("pitstop full values (max_chain=0)", {"max_chain": 0}))
    factories = [
        SaverFactory(pitstop(api, **options), stored_bytes=stored_bytes, name=name)
        for name, options in variants
    ]
    note = unavailable
    if official is not None and args.no_official:
        note = f"{official_name}: not run (--no-official)"
    elif official is not None and _importable(official_module):
        factories.append(SaverFactory(official(api), stored_bytes=stored_bytes, name=official_name))
        note = ""
    try:
        results = run_growth(
            factories,
            marks=tuple(int(m) for m in args.steps.split(",")),
            api=api,
            samples=args.repeat,
            trials=args.trials,
        )
    except GrowthError as exc:
        raise SystemExit(f"growth benchmark failed: {exc}") from exc
    finally:
        if cleanup is not None:
            cleanup()
    print(growth_to_json(results) if args.json else render_growth(results))
    if note:
        print(note)
    if args.save_json:
        Path(args.save_json).write_text(growth_to_json(results))
    if args.chart:
        Path(args.chart).parent.mkdir(parents=True, exist_ok=True)
        title = f"{backend}: one chat thread growing ({api} API); {stored_note}"
        growth_chart(results, args.chart, title=title)
        print(f"chart: {args.chart}")


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a parent package is missing
        return False
