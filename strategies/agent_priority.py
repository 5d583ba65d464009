"""Agent priority: the highest-priority agent (1 highest .. 100 lowest) with room.

Senior or dedicated agents get work first; among equals the least loaded
(relative to capacity) wins, then the longest idle, then config order.
"""

from __future__ import annotations

from collections.abc import Sequence

from strategies.base import Candidate, Pick, PickContext, register


def rank(c: Candidate) -> tuple[int, float, float, int]:
    return (c.priority, c.load / c.capacity, c.last_assigned_at, c.order)


@register("agent-priority", rank)
def agent_priority(candidates: Sequence[Candidate], ctx: PickContext) -> Pick | None:
    if not candidates:
        return None
    best = min(candidates, key=rank)
    return Pick(best.agent_id, f"priority {best.priority}, load {best.load}/{best.capacity}")
