"""Service figures of a simulation, the ones contact centres plan with."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from simulator.engine import Outcome, SimConfig


@dataclass(frozen=True, slots=True)
class DeptStats:
    offered: int
    assigned: int
    abandoned: int
    #: Share of assigned work that waited at all.
    p_wait: float
    mean_wait_s: float
    p90_wait_s: float
    #: Share of offered work answered within the service-level threshold.
    service_level: float
    #: Share of agent capacity spent handling work.
    occupancy: float
    #: Gini coefficient of work per agent (0 = perfectly even).
    gini: float
    missed_offers: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def gini(values: list[int]) -> float:
    if not values or sum(values) == 0:
        return 0.0
    xs = sorted(values)
    n = len(xs)
    weighted = sum((i + 1) * x for i, x in enumerate(xs))
    return (2 * weighted) / (n * sum(xs)) - (n + 1) / n


def summarise(cfg: SimConfig, out: Outcome, sl_seconds: float) -> DeptStats:
    waits = sorted(out.waited.values())
    offered = len(out.arrived)
    assigned = len(waits)
    within = sum(1 for w in waits if w <= sl_seconds)
    capacity_seconds = cfg.agents * cfg.capacity * cfg.hours * 3600.0
    return DeptStats(
        offered=offered,
        assigned=assigned,
        abandoned=len(out.abandoned),
        p_wait=round(sum(1 for w in waits if w > 0) / assigned, 4) if assigned else 0.0,
        mean_wait_s=round(sum(waits) / assigned, 2) if assigned else 0.0,
        p90_wait_s=round(waits[min(assigned - 1, int(assigned * 0.9))], 2) if assigned else 0.0,
        service_level=round(within / offered, 4) if offered else 0.0,
        occupancy=round(out.busy_seconds / capacity_seconds, 4) if capacity_seconds else 0.0,
        gini=round(gini(list(out.work_per_agent.values())), 4),
        missed_offers=0,
    )
