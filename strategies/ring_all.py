"""Ring-all: the work rings for every available agent at once; the first to accept wins.

The assignment core offers to every candidate itself (one offer, many agents), so
this pick only matters where one name is needed: the explanation's first
candidate, ordered like least load so the listing is stable.
"""

from __future__ import annotations

from collections.abc import Sequence

from strategies.base import Candidate, Pick, PickContext, register

#: The strategy name the core checks for to offer to everybody.
RING_ALL = "ring-all"


@register(RING_ALL)
def ring_all(candidates: Sequence[Candidate], ctx: PickContext) -> Pick | None:
    if not candidates:
        return None
    first = min(candidates, key=lambda c: (c.load / c.capacity, c.last_assigned_at, c.order))
    return Pick(first.agent_id, f"rings for {len(candidates)} agent(s)")
