"""A generated help desk to simulate: departments, agents with shifts and breaks, traffic.

A scenario file (YAML or JSON) is validated like a tenant config: every problem
at once, each as ``file:line: field: message``. Departments and agents are
written exactly as in a tenant config (and checked by the same code), agents
with a few simulation-only fields besides:

- ``count: N`` makes N identical agents ``<id>-1`` .. ``<id>-N``;
- ``shifts: ["0-8", "16-24"]`` online windows in hours of a cycle of
  ``cycle_hours`` (default 24, repeating), absent = online all the time;
- ``breaks: {every_hours: 2, minutes: 15}`` a break after every 2 h online;
- ``accept_delay`` (a time, below) and ``decline_probability`` (0..1): how the
  agent answers offers.

A time is ``{mean_seconds: S}`` (exponential) or ``{fixed_seconds: S}``.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from schemas.config_file import (
    ConfigError,
    ConfigProblem,
    _Checker,  # the tenant config's own checks, so a scenario's agents mean the same
    _Reader,
)
from schemas.events import CHANNELS, PRIORITY_DEFAULT, PRIORITY_MAX, PRIORITY_MIN, Channel, Presence
from schemas.tenant_config import STRATEGIES, AgentConfig, DepartmentConfig, TenantConfig

HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Duration:
    """A random or fixed length of time, in seconds."""

    kind: Literal["fixed", "exponential"]
    seconds: float

    def draw(self, rng: random.Random) -> float:
        if self.kind == "fixed" or self.seconds <= 0:
            return self.seconds
        return rng.expovariate(1.0 / self.seconds)

    def at(self, u: float) -> float:
        """The draw for a uniform ``u`` in [0, 1) (inverse CDF), for order-free draws."""
        if self.kind == "fixed" or self.seconds <= 0:
            return self.seconds
        return -self.seconds * math.log(1.0 - u)


NO_DELAY = Duration("fixed", 0.0)


@dataclass(frozen=True, slots=True)
class Breaks:
    every_hours: float
    minutes: float


@dataclass(frozen=True, slots=True)
class AgentPlan:
    """When an agent works and how they answer offers."""

    agent_id: str
    #: Online windows (start, end) in hours within one cycle; () = online throughout.
    shifts: tuple[tuple[float, float], ...] = ()
    cycle_hours: float = 24.0
    breaks: Breaks | None = None
    accept_delay: Duration = NO_DELAY
    decline_probability: float = 0.0

    def presence_changes(self) -> Iterator[tuple[float, Presence]]:
        """(second, presence) from time 0 on, endless; every agent starts offline."""
        for start, end in self._online_spans():
            if self.breaks is None:
                yield start, "online"
                yield end, "offline"
                continue
            every, length = self.breaks.every_hours * HOUR, self.breaks.minutes * 60.0
            t = start
            while True:
                yield t, "online"
                pause = t + every
                if pause >= end:
                    break
                yield pause, "break"
                t = pause + length
                if t >= end:
                    break
            yield end, "offline"

    def _online_spans(self) -> Iterator[tuple[float, float]]:
        """Online spans in seconds, windows that touch (across cycles too) merged."""
        if not self.shifts:
            yield 0.0, math.inf
            return
        cycle = self.cycle_hours * HOUR
        pending: tuple[float, float] | None = None
        k = 0
        while True:
            for s, e in self.shifts:
                span = (k * cycle + s * HOUR, k * cycle + e * HOUR)
                if pending is None:
                    pending = span
                elif span[0] <= pending[1]:
                    pending = (pending[0], max(pending[1], span[1]))
                else:
                    yield pending
                    pending = span
            k += 1


@dataclass(frozen=True, slots=True)
class ArrivalStream:
    """Poisson arrivals of one channel into one department."""

    department: str
    channel: Channel
    #: Rate per hour: one value, or 24 (one per hour of the day).
    per_hour: tuple[float, ...]
    priority: int = PRIORITY_DEFAULT

    def times(self, rng: random.Random, horizon: float) -> Iterator[float]:
        """Arrival seconds in [0, horizon); exact for rates that change by the hour."""
        rates = [r / HOUR for r in self.per_hour]
        if len(rates) == 1:
            rate = rates[0]
            if rate <= 0:
                return
            t = rng.expovariate(rate)
            while t < horizon:
                yield t
                t += rng.expovariate(rate)
            return
        if not any(rates):
            return
        t = 0.0
        while True:
            need = rng.expovariate(1.0)  # unit-rate exponential, spent across the hours
            while True:
                hour = int(t // HOUR)
                rate = rates[hour % 24]
                left = (hour + 1) * HOUR - t
                if rate * left >= need:
                    t += need / rate
                    break
                need -= rate * left
                t = (hour + 1) * HOUR
                if t >= horizon:
                    return
            if t >= horizon:
                return
            yield t


@dataclass(frozen=True, slots=True)
class Scenario:
    config: TenantConfig
    plans: dict[str, AgentPlan]
    arrivals: tuple[ArrivalStream, ...]
    handle: dict[str, Duration]
    patience: dict[str, Duration] = field(default_factory=dict)
    seed: int = 1
    hours: float = 24.0
    sl_seconds: float = 20.0
    name: str = ""

    @property
    def tenant(self) -> str:
        return self.config.tenant

    def with_strategy(self, strategy: str) -> Scenario:
        """Every department (and channel) uses ``strategy``."""
        return dataclasses.replace(self, config=with_strategy(self.config, strategy))

    def strategy_label(self) -> str:
        return strategy_label(self.config)


def with_strategy(config: TenantConfig, strategy: str) -> TenantConfig:
    depts = {
        d: dataclasses.replace(dept, strategy=strategy, strategies={})
        for d, dept in config.departments.items()
    }
    return dataclasses.replace(config, departments=depts)


def strategy_label(config: TenantConfig) -> str:
    """The strategy's name if every department uses one, else "as configured"."""
    used = {s for d in config.departments.values() for s in (d.strategy, *d.strategies.values())}
    return used.pop() if len(used) == 1 else "as configured"


# -- the file ---------------------------------------------------------------------------

_TOP = {
    "name",
    "tenant",
    "seed",
    "hours",
    "sl_seconds",
    "departments",
    "agents",
    "arrivals",
    "handle",
    "patience",
}
_SIM_AGENT_FIELDS = {
    "count",
    "shifts",
    "cycle_hours",
    "breaks",
    "accept_delay",
    "decline_probability",
}


def load_scenario(path: str | Path) -> Scenario:
    """Parse and validate a scenario file; raise ``ConfigError`` listing every problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(str(p), 0, "<file>", str(exc))]) from None
    return parse_scenario_text(text, str(p))


def parse_scenario_text(text: str, filename: str) -> Scenario:
    if filename.endswith(".json") or text.lstrip().startswith("{"):
        text = text.replace("\t", " ")  # as schemas.config_file: tabs are JSON whitespace
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise ConfigError([ConfigProblem(filename, line, "<syntax>", str(exc))]) from None
    reader = _Reader(filename)
    data = reader.plain(node, "") if node is not None else None
    check = _ScenarioChecker(filename, reader.lines)
    check.problems.extend(reader.problems)
    scenario = check.scenario(data)
    if check.problems or scenario is None:
        raise ConfigError(check.problems)
    return scenario


class _ScenarioChecker(_Checker):
    def number(
        self,
        m: dict[str, Any],
        key: str,
        path: str,
        default: float,
        low: float = 0.0,
        high: float = math.inf,
        positive: bool = False,
    ) -> float:
        sub = f"{path}.{key}" if path else key
        v = m.get(key, default)
        ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        if not ok or not low <= v <= high or (positive and v <= 0):
            bound = f"> {low:g}" if positive else f">= {low:g}"
            if high < math.inf:
                bound += f" and <= {high:g}"
            self.err(sub, f"expected a number {bound}, got {v!r}")
            return default
        return float(v)

    def duration(self, value: Any, path: str) -> Duration | None:
        m = self.mapping(value, path, {"mean_seconds", "fixed_seconds"})
        if m is None:
            return None
        if len(m) != 1:
            self.err(path, "give exactly one of mean_seconds (exponential) or fixed_seconds")
            return None
        ((key, _),) = m.items()
        if key not in ("mean_seconds", "fixed_seconds"):
            return None  # reported as an unknown field
        seconds = self.number(m, key, path, -1.0)
        if seconds < 0:
            return None
        return Duration("exponential" if key == "mean_seconds" else "fixed", seconds)

    def per_channel(self, value: Any, path: str) -> dict[str, Duration]:
        out: dict[str, Duration] = {}
        m = self.mapping(value, path, set(CHANNELS))
        for channel, spec in (m or {}).items():
            if channel in CHANNELS:
                d = self.duration(spec, f"{path}.{channel}")
                if d is not None:
                    out[channel] = d
        return out

    def scenario(self, data: Any) -> Scenario | None:
        top = self.mapping(data, "", _TOP)
        if top is None:
            return None
        name = self.string(top, "name", "", required=False)
        tenant = self.string(top, "tenant", "", required=False) or "sim"
        seed = top.get("seed", 1)
        if isinstance(seed, bool) or not isinstance(seed, int):
            self.err("seed", f"expected a whole number, got {seed!r}")
            seed = 1
        hours = self.number(top, "hours", "", 24.0, positive=True)
        sl_seconds = self.number(top, "sl_seconds", "", 20.0)
        departments: dict[str, DepartmentConfig] = {}
        for path, item in self.items(top, "departments"):
            dept = self.department(item, path)
            if dept is not None:
                if dept.id in departments:
                    self.err(f"{path}.id", f"duplicate department id {dept.id!r}")
                departments[dept.id] = dept
        if not top.get("departments"):
            self.err("departments", "at least one department is needed")
        for path, item in self.items(top, "departments"):
            overflow = item.get("overflow") if isinstance(item, dict) else None
            if isinstance(overflow, str) and overflow and overflow not in departments:
                self.err(f"{path}.overflow", f"unknown department {overflow!r}")
            elif overflow is not None and overflow == item.get("id"):
                self.err(f"{path}.overflow", "a department cannot overflow into itself")
        agents: dict[str, AgentConfig] = {}
        plans: dict[str, AgentPlan] = {}
        for path, item in self.items(top, "agents"):
            for agent, plan in self.agent_plans(item, path, departments):
                if agent.id in agents:
                    self.err(f"{path}.id", f"duplicate agent id {agent.id!r}")
                agents[agent.id] = agent
                plans[agent.id] = plan
        if not top.get("agents"):
            self.err("agents", "at least one agent is needed")
        config = TenantConfig(tenant, 1, departments, agents)
        arrivals = [
            a
            for path, item in self.items(top, "arrivals")
            if (a := self.arrival(item, path, config)) is not None
        ]
        if not top.get("arrivals"):
            self.err("arrivals", "at least one arrival stream is needed")
        raw_handle = top.get("handle", {})
        handle = self.per_channel(raw_handle, "handle")
        for i, a in enumerate(arrivals):
            given = isinstance(raw_handle, dict) and a.channel in raw_handle
            if a.channel not in handle and not given and not self.reported("handle"):
                self.err(
                    f"handle.{a.channel}",
                    f"required: arrivals[{i}] brings {a.channel} work"
                    " (give {mean_seconds: S} or {fixed_seconds: S})",
                )
                break
        patience = self.per_channel(top.get("patience", {}), "patience")
        return Scenario(
            config, plans, tuple(arrivals), handle, patience, seed, hours, sl_seconds, name
        )

    def agent_plans(
        self, item: Any, path: str, departments: dict[str, DepartmentConfig]
    ) -> list[tuple[AgentConfig, AgentPlan]]:
        if not isinstance(item, dict):
            self.mapping(item, path, set())
            return []
        plain = {k: v for k, v in item.items() if k not in _SIM_AGENT_FIELDS}
        agent = self.agent(plain, path, departments)
        if agent is None:
            return []
        count = item.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            self.err(f"{path}.count", f"expected a whole number >= 1, got {count!r}")
            count = 1
        cycle = self.number(item, "cycle_hours", path, 24.0, positive=True)
        shifts = self.shifts(item.get("shifts"), f"{path}.shifts", cycle)
        breaks = None
        if "breaks" in item:
            b = self.mapping(item["breaks"], f"{path}.breaks", {"every_hours", "minutes"})
            if b is not None:
                every = self.number(b, "every_hours", f"{path}.breaks", 2.0, positive=True)
                minutes = self.number(b, "minutes", f"{path}.breaks", 15.0, positive=True)
                if "every_hours" not in b or "minutes" not in b:
                    self.err(f"{path}.breaks", "needs every_hours and minutes")
                elif minutes >= every * 60:
                    self.err(f"{path}.breaks.minutes", "a break must be shorter than every_hours")
                else:
                    breaks = Breaks(every, minutes)
        accept = NO_DELAY
        if "accept_delay" in item:
            accept = self.duration(item["accept_delay"], f"{path}.accept_delay") or NO_DELAY
        decline = self.number(item, "decline_probability", path, 0.0, high=1.0)
        if decline >= 1.0:
            self.err(f"{path}.decline_probability", "below 1, or the agent never takes work")
        if not any(n > 0 for n in agent.capacity.values()):
            self.err(f"{path}.capacity", "the agent takes no channel (every capacity is 0)")
        ids = [agent.id] if count == 1 else [f"{agent.id}-{n}" for n in range(1, count + 1)]
        return [
            (
                dataclasses.replace(agent, id=i, name=i if count > 1 else agent.name),
                AgentPlan(i, shifts, cycle, breaks, accept, decline),
            )
            for i in ids
        ]

    def shifts(self, value: Any, path: str, cycle: float) -> tuple[tuple[float, float], ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not value:
            self.err(path, 'expected a non-empty list of windows like "0-8" or [16, 24]')
            return ()
        windows: list[tuple[float, float]] = []
        for i, w in enumerate(value):
            at = f"{path}[{i}]"
            pair: Any = w
            if isinstance(w, str):
                try:
                    pair = [float(x) for x in w.split("-")]
                except ValueError:
                    pair = None
            ok = (
                isinstance(pair, list)
                and len(pair) == 2
                and all(isinstance(x, int | float) and not isinstance(x, bool) for x in pair)
            )
            if not ok:
                self.err(at, f'expected "START-END" hours or [START, END], got {w!r}')
                continue
            start, end = float(pair[0]), float(pair[1])
            if not 0 <= start < end <= cycle:
                self.err(at, f"expected 0 <= start < end <= cycle_hours ({cycle:g}), got {w!r}")
                continue
            windows.append((start, end))
        windows.sort()
        merged: list[tuple[float, float]] = []
        for start, end in windows:
            if merged and start < merged[-1][1]:
                self.err(path, "windows overlap")
                return ()
            if merged and start == merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        if merged == [(0.0, cycle)]:
            return ()  # the whole cycle: online throughout
        return tuple(merged)

    def arrival(self, item: Any, path: str, config: TenantConfig) -> ArrivalStream | None:
        m = self.mapping(item, path, {"department", "channel", "per_hour", "hourly", "priority"})
        if m is None:
            return None
        dept = self.string(m, "department", path)
        if dept and dept not in config.departments:
            self.err(f"{path}.department", f"unknown department {dept!r}")
        channel = m.get("channel")
        if channel not in CHANNELS:
            self.err(f"{path}.channel", f"expected one of {list(CHANNELS)}, got {channel!r}")
        rates: tuple[float, ...] = ()
        if ("per_hour" in m) == ("hourly" in m):
            self.err(path, "give per_hour (one rate) or hourly (24 rates, one per hour of day)")
        elif "per_hour" in m:
            rates = (self.number(m, "per_hour", path, 0.0),)
        else:
            raw = m["hourly"]
            if not isinstance(raw, list) or len(raw) != 24:
                self.err(f"{path}.hourly", "expected a list of 24 rates per hour (hour 0 first)")
            else:
                rates = tuple(
                    self.number({"h": x}, "h", f"{path}.hourly[{i}]", 0.0)
                    for i, x in enumerate(raw)
                )
        priority = m.get("priority", PRIORITY_DEFAULT)
        if isinstance(priority, bool) or not isinstance(priority, int):
            priority = -1
        if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
            self.err(
                f"{path}.priority",
                f"expected {PRIORITY_MIN} (most urgent) .. {PRIORITY_MAX}, got {m['priority']!r}",
            )
            priority = PRIORITY_DEFAULT
        if not rates or channel not in CHANNELS or dept not in config.departments:
            return None
        takers = [
            a
            for a in config.department_agents.get(dept, ())
            if config.agents[a].capacity.get(channel, 0) > 0
        ]
        if not takers:
            self.err(
                path,
                f"no agent of department {dept!r} takes {channel} (the work would wait forever)",
            )
        return ArrivalStream(dept, channel, rates, priority)


# -- the simple case --------------------------------------------------------------------


def simple_scenario(
    *,
    channel: Channel = "call",
    agents: int = 7,
    capacity: int = 1,
    arrivals_per_hour: float = 100.0,
    mean_handle_seconds: float = 180.0,
    hours: float = 1000.0,
    strategy: str = "least-load",
    seed: int = 1,
    patience_seconds: float | None = None,
    accept_delay_seconds: float = 0.0,
    sl_seconds: float = 20.0,
    tenant: str = "sim",
    department: str = "desk",
) -> Scenario:
    """One department, one channel, identical agents online throughout."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}")
    ids = [f"agent{i:03d}" for i in range(agents)]
    config = TenantConfig(
        tenant,
        1,
        {department: DepartmentConfig(department, strategy=strategy)},
        {i: AgentConfig(i, departments=(department,), capacity={channel: capacity}) for i in ids},
    )
    delay = Duration("fixed", accept_delay_seconds)
    return Scenario(
        config,
        {i: AgentPlan(i, accept_delay=delay) for i in ids},
        (ArrivalStream(department, channel, (arrivals_per_hour,)),),
        {channel: Duration("exponential", mean_handle_seconds)},
        {} if patience_seconds is None else {channel: Duration("fixed", patience_seconds)},
        seed,
        hours,
        sl_seconds,
        "simple",
    )
