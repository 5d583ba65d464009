"""Service figures of a simulation, the ones contact centres plan with.

Each group (a department, a channel, everything) gets the same figures:

- ``offered``: work that arrived (routed to the department); ``assigned``,
  ``abandoned`` (the customer left while waiting) and ``unroutable`` of it;
- ``p_wait``: share of assigned work that queued at all (nobody could take it
  when it came, Erlang C's probability of waiting);
- ``mean_wait_s``, ``p90_wait_s``: time from arrival to an agent answering
  (queue wait plus the agent's accept delay), over assigned work;
- ``service_level``: share of offered work answered within the threshold;
- ``occupancy``: capacity-seconds held by work / capacity-seconds online, over
  the channels the group's work came on (agents shared by departments count in
  each, so a department's figure is a lower bound);
- ``gini``: Gini coefficient of work per agent of the group (0 = even);
  work that escalated counts, for occupancy and gini, in the department whose
  agent took it, and for everything else where it arrived;
- ``missed_offers``: offers that timed out or were declined;
- ``unroutable`` and ``escalated`` (moved on to another department).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from simulator.engine import Outcome, Tally


@dataclass(frozen=True, slots=True)
class DeptStats:
    offered: int
    assigned: int
    abandoned: int
    #: Share of assigned work that waited in a queue at all.
    p_wait: float
    mean_wait_s: float
    p90_wait_s: float
    #: Share of offered work answered within the service-level threshold.
    service_level: float
    #: Share of online agent capacity spent holding work.
    occupancy: float
    #: Gini coefficient of work per agent (0 = perfectly even).
    gini: float
    missed_offers: int
    unroutable: int = 0
    #: Waiting work moved on to another department (counted where it arrived).
    escalated: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Report:
    departments: dict[str, DeptStats]
    channels: dict[str, DeptStats]
    overall: DeptStats

    def as_dict(self) -> dict[str, Any]:
        return {
            "departments": {d: s.as_dict() for d, s in self.departments.items()},
            "channels": {c: s.as_dict() for c, s in self.channels.items()},
            "overall": self.overall.as_dict(),
        }


def gini(values: list[int]) -> float:
    if not values or sum(values) == 0:
        return 0.0
    xs = sorted(values)
    n = len(xs)
    weighted = sum((i + 1) * x for i, x in enumerate(xs))
    return (2 * weighted) / (n * sum(xs)) - (n + 1) / n


def stats(
    tallies: Iterable[Tally], available_s: float, work: list[int], sl_seconds: float
) -> DeptStats:
    ts = list(tallies)
    waits = sorted(w for t in ts for w in t.waits)
    offered = sum(t.offered for t in ts)
    assigned = len(waits)
    queued = sum(t.queued for t in ts)
    busy = sum(t.busy_s for t in ts)
    within = sum(1 for w in waits if w <= sl_seconds)
    return DeptStats(
        offered=offered,
        assigned=assigned,
        abandoned=sum(t.abandoned for t in ts),
        p_wait=round(queued / assigned, 4) if assigned else 0.0,
        mean_wait_s=round(sum(waits) / assigned, 2) if assigned else 0.0,
        p90_wait_s=round(waits[min(assigned - 1, int(assigned * 0.9))], 2) if assigned else 0.0,
        service_level=round(within / offered, 4) if offered else 0.0,
        occupancy=round(busy / available_s, 4) if available_s > 0 else 0.0,
        gini=round(gini(work), 4),
        missed_offers=sum(t.missed_offers for t in ts),
        unroutable=sum(t.unroutable for t in ts),
        escalated=sum(t.escalated for t in ts),
    )


def report(out: Outcome, sl_seconds: float) -> Report:
    config = out.config
    tallies = out.tallies
    depts = [d for d in config.departments if any(k[0] == d for k in tallies)]
    channels = sorted({c for _, c in tallies})

    def available(agents: Iterable[str], chans: Iterable[str]) -> float:
        cs = list(chans)
        return sum(out.available_s.get((a, c), 0.0) for a in agents for c in cs)

    def work(
        agents: Iterable[str], dept: str | None = None, channel: str | None = None
    ) -> list[int]:
        per = dict.fromkeys(agents, 0)
        for (a, d, c), n in out.work.items():
            if a in per and dept in (None, d) and channel in (None, c):
                per[a] += n
        return list(per.values())

    by_dept: dict[str, DeptStats] = {}
    for d in depts:
        members = config.department_agents.get(d, ())
        chans = [c for (dd, c) in tallies if dd == d]
        by_dept[d] = stats(
            (t for (dd, _), t in tallies.items() if dd == d),
            available(members, chans),
            work(members, dept=d),
            sl_seconds,
        )
    by_channel: dict[str, DeptStats] = {}
    for c in channels:
        takers = [a for a, cfg in config.agents.items() if cfg.capacity.get(c, 0) > 0]
        by_channel[c] = stats(
            (t for (_, cc), t in tallies.items() if cc == c),
            available(config.agents, [c]),
            work(takers, channel=c),
            sl_seconds,
        )
    overall = stats(
        tallies.values(), available(config.agents, channels), work(config.agents), sl_seconds
    )
    return Report(by_dept, by_channel, overall)


def summarise(out: Outcome, sl_seconds: float = 20.0) -> DeptStats:
    """The overall figures."""
    return report(out, sl_seconds).overall
