"""Longest idle: the agent whose last assignment is oldest gets the work.

Spreads work evenly in time rather than by load, the usual choice for calls
(capacity 1). An agent never assigned counts as idle since the epoch.
"""

from __future__ import annotations

from collections.abc import Sequence

from strategies.base import Candidate, Pick, PickContext, register


def rank(c: Candidate) -> tuple[float, float, int]:
    return (c.last_assigned_at, c.load / c.capacity, c.order)


@register("longest-idle", rank)
def longest_idle(candidates: Sequence[Candidate], ctx: PickContext) -> Pick | None:
    if not candidates:
        return None
    best = min(candidates, key=rank)
    return Pick(best.agent_id, f"last assigned at {best.last_assigned_at:.3f}")
