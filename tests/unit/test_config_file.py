"""Tenant config files: the demo loads; a bad file names every problem with file, line, field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from schemas.config_file import ConfigError, ConfigProblem, load_config_file, parse_config_text
from schemas.tenant_config import (
    ActionConfig,
    AgentConfig,
    ConditionConfig,
    DepartmentConfig,
    RuleConfig,
    TenantConfig,
)

from .builders import DEMO_CONFIG


def problems_of(text: str, filename: str = "tenant.yaml") -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, filename)
    problems = info.value.problems
    assert problems, "a ConfigError must list at least one problem"
    assert str(info.value) == "\n".join(str(p) for p in problems)
    return problems


def places(problems: list[ConfigProblem]) -> set[tuple[int, str]]:
    return {(p.line, p.field) for p in problems}


# --- the demo tenant ----------------------------------------------------------------


def test_demo_tenant_loads() -> None:
    config = load_config_file(DEMO_CONFIG, version=3)
    assert isinstance(config, TenantConfig)
    assert config.tenant == "demo"
    assert config.version == 3
    assert config.default_department == "support"
    assert list(config.departments) == ["sales", "support", "billing", "technical"]
    assert config.departments["sales"] == DepartmentConfig(
        "sales", "Sales", "round-robin", {"chat": "ring-all"}
    )
    technical = config.departments["technical"]
    assert technical.strategy_for("call") == "round-robin"
    assert technical.strategy_for("email") == "least-load"
    assert len(config.agents) == 12
    assert config.agents["alice"] == AgentConfig(
        "alice", "Alice Moreau", ("sales",), {"email": 8, "social": 6, "chat": 3, "call": 1}, 50
    )
    assert config.agents["goran"].departments == ("support", "billing")
    assert "social" not in config.agents["bruno"].capacity
    assert [r.name for r in config.rules] == [
        "drop-automatic-mail",
        "vip-first",
        "after-hours-tag",
        "billing-mailbox",
        "sales-chat-button",
        "sales-hotline",
        "tech-hotline",
        "tech-mailbox",
        "social-to-support",
        "long-wait-escalates",
    ]
    assert config.rules[3] == RuleConfig(
        "billing-mailbox",
        "billing",
        ("email",),
        ("email:billing@demo.example", "email:invoices@demo.example"),
        (),
    )
    assert config.rules[7].source_prefix == ("email:tech",)
    assert config.rules[1].stop is False
    assert config.rules[1].groups == (
        (ConditionConfig("customer.vip", "equals", True),),
        (ConditionConfig("customer.plan", "in", ["enterprise", "premium"]),),
    )
    assert config.rules[1].actions == (
        ActionConfig("set_priority", 1),
        ActionConfig("add_tag", "vip"),
    )
    assert config.rules[-1].triggers == ("queue_wait",)
    assert config.rules[-1].actions == (ActionConfig("escalate"),)
    support = config.departments["support"]
    assert support.overflow == "technical"
    assert support.hours is not None
    assert support.hours.timezone == "Europe/Paris"
    assert support.hours.weekly["fri"] == ("08:00-18:00",)
    assert support.hours.holidays == ("2026-12-25", "2027-01-01")
    assert config.department_agents["support"] == (
        "chen",
        "dana",
        "emeka",
        "farah",
        "goran",
        "lena",
    )
    assert config.department_agents["technical"] == ("julia", "kofi", "lena")


def test_demo_tenant_as_json_gives_the_same_config(tmp_path: Path) -> None:
    data = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    assert load_config_file(path) == load_config_file(DEMO_CONFIG)


def test_compact_json_loads() -> None:
    text = json.dumps(
        {
            "tenant": "acme",
            "departments": [{"id": "sales", "strategies": {"chat": "round-robin"}}],
            "agents": [{"id": "ann", "departments": ["sales"], "capacity": {"chat": 2}}],
            "rules": [{"name": "r", "department": "sales", "when": {"channel": ["chat"]}}],
        }
    )
    config = parse_config_text(text, "acme.json")
    assert config.departments["sales"].strategy_for("chat") == "round-robin"
    assert config.agents["ann"].capacity == {"chat": 2}
    assert config.rules[0].channel == ("chat",)


def test_tab_indented_json_loads() -> None:
    """Valid JSON is valid config input, whatever its whitespace.

    ``json.dumps(..., indent="\\t")`` (and many editors) indent JSON with tabs,
    which JSON allows anywhere between tokens.
    """
    data = {"tenant": "acme", "departments": [{"id": "sales"}], "agents": []}
    config = parse_config_text(json.dumps(data, indent="\t"), "acme.json")
    assert config.tenant == "acme"


def test_json_errors_point_at_lines() -> None:
    text = (
        "{\n"
        '  "tenant": "acme",\n'
        '  "departments": [{"id": "sales"}],\n'
        '  "agents": [\n'
        '    {"id": "ann", "departments": ["sales"], "colour": "red"},\n'
        '    {"id": "bob", "capacity": {"chat": -2}}\n'
        "  ]\n"
        "}\n"
    )
    assert places(problems_of(text, "acme.json")) == {
        (5, "agents[0].colour"),
        (6, "agents[1].capacity.chat"),
    }


def test_json_syntax_error_has_a_line() -> None:
    text = '{\n  "tenant": "acme",\n  "departments": [{"id": "sales"}]\n  "agents": []\n}\n'
    (problem,) = problems_of(text, "acme.json")
    assert problem.field == "<syntax>"
    assert problem.line == 4


# --- an invalid file reports every problem at once -----------------------------------

BROKEN = """\
tenant: acme
default_department: nowhere
departments:
  - id: sales
    strategy: fastest
  - id: sales
  - name: No Id
    strategies: {fax: round-robin, chat: fastest}
agents:
  - id: ann
    departments: [sales, marketing]
    capacity: {email: -1, fax: 2, chat: two}
    priority: 0
    colour: blue
  - id: ann
rules:
  - name: r1
    department: sales
    when: {channel: [email, pigeon], sender: x}
  - name: r1
    department: ghost
extra: 1
"""

BROKEN_PLACES = {
    (22, "extra"),
    (5, "departments[0].strategy"),
    (6, "departments[1].id"),
    (7, "departments[2].id"),
    (8, "departments[2].strategies.fax"),
    (8, "departments[2].strategies.chat"),
    (11, "agents[0].departments[1]"),
    (12, "agents[0].capacity.email"),
    (12, "agents[0].capacity.fax"),
    (12, "agents[0].capacity.chat"),
    (13, "agents[0].priority"),
    (14, "agents[0].colour"),
    (15, "agents[1].id"),
    (19, "rules[0].when.sender"),
    (19, "rules[0].when.channel[1]"),
    (20, "rules[1].name"),
    (21, "rules[1].department"),
    (2, "default_department"),
}


def test_every_problem_is_reported_with_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    problems = info.value.problems
    assert {p.file for p in problems} == {str(path)}
    assert places(problems) == BROKEN_PLACES
    assert len(problems) == len(BROKEN_PLACES), "each problem is reported once"


def test_problem_messages_say_what_is_wrong() -> None:
    by_field = {p.field: p for p in problems_of(BROKEN, "broken.yaml")}
    assert "unknown field" in by_field["extra"].message
    assert "fastest" in by_field["departments[0].strategy"].message
    assert "duplicate department id 'sales'" in by_field["departments[1].id"].message
    assert "required field is missing" in by_field["departments[2].id"].message
    assert "unknown department 'marketing'" in by_field["agents[0].departments[1]"].message
    assert "-1" in by_field["agents[0].capacity.email"].message
    assert "unknown channel" in by_field["agents[0].capacity.fax"].message
    assert "duplicate agent id 'ann'" in by_field["agents[1].id"].message
    assert "'pigeon'" in by_field["rules[0].when.channel[1]"].message
    assert "duplicate rule name 'r1'" in by_field["rules[1].name"].message
    assert "unknown department 'ghost'" in by_field["rules[1].department"].message
    assert "unknown department 'nowhere'" in by_field["default_department"].message
    problem = by_field["agents[0].priority"]
    assert str(problem) == f"broken.yaml:13: agents[0].priority: {problem.message}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("departments:\n  - id: a\n", {(1, "tenant")}),
        ("tenant: ''\ndepartments:\n  - id: a\n", {(1, "tenant")}),
        ("tenant: 7\ndepartments:\n  - id: a\n", {(1, "tenant")}),
        ("tenant: t\ndepartments: []\n", {(2, "departments")}),
        ("tenant: t\ndepartments: sales\n", {(2, "departments")}),
        ("tenant: t\ndepartments:\n  - sales\n", {(3, "departments[0]")}),
        ("tenant: t\ndepartments:\n  - id: a\nagents: {ann: 1}\n", {(4, "agents")}),
        (
            "tenant: t\ndepartments:\n  - id: a\nagents:\n  - id: ann\n    priority: true\n",
            {(6, "agents[0].priority")},
        ),
        (
            "tenant: t\ndepartments:\n  - id: a\nagents:\n  - id: ann\n    capacity: 3\n",
            {(6, "agents[0].capacity")},
        ),
        (
            "tenant: t\ndepartments:\n  - id: a\nagents:\n  - departments: a\n",
            {(5, "agents[0].id")},
        ),
        (
            "tenant: t\ndepartments:\n  - id: a\nrules:\n  - name: r\n    department: a\n"
            "    when: email\n",
            {(7, "rules[0].when")},
        ),
        (
            "tenant: t\ndepartments:\n  - id: a\nrules:\n  - name: r\n    when: {channel: chat}\n",
            {(5, "rules[0].actions")},  # a rule that does nothing
        ),
    ],
)
def test_single_problems(text: str, expected: set[tuple[int, str]]) -> None:
    assert places(problems_of(text)) == expected


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- a\n- b\n", "just a string\n"])
def test_not_a_mapping(text: str) -> None:
    (problem,) = problems_of(text)
    assert problem.field == "<top>"


def test_yaml_syntax_error_has_a_line() -> None:
    text = "tenant: acme\ndepartments:\n  - id: sales\n    name: a: b\nagents: []\n"
    (problem,) = problems_of(text)
    assert problem.field == "<syntax>"
    assert problem.line == 4
    assert str(problem).startswith("tenant.yaml:4: <syntax>: ")


def test_unclosed_flow_sequence_has_a_line() -> None:
    text = "tenant: acme\ndepartments:\n  - id: sales\n    name: [unclosed\nagents: []\n"
    (problem,) = problems_of(text)
    assert problem.field == "<syntax>"
    assert problem.line >= 4


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_file(tmp_path / "nope.yaml")
    (problem,) = info.value.problems
    assert problem.field == "<file>"
    assert problem.file == str(tmp_path / "nope.yaml")


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("tenant: café\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    assert info.value.problems[0].field == "<file>"


def test_single_strings_count_as_lists() -> None:
    text = (
        "tenant: t\ndepartments:\n  - id: a\nagents:\n  - id: ann\n    departments: a\n"
        "rules:\n  - name: r\n    department: a\n    when: {channel: chat, source: chat:x}\n"
    )
    config = parse_config_text(text, "t.yaml")
    assert config.agents["ann"].departments == ("a",)
    assert config.rules[0].channel == ("chat",)
    assert config.rules[0].source == ("chat:x",)


# --- duplicates and values YAML itself cannot construct --------------------------------


def test_duplicate_ids_are_reported() -> None:
    text = (
        "tenant: t\ndepartments:\n  - id: a\n  - id: b\n  - id: a\n"
        "agents:\n  - id: x\n  - id: y\n  - id: x\n"
        "rules:\n  - {name: r, department: a}\n  - {name: r, department: b}\n"
    )
    assert places(problems_of(text)) == {
        (5, "departments[2].id"),
        (9, "agents[2].id"),
        (12, "rules[1].name"),
    }


def test_an_agent_listed_twice_in_a_department_is_not_counted_twice() -> None:
    """``departments: [d, d]`` must be refused or collapse to one membership.

    Listed twice, the agent holds two places in the department's round-robin
    order, and (the cursor being set to the agent's first place) round robin then
    hands that agent every item and starves the others.
    """
    text = (
        "tenant: t\ndepartments:\n  - {id: d, strategy: round-robin}\n"
        "agents:\n  - {id: x, departments: [d, d], capacity: {chat: 9}}\n"
        "  - {id: y, departments: [d], capacity: {chat: 9}}\n"
    )
    try:
        config = parse_config_text(text, "t.yaml")
    except ConfigError as exc:
        assert any(
            p.line == 5 and p.field.startswith("agents[0].departments") for p in exc.problems
        )
        return
    assert config.department_agents["d"] == ("x", "y")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("tenant: a\ntenant: b\ndepartments:\n  - id: d\n", 2),
        (
            "tenant: t\ndepartments:\n  - id: d\nagents:\n  - {id: x, capacity: {chat: 1, chat: 5}}\n",
            5,
        ),
    ],
    ids=["top-level key", "capacity key"],
)
def test_duplicate_mapping_keys_are_reported(text: str, line: int) -> None:
    """A key given twice is a hand-editing slip; silently keeping the last value hides it."""
    problems = problems_of(text)
    assert any(p.line == line for p in problems), problems


@pytest.mark.parametrize(
    "text",
    [
        "tenant: 2024-13-45\ndepartments:\n  - id: d\n",
        "tenant: !custom acme\ndepartments:\n  - id: d\n",
        "tenant: !!binary 'zz'\ndepartments:\n  - id: d\n",
        "tenant: !!python/name:os.system\ndepartments:\n  - id: d\n",
    ],
    ids=["impossible date", "unknown tag", "bad base64", "python tag"],
)
def test_unconstructible_scalar_is_a_config_error_with_line(text: str) -> None:
    problems = problems_of(text)
    assert any(p.line == 1 for p in problems), problems


def test_recursive_alias_is_a_config_error() -> None:
    text = "tenant: t\ndepartments: &d\n  - id: a\n  - *d\n"
    problems_of(text)


def test_aliases_are_expanded() -> None:
    text = (
        "tenant: t\ndepartments:\n  - id: a\n  - id: b\n"
        "agents:\n  - {id: x, departments: [a], capacity: &cap {chat: 2, email: 3}}\n"
        "  - {id: y, departments: [b], capacity: *cap}\n"
    )
    config = parse_config_text(text, "t.yaml")
    assert config.agents["y"].capacity == {"chat": 2, "email": 3}


def test_version_is_passed_through() -> None:
    config = parse_config_text("tenant: t\ndepartments:\n  - id: a\n", "t.yaml", version=42)
    assert config.version == 42
    assert config.default_department == ""
    assert config.departments["a"].name == "a"


# --- rules, hours and calendars: every problem at its line ------------------------------

RULES_BROKEN = """\
tenant: acme
calendars:
  office:
    timezone: Mars/Olympus
    weekly: {mon: ["9-5"], funday: ["10:00-11:00"]}
    holidays: [2026-02-30, "someday"]
departments:
  - id: support
    overflow: nowhere
  - id: sales
    hours: {weekly: {mon: "09:00-17:00"}}
agents:
  - {id: ann, departments: [support]}
rules:
  - name: ok
    if: [{field: channel, op: equals, value: email}]
    actions: [{transfer: support}]
  - name: fields
    if:
      - {field: colour, op: equals, value: red}
      - {field: priority, op: gt, value: high}
      - {field: subject, op: gt, value: 3}
  - name: ops
    trigger: [ticket_created, ticket_exploded]
    if_any:
      - [{field: subject, op: matches, value: "(unclosed"}]
      - [{field: text, op: is_set, value: true}]
    actions: [{transfer: support}, {drop: spam}, {set_priority: 9}]
  - name: typo
    if: [{field: subject, op: containz, value: invoice}]
    actions: [{assign_agent: bob}, {add_tag: ""}, explode, {transfer: ghost}]
  - name: hours
    if:
      - {field: time, op: within_hours, value: support}
      - {field: time, op: equals, value: office}
    stop: maybe
    actions: [escalate]
"""

RULES_BROKEN_PROBLEMS = {
    (4, "calendars.office.timezone"): "unknown time zone 'Mars/Olympus'",
    (5, "calendars.office.weekly.mon[0]"): "expected HH:MM-HH:MM, got '9-5'",
    (5, "calendars.office.weekly.funday"): "unknown day",
    (6, "calendars.office.holidays[0]"): "unreadable value: day is out of range",
    (6, "calendars.office.holidays[1]"): "expected a date YYYY-MM-DD, got 'someday'",
    (9, "departments[0].overflow"): "unknown department 'nowhere'",
    (11, "departments[1].hours.timezone"): "required field is missing",
    (20, "rules[1].if[0].field"): "unknown field 'colour'",
    (21, "rules[1].if[1].value"): "expected a number, got str 'high'",
    (22, "rules[1].if[2].op"): "'gt' does not apply to subject",
    (18, "rules[1].actions"): "a rule needs at least one action",
    (24, "rules[2].trigger[1]"): "unknown trigger 'ticket_exploded'",
    (26, "rules[2].if_any[0][0].value"): "invalid regular expression '(unclosed': missing )",
    (27, "rules[2].if_any[1][0].value"): "is_set takes no value",
    (28, "rules[2].actions[2].set_priority"): "expected 1 (most urgent) .. 5, got 9",
    (28, "rules[2].actions"): "a rule places a ticket once: transfer, drop",
    (30, "rules[3].if[0].op"): "unknown operator 'containz'",
    (31, "rules[3].actions[0].assign_agent"): "unknown agent 'bob'",
    (31, "rules[3].actions[1].add_tag"): "expected a non-empty tag",
    (31, "rules[3].actions[2]"): "unknown action 'explode'",
    (31, "rules[3].actions[3].transfer"): "unknown department 'ghost'",
    (34, "rules[4].if[0].value"): "'support' is neither a department with hours nor a calendar",
    (35, "rules[4].if[1].op"): "'equals' does not apply to time",
    (36, "rules[4].stop"): "expected true or false, got 'maybe'",
}


def test_rule_problems_are_reported_with_file_line_and_field() -> None:
    problems = problems_of(RULES_BROKEN, "acme.yaml")
    found = {(p.line, p.field): p.message for p in problems}
    assert set(found) == set(RULES_BROKEN_PROBLEMS), sorted(found)
    for place, expected in RULES_BROKEN_PROBLEMS.items():
        assert expected in found[place], (place, found[place])
    assert len(problems) == len(found), "each problem is reported once"


def test_unknown_operator_reads_exactly_as_documented() -> None:
    by_field = {p.field: p for p in problems_of(RULES_BROKEN, "acme.yaml")}
    assert str(by_field["rules[3].if[0].op"]) == (
        "acme.yaml:30: rules[3].if[0].op: unknown operator 'containz'"
    )


def test_on_is_not_the_trigger_key() -> None:
    """``on:`` is what YAML 1.1 tools read as ``true``; the key is ``trigger:``."""
    text = (
        "tenant: t\ndepartments:\n  - id: a\nrules:\n"
        "  - {name: r, on: queue_wait, actions: [escalate]}\n"
    )
    (problem,) = problems_of(text)
    assert (problem.line, problem.field) == (5, "rules[0].on")
    assert "'trigger'" in problem.message


def test_full_rule_syntax_loads_and_round_trips_through_the_codec() -> None:
    from schemas.codec import decode, encode

    text = (
        "tenant: t\n"
        "calendars:\n  office: {timezone: Europe/Paris, weekly: {mon: ['09:00-17:00']}}\n"
        "departments:\n  - {id: a, overflow: b}\n  - id: b\n"
        "    hours: {timezone: UTC, weekly: {sun: '00:00-24:00'}, holidays: [2026-12-25]}\n"
        "agents:\n  - {id: ann, departments: [a]}\n"
        "rules:\n"
        "  - name: r\n    trigger: [ticket_created, message_added]\n    stop: false\n"
        "    when: {channel: email}\n"
        "    if: [{field: time, op: within_hours, value: office}]\n"
        "    if_any:\n      - [{field: customer.vip, op: equals, value: true}]\n"
        "      - [{field: subject, op: matches, value: '(?i)urgent'}]\n"
        "    actions: [{transfer: a}, {set_priority: 1}, {add_tag: vip}, {assign_agent: ann},"
        " leave_unassigned, {leave_unassigned: true}]\n"
        "  - {name: s, trigger: queue_wait, if: [{field: wait_s, op: gte, value: 60.5}],"
        " actions: [escalate]}\n"
    )
    config = parse_config_text(text, "t.yaml")
    rule = config.rules[0]
    assert rule.triggers == ("ticket_created", "message_added")
    assert rule.channel == ("email",)
    assert rule.groups == (
        (
            ConditionConfig("time", "within_hours", "office"),
            ConditionConfig("customer.vip", "equals", True),
        ),
        (
            ConditionConfig("time", "within_hours", "office"),
            ConditionConfig("subject", "matches", "(?i)urgent"),
        ),
    )
    assert [a.action for a in rule.actions] == [
        "transfer",
        "set_priority",
        "add_tag",
        "assign_agent",
        "leave_unassigned",
        "leave_unassigned",
    ]
    assert config.departments["b"].hours is not None
    assert config.departments["b"].hours.holidays == ("2026-12-25",)
    assert decode(encode(config)) == config
