"""Random: an even draw among the eligible agents, seeded from the ticket id.

Seeding from the ticket (not a process-wide generator) makes the draw a pure
function of the ticket and the candidates, so a replay repeats every decision.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from strategies.base import Candidate, Pick, PickContext, register


@register("random")
def random_pick(candidates: Sequence[Candidate], ctx: PickContext) -> Pick | None:
    if not candidates:
        return None
    ordered = sorted(candidates, key=lambda c: c.order)
    digest = hashlib.blake2b(ctx.ticket_id.encode("utf-8"), digest_size=8).digest()
    draw = int.from_bytes(digest, "big") % len(ordered)
    return Pick(ordered[draw].agent_id, f"draw {draw + 1} of {len(ordered)} seeded by ticket id")
