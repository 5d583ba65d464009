"""The expiry index: which state rows may leave the table, and when."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from agents_state.model import AgentState, TicketState
from streams.expiry import Expiries, ExpiryIndex, expires_from, tenant_of

SEP = "\x1f"


def ticket(tid: str, status: str, updated_at: float) -> TicketState:
    return TicketState(tid, status, "support", "email", 3, 0.0, updated_at)  # type: ignore[arg-type]


def test_final_tickets_and_seen_rows_expire_live_state_does_not() -> None:
    assert expires_from(f"T{SEP}acme{SEP}t1", ticket("t1", "finished", 5.0)) == 5.0
    assert expires_from(f"T{SEP}acme{SEP}t1", ticket("t1", "withdrawn", 6.0)) == 6.0
    assert expires_from(f"T{SEP}acme{SEP}t1", ticket("t1", "unroutable", 7.0)) == 7.0
    assert expires_from(f"T{SEP}acme{SEP}t1", ticket("t1", "queued", 5.0)) is None
    assert expires_from(f"T{SEP}acme{SEP}t1", ticket("t1", "assigned", 5.0)) is None
    assert expires_from(f"S{SEP}acme{SEP}ev1", 12.5) == 12.5
    assert expires_from(f"A{SEP}acme{SEP}a1", AgentState("a1")) is None
    assert expires_from(f"M{SEP}0", object()) is None


def test_tenant_of_a_key() -> None:
    assert tenant_of(f"T{SEP}acme{SEP}t1") == "acme"
    assert tenant_of(f"S{SEP}acme{SEP}ev{SEP}odd") == "acme"
    assert tenant_of(f"M{SEP}0") == ""


def test_due_pops_only_what_is_older_than_the_cutoff() -> None:
    index = ExpiryIndex()
    index.note("a", 1.0)
    index.note("b", 3.0)
    index.note("c", 2.0)
    assert index.due(2.0) == ["a"]  # strictly older
    assert index.due(2.5) == ["c"]
    assert len(index) == 1
    assert index.due(10.0) == ["b"]
    assert index.due(10.0) == []


def test_a_new_note_replaces_the_old_one_and_forget_drops_it() -> None:
    index = ExpiryIndex()
    index.note("a", 1.0)
    index.note("a", 5.0)  # rewritten later: counts from the later time
    assert index.due(2.0) == []
    assert index.due(6.0) == ["a"]
    index.note("b", 1.0)
    index.forget("b")
    assert index.due(10.0) == []


def test_expiries_follow_the_rows_written_per_tenant() -> None:
    e = Expiries()
    e.row(f"T{SEP}acme{SEP}t1", ticket("t1", "queued", 1.0))
    e.row(f"T{SEP}acme{SEP}t2", ticket("t2", "unroutable", 1.0))
    e.row(f"S{SEP}acme{SEP}ev1", 2.0)
    e.row(f"S{SEP}globex{SEP}ev1", 2.0)
    e.row(f"A{SEP}acme{SEP}a1", AgentState("a1"))
    assert len(e) == 3
    e.row(f"T{SEP}acme{SEP}t1", ticket("t1", "finished", 3.0))  # now final
    e.row(f"T{SEP}acme{SEP}t2", None)  # deleted
    assert e.due("acme", 100.0) == [f"S{SEP}acme{SEP}ev1", f"T{SEP}acme{SEP}t1"]
    assert e.due("globex", 1.0) == []
    assert e.due("globex", 100.0) == [f"S{SEP}globex{SEP}ev1"]
    assert e.due("hooli", 100.0) == []


@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.one_of(st.none(), st.floats(0, 100))),
        max_size=200,
    ),
    st.floats(0, 120),
)
def test_due_is_what_a_scan_of_the_latest_notes_finds(
    ops: list[tuple[int, float | None]], cutoff: float
) -> None:
    index = ExpiryIndex()
    latest: dict[str, float] = {}
    for k, at in ops:
        key = f"k{k}"
        if at is None:
            index.forget(key)
            latest.pop(key, None)
        else:
            index.note(key, at)
            latest[key] = at
    got = index.due(cutoff)
    assert sorted(got) == sorted(k for k, at in latest.items() if at < cutoff)
    assert [latest[k] for k in got] == sorted(latest[k] for k in got)  # oldest first
    assert len(index) == sum(1 for at in latest.values() if at >= cutoff)


def test_compaction_keeps_the_index_bounded() -> None:
    index = ExpiryIndex()
    rng = random.Random(1)
    for i in range(20_000):
        index.note(f"k{i % 100}", rng.random() * 1000)
    assert len(index) == 100
    assert len(index._heap) <= 2 * 100 + 1024 + 1
    assert len(index.due(2000.0)) == 100
