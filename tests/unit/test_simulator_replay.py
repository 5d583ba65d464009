"""Replaying a recorded log of canonical events: the same decisions every time, the
same decisions as the run that recorded it, rules applied to inbound events."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from schemas.codec import encode
from schemas.config_file import load_config_file
from schemas.events import (
    AgentCapacityChanged,
    AgentPresenceChanged,
    Customer,
    InboundReceived,
    TicketAssigned,
    WorkFinished,
)
from simulator import load_scenario, replay, report, run_scenario
from simulator.scenario import with_strategy
from tests.support import ROOT

SMALL = ROOT / "simulator" / "scenarios" / "small.json"
DEMO = ROOT / "examples" / "demo-tenant.yaml"


def decisions(assignments: list[TicketAssigned]) -> list[tuple[str, str, str, float]]:
    return [(a.ticket_id, a.department, a.agent_id, a.assigned_at) for a in assignments]


def recorded(tmp_path: Path, hours: float = 72) -> tuple[Path, list[TicketAssigned]]:
    scenario = dataclasses.replace(load_scenario(SMALL), hours=hours)
    log = tmp_path / "run.jsonl"
    with log.open("wb") as f:
        out = run_scenario(scenario, trace=True, record=f)
    return log, out.assignments


def test_a_recorded_run_replays_to_the_same_decisions_every_time(tmp_path: Path) -> None:
    log, live = recorded(tmp_path)
    config = load_scenario(SMALL).config
    first = replay(config, log, trace=True)
    second = replay(config, log, trace=True)
    assert len(live) > 500
    assert decisions(first.assignments) == decisions(live)
    assert decisions(second.assignments) == decisions(first.assignments)
    assert first.rejected == [] and report(first, 20).overall.assigned == len(live)


def test_another_strategy_on_the_log_hands_each_finish_to_whoever_holds_the_work(
    tmp_path: Path,
) -> None:
    log, live = recorded(tmp_path, hours=24)
    config = with_strategy(load_scenario(SMALL).config, "max-load")
    out = replay(config, log, trace=True)
    assert decisions(out.assignments) != decisions(live)
    overall = report(out, 20).overall
    # nothing gets stuck behind work whose recorded finish named another agent
    assert overall.assigned == overall.offered == len(live)


def line(record: object) -> bytes:
    return encode(record) + b"\n"


def test_inbound_events_are_routed_by_the_rules_and_bad_lines_are_reported(
    tmp_path: Path,
) -> None:
    config = load_config_file(DEMO)
    billing = InboundReceived(
        "m1", "demo", "email", "email:billing@demo.example", "c1", Customer("x"), 100.0
    )
    tech = InboundReceived(
        "m2", "demo", "email", "email:tech@demo.example", "c2", Customer("y"), 110.0
    )
    log = tmp_path / "demo.jsonl"
    log.write_bytes(
        line(AgentPresenceChanged("p1", "demo", "hana", "online", 50.0))
        + line(AgentPresenceChanged("p2", "demo", "kofi", "online", 50.0))
        + line(AgentCapacityChanged("k1", "demo", "kofi", {"email": 1}, 60.0))
        + line(billing)
        + b"{not json\n"
        + line(dataclasses.replace(tech, tenant="other"))
        + line(tech)
        + line(dataclasses.replace(tech, event_id="m3", conversation_id="c3", received_at=120.0))
        + line(WorkFinished("f1", "demo", "kofi", "m2", 200.0))
        + line(TicketAssigned("m3", "demo", "technical", "email", "kofi", "x", {}, 0.0, 1.0, 0.0))
    )
    runs = [replay(config, log, trace=True) for _ in range(2)]
    out = runs[0]
    assert decisions(runs[1].assignments) == decisions(out.assignments)
    got = {a.ticket_id: (a.department, a.agent_id, a.assigned_at) for a in out.assignments}
    assert got["m1"] == ("billing", "hana", 100.0)
    assert got["m2"] == ("technical", "kofi", 110.0)
    # kofi holds one email at a time: the waiting one is his when the first is done
    assert got["m3"] == ("technical", "kofi", 200.0)
    assert [r.split(": ")[0] for r in out.rejected] == [f"{log}:5", f"{log}:6"]
    assert "malformed_json" in out.rejected[0] and "unknown_tenant" in out.rejected[1]


def test_cli_replays_and_compares(tmp_path: Path) -> None:
    log = tmp_path / "small.jsonl"
    cmd = [sys.executable, "-m", "streams.cli", "simulate"]
    made = subprocess.run(
        [*cmd, "--scenario", str(SMALL), "--record", str(log), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    done = subprocess.run(
        [*cmd, "--log", str(log), "--config", str(SMALL), "--compare", "round-robin", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    both = json.loads(done.stdout)
    assert set(both) == {"as configured", "round-robin"}
    live = json.loads(made.stdout)
    assert both["as configured"]["overall"] == live["overall"]
    assert both["round-robin"]["overall"]["offered"] == live["overall"]["offered"]
