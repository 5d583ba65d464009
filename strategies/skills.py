"""Skills-based: the best-matching agent among those who have what the ticket needs.

Required skills already filtered the candidates (an agent without them is
excluded, with the reason); this ranks the rest by their summed levels in the
ticket's required and optional skills, then by relative load, idle time and
config order, so the most expert free agent gets the work and ties stay stable.
"""

from __future__ import annotations

from collections.abc import Sequence

from strategies.base import Candidate, Pick, PickContext, register


def rank(c: Candidate) -> tuple[int, float, float, int]:
    return (-c.skill_score, c.load / c.capacity, c.last_assigned_at, c.order)


@register("skills", rank)
def skills(candidates: Sequence[Candidate], ctx: PickContext) -> Pick | None:
    if not candidates:
        return None
    best = min(candidates, key=rank)
    return Pick(best.agent_id, f"skill score {best.skill_score}, load {best.load}/{best.capacity}")
