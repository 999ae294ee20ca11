"""The bounded value layer: deltas for growing lists, full values otherwise."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from pitstop.checkpoint.base import CorruptRecordError, InvalidArgumentError
from pitstop.checkpoint.base.values import DELTA_TAG, DeltaEncoder, Record, delta_chain
from pitstop.checkpoint.serde import MsgpackSerializer


class Store:
    """One channel's records, written and read through an encoder."""

    def __init__(self, enc: DeltaEncoder, thread: str = "t") -> None:
        self.enc = enc
        self.thread = thread
        self.records: dict[str, Record] = {}
        self.fetches = 0

    def put(self, version: str, value: Any) -> Record:
        record, _ = self.enc.encode(self.thread, "", "messages", version, value)
        self.records[version] = record
        return record

    def fetch(self, versions: list[str]) -> dict[str, Record]:
        self.fetches += 1
        return {v: self.records[v] for v in versions if v in self.records}

    def get(self, version: str) -> Any:
        return self.enc.decode(self.records[version], self.fetch)


def v(n: int, branch: str = "a") -> str:
    return f"{n:032}.{branch}"


def encoder(**kwargs: Any) -> DeltaEncoder:
    return DeltaEncoder(MsgpackSerializer(), **kwargs)


def test_appends_are_deltas_and_read_back_exactly() -> None:
    s = Store(encoder())
    value: list[Any] = []
    for i in range(1, 20):
        value = [*value, {"i": i, "text": "x" * 50}]
        record = s.put(v(i), value)
        assert (record[0] == DELTA_TAG) == (i > 1)
    for i in range(1, 20):
        s.fetches = 0
        assert s.get(v(i)) == [{"i": j, "text": "x" * 50} for j in range(1, i + 1)]
        assert s.fetches == (1 if i > 1 else 0)
    assert delta_chain(s.records[v(3)]) == [v(1)]  # position 2 extends position 0
    assert delta_chain(s.records[v(4)]) == [v(1), v(3)]  # position 3 extends position 2
    assert delta_chain(s.records[v(1)]) == []
    assert delta_chain(None) == []


@pytest.mark.parametrize(
    "after",
    [[1, 9, 3], [1, 2], [2, 3, 1, 4], [1, 2, 3], (1, 2, 3, 4), {"a": 1}, "text", None],
)
def test_a_change_that_is_not_an_append_is_stored_full(after: Any) -> None:
    s = Store(encoder())
    s.put(v(1), [1, 2, 3])
    record = s.put(v(2), after)
    assert record[0] != DELTA_TAG
    assert s.get(v(2)) == after
    assert s.get(v(1)) == [1, 2, 3]


def test_a_list_mutated_in_place_after_put_is_still_exact() -> None:
    s = Store(encoder())
    value = [1, 2]
    s.put(v(1), value)
    value[0] = 99
    value.append(3)
    s.put(v(2), value)
    assert s.get(v(1)) == [1, 2]
    assert s.get(v(2)) == [99, 2, 3]


def test_chains_follow_the_binary_layout() -> None:
    s = Store(encoder())
    value: list[int] = []
    for i in range(1, 202):
        value = [*value, i]
        s.put(v(i), value)
    # version i is at position i - 1; position p extends p & (p - 1): 200 -> 192 -> 128 -> 0
    assert delta_chain(s.records[v(201)]) == [v(1), v(129), v(193)]
    assert delta_chain(s.records[v(129)]) == [v(1)]  # position 128: everything since the full
    assert delta_chain(s.records[v(8)]) == [v(1), v(5), v(7)]
    assert max(len(delta_chain(r)) for r in s.records.values()) == 7  # popcount(127)
    for i in (1, 2, 8, 64, 65, 128, 129, 200, 201):
        assert s.get(v(i)) == list(range(1, i + 1))


def test_the_chain_is_bounded() -> None:
    s = Store(encoder(max_chain=2))
    value: list[int] = []
    full = []
    for i in range(1, 23):
        value = [*value, i]
        if s.put(v(i), value)[0] != DELTA_TAG:
            full.append(i)
    # position 7 (binary 111) would need a chain of 3 records: a full record instead
    assert full == [1, 8, 15, 22]
    assert all(len(delta_chain(r)) <= 2 for r in s.records.values())
    for i in range(1, 23):
        assert s.get(v(i)) == list(range(1, i + 1))


@pytest.mark.parametrize("max_chain", [1, 2, 3, 5, 8, 32])
def test_every_chain_stays_within_max_chain(max_chain: int) -> None:
    s = Store(encoder(max_chain=max_chain))
    value: list[int] = []
    for i in range(1, 400):
        value = [*value, i]
        s.put(v(i), value)
    assert max(len(delta_chain(r)) for r in s.records.values()) <= max_chain
    for i in (1, 2, 17, 33, 150, 256, 257, 271, 399):
        assert s.get(v(i)) == list(range(1, i + 1))


def _stored(s: Store) -> int:
    return sum(len(payload) for _, payload in s.records.values())


def test_growth_is_close_to_linear() -> None:
    """Bytes per step late in a long thread stay near bytes per step early on."""
    s = Store(encoder())
    value: list[str] = []
    marks: dict[int, int] = {}
    for i in range(1, 1601):
        value = [*value, f"{i:04}" + "x" * 296]
        s.put(v(i), value)
        if i in (200, 400, 1600):
            marks[i] = _stored(s)
    early = (marks[400] - marks[200]) / 200
    late = (marks[1600] - marks[400]) / 1200
    assert late < 1.6 * early, (early, late)
    full_values = sum(range(1, 1601)) * 300
    assert marks[1600] < full_values / 100
    assert max(len(delta_chain(r)) for r in s.records.values()) <= 11


def test_a_reader_in_another_process_continues_the_layout() -> None:
    """Positions are in the records, so a cold encoder (another worker) keeps the layout."""
    writer = Store(encoder())
    value: list[int] = []
    for i in range(1, 12):
        value = [*value, i]
        writer.put(v(i), value)
    for i in range(12, 140):  # every step written by a fresh worker after reading the head
        worker = Store(encoder())
        worker.records = writer.records
        head = writer.records[v(i - 1)]
        worker.enc.decode(head, worker.fetch, remember=("t", "", "messages", v(i - 1)))
        value = [*value, i]
        worker.put(v(i), value)
        writer.records = worker.records
    assert [i for i, r in enumerate(writer.records.values(), 1) if r[0] != DELTA_TAG] == [1]
    assert delta_chain(writer.records[v(139)]) == [v(1), v(129), v(137)]
    assert Store(encoder()).enc.decode(writer.records[v(139)], writer.fetch) == value


def test_records_of_the_first_delta_format_read_and_extend() -> None:
    """Deltas written before positions existed (3 fields, up to 32 plain) read and extend."""
    serde = MsgpackSerializer()
    records: dict[str, Record] = {v(1): serde.dumps_typed([0])}
    for i in range(2, 31):
        items = serde.dumps_typed([i - 1])
        payload = msgpack.packb([[v(j) for j in range(1, i)], *items], use_bin_type=True)
        records[v(i)] = (DELTA_TAG, payload)
    s = Store(encoder())
    s.records = records
    assert s.get(v(30)) == list(range(30))
    s.enc.decode(records[v(30)], s.fetch, remember=("t", "", "messages", v(30)))
    # the old chain goes on up to max_chain records, then a full record starts the new layout
    assert delta_chain(s.put(v(31), list(range(31)))) == [v(j) for j in range(1, 31)]
    assert len(delta_chain(s.put(v(32), list(range(32))))) == 31
    assert len(delta_chain(s.put(v(33), list(range(33))))) == 32
    assert s.put(v(34), list(range(34)))[0] != DELTA_TAG
    assert delta_chain(s.put(v(35), list(range(35)))) == [v(34)]
    for i in (30, 31, 32, 33, 34, 35):
        assert s.get(v(i)) == list(range(i))


def test_max_chain_zero_stores_every_value_full() -> None:
    s = Store(encoder(max_chain=0))
    assert s.put(v(1), [1])[0] != DELTA_TAG
    assert s.put(v(2), [1, 2])[0] != DELTA_TAG


def test_forks_read_their_own_items() -> None:
    s = Store(encoder())
    base: list[str] = []
    for i in range(1, 6):
        base = [*base, f"m{i}"]
        s.put(v(i), base)
    left = [*base, "left-1"]
    s.put(v(6, "l"), left)
    # the runtime reads the fork point back, then extends it differently
    s.enc.decode(s.records[v(5)], s.fetch, remember=("t", "", "messages", v(5)))
    right = [*base, "right-1"]
    s.put(v(6, "r"), right)
    s.put(v(7, "l"), [*left, "left-2"])
    assert s.get(v(6, "l")) == left
    assert s.get(v(6, "r")) == right
    assert s.get(v(7, "l")) == [*left, "left-2"]
    assert "left-1" not in s.get(v(6, "r"))


def test_correctness_never_depends_on_the_cache() -> None:
    writer = Store(encoder())
    for i in range(1, 10):
        writer.put(v(i), list(range(i)))
    reader = Store(encoder())  # another process: empty cache
    reader.records = writer.records
    assert reader.get(v(9)) == list(range(9))
    writer.enc.forget("t")
    assert writer.put(v(10), list(range(10)))[0] != DELTA_TAG
    writer.enc.forget()


def test_old_full_records_read_unchanged() -> None:
    serde = MsgpackSerializer()
    enc = DeltaEncoder(serde)
    for value in ([1, 2], {"a": [1]}, "s", None, b"bytes"):
        assert enc.decode(serde.dumps_typed(value), lambda _: {}) == value


def test_zstd_round_trip_and_smaller() -> None:
    pytest.importorskip("zstandard")
    plain, packed = Store(encoder()), Store(encoder(compress="zstd"))
    value: list[str] = []
    for i in range(1, 40):
        value = [*value, "hello world " * 20]
        plain.put(v(i), value)
        record = packed.put(v(i), value)
        assert record[0].endswith("+zstd")
    for i in (1, 2, 39):
        assert packed.get(v(i)) == plain.get(v(i))
    assert sum(len(r[1]) for r in packed.records.values()) < sum(
        len(r[1]) for r in plain.records.values()
    )
    # compressed records read back with compression off
    assert Store(encoder()).enc.decode(packed.records[v(39)], packed.fetch) == value


def test_a_missing_or_malformed_chain_is_a_corrupt_record() -> None:
    s = Store(encoder())
    for n in range(1, 5):
        s.put(v(n), list(range(1, n + 1)))
    assert delta_chain(s.records[v(4)]) == [v(1), v(3)]
    full_1 = s.records[v(1)]
    del s.records[v(1)]
    with pytest.raises(CorruptRecordError):
        s.get(v(4))
    s.records[v(1)] = s.records[v(3)]  # a chain that does not start full
    with pytest.raises(CorruptRecordError):
        s.get(v(4))
    s.records[v(1)] = full_1
    s.records[v(3)] = MsgpackSerializer().dumps_typed([1, 2, 3])  # a full record inside
    with pytest.raises(CorruptRecordError):
        s.get(v(4))
    with pytest.raises(CorruptRecordError):
        s.enc.decode((DELTA_TAG, b"\xc1"), s.fetch)
    with pytest.raises(CorruptRecordError):  # too many fields
        s.enc.decode((DELTA_TAG, msgpack.packb([[v(1)], "msgpack", b"\x90", 1, 2])), s.fetch)
    s = Store(encoder())
    s.put(v(1), [1])
    assert s.put(v(2), [1, 2])[0] == DELTA_TAG
    s.records[v(1)] = MsgpackSerializer().dumps_typed("not a list")
    with pytest.raises(CorruptRecordError):
        s.get(v(2))


def test_invalid_settings() -> None:
    with pytest.raises(InvalidArgumentError):
        encoder(compress="lz4")
    with pytest.raises(InvalidArgumentError):
        encoder(max_chain=-1)


def test_the_cache_is_an_lru() -> None:
    enc = encoder(cache_size=2)
    for ch in ("a", "b", "c"):
        enc.encode("t", "", ch, v(1), [1])
    assert enc.encode("t", "", "a", v(2), [1, 2])[1] == []  # evicted: stored full
    assert enc.encode("t", "", "c", v(2), [1, 2])[1] == [v(1)]


def test_zstd_without_the_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(InvalidArgumentError, match="zstandard"):
        encoder(compress="zstd")
