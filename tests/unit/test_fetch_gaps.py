"""The gap rule: a consumer stops at an offset the broker answered past, reads it
once it is stored, and skips it only after the wait; compacted topics pass as
they come."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.consumer import fetcher as aiokafka_fetcher
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from streams import fetch_gaps, topics
from streams.fetch_gaps import APPEND_ONLY, Contiguous, GapRule, Read


def test_a_batch_at_or_before_the_expected_offset_is_read() -> None:
    rule = GapRule(wait_s=5.0)
    assert rule.batch("t", 0, 7, 7, now=1.0) == (Read.READ, 0.0)
    # The batch holding the fetch offset may start before it.
    assert rule.batch("t", 0, 7, 4, now=1.0) == (Read.READ, 0.0)
    assert not rule.held


def test_a_gap_is_held_until_filled_and_the_wait_is_reported() -> None:
    rule = GapRule(wait_s=5.0)
    assert rule.batch("t", 0, 7, 9, now=1.0) == (Read.HELD, 0.0)
    assert rule.batch("t", 0, 7, 9, now=2.5) == (Read.HELD, 1.5)
    assert rule.batch("t", 0, 7, 7, now=3.0) == (Read.FILLED, 2.0)
    assert not rule.held


def test_a_gap_that_outlasts_the_wait_is_skipped_once() -> None:
    rule = GapRule(wait_s=5.0)
    rule.batch("t", 0, 7, 9, now=1.0)
    assert rule.batch("t", 0, 7, 9, now=6.0) == (Read.SKIPPED, 5.0)
    # Another gap later on the same partition is a new hold.
    assert rule.batch("t", 0, 10, 12, now=6.0) == (Read.HELD, 0.0)


def test_gaps_are_held_per_partition_and_stale_ones_forgotten() -> None:
    rule = GapRule(wait_s=5.0)
    rule.batch("t", 0, 7, 9, now=1.0)
    rule.batch("t", 1, 7, 9, now=3.0)
    assert rule.batch("t", 1, 7, 9, now=6.5)[0] is Read.HELD
    rule.forget_before(2.0)
    assert list(rule.held) == [("t", 1, 7)]
    # A new hold forgets the ones held for more than ten waits.
    rule.batch("t", 2, 7, 9, now=3.0 + 10 * 5.0 + 1.0)
    assert list(rule.held) == [("t", 2, 7)]


@dataclass
class Batch:
    base_offset: int
    next_offset: int


class Answer:
    """A broker's answer for one partition: its batches, in order."""

    def __init__(self, batches: list[Batch]) -> None:
        self.batches = list(batches)

    def has_next(self) -> bool:
        return bool(self.batches)

    def next_batch(self) -> Batch | None:
        return self.batches.pop(0) if self.batches else None

    def size_in_bytes(self) -> int:
        return 100 * len(self.batches)


def read(answer: Answer, offset: int, rule: GapRule, now: float) -> list[Batch]:
    records = Contiguous(answer, "t", 0, offset, rule, clock=lambda: now)
    out = []
    while records.has_next():
        out.append(records.next_batch())
    return out


def test_an_answer_is_read_up_to_its_first_gap() -> None:
    rule = GapRule(wait_s=5.0)
    answer = Answer([Batch(3, 5), Batch(5, 6), Batch(7, 8), Batch(8, 9)])
    got = read(answer, 4, rule, now=0.0)
    assert [b.base_offset for b in got] == [3, 5]
    assert list(rule.held) == [("t", 0, 6)]


def test_real_batches_pass_through_and_stop_at_a_gap() -> None:
    """aiokafka's own record set and PartitionRecords, behind the installed rule."""

    def batch(base: int, n: int) -> bytes:
        b = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 1 << 20)
        for i in range(n):
            b.append(i, timestamp=None, key=b"k", value=f"v{base + i}".encode(), headers=[])
        raw = bytearray(b.build())
        raw[0:8] = base.to_bytes(8, "big")  # the batch's base offset
        return bytes(raw)

    rule = fetch_gaps.install(45.0)
    raw = batch(0, 2) + batch(2, 1) + batch(4, 2)  # offset 3 not stored yet

    def values(topic: str) -> list[tuple[int, bytes]]:
        part = aiokafka_fetcher.PartitionRecords(
            TopicPartition(topic, 0), MemoryRecords(raw), [], 1, None, None, False, 0
        )
        return [(r.offset, r.value) for r in part]

    try:
        assert values(topics.ROUTED) == [(1, b"v1"), (2, b"v2")]
    finally:
        # The rule is the process's: leave no hold behind for a consumer that reads
        # the routed partition later in this run.
        rule.held.pop((topics.ROUTED, 0, 3), None)
    # A compacted topic has gaps by design: read as it comes.
    assert values(topics.CONFIG) == [(1, b"v1"), (2, b"v2"), (4, b"v4"), (5, b"v5")]
    assert topics.ROUTED in APPEND_ONLY and topics.CONFIG not in APPEND_ONLY


@given(
    stored_at=st.lists(st.integers(0, 30), min_size=1, max_size=40),
    batch_sizes=st.lists(st.integers(1, 3), min_size=40, max_size=40),
    wait=st.integers(1, 50),
)
def test_a_consumer_reads_every_offset_once_in_order_and_skips_only_after_the_wait(
    stored_at: list[int], batch_sizes: list[int], wait: int
) -> None:
    """A broker that hands out offsets before it stores them (batch ``i`` becomes
    visible at ``stored_at[i]``) and a consumer fetching once per time unit."""
    batches: list[tuple[Batch, int]] = []
    offset = 0
    for i, at in enumerate(stored_at):
        batches.append((Batch(offset, offset + batch_sizes[i]), at))
        offset += batch_sizes[i]
    end = offset
    rule = GapRule(wait_s=float(wait))
    position, read_offsets, skipped = 0, [], []
    now = 0
    while position < end and now < 1000:
        visible = [b for b, at in batches if at <= now and b.next_offset > position]
        before = position
        for b in read(Answer(visible), position, rule, float(now)):
            if b.base_offset > position:
                skipped.append((position, b.base_offset, now))
            read_offsets.extend(range(max(b.base_offset, position), b.next_offset))
            position = b.next_offset
        assert position >= before
        now += 1
    assert position == end
    assert read_offsets == sorted(set(read_offsets))
    if wait > max(stored_at):
        assert read_offsets == list(range(end)) and not skipped
    for start, _, at in skipped:
        # A skipped offset was still not stored when the consumer read on.
        missing_since = next(t for b, t in batches if b.next_offset > start)
        assert missing_since > at
