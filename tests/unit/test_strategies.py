"""Strategies as pure functions: least load and round robin, deterministic with stable tie-breaks."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies import STRATEGIES, Candidate, PickContext, least_load, pick, round_robin


def cand(
    agent_id: str,
    order: int,
    load: int = 0,
    capacity: int = 5,
    last: float = 0.0,
    priority: int = 50,
) -> Candidate:
    return Candidate(agent_id, load, capacity, last, priority, order)


CTX = PickContext("t-1")


def test_registry() -> None:
    assert STRATEGIES["least-load"] is least_load
    assert STRATEGIES["round-robin"] is round_robin


@pytest.mark.parametrize("name", ["least-load", "round-robin"])
def test_nobody_to_pick(name: str) -> None:
    assert pick(name, [], CTX) is None
    assert STRATEGIES[name]([], CTX) is None


def test_pick_dispatches_by_name() -> None:
    cands = [cand("a", 0, load=3), cand("b", 1, load=1)]
    assert pick("least-load", cands, CTX) == least_load(cands, CTX)
    assert pick("round-robin", cands, CTX) == round_robin(cands, CTX)


# --- least load ------------------------------------------------------------------


def test_least_load_picks_lowest_relative_load() -> None:
    # 2 of 10 (0.2) is less busy than 1 of 2 (0.5), although the absolute load is higher.
    cands = [cand("chats", 0, load=1, capacity=2), cand("emails", 1, load=2, capacity=10)]
    chosen = least_load(cands, CTX)
    assert chosen is not None
    assert chosen.agent_id == "emails"
    assert chosen.score == "load 2/10"


def test_least_load_tie_goes_to_the_longest_idle() -> None:
    cands = [
        cand("a", 0, load=1, capacity=4, last=30.0),
        cand("b", 1, load=2, capacity=8, last=10.0),  # same 0.25, idle since 10
        cand("c", 2, load=1, capacity=4, last=20.0),
    ]
    assert least_load(cands, CTX).agent_id == "b"  # type: ignore[union-attr]


def test_least_load_full_tie_goes_to_config_order() -> None:
    cands = [cand("z", 2), cand("y", 1), cand("x", 3)]
    assert least_load(cands, CTX).agent_id == "y"  # type: ignore[union-attr]


def test_least_load_equal_ratios_with_different_capacities_tie_exactly() -> None:
    # 1/3 and 2/6 are the same float, so order (not rounding noise) decides.
    cands = [cand("six", 1, load=2, capacity=6), cand("three", 0, load=1, capacity=3)]
    assert least_load(cands, CTX).agent_id == "three"  # type: ignore[union-attr]


candidates_lists = st.lists(
    st.builds(
        Candidate,
        agent_id=st.just(""),
        load=st.integers(0, 9),
        capacity=st.integers(1, 10),
        last_assigned_at=st.sampled_from([0.0, 1.0, 2.0, 3.5]),
        priority=st.integers(1, 100),
        order=st.just(0),
    ),
    min_size=1,
    max_size=8,
).map(
    lambda cs: [
        Candidate(f"agent-{i}", c.load, c.capacity, c.last_assigned_at, c.priority, i)
        for i, c in enumerate(cs)
    ]
)


@settings(max_examples=200, deadline=None)
@given(candidates_lists, st.randoms(use_true_random=False))
def test_least_load_is_order_independent_and_minimal(
    cands: list[Candidate], rnd: random.Random
) -> None:
    chosen = least_load(cands, CTX)
    assert chosen is not None
    shuffled = list(cands)
    rnd.shuffle(shuffled)
    assert least_load(shuffled, CTX) == chosen
    winner = next(c for c in cands if c.agent_id == chosen.agent_id)
    for other in cands:
        ratio, win_ratio = other.load / other.capacity, winner.load / winner.capacity
        assert win_ratio <= ratio
        if win_ratio == ratio:
            assert (winner.last_assigned_at, winner.order) <= (other.last_assigned_at, other.order)


# --- round robin -----------------------------------------------------------------


def rr_ids(cands: Sequence[Candidate], cursor: int) -> str:
    chosen = round_robin(cands, PickContext("t", cursor))
    assert chosen is not None
    return chosen.agent_id


def test_round_robin_starts_at_the_first_agent() -> None:
    cands = [cand("c", 2), cand("a", 0), cand("b", 1)]
    assert rr_ids(cands, -1) == "a"


def test_round_robin_takes_the_next_after_the_cursor_and_wraps() -> None:
    cands = [cand("a", 0), cand("b", 1), cand("c", 2)]
    assert rr_ids(cands, 0) == "b"
    assert rr_ids(cands, 1) == "c"
    assert rr_ids(cands, 2) == "a"
    assert rr_ids(cands, 7) == "a"  # a cursor past the end (the department shrank) wraps


def test_round_robin_ignores_load() -> None:
    cands = [cand("a", 0, load=0), cand("b", 1, load=4)]
    assert rr_ids(cands, 0) == "b"


def test_round_robin_skips_ineligible_without_losing_the_place() -> None:
    # Department order a(0) b(1) c(2) d(3); b is away, so not a candidate.
    everyone = {n: cand(n, i) for i, n in enumerate("abcd")}
    without_b = [everyone[n] for n in "acd"]
    assert rr_ids(without_b, 0) == "c"  # skips b
    assert rr_ids(without_b, 2) == "d"
    assert rr_ids(without_b, 3) == "a"  # wraps
    # b is back: the place after a is b again, not wherever b would have been.
    assert rr_ids(list(everyone.values()), 0) == "b"
    # Only c is free: c gets it and the next turn still continues after c.
    assert rr_ids([everyone["c"]], 0) == "c"
    assert rr_ids(list(everyone.values()), 2) == "d"


def simulate_round_robin(
    n: int, picks: int, eligible: Sequence[Sequence[int]] | None = None
) -> list[int]:
    """Pick ``picks`` times, moving the cursor to each winner's order as the caller does."""
    cursor = -1
    out: list[int] = []
    for i in range(picks):
        orders = eligible[i] if eligible is not None else range(n)
        cands = [cand(f"a{o}", o) for o in orders]
        chosen = round_robin(cands, PickContext(f"t{i}", cursor))
        if chosen is None:
            continue
        order = next(c.order for c in cands if c.agent_id == chosen.agent_id)
        out.append(order)
        cursor = order
    return out


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 8), st.integers(1, 6))
def test_round_robin_is_fair(n: int, k: int) -> None:
    picks = simulate_round_robin(n, k * n)
    assert Counter(picks) == dict.fromkeys(range(n), k)
    assert picks[:n] == list(range(n))  # in configured order


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 6).flatmap(lambda n: st.lists(st.sets(st.integers(0, n - 1)), max_size=30)))
def test_round_robin_never_jumps_over_an_eligible_agent(eligible: list[set[int]]) -> None:
    cursor = -1
    for i, orders in enumerate(eligible):
        cands = [cand(f"a{o}", o) for o in sorted(orders)]
        chosen = round_robin(cands, PickContext(f"t{i}", cursor))
        if not orders:
            assert chosen is None
            continue
        assert chosen is not None
        got = int(chosen.agent_id[1:])
        # The pick is the first eligible agent going round from just after the cursor.
        ring = 7  # any ring larger than the highest order gives the same distances
        dist = {o: (o - cursor - 1) % ring for o in orders}
        assert dist[got] == min(dist.values())
        cursor = got


@settings(max_examples=100, deadline=None)
@given(candidates_lists, st.integers(-1, 9), st.randoms(use_true_random=False))
def test_round_robin_is_order_independent(
    cands: list[Candidate], cursor: int, rnd: random.Random
) -> None:
    shuffled = list(cands)
    rnd.shuffle(shuffled)
    ctx = PickContext("t", cursor)
    assert round_robin(shuffled, ctx) == round_robin(cands, ctx)
