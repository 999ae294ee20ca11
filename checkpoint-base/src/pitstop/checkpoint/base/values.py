"""Bounded value storage: a new version of a growing list is stored as a delta.

A stored channel value is a record ``(tag, payload)``. Any tag the serializer produces is a
*full* value, read by the serializer as before (so everything stored before this layer existed
reads unchanged). The value-layer tag ``"pitstop-delta"`` marks a *delta*: its payload is
``msgpack.packb([chain, items_tag, items_payload, position])`` where ``chain`` lists the
versions of the earlier records of the same ``(thread, namespace, channel)`` it extends, oldest
first, starting with a full record, and ``items_*`` is the serialized list of the items appended
after the last of them. The value is ``full value + items of each delta in the chain + own
items``. (Records of the first delta format have no ``position``; they read the same.)

A delta against any stored version is exact: versions are immutable and unique per branch, so
a fork never sees another branch's items. A read needs the record plus at most one batched fetch
of its chain.

Chains are short and storage near-linear through a binary layout (as in a Fenwick tree or
skip-deltas). The ``position`` counts the versions since the full record (which is 0); the
delta at position ``p`` extends the record at ``p & (p - 1)`` (``p`` with its lowest set bit
cleared), so its chain is the full record plus the binary prefixes of ``p``: at most
``log2(p) + 1`` records (``p = 200`` needs the records at 0, 128 and 192). An item is stored in
about ``log2(n) / 2`` records over ``n`` versions, so a 3,200-version chat thread takes about
7 MiB of values where one full value per version would take about 1.5 GB, and no read
fetches more than a dozen records. A full record is written again when a chain would exceed
``max_chain`` records, when a value is not an extension of the previous one, or when the
encoder does not know the previous record's position (a cold cache reading a first-format
chain).

With ``compress="zstd"`` (the ``zstandard`` package) payloads are compressed and their tag gets
the suffix ``"+zstd"``; compressed records read back whatever the setting.

The encoder keeps an in-process LRU of the last value written or read per channel; it only
decides *whether* a delta is possible, never what a read returns. The cached value is a shallow
copy, so a list mutated in place after a ``put`` is compared correctly; list items are compared
with ``==`` (which short-circuits on identity), so an item object mutated in place *after* it
was checkpointed is not noticed (LangGraph's reducers build new objects).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Final, cast

import msgpack

from pitstop.checkpoint.errors import CorruptRecordError, InvalidArgumentError
from pitstop.checkpoint.serde._decode import array_header
from pitstop.checkpoint.serde.base import SerializerProtocol

__all__ = [
    "DELTA_TAG",
    "NOT_LOADED",
    "ZSTD_SUFFIX",
    "DeltaEncoder",
    "Prepared",
    "Record",
    "delta_chain",
]

Record = tuple[str, bytes]
DELTA_TAG: Final = "pitstop-delta"
ZSTD_SUFFIX: Final = "+zstd"
_CacheKey = tuple[str, str, str]


def _zstd() -> Any:
    try:
        import zstandard
    except ImportError:  # pragma: no cover - optional dependency
        return None
    return zstandard


def _unwrap(record: Record) -> Record:
    """The record with its compression removed."""
    tag, payload = record
    if tag.endswith(ZSTD_SUFFIX):
        zstandard = _zstd()
        if zstandard is None:  # pragma: no cover
            raise CorruptRecordError(f"record {tag!r} needs the zstandard package")
        return tag[: -len(ZSTD_SUFFIX)], zstandard.ZstdDecompressor().decompress(payload)
    return tag, payload


def _parse_delta(payload: bytes) -> tuple[list[str], Record, int | None]:
    """``(chain, items record, position or None)`` of a delta payload."""
    try:
        chain, items_tag, items_payload, *rest = msgpack.unpackb(payload, raw=False)
        if len(rest) > 1:
            raise ValueError(f"{3 + len(rest)} fields, expected 3 or 4")
    except Exception as exc:
        raise CorruptRecordError(f"delta record: {type(exc).__name__}: {exc}") from exc
    position = rest[0] if rest and type(rest[0]) is int and rest[0] > 0 else None
    return list(map(str, chain)), (items_tag, items_payload), position


def _prefixes(position: int) -> list[int]:
    """Positions of a delta's chain: 0 and the binary prefixes of ``position``, oldest first."""
    found: list[int] = []
    x = position & (position - 1)
    while x:
        found.append(x)
        x &= x - 1
    return [0, *reversed(found)]


def _array_body(payload: Any) -> tuple[int, int] | None:
    """``(item count, header length)`` of a msgpack array document, ``None`` if not an array."""
    if type(payload) is not bytes or not payload:
        return None
    first = payload[0]
    if 0x90 <= first <= 0x9F:
        return first & 0x0F, 1
    if first == 0xDC and len(payload) >= 3:
        return int.from_bytes(payload[1:3], "big"), 3
    if first == 0xDD and len(payload) >= 5:
        return int.from_bytes(payload[1:5], "big"), 5
    return None


def _items_of(record: Record) -> tuple[int, bytes] | None:
    """``(count, encoded items)`` of a ``"msgpack"`` array record, ``None`` for anything else."""
    if record[0] != "msgpack":
        return None
    found = _array_body(record[1])
    if found is None:
        return None
    count, header = found
    return count, record[1][header:]


_Part = tuple[Record, tuple[int, bytes] | None]
"""A chain part: its record (the items it adds) and, when it is a msgpack array, its items."""

NOT_LOADED: Final[Any] = object()
"""``DeltaEncoder.finish(loaded=...)``'s default: the caller has not decoded the record."""


class Prepared:
    """A stored record made ready for the serializer: what decoding it costs before any object
    is built (decompressing it, parsing and joining a delta's chain).

    ``chunks`` are the pieces of the one ``"msgpack"`` document the serializer reads (for a
    delta: an array header and the items of every chain part; ``None`` when the record is not
    msgpack, or a part is not such an array: the parts are then decoded one by one), so a
    caller may join them into a larger document without copying them first; ``record`` is that
    document as a record (joined on first use), or the full record as stored. ``parts``,
    ``chain`` and ``position`` are a delta's (``parts`` is ``None`` for a full record).
    Decoding it again builds new objects each time, so a reader may keep a ``Prepared`` while
    the stored record is known to be unchanged.
    """

    __slots__ = ("_record", "chain", "chunks", "layout", "parts", "position")

    def __init__(
        self,
        record: Record | None,
        parts: list[_Part] | None,
        chain: list[str],
        position: int | None,
        chunks: list[bytes] | None = None,
    ) -> None:
        self._record = record
        if chunks is None and record is not None and record[0] == "msgpack":
            chunks = [record[1]]
        self.chunks = chunks
        self.parts = parts
        self.chain = chain
        self.position = position
        self.layout: tuple[list[int] | None, list[int]] | None = None  # see `_layout_of`

    @property
    def record(self) -> Record | None:
        """The record the serializer reads (``None``: decode ``parts`` one by one)."""
        if self._record is None and self.chunks is not None:
            self._record = ("msgpack", b"".join(self.chunks))
        return self._record


class _Known:
    """What the encoder remembers of a channel's last value (written or read).

    ``chain`` is the chain of the record at ``version``; ``positions`` and ``lengths`` give,
    for each entry of ``chain + [version]``, its position (versions since the full record) and
    the list's length there. ``positions`` is ``None`` when not known (a first-format chain, or
    parts whose lengths could not be counted).
    """

    __slots__ = ("chain", "lengths", "positions", "value", "version")

    def __init__(
        self,
        version: str,
        value: list[Any],
        chain: list[str],
        positions: list[int] | None,
        lengths: list[int],
    ) -> None:
        self.version = version
        self.value = value
        self.chain = chain
        self.positions = positions
        self.lengths = lengths


def _concat_chunks(parts: list[_Part]) -> list[bytes] | None:
    """The pieces of one ``"msgpack"`` array holding the items of every part (an array header,
    then each part's items), or ``None`` if a part is not such an array.

    Decoding it once gives the same list as decoding each part and concatenating (msgpack
    items are self-delimiting), with one serializer call instead of one per part.
    """
    total = 0
    chunks: list[bytes] = [b""]
    for _, items in parts:
        if items is None:
            return None
        total += items[0]
        chunks.append(items[1])
    if total >= 2**32:
        return None
    chunks[0] = array_header(total)
    return chunks


def delta_chain(record: Record | None) -> list[str]:
    """Versions a stored record needs (oldest first); ``[]`` for a full value or no record."""
    if record is None or not record[0].startswith(DELTA_TAG):
        return []
    tag, payload = _unwrap(record)
    if tag != DELTA_TAG:
        return []
    return _parse_delta(payload)[0]


class DeltaEncoder:
    """Encode channel values as full or delta records, and decode them.

    Args:
        serde: the saver's serializer (values and appended items go through it).
        max_chain: at most this many earlier records per delta; then a full record.
        cache_size: channels remembered for delta decisions (LRU).
        compress: ``None`` or ``"zstd"``.
    """

    def __init__(
        self,
        serde: SerializerProtocol,
        *,
        max_chain: int = 32,
        cache_size: int = 1024,
        compress: str | None = None,
    ) -> None:
        if max_chain < 0:
            raise InvalidArgumentError("max_chain must be >= 0")
        if compress not in (None, "zstd"):
            raise InvalidArgumentError(f"unknown compression {compress!r} (use None or 'zstd')")
        if compress == "zstd" and _zstd() is None:  # pragma: no cover
            raise InvalidArgumentError("compress='zstd' needs the zstandard package")
        self.serde = serde
        self.max_chain = max_chain
        self.cache_size = cache_size
        self.compress = compress
        self._cache: OrderedDict[_CacheKey, _Known] = OrderedDict()
        self._lock = threading.Lock()
        self._compressor: Any = None

    # -- cache ---------------------------------------------------------------------------------

    def _remember(self, key: _CacheKey, known: _Known) -> None:
        with self._lock:
            self._cache[key] = known
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def forget(self, thread_id: str | None = None) -> None:
        """Drop the cached channels of a thread (all threads with ``None``)."""
        with self._lock:
            if thread_id is None:
                self._cache.clear()
            else:
                for key in [k for k in self._cache if k[0] == thread_id]:
                    del self._cache[key]

    def forget_channel(self, thread_id: str, ns: str, channel: str) -> None:
        """Drop one cached channel (its base record turned out to be gone)."""
        with self._lock:
            self._cache.pop((thread_id, ns, channel), None)

    # -- encoding ------------------------------------------------------------------------------

    def _wrap(self, record: Record) -> Record:
        if self.compress != "zstd":
            return record
        if self._compressor is None:
            self._compressor = _zstd().ZstdCompressor(level=3)
        return record[0] + ZSTD_SUFFIX, self._compressor.compress(record[1])

    def encode(
        self,
        thread_id: str,
        ns: str,
        channel: str,
        version: str,
        value: Any,
        dump: Callable[[Any], Record] | None = None,
    ) -> tuple[Record, list[str]]:
        """The record of ``value`` at ``version`` and the chain it needs (``[]``: full)."""
        dump = dump or self.serde.dumps_typed
        key = (thread_id, ns, channel)
        if not isinstance(value, list):
            with self._lock:
                self._cache.pop(key, None)
            return self._wrap(dump(value)), []
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            prev = cached.value
            n = len(prev)
            if (
                cached.version != version
                and len(value) > n
                and self.max_chain > 0
                and value[:n] == prev
            ):
                found = self._delta(key, cached, version, value, dump)
                if found is not None:
                    return found
        record = self._wrap(dump(value))
        self._remember(key, _Known(version, list(value), [], [0], [len(value)]))
        return record, []

    def _delta(
        self,
        key: _CacheKey,
        base: _Known,
        version: str,
        value: list[Any],
        dump: Callable[[Any], Record],
    ) -> tuple[Record, list[str]] | None:
        """The delta of ``value`` after ``base``; ``None`` when a full record is due."""
        full_chain = [*base.chain, base.version]
        if base.positions is None:  # first-format chain: plain deltas up to the bound
            if len(full_chain) > self.max_chain:
                return None
            items_tag, items_payload = dump(value[len(base.value) :])
            payload = msgpack.packb([full_chain, items_tag, items_payload], use_bin_type=True)
            self._remember(key, _Known(version, list(value), full_chain, None, []))
            return self._wrap((DELTA_TAG, payload)), full_chain
        position = base.positions[-1] + 1
        parent = position & (position - 1)
        keep = base.positions.index(parent) + 1  # the parent is always on the base's chain
        if keep > self.max_chain:
            return None
        chain = full_chain[:keep]
        items_tag, items_payload = dump(value[base.lengths[keep - 1] :])
        payload = msgpack.packb([chain, items_tag, items_payload, position], use_bin_type=True)
        known = _Known(
            version,
            list(value),
            chain,
            [*base.positions[:keep], position],
            [*base.lengths[:keep], len(value)],
        )
        self._remember(key, known)
        return self._wrap((DELTA_TAG, payload)), chain

    def full(self, value: Any, dump: Callable[[Any], Record] | None = None) -> Record:
        """A full record of ``value`` (used when a delta's base turned out to be gone)."""
        return self._wrap((dump or self.serde.dumps_typed)(value))

    # -- decoding ------------------------------------------------------------------------------

    def decode(
        self,
        record: Record,
        fetch: Callable[[list[str]], Mapping[str, Record]],
        *,
        load: Callable[[Record], Any] | None = None,
        remember: tuple[str, str, str, str] | None = None,
        parsed: dict[str, Any] | None = None,
    ) -> Any:
        """The value of a record; ``fetch(versions)`` returns the records of a delta's chain.

        ``fetch`` is called at most once. ``remember=(thread_id, ns, channel, version)`` lets a
        later ``encode`` of that channel write a delta against this value. ``parsed`` is a
        cache (an empty dict to start with) the caller may keep while decoding several records
        of one channel, e.g. a page of checkpoints sharing chain records; ``fetch`` is then
        only called for versions it does not hold yet.
        """
        return self.finish(self.prepare(record, fetch, parsed=parsed), load=load, remember=remember)

    def prepare(
        self,
        record: Record,
        fetch: Callable[[list[str]], Mapping[str, Record]],
        *,
        parsed: dict[str, Any] | None = None,
    ) -> Prepared:
        """Everything :meth:`decode` does before the serializer runs (see :class:`Prepared`).

        ``fetch`` and ``parsed`` are as for :meth:`decode`.
        """
        tag, payload = _unwrap(record)
        if tag != DELTA_TAG:
            return Prepared((tag, payload), None, [], None)
        chain, own, position = _parse_delta(payload)
        cache: dict[str, _Part] = {} if parsed is None else parsed
        found: Mapping[str, Record] | None = None
        parts: list[_Part] = []
        for i, dep in enumerate(chain):
            part = cache.get(dep)
            if part is None:
                if found is None:
                    found = fetch(chain)
                record_of_dep = self._part(found.get(dep), dep, first=i == 0)
                part = cache[dep] = (record_of_dep, _items_of(record_of_dep))
            parts.append(part)
        parts.append((own, _items_of(own)))
        return Prepared(None, parts, chain, position, _concat_chunks(parts))

    def finish(
        self,
        prepared: Prepared,
        *,
        load: Callable[[Record], Any] | None = None,
        remember: tuple[str, str, str, str] | None = None,
        loaded: Any = NOT_LOADED,
    ) -> Any:
        """The value of a prepared record: ``loaded`` if the caller already decoded
        ``prepared.record`` (as part of a larger document, say), else decoded here.

        May be called again on the same ``prepared`` (a reader keeping it): every call builds
        new objects. ``remember`` is as for :meth:`decode`.
        """
        load = load or self.serde.loads_typed
        parts = prepared.parts
        if parts is None:  # a full record
            value = load(cast(Record, prepared.record)) if loaded is NOT_LOADED else loaded
            if remember is not None and isinstance(value, list):
                self._remember_read(remember, value, [], [0], [len(value)])
            return value
        if type(loaded) is not list:
            loaded = self._join(parts, prepared.record, load)
        if remember is not None and self._newer(remember):
            if prepared.layout is None:
                prepared.layout = _layout_of(parts, prepared.position)
            positions, lengths = prepared.layout
            self._keep_read(remember, loaded, prepared.chain, positions, lengths)
        return loaded

    @staticmethod
    def _part(dep_record: Record | None, dep: str, *, first: bool) -> Record:
        """The items a chain record adds (its whole value for the first, full, record)."""
        if dep_record is None:
            raise CorruptRecordError(f"delta record: version {dep!r} of its chain is missing")
        dep_tag, dep_payload = _unwrap(dep_record)
        if first:
            if dep_tag == DELTA_TAG:
                raise CorruptRecordError("delta record: its chain does not start full")
            return dep_tag, dep_payload
        if dep_tag != DELTA_TAG:
            raise CorruptRecordError("delta record: a full record inside its chain")
        return _parse_delta(dep_payload)[1]

    @staticmethod
    def _join(
        parts: list[_Part], joined: Record | None, load: Callable[[Record], Any]
    ) -> list[Any]:
        if joined is not None:
            try:
                loaded = load(joined)
            except Exception:  # decode part by part: the error names the bad part
                loaded = None
            if type(loaded) is list:
                return loaded
        result: list[Any] = []
        for part, _ in parts:
            loaded = load(part)
            if not isinstance(loaded, list):
                raise CorruptRecordError(
                    f"delta record: a part of its chain is a {type(loaded).__name__}, not a list"
                )
            result.extend(loaded)
        return result

    def remember_read(self, where: tuple[str, str, str, str], value: list[Any]) -> None:
        """Note a full list value read at ``where=(thread_id, ns, channel, version)``.

        What :meth:`decode` does with ``remember=`` for a full record, for a caller that
        decoded the record itself.
        """
        self._remember_read(where, value, [], [0], [len(value)])

    def _newer(self, where: tuple[str, str, str, str]) -> bool:
        """Whether a value read at ``where`` is at least as new as what is remembered of its
        channel (reading history, as ``list()`` does newest first, must not replace a newer
        base)."""
        thread_id, ns, channel, version = where
        with self._lock:
            cached = self._cache.get((thread_id, ns, channel))
        return cached is None or cached.version <= version

    def _remember_read(
        self,
        where: tuple[str, str, str, str],
        value: list[Any],
        chain: list[str],
        positions: list[int] | None,
        lengths: list[int],
    ) -> None:
        if self._newer(where):
            self._keep_read(where, value, chain, positions, lengths)

    def _keep_read(
        self,
        where: tuple[str, str, str, str],
        value: list[Any],
        chain: list[str],
        positions: list[int] | None,
        lengths: list[int],
    ) -> None:
        """Remember a value read at ``where``, known to be newer (see ``_newer``)."""
        thread_id, ns, channel, version = where
        self._remember(
            (thread_id, ns, channel), _Known(version, list(value), chain, positions, lengths)
        )


def _layout_of(parts: list[_Part], position: int | None) -> tuple[list[int] | None, list[int]]:
    """``(positions, lengths)`` of a decoded chain ending at ``position``; ``(None, [])`` when
    the record is of the first format or a part's length cannot be counted."""
    if position is None:
        return None, []
    positions = [*_prefixes(position), position]
    if len(positions) != len(parts):
        return None, []
    lengths: list[int] = []
    total = 0
    for _, items in parts:
        if items is None:
            return None, []
        total += items[0]
        lengths.append(total)
    return positions, lengths
