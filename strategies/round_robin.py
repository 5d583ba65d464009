"""Round robin: the next eligible agent after the one who got the previous item.

The cursor is a position in the department's agent order (kept by the caller in a
table), so an agent who is busy or away is skipped without losing the place, and
a restart continues where the last worker stopped.
"""

from __future__ import annotations

from collections.abc import Sequence

from strategies.base import Candidate, Pick, PickContext, register


@register("round-robin")
def round_robin(candidates: Sequence[Candidate], ctx: PickContext) -> Pick | None:
    if not candidates:
        return None
    after = [c for c in candidates if c.order > ctx.cursor_order]
    chosen = min(after or candidates, key=lambda c: c.order)
    return Pick(chosen.agent_id, f"next in order after position {ctx.cursor_order}")
