"""Least load: the agent with the most room relative to capacity gets the work.

Load is relative (2 of 4 chats is busier than 2 of 10 emails) so that agents of
different capacity fill at the same pace; ties go to the agent idle longest,
then to config order, so the pick never depends on dict or set order.
"""

from __future__ import annotations

from collections.abc import Sequence

from strategies.base import Candidate, Pick, PickContext, register


def rank(c: Candidate) -> tuple[float, float, int]:
    return (c.load / c.capacity, c.last_assigned_at, c.order)


@register("least-load", rank)
def least_load(candidates: Sequence[Candidate], ctx: PickContext) -> Pick | None:
    if not candidates:
        return None
    best = min(candidates, key=rank)
    return Pick(best.agent_id, f"load {best.load}/{best.capacity}")
