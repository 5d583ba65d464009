"""random, max-load, agent-priority and longest-idle: pure, deterministic picks."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies import (
    STRATEGIES,
    PickContext,
    agent_priority,
    longest_idle,
    max_load,
    pick,
    random_pick,
)
from tests.unit.test_strategies import CTX, cand

NAMES = ["random", "max-load", "agent-priority", "longest-idle"]


def test_registered_under_their_config_names() -> None:
    assert STRATEGIES["random"] is random_pick
    assert STRATEGIES["max-load"] is max_load
    assert STRATEGIES["agent-priority"] is agent_priority
    assert STRATEGIES["longest-idle"] is longest_idle


@pytest.mark.parametrize("name", NAMES)
def test_nobody_to_pick(name: str) -> None:
    assert pick(name, [], CTX) is None


def test_max_load_fills_the_busiest_with_room() -> None:
    cands = [cand("a", 0, load=1, capacity=4), cand("b", 1, load=3, capacity=4), cand("c", 2)]
    chosen = max_load(cands, CTX)
    assert chosen is not None and chosen.agent_id == "b"


def test_max_load_from_empty_starts_with_the_most_recent_then_order() -> None:
    cands = [cand("a", 0, last=5.0), cand("b", 1, last=9.0), cand("c", 2, last=9.0)]
    chosen = max_load(cands, CTX)
    assert chosen is not None and chosen.agent_id == "b"


def test_agent_priority_prefers_priority_then_least_load() -> None:
    cands = [
        cand("junior", 0, priority=50),
        cand("senior", 1, load=3, priority=1),
        cand("senior2", 2, load=1, priority=1),
    ]
    chosen = agent_priority(cands, CTX)
    assert chosen is not None and chosen.agent_id == "senior2"
    assert chosen.score == "priority 1, load 1/5"


def test_longest_idle_picks_the_oldest_last_assignment() -> None:
    cands = [cand("a", 0, last=30.0), cand("b", 1, last=10.0), cand("c", 2, last=20.0)]
    chosen = longest_idle(cands, CTX)
    assert chosen is not None and chosen.agent_id == "b"


def test_random_is_seeded_by_ticket_id_and_roughly_even() -> None:
    cands = [cand(x, i) for i, x in enumerate("abcd")]
    first = [random_pick(cands, PickContext(f"t-{i}")) for i in range(4000)]
    again = [random_pick(cands, PickContext(f"t-{i}")) for i in range(4000)]
    assert first == again  # a replay draws the same agents
    counts = Counter(p.agent_id for p in first if p is not None)
    assert set(counts) == set("abcd")
    assert all(850 <= n <= 1150 for n in counts.values()), counts


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 9), st.integers(1, 10), st.floats(0, 100), st.integers(1, 100)),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from(NAMES),
    st.text(min_size=1, max_size=12),
)
def test_picks_are_candidates_and_independent_of_input_order(
    rows: list[tuple[int, int, float, int]], name: str, ticket: str
) -> None:
    cands = [
        cand(f"a{i}", i, load=min(load, cap - 1), capacity=cap, last=last, priority=prio)
        for i, (load, cap, last, prio) in enumerate(rows)
    ]
    ctx = PickContext(ticket)
    chosen = pick(name, cands, ctx)
    assert chosen is not None and chosen.agent_id in {c.agent_id for c in cands}
    assert pick(name, list(reversed(cands)), ctx) == chosen
