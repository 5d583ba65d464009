"""The state table recovers whole events only, and keeps what it holds through a rebalance.

Driven without a broker: changelog records are fed to the table as Faust's recovery
feeds them, and the abort markers it would send are captured.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams.state_table import (
    AGENT,
    SEP,
    AtomicTable,
    Marker,
    marker_key,
)

from .changelog import Log, changelog_tps, memory_table


def agent_key(tenant: str, agent: str) -> str:
    return f"{AGENT}{SEP}{tenant}{SEP}{agent}"


@pytest.fixture
def table() -> tuple[AtomicTable, list[Any]]:
    sent: list[Any] = []
    return memory_table("state-table-test", sent), sent


def rows(t: AtomicTable) -> dict[str, Any]:
    return dict(t.data.data)  # type: ignore[attr-defined]


def test_rows_of_an_event_without_its_marker_are_dropped_and_aborted(
    table: tuple[AtomicTable, list[Any]],
) -> None:
    t, sent = table
    log = Log(1)
    t.apply_changelog_batch(
        [
            log.row(agent_key("acme", "ann"), {"load": 1}),
            log.marker(0),
            log.row(agent_key("acme", "bob"), {"load": 1}),  # the crash came before its marker
        ]
    )
    asyncio.run(t._close_recovery({1}))
    assert agent_key("acme", "ann") in rows(t)
    assert agent_key("acme", "bob") not in rows(t)
    assert [(p, k, v.abort) for p, k, v in sent] == [(1, marker_key(1), True)]


def test_a_partition_kept_through_a_rebalance_keeps_its_newer_rows(
    table: tuple[AtomicTable, list[Any]],
) -> None:
    t, sent = table
    log = Log(1)
    old = [log.row(agent_key("acme", "ann"), {"load": 1}), log.marker(0)]
    t.apply_changelog_batch(old)
    asyncio.run(t._close_recovery({1, 2}))
    # The worker goes on: newer rows, and an event in flight (rows, no marker yet).
    t.data.data[agent_key("acme", "ann")] = {"load": 3}  # type: ignore[attr-defined]
    in_flight = log.row(agent_key("acme", "ann"), {"load": 3})

    async def rebalance() -> None:
        await t.on_rebalance(changelog_tps(t, 1, 2), set(), set())
        # Faust's recovery re-reads the partition from where it last stopped, and
        # the embedded broker may report its end short of the newest rows.
        t.apply_changelog_batch([*old, in_flight])
        await t._close_recovery({1, 2})

    asyncio.run(rebalance())
    assert rows(t)[agent_key("acme", "ann")] == {"load": 3}
    assert sent == [], "no abort marker for an event the worker is still finishing"


def test_rows_of_a_partition_taken_away_are_forgotten(
    table: tuple[AtomicTable, list[Any]],
) -> None:
    t, _ = table
    one, two = Log(1), Log(2)
    t.apply_changelog_batch(
        [
            one.row(agent_key("acme", "ann"), {"load": 1}),
            one.marker(0),
            two.row(agent_key("globex", "gus"), {"load": 2}),
            two.marker(0),
        ]
    )
    asyncio.run(t._close_recovery({1, 2}))
    asyncio.run(t.on_rebalance(changelog_tps(t, 2), changelog_tps(t, 1), set()))
    assert set(rows(t)) == {agent_key("globex", "gus"), marker_key(2)}
    # Given back later, the partition is recovered in full again.
    asyncio.run(t.on_rebalance(changelog_tps(t, 1, 2), set(), changelog_tps(t, 1)))
    t.apply_changelog_batch([one.row(agent_key("acme", "ann"), {"load": 5}), one.marker(1)])
    asyncio.run(t._close_recovery({1, 2}))
    assert rows(t)[agent_key("acme", "ann")] == {"load": 5}


def test_changelog_records_read_after_recovery_ended_are_ignored(
    table: tuple[AtomicTable, list[Any]],
) -> None:
    """A recovery buffer flushed late (at the next revocation) holds rows older than
    what the worker wrote since; applying them would move state back in time."""
    t, _ = table
    log = Log(1)
    old = [log.row(agent_key("acme", "ann"), {"load": 1}), log.marker(0)]
    t.apply_changelog_batch(old[:1])
    asyncio.run(t._close_recovery({1}))
    t.data.data[agent_key("acme", "ann")] = {"load": 2}  # type: ignore[attr-defined]
    t.data.data[marker_key(1)] = Marker({"routed": 9})  # type: ignore[attr-defined]
    t.apply_changelog_batch(old)
    assert rows(t)[agent_key("acme", "ann")] == {"load": 2}
    assert rows(t)[marker_key(1)].offsets == {"routed": 9}
