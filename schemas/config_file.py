"""Reading a tenant config file (YAML or JSON) with errors that name file, line and field.

A person edits these files by hand, so validation reports every problem at once,
each with the place to fix it, and an invalid file is never turned into a config.
What a valid rule or opening hours are is :mod:`rules.checks`' to say (the config
topic's records are checked by the same functions); this module reads the file's
shape and puts each problem at its line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rules.checks import (
    Names,
    action_problems,
    condition_problems,
    rule_shape_problems,
)
from rules.hours import hours_problems
from rules.vocabulary import DEFAULT_TRIGGER
from schemas.events import CHANNELS
from schemas.tenant_config import (
    STRATEGIES,
    ActionConfig,
    AgentConfig,
    ConditionConfig,
    DepartmentConfig,
    HoursConfig,
    RuleConfig,
    TenantConfig,
)


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class ConfigError(ValueError):
    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def load_config_file(path: str | Path, version: int = 1) -> TenantConfig:
    """Parse and validate ``path``; raise :class:`ConfigError` listing every problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(str(p), 0, "<file>", str(exc))]) from None
    return parse_config_text(text, str(p), version)


def parse_config_text(text: str, filename: str, version: int = 1) -> TenantConfig:
    if filename.endswith(".json") or text.lstrip().startswith("{"):
        # JSON allows tabs between tokens, YAML does not; a tab inside a JSON string
        # must be escaped, so every literal tab in valid JSON is plain whitespace.
        text = text.replace("\t", " ")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)  # JSON is YAML too
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise ConfigError([ConfigProblem(filename, line, "<syntax>", str(exc))]) from None
    reader = _Reader(filename)
    data = reader.plain(node, "") if node is not None else None
    checker = _Checker(filename, reader.lines)
    checker.problems.extend(reader.problems)
    config = checker.tenant(data, version)
    if checker.problems or config is None:
        raise ConfigError(checker.problems)
    return config


class _Reader:
    """Turns composed YAML nodes into plain data, remembering each path's line.

    Problems found here (a key given twice, a value no safe tag can build, an
    alias that contains itself) are collected, not raised, so that they are
    reported together with every other problem of the file.
    """

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.lines: dict[str, int] = {}
        self.problems: list[ConfigProblem] = []
        self._open: set[int] = set()

    def problem(self, line: int, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.filename, line, path or "<top>", message))

    def plain(self, node: yaml.Node, path: str) -> Any:
        line = node.start_mark.line + 1
        self.lines[path] = line
        if id(node) in self._open:
            self.problem(line, path, "alias refers to itself")
            return None
        if isinstance(node, yaml.MappingNode):
            self._open.add(id(node))
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                sub = f"{path}.{key}" if path else key
                if key in out:
                    self.problem(
                        key_node.start_mark.line + 1,
                        sub,
                        "given more than once (a later value would silently win)",
                    )
                out[key] = self.plain(value_node, sub)
            self._open.discard(id(node))
            return out
        if isinstance(node, yaml.SequenceNode):
            self._open.add(id(node))
            items = [self.plain(v, f"{path}[{i}]") for i, v in enumerate(node.value)]
            self._open.discard(id(node))
            return items
        try:
            return _SCALARS.construct_object(node, deep=True)  # safe tags only
        except (yaml.YAMLError, ValueError, TypeError) as exc:
            self.problem(line, path, f"unreadable value: {exc}".replace("\n", " "))
            return None


_SCALARS = yaml.constructor.SafeConstructor()


class _Checker:
    def __init__(self, filename: str, lines: dict[str, int]) -> None:
        self.filename = filename
        self.lines = lines
        self.problems: list[ConfigProblem] = []

    def err(self, path: str, message: str) -> None:
        line = self.lines.get(path, 0)
        probe = path
        while not line and probe:  # a missing field: point at its parent
            if probe.endswith("]"):
                probe = probe[: probe.rindex("[")]
            else:
                probe = probe.rsplit(".", 1)[0] if "." in probe else ""
            line = self.lines.get(probe, 0)
        self.problems.append(ConfigProblem(self.filename, line, path or "<top>", message))

    def reported(self, path: str) -> bool:
        return any(p.field == path for p in self.problems)

    def mapping(self, value: Any, path: str, allowed: set[str]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.err(path, f"expected a mapping, got {_kind(value)}")
            return None
        for key in value:
            if key not in allowed:
                self.err(
                    f"{path}.{key}" if path else key, f"unknown field (allowed: {sorted(allowed)})"
                )
        return value

    def string(self, m: dict[str, Any], key: str, path: str, required: bool = True) -> str:
        sub = f"{path}.{key}" if path else key
        if key not in m:
            if required:
                self.err(sub, "required field is missing")
            return ""
        v = m[key]
        if not isinstance(v, str) or not v.strip():
            self.err(sub, f"expected a non-empty string, got {v!r}")
            return ""
        return v

    def strings(self, m: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
        sub = f"{path}.{key}"
        v = m.get(key, [])
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            self.err(sub, f"expected a string or a list of strings, got {_kind(v)}")
            return ()
        return tuple(v)

    def items(self, data: dict[str, Any], key: str) -> Iterator[tuple[str, Any]]:
        v = data.get(key, [])
        if not isinstance(v, list):
            self.err(key, f"expected a list, got {_kind(v)}")
            return
        for i, item in enumerate(v):
            yield f"{key}[{i}]", item

    def tenant(self, data: Any, version: int) -> TenantConfig | None:
        top = self.mapping(
            data,
            "",
            {"tenant", "default_department", "departments", "agents", "rules", "calendars"},
        )
        if top is None:
            return None
        tenant = self.string(top, "tenant", "")
        departments: dict[str, DepartmentConfig] = {}
        for path, item in self.items(top, "departments"):
            dept = self.department(item, path)
            if dept is None:
                continue
            if dept.id in departments:
                self.err(f"{path}.id", f"duplicate department id {dept.id!r}")
            departments[dept.id] = dept
        for path, item in self.items(top, "departments"):
            overflow = item.get("overflow") if isinstance(item, dict) else None
            if isinstance(overflow, str) and overflow and overflow not in departments:
                self.err(f"{path}.overflow", f"unknown department {overflow!r}")
            elif overflow is not None and overflow == item.get("id"):
                self.err(f"{path}.overflow", "a department cannot overflow into itself")
        calendars: dict[str, HoursConfig] = {}
        raw_calendars = top.get("calendars", {})
        if isinstance(raw_calendars, dict):
            for name, spec in raw_calendars.items():
                hours = self.hours(spec, f"calendars.{name}")
                if hours is not None:
                    calendars[str(name)] = hours
        else:
            self.err(
                "calendars", f"expected a mapping of name to hours, got {_kind(raw_calendars)}"
            )
        agents: dict[str, AgentConfig] = {}
        for path, item in self.items(top, "agents"):
            agent = self.agent(item, path, departments)
            if agent is None:
                continue
            if agent.id in agents:
                self.err(f"{path}.id", f"duplicate agent id {agent.id!r}")
            agents[agent.id] = agent
        known = Names(
            frozenset(departments),
            frozenset({d.id for d in departments.values() if d.hours} | set(calendars)),
            frozenset(agents),
        )
        rules: list[RuleConfig] = []
        names: set[str] = set()
        for path, item in self.items(top, "rules"):
            rule = self.rule(item, path, known)
            if rule is None:
                continue
            if rule.name in names:
                self.err(f"{path}.name", f"duplicate rule name {rule.name!r}")
            names.add(rule.name)
            rules.append(rule)
        default = self.string(top, "default_department", "", required=False)
        if default and default not in departments:
            self.err("default_department", f"unknown department {default!r}")
        if not top.get("departments"):
            self.err("departments", "at least one department is needed")
        return TenantConfig(tenant, version, departments, agents, tuple(rules), default, calendars)

    def department(self, item: Any, path: str) -> DepartmentConfig | None:
        m = self.mapping(
            item,
            path,
            {
                "id",
                "name",
                "strategy",
                "strategies",
                "hours",
                "overflow",
                "offer_timeout",
                "pull",
                "escalate_after",
                "requeue_on_offline",
                "relax_after",
            },
        )
        if m is None:
            return None
        dept_id = self.string(m, "id", path)
        strategy = m.get("strategy", "least-load")
        if strategy not in STRATEGIES:
            self.err(
                f"{path}.strategy", f"unknown strategy {strategy!r} (known: {list(STRATEGIES)})"
            )
        per_channel: dict[str, str] = {}
        raw = m.get("strategies", {})
        if isinstance(raw, dict):
            for channel, s in raw.items():
                if channel not in CHANNELS:
                    self.err(
                        f"{path}.strategies.{channel}", f"unknown channel (known: {list(CHANNELS)})"
                    )
                elif s not in STRATEGIES:
                    self.err(f"{path}.strategies.{channel}", f"unknown strategy {s!r}")
                else:
                    per_channel[channel] = s
        else:
            self.err(f"{path}.strategies", f"expected a mapping, got {_kind(raw)}")
        name = m.get("name", dept_id)
        hours = self.hours(m["hours"], f"{path}.hours") if "hours" in m else None
        overflow = self.string(m, "overflow", path, required=False)
        offer_timeout = self.seconds_per_channel(m, "offer_timeout", path)
        escalate_after = self.seconds_per_channel(m, "escalate_after", path)
        if escalate_after and not overflow:
            self.err(f"{path}.escalate_after", "needs an overflow department to escalate to")
        pull = self.channels(m, "pull", path)
        requeue = self.channels(m, "requeue_on_offline", path)
        relax = m.get("relax_after", 60)
        if isinstance(relax, bool) or not isinstance(relax, int | float) or relax < 0:
            self.err(f"{path}.relax_after", f"expected seconds >= 0, got {relax!r}")
            relax = 60
        return DepartmentConfig(
            dept_id,
            str(name),
            str(strategy),
            per_channel,
            hours,
            overflow,
            {"chat": 30.0, "call": 30.0, **offer_timeout}
            if "offer_timeout" in m
            else DepartmentConfig(dept_id).offer_timeout_s,
            pull,
            escalate_after,
            requeue,
            float(relax),
        )

    def seconds_per_channel(self, m: dict[str, Any], key: str, path: str) -> dict[str, float]:
        """``{chat: 30, call: 20}``: seconds per channel, each >= 0."""
        out: dict[str, float] = {}
        raw = m.get(key, {})
        if not isinstance(raw, dict):
            self.err(f"{path}.{key}", f"expected a mapping of channel to seconds, got {_kind(raw)}")
            return out
        for channel, n in raw.items():
            sub = f"{path}.{key}.{channel}"
            if channel not in CHANNELS:
                self.err(sub, f"unknown channel (known: {list(CHANNELS)})")
            elif isinstance(n, bool) or not isinstance(n, int | float) or n < 0:
                self.err(sub, f"expected seconds >= 0, got {n!r}")
            else:
                out[str(channel)] = float(n)
        return out

    def channels(self, m: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
        names = self.strings(m, key, path) if key in m else ()
        for i, channel in enumerate(names):
            if channel not in CHANNELS:
                self.err(f"{path}.{key}[{i}]", f"unknown channel (known: {list(CHANNELS)})")
        return tuple(c for c in names if c in CHANNELS)

    def hours(self, value: Any, path: str) -> HoursConfig | None:
        m = self.mapping(value, path, {"timezone", "weekly", "holidays"})
        if m is None:
            return None
        timezone = self.string(m, "timezone", path)
        weekly: dict[str, tuple[str, ...]] = {}
        raw = m.get("weekly", {})
        if isinstance(raw, dict):
            for day in raw:
                weekly[str(day)] = self.strings(raw, day, f"{path}.weekly")
        else:
            self.err(f"{path}.weekly", f"expected a mapping of day to intervals, got {_kind(raw)}")
        holidays: list[str] = []
        reported: set[str] = set()
        raw_days = m.get("holidays", [])
        if isinstance(raw_days, list):
            for i, day in enumerate(raw_days):
                if isinstance(day, dt.date) and not isinstance(day, dt.datetime):
                    holidays.append(day.isoformat())  # YAML reads 2026-12-25 as a date
                    continue
                if not isinstance(day, str):
                    if not self.reported(f"{path}.holidays[{i}]"):  # e.g. 2026-02-30, by the reader
                        self.err(
                            f"{path}.holidays[{i}]", f"expected a date YYYY-MM-DD, got {day!r}"
                        )
                    reported.add(f"holidays[{i}]")
                holidays.append(str(day))
        else:
            self.err(f"{path}.holidays", f"expected a list of dates, got {_kind(raw_days)}")
        if not timezone:
            reported.add("timezone")  # already reported as missing
        hours = HoursConfig(timezone, weekly, tuple(holidays))
        for sub, message in hours_problems(hours):
            if sub not in reported:
                self.err(f"{path}.{sub}", message)
        return hours

    def agent(
        self, item: Any, path: str, departments: dict[str, DepartmentConfig]
    ) -> AgentConfig | None:
        m = self.mapping(
            item, path, {"id", "name", "departments", "capacity", "priority", "skills", "languages"}
        )
        if m is None:
            return None
        agent_id = self.string(m, "id", path)
        depts = self.strings(m, "departments", path)
        for i, d in enumerate(depts):
            if d not in departments:
                self.err(f"{path}.departments[{i}]", f"unknown department {d!r}")
            if d in depts[:i]:
                self.err(f"{path}.departments[{i}]", f"department {d!r} listed twice")
        capacity: dict[str, int] = {}
        raw = m.get("capacity", {})
        if isinstance(raw, dict):
            for channel, n in raw.items():
                sub = f"{path}.capacity.{channel}"
                if channel not in CHANNELS:
                    self.err(sub, f"unknown channel (known: {list(CHANNELS)})")
                elif isinstance(n, bool) or not isinstance(n, int) or n < 0:
                    self.err(sub, f"expected a whole number >= 0, got {n!r}")
                else:
                    capacity[channel] = n
        else:
            self.err(f"{path}.capacity", f"expected a mapping, got {_kind(raw)}")
        priority = m.get("priority", 50)
        if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 100:
            self.err(f"{path}.priority", f"expected 1 (highest) .. 100 (lowest), got {priority!r}")
            priority = 50
        skills: dict[str, int] = {}
        raw_skills = m.get("skills", {})
        if isinstance(raw_skills, dict):
            for skill, level in raw_skills.items():
                if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 10:
                    self.err(f"{path}.skills.{skill}", f"expected a level 1 .. 10, got {level!r}")
                else:
                    skills[str(skill)] = level
        else:
            self.err(
                f"{path}.skills", f"expected a mapping of skill to level, got {_kind(raw_skills)}"
            )
        for language in self.strings(m, "languages", path) if "languages" in m else ():
            skills.setdefault(f"language:{language.lower()}", 10)
        return AgentConfig(
            agent_id, str(m.get("name", agent_id)), depts, capacity, priority, skills
        )

    def rule(self, item: Any, path: str, names: Names) -> RuleConfig | None:
        m = self.mapping(
            item,
            path,
            {"name", "trigger", "when", "if", "if_any", "department", "actions", "stop"},
        )
        if m is None:
            return None
        name = self.string(m, "name", path)
        dept = self.string(m, "department", path, required=False)
        if dept and dept not in names.departments:
            self.err(f"{path}.department", f"unknown department {dept!r}")
        when = self.mapping(
            m.get("when", {}), f"{path}.when", {"channel", "source", "source_prefix"}
        )
        if when is None:
            return None
        channels = self.strings(when, "channel", f"{path}.when")
        for i, c in enumerate(channels):
            if c not in CHANNELS:
                self.err(
                    f"{path}.when.channel[{i}]", f"unknown channel {c!r} (known: {list(CHANNELS)})"
                )
        triggers = self.strings(m, "trigger", path) if "trigger" in m else (DEFAULT_TRIGGER,)
        common = self.conditions(m["if"], f"{path}.if", names) if "if" in m else ()
        groups: tuple[tuple[ConditionConfig, ...], ...] = (common,) if common else ()
        if "if_any" in m:
            raw = m["if_any"]
            if not isinstance(raw, list) or not raw:
                self.err(f"{path}.if_any", "expected a non-empty list of condition lists")
            else:
                groups = tuple(
                    (*common, *self.conditions(g, f"{path}.if_any[{i}]", names))
                    for i, g in enumerate(raw)
                )
        stop = m.get("stop", True)
        if not isinstance(stop, bool):
            self.err(f"{path}.stop", f"expected true or false, got {stop!r}")
            stop = True
        actions = self.actions(m.get("actions", []), f"{path}.actions", names)
        rule = RuleConfig(
            name,
            dept,
            channels,
            self.strings(when, "source", f"{path}.when"),
            self.strings(when, "source_prefix", f"{path}.when"),
            triggers,
            groups,
            actions,
            stop,
        )
        for sub, message in rule_shape_problems(rule):
            self.err(f"{path}.{sub}", message)
        return rule

    def conditions(self, value: Any, path: str, names: Names) -> tuple[ConditionConfig, ...]:
        if not isinstance(value, list):
            self.err(path, f"expected a list of conditions, got {_kind(value)}")
            return ()
        out: list[ConditionConfig] = []
        for i, item in enumerate(value):
            at = f"{path}[{i}]"
            m = self.mapping(item, at, {"field", "op", "value"})
            if m is None:
                continue
            field, op = self.string(m, "field", at), self.string(m, "op", at)
            if not field or not op:
                continue
            for sub, message in condition_problems(field, op, m.get("value"), "value" in m, names):
                self.err(f"{at}.{sub}", message)
            out.append(ConditionConfig(field, op, m.get("value")))
        return tuple(out)

    def actions(self, value: Any, path: str, names: Names) -> tuple[ActionConfig, ...]:
        """``[{transfer: billing}, {add_tag: vip}, leave_unassigned, ...]``."""
        if not isinstance(value, list):
            self.err(path, f"expected a list of actions, got {_kind(value)}")
            return ()
        out: list[ActionConfig] = []
        for i, item in enumerate(value):
            at = f"{path}[{i}]"
            if isinstance(item, str):
                action, arg, given = item, None, False
            elif isinstance(item, dict) and len(item) == 1:
                ((action, arg),) = item.items()
                given = True
            else:
                self.err(at, f"expected an action name or {{action: value}}, got {item!r}"[:200])
                continue
            for sub, message in action_problems(str(action), arg, given, names):
                self.err(f"{at}.{sub}" if sub else at, message)
            # Kept even when wrong, so the rule is not also reported as having no action.
            out.append(ActionConfig(str(action), None if arg is True else arg))
        return tuple(out)


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
