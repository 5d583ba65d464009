"""Max load: fill the busiest agent up to their cap before starting on the next.

Help desks use it to keep as many agents as possible free for other work
(callbacks, offline tasks). Busy is relative to capacity; ties go to the agent
who got work most recently (they are already "in" the queue), then config order.
"""

from __future__ import annotations

from collections.abc import Sequence

from strategies.base import Candidate, Pick, PickContext, register


def rank(c: Candidate) -> tuple[float, float, int]:
    return (-c.load / c.capacity, -c.last_assigned_at, c.order)


@register("max-load", rank)
def max_load(candidates: Sequence[Candidate], ctx: PickContext) -> Pick | None:
    if not candidates:
        return None
    best = min(candidates, key=rank)
    return Pick(best.agent_id, f"load {best.load}/{best.capacity} (busiest with room)")
