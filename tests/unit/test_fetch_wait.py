"""The fetch-wait rule: it rises only for partitions the broker starves, doubles up
to its ceiling, and never falls."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.fetch_wait import STARVED_LIMIT, FetchWait


def starved(tp: str = "a") -> list[tuple[str, int, int | None, bool]]:
    """One answer: ``tp`` asked at offset 5, high watermark 9, no records back."""
    return [(tp, 5, 9, False)]


def test_the_wait_doubles_after_starved_answers_in_a_row() -> None:
    rule = FetchWait(10, 2000)
    for _ in range(STARVED_LIMIT - 1):
        assert rule.answered(starved()) is None
    assert rule.answered(starved()) == 20
    # The count starts again at the new wait.
    assert [rule.answered(starved()) for _ in range(STARVED_LIMIT)][-1] == 40


def test_records_or_a_caught_up_partition_are_not_starvation() -> None:
    rule = FetchWait(10, 2000)
    for _ in range(10):
        assert rule.answered([("a", 9, 9, False), ("b", 3, None, False), ("c", 1, 7, True)]) is None
    # A starved run broken by an answer with records starts over.
    rule.answered(starved())
    rule.answered(starved())
    rule.answered([("a", 5, 9, True)])
    assert rule.answered(starved()) is None
    assert rule.wait_ms == 10


def test_starvation_is_counted_per_partition() -> None:
    rule = FetchWait(10, 2000)
    for i in range(STARVED_LIMIT * 3):
        # Two partitions take turns being starved: neither is three times in a row.
        turn = [*starved("a"), ("b", 5, 9, True)] if i % 2 else [*starved("b"), ("a", 5, 9, True)]
        assert rule.answered(turn) is None


def test_the_wait_stops_at_its_ceiling() -> None:
    rule = FetchWait(10, 50)
    risen = [rule.answered(starved()) for _ in range(STARVED_LIMIT * 5)]
    assert [r for r in risen if r is not None] == [20, 40, 50]
    assert rule.wait_ms == 50


answers = st.lists(
    st.tuples(
        st.sampled_from("abc"),
        st.integers(0, 20),
        st.none() | st.integers(0, 20),
        st.booleans(),
    ),
    max_size=4,
)


@given(st.integers(1, 100), st.integers(0, 3000), st.lists(answers, max_size=40))
def test_the_wait_never_falls_nor_passes_the_ceiling(
    start: int, extra: int, rounds: list[list[tuple[str, int, int | None, bool]]]
) -> None:
    rule = FetchWait(start, start + extra)
    last = start
    for answer in rounds:
        risen = rule.answered(answer)
        assert rule.wait_ms >= last
        assert rule.wait_ms <= start + extra
        assert risen is None or risen == rule.wait_ms > last
        if not any(not got and hw is not None and off < hw for _tp, off, hw, got in answer):
            assert risen is None
        last = rule.wait_ms
