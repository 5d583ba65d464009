"""Reading a tenant config file (YAML or JSON) with errors that name file, line and field.

A person edits these files by hand, so validation reports every problem at once,
each with the place to fix it, and an invalid file is never turned into a config.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from schemas.events import CHANNELS
from schemas.tenant_config import (
    STRATEGIES,
    AgentConfig,
    DepartmentConfig,
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
            probe = probe.rsplit(".", 1)[0] if "." in probe else ""
            line = self.lines.get(probe, 0)
        self.problems.append(ConfigProblem(self.filename, line, path or "<top>", message))

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
            data, "", {"tenant", "default_department", "departments", "agents", "rules"}
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
        agents: dict[str, AgentConfig] = {}
        for path, item in self.items(top, "agents"):
            agent = self.agent(item, path, departments)
            if agent is None:
                continue
            if agent.id in agents:
                self.err(f"{path}.id", f"duplicate agent id {agent.id!r}")
            agents[agent.id] = agent
        rules: list[RuleConfig] = []
        names: set[str] = set()
        for path, item in self.items(top, "rules"):
            rule = self.rule(item, path, departments)
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
        return TenantConfig(tenant, version, departments, agents, tuple(rules), default)

    def department(self, item: Any, path: str) -> DepartmentConfig | None:
        m = self.mapping(item, path, {"id", "name", "strategy", "strategies"})
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
        return DepartmentConfig(dept_id, str(name), str(strategy), per_channel)

    def agent(
        self, item: Any, path: str, departments: dict[str, DepartmentConfig]
    ) -> AgentConfig | None:
        m = self.mapping(item, path, {"id", "name", "departments", "capacity", "priority"})
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
        return AgentConfig(agent_id, str(m.get("name", agent_id)), depts, capacity, priority)

    def rule(
        self, item: Any, path: str, departments: dict[str, DepartmentConfig]
    ) -> RuleConfig | None:
        m = self.mapping(item, path, {"name", "when", "department"})
        if m is None:
            return None
        name = self.string(m, "name", path)
        dept = self.string(m, "department", path)
        if dept and dept not in departments:
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
        return RuleConfig(
            name,
            dept,
            channels,
            self.strings(when, "source", f"{path}.when"),
            self.strings(when, "source_prefix", f"{path}.when"),
        )


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
