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
    draw = draw_index(ctx.ticket_id, len(ordered))
    return Pick(ordered[draw].agent_id, draw_reason(draw, len(ordered)))


def draw_index(ticket_id: str, n: int) -> int:
    """Position, in department order, of the candidate the ticket draws among ``n``."""
    digest = hashlib.blake2b(ticket_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n


def draw_reason(draw: int, n: int) -> str:
    return f"draw {draw + 1} of {n} seeded by ticket id"
