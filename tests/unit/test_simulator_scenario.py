"""Scenario files: validated with file:line: field errors; shifts, breaks and hourly
traffic are what the core sees (checked on the core's own TicketAssigned events)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.config_file import ConfigError
from simulator import load_scenario, report, run_scenario
from simulator.engine import merged, routing_domains
from simulator.scenario import AgentPlan, Breaks, parse_scenario_text
from tests.support import ROOT

SAMPLE = ROOT / "simulator" / "scenarios" / "sample.yaml"
SMALL = ROOT / "simulator" / "scenarios" / "small.json"
HOUR = 3600.0

GOOD = """\
seed: 2
hours: 48
departments:
  - id: desk
    strategy: least-load
agents:
  - id: a
    departments: [desk]
    capacity: {chat: 2}
    shifts: ["0-8", "16-24"]
    breaks: {every_hours: 2, minutes: 15}
arrivals:
  - {department: desk, channel: chat, per_hour: 10}
handle:
  chat: {mean_seconds: 300}
"""


def problems(text: str, name: str = "s.yaml") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_scenario_text(text, name)
    return [str(p) for p in caught.value.problems]


def test_the_sample_scenarios_load() -> None:
    week = load_scenario(SAMPLE)
    assert set(week.config.departments) == {"support", "sales"}
    assert len(week.config.agents) == 17 and "day-6" in week.config.agents
    assert week.config.departments["support"].strategy_for("call") == "longest-idle"
    assert week.plans["night-1"].shifts == ((0.0, 6.0), (22.0, 24.0))
    small = load_scenario(SMALL)
    assert small.handle["email"].kind == "fixed" and small.plans["ben"].breaks == Breaks(3, 20)


def test_good_text_parses() -> None:
    s = parse_scenario_text(GOOD, "s.yaml")
    assert s.hours == 48 and s.seed == 2 and s.arrivals[0].per_hour == (10.0,)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("hours: 48", "hours: -1", "s.yaml:2: hours: expected a number > 0"),
        ("hours: 48", "hour: 48", "s.yaml:2: hour: unknown field"),
        (
            "strategy: least-load",
            "strategy: fastest",
            "s.yaml:5: departments[0].strategy: unknown strategy 'fastest'",
        ),
        ('"0-8", "16-24"', '"0-8", "6-24"', "s.yaml:10: agents[0].shifts: windows overlap"),
        ('"0-8"', '"8-0"', "s.yaml:10: agents[0].shifts[0]: expected 0 <= start < end"),
        ('"0-8"', '"morning"', 's.yaml:10: agents[0].shifts[0]: expected "START-END"'),
        (
            "minutes: 15",
            "minutes: 150",
            "s.yaml:11: agents[0].breaks.minutes: a break must be shorter",
        ),
        (
            "capacity: {chat: 2}",
            "capacity: {chat: -2}",
            "s.yaml:9: agents[0].capacity.chat: expected a whole number >= 0",
        ),
        (
            "departments: [desk]",
            "departments: [sales]",
            "s.yaml:8: agents[0].departments[0]: unknown department 'sales'",
        ),
        (
            "department: desk, channel: chat",
            "department: desk, channel: fax",
            "s.yaml:13: arrivals[0].channel: expected one of",
        ),
        (
            "per_hour: 10",
            "per_hour: 10, hourly: [1]",
            "s.yaml:13: arrivals[0]: give per_hour (one rate) or hourly",
        ),
        (
            "channel: chat, per_hour",
            "channel: call, per_hour",
            "s.yaml:13: arrivals[0]: no agent of department 'desk' takes call",
        ),
        (
            "mean_seconds: 300",
            "median_seconds: 300",
            "s.yaml:15: handle.chat.median_seconds: unknown field",
        ),
        (
            "  chat: {mean_seconds: 300}",
            "  call: {mean_seconds: 300}",
            "s.yaml:15: handle.chat: required: arrivals[0] brings chat work",
        ),
    ],
)
def test_each_problem_names_file_line_and_field(old: str, new: str, expected: str) -> None:
    assert old in GOOD
    found = problems(GOOD.replace(old, new, 1))
    assert found[0].startswith(expected), found


def test_every_problem_is_reported_at_once_and_json_works_too() -> None:
    text = GOOD.replace("hours: 48", "hours: x").replace("per_hour: 10", "per_hour: -3")
    assert len(problems(text)) == 2
    body = json.dumps({"departments": [{"id": "d"}], "agents": [], "arrivals": []})
    found = problems(body, "s.json")
    assert "s.json:1: agents: at least one agent is needed" in found


def test_cli_prints_problems_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("hours: 48", "hours: -1"))
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "simulate", "--scenario", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert f"{bad}:2: hours: expected a number > 0" in done.stderr


def test_presence_changes_follow_shifts_and_breaks() -> None:
    plan = AgentPlan("a", ((0.0, 8.0), (16.0, 24.0)), 24.0, Breaks(2.0, 15.0))
    changes = []
    for at, presence in plan.presence_changes():
        if at >= 48 * HOUR:
            break
        changes.append((at / HOUR, presence))
    # 16:00 to 08:00 next day is one span: no offline at midnight
    assert changes[:4] == [(0.0, "online"), (2.0, "break"), (2.25, "online"), (4.25, "break")]
    assert (8.0, "offline") in changes and (24.0, "offline") not in changes
    assert (16.0, "online") in changes and (18.0, "break") in changes
    assert plan_of_always_online_has_no_end()


def plan_of_always_online_has_no_end() -> bool:
    first = next(AgentPlan("b").presence_changes())
    return first == (0.0, "online")


def online_at(plan: AgentPlan, t: float) -> bool:
    """Independent of the engine: is the agent online (not on break, not off shift) at t?"""
    if not plan.shifts:
        return True
    h = (t / HOUR) % plan.cycle_hours
    return any(s <= h < e for s, e in plan.shifts)


def test_nobody_gets_work_off_shift_or_on_break() -> None:
    scenario = load_scenario(SAMPLE)
    scenario = dataclasses.replace(scenario, hours=72)
    out = run_scenario(scenario, trace=True)
    assert len(out.assignments) > 1000
    spans: dict[str, list[tuple[float, str]]] = {}
    for at, agent, presence in out.presence:
        spans.setdefault(agent, []).append((at, presence))
    for a in out.assignments:
        plan = scenario.plans[a.agent_id]
        assert online_at(plan, a.assigned_at), (a.agent_id, a.assigned_at / HOUR)
        before = [p for at, p in spans[a.agent_id] if at <= a.assigned_at]
        assert before and before[-1] == "online", (a.agent_id, a.assigned_at / HOUR)
    # breaks did happen, and every shift group took work
    assert any(p == "break" for _, _, p in out.presence)
    groups = {a.agent_id.rsplit("-", 1)[0] for a in out.assignments}
    assert groups == {"day", "late", "night", "seller", "lead"}


def test_hourly_rates_shape_the_traffic() -> None:
    scenario = dataclasses.replace(load_scenario(SAMPLE), hours=96)
    out = run_scenario(scenario, trace=True)
    sales_chat = [t for tid, t in out.arrived.items() if tid.startswith("s3.")]
    assert sales_chat, "sales chat arrives"
    # the sales chat profile is 0 from 20:00 to 07:00
    assert all(7 <= (t / HOUR) % 24 < 20 for t in sales_chat)


def test_compare_uses_identical_arrivals() -> None:
    scenario = dataclasses.replace(load_scenario(SAMPLE), hours=48)
    one = run_scenario(scenario, trace=True)
    two = run_scenario(scenario.with_strategy("max-load"), trace=True)
    assert one.arrived == two.arrived
    assert [(a.ticket_id, a.agent_id) for a in one.assignments] != [
        (a.ticket_id, a.agent_id) for a in two.assignments
    ]


def test_routing_domains_run_apart_with_the_same_figures() -> None:
    week = load_scenario(SAMPLE)
    assert routing_domains(week.config) == [("support", "sales")]  # the lead works in both
    lead = week.config.agents["lead"]
    apart = dataclasses.replace(
        week,
        hours=48,
        config=dataclasses.replace(
            week.config,
            agents={
                **week.config.agents,
                "lead": dataclasses.replace(lead, departments=("sales",)),
            },
        ),
    )
    domains = routing_domains(apart.config)
    assert domains == [("support",), ("sales",)]
    whole = run_scenario(apart, trace=True)
    parts = merged([run_scenario(apart, trace=True, departments=d) for d in domains])
    assert report(parts, 20) == report(whole, 20)
    assert parts.arrived == whole.arrived
    key = [(a.ticket_id, a.agent_id, a.assigned_at) for a in whole.assignments]
    assert sorted(key) == sorted(
        (a.ticket_id, a.agent_id, a.assigned_at) for a in parts.assignments
    )


ESCALATING = """\
seed: 4
hours: 8
departments:
  - {id: tier1, strategy: least-load, overflow: tier2, escalate_after: {chat: 60}}
  - {id: tier2, strategy: least-load, offer_timeout: {chat: 10}}
agents:
  - {id: a, departments: [tier1], capacity: {chat: 1}}
  - {id: b, departments: [tier2], capacity: {chat: 2}, accept_delay: {fixed_seconds: 15}}
  - {id: c, departments: [tier2], capacity: {chat: 2}}
arrivals:
  - {department: tier1, channel: chat, per_hour: 30}
handle:
  chat: {mean_seconds: 300}
"""


def test_deadlines_tick_the_core_so_work_escalates_and_offers_time_out() -> None:
    out = run_scenario(parse_scenario_text(ESCALATING, "esc.yaml"), trace=True)
    tier1 = report(out, 20).departments["tier1"]
    # one agent for 2.5 Erlangs: waiting work moves on to tier2 after 60 s
    assert tier1.escalated > 0.2 * tier1.offered
    moved = [a for a in out.assignments if a.department == "tier2"]
    assert moved and {a.agent_id for a in moved} == {"c"}  # b always answers too late
    # b's offers ring out after 10 s: each one a missed offer
    assert tier1.missed_offers > 0
    assert tier1.assigned + tier1.abandoned <= tier1.offered
    tier2 = report(out, 20).departments["tier2"]
    assert tier2.offered == 0 and 0 < tier2.occupancy <= 1 and tier1.occupancy <= 1
    problems = []
    try:
        parse_scenario_text(ESCALATING.replace("overflow: tier2", "overflow: tier9"), "e.yaml")
    except ConfigError as exc:
        problems = [str(p) for p in exc.problems]
    assert "e.yaml:4: departments[0].overflow: unknown department 'tier9'" in problems


def test_the_cores_index_and_its_scan_decide_alike() -> None:
    week = dataclasses.replace(load_scenario(SAMPLE), hours=48)
    scanned = run_scenario(week, trace=True, index=False)
    indexed = run_scenario(week, trace=True, index=True)
    assert [(a.ticket_id, a.agent_id, a.assigned_at) for a in scanned.assignments] == [
        (a.ticket_id, a.agent_id, a.assigned_at) for a in indexed.assignments
    ]
    assert report(scanned, 20) == report(indexed, 20)
