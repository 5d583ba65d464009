"""Lines of waiting work (``agents_state.queues``) against plain sorted lists.

A line changes representation with its length (plain lists while short, a sorted
container while long); whatever it is, it must read as the sorted list of its
entries. A clock tick looks only at the entries that may have crossed a wait
threshold since the last one: exactly those the sweep used to find by looking at
every entry.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agents_state.model import QueueEntry
from agents_state.queues import LONG, Waiting
from agents_state.transitions import _due

PRIORITIES = st.integers(1, 5)
TIMES = st.sampled_from([0.0, 0.5, 1.0, 2.5, 10.0, 59.999, 60.0, 1_780_000_000.25])


def entry(i: int, priority: int, at: float) -> QueueEntry:
    return QueueEntry(f"t{i:05d}", priority, at, at, constrained=i % 3 == 0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), PRIORITIES, TIMES), min_size=1, max_size=4 * LONG),
    st.data(),
)
def test_a_line_reads_as_the_sorted_list_of_its_entries(
    steps: list[tuple[bool, int, float]], data: st.DataObject
) -> None:
    line = Waiting()
    held: list[QueueEntry] = []
    for i, (join, priority, at) in enumerate(steps):
        if join or not held:
            e = entry(i, priority, at)
            line.add(e)
            held.append(e)
        else:
            e = held.pop(data.draw(st.integers(0, len(held) - 1)))
            line.remove(e)
        if i % 97 == 0 or i == len(steps) - 1:
            expected = sorted(held, key=QueueEntry.sort_key)
            assert list(line) == expected
            assert len(line) == len(expected)
            assert line.constrained == sum(e.constrained for e in held)
            # The oldest wait, not the head of the line (urgent work is served first).
            assert line.oldest() == min((e.enqueued_at for e in held), default=float("inf"))
            if expected:
                probe = data.draw(st.sampled_from(expected))
                assert line.position(probe) == expected.index(probe)
                assert line[0] == expected[0]


def test_a_line_that_grows_long_and_short_again_keeps_its_order() -> None:
    line = Waiting()
    entries = [entry(i, 1 + i % 3, float(i // 3)) for i in range(3 * LONG)]
    for e in reversed(entries):
        line.add(e)
    assert line.long is not None
    assert list(line) == sorted(entries, key=QueueEntry.sort_key)
    for e in entries[: -LONG // 8]:
        line.remove(e)
    assert line.long is None
    assert list(line) == sorted(entries[-LONG // 8 :], key=QueueEntry.sort_key)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(PRIORITIES, TIMES), max_size=40),
    st.lists(st.sampled_from([0.0, 0.5, 1.0, 7.5, 60.0, 300.0, float("inf")]), max_size=4),
    TIMES,
    st.sampled_from([0.0, 0.25, 1.0, 59.0, 600.0]),
    st.booleans(),
)
def test_a_tick_looks_at_every_entry_that_crossed_a_threshold(
    waiting: list[tuple[int, float]],
    thresholds: list[float],
    since: float,
    elapsed: float,
    long: bool,
) -> None:
    entries = [entry(i, p, at) for i, (p, at) in enumerate(waiting)]
    line = Waiting(entries)
    if long:
        line._lengthen()
    now = since + elapsed
    due = _due(line, thresholds, since, now)
    crossed = [
        e
        for e in sorted(entries, key=QueueEntry.sort_key)
        if any(since - e.enqueued_at < t <= now - e.enqueued_at for t in thresholds)
    ]
    assert [e for e in due if e in crossed] == crossed  # every one, in service order
    assert due == sorted(due, key=QueueEntry.sort_key)
