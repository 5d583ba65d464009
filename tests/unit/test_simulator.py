"""The simulator runs the real routing core; on a textbook queue it must agree
with queueing theory (Erlang C), and compared strategies see identical traffic."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

from agents_state import MemoryState, on_ticket_routed, waiting_work, withdraw_ticket
from schemas.events import TicketRouted
from simulator import SimConfig, simulate, summarise
from simulator.engine import DEPT, TENANT, tenant_config
from simulator.report import gini
from simulator.scenario import simple_scenario
from tests.support import ROOT

FIGURES = (
    "offered",
    "assigned",
    "abandoned",
    "p_wait",
    "mean_wait_s",
    "p90_wait_s",
    "service_level",
    "occupancy",
    "gini",
    "missed_offers",
)


def erlang_c(load: float, agents: int) -> float:
    top = load**agents / math.factorial(agents) * agents / (agents - load)
    return top / (sum(load**k / math.factorial(k) for k in range(agents)) + top)


def test_matches_erlang_c_on_an_m_m_n_queue() -> None:
    cfg = SimConfig(agents=7, arrivals_per_hour=100, mean_handle_seconds=180, hours=400, seed=3)
    stats = summarise(simulate(cfg), sl_seconds=20)
    load = 100 * 180 / 3600  # 5 Erlangs on 7 agents
    p_wait = erlang_c(load, 7)
    assert abs(stats.p_wait - p_wait) < 0.03, (stats.p_wait, p_wait)
    assert abs(stats.mean_wait_s - p_wait * 180 / (7 - load)) < 5.0
    assert abs(stats.occupancy - load / 7) < 0.02
    assert stats.offered == stats.assigned and stats.abandoned == 0


def test_patience_makes_customers_leave_and_is_counted() -> None:
    cfg = SimConfig(
        agents=4,
        arrivals_per_hour=100,
        mean_handle_seconds=180,
        hours=50,
        patience_seconds=30,
        seed=5,
    )
    stats = summarise(simulate(cfg), sl_seconds=20)
    assert stats.abandoned > 0
    assert stats.assigned + stats.abandoned == stats.offered
    assert stats.p90_wait_s <= 30


def test_accept_delay_adds_to_every_wait_but_not_to_queueing() -> None:
    quick = summarise(simulate(SimConfig(hours=50, seed=4)), sl_seconds=20)
    slow = summarise(simulate(SimConfig(hours=50, seed=4, accept_delay_seconds=15)), sl_seconds=20)
    assert slow.offered == quick.offered
    assert slow.mean_wait_s >= 15
    assert slow.service_level < quick.service_level
    # the agent holds the work while answering, so capacity is busier, never idler
    assert slow.occupancy > quick.occupancy


def test_compared_strategies_see_the_same_customers() -> None:
    one = simulate(SimConfig(hours=50, strategy="least-load", seed=9), trace=True)
    two = simulate(SimConfig(hours=50, strategy="round-robin", seed=9), trace=True)
    assert one.arrived == two.arrived
    assert {a.agent_id for a in one.assignments} != set() and one.assignments != two.assignments
    again = simulate(SimConfig(hours=50, strategy="least-load", seed=9), trace=True)
    assert again.waited == one.waited and again.work_per_agent == one.work_per_agent


def test_withdraw_removes_waiting_work_only() -> None:
    config = tenant_config(SimConfig(agents=1))
    state = MemoryState()  # nobody online: the ticket waits
    routed = TicketRouted("t1", TENANT, "call", "s", "c", DEPT, "r", 1, 3, 0.0, 0.0, 0.0)
    state.apply(on_ticket_routed(state, config, routed, 0.0))
    gone = withdraw_ticket(state, config, "t1", 5.0)
    state.apply(gone)
    assert not gone.noop
    assert waiting_work(state, TENANT, DEPT, "call") == ()
    assert state.tickets[f"{TENANT}\x1ft1"].status == "withdrawn"
    assert withdraw_ticket(state, config, "t1", 6.0).noop == "not waiting"


def test_gini() -> None:
    assert gini([5, 5, 5]) == 0.0
    assert gini([0, 0, 9]) > 0.6
    assert gini([]) == 0.0


def simulate_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "simulate", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_cli_json_has_every_figure_per_department_and_overall() -> None:
    done = simulate_cli(
        "--channel", "call", "--agents", "7", "--arrivals-per-hour", "100",
        "--mean-handle-seconds", "180", "--hours", "20", "--strategy", "least-load",
        "--seed", "1", "--patience", "60", "--sl-seconds", "15", "--accept-delay", "2", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    for key in FIGURES:
        assert key in body["overall"] and key in body["departments"]["desk"], key
    assert body["overall"]["offered"] > 0 and body["events"] > 0
    assert body["overall"]["mean_wait_s"] >= 2


def test_cli_compare_table_and_json() -> None:
    table = simulate_cli("--hours", "5", "--compare", "random")
    assert table.returncode == 0, table.stderr
    assert "least-load" in table.stdout and "random" in table.stdout
    assert "service_level" in table.stdout
    both = json.loads(simulate_cli("--hours", "5", "--compare", "random", "--json").stdout)
    assert set(both) == {"least-load", "random"}
    assert both["least-load"]["overall"]["offered"] == both["random"]["overall"]["offered"]
    one_process = simulate_cli("--hours", "5", "--compare", "random", "--json", "--jobs", "1")
    again = json.loads(one_process.stdout)
    assert {k: v["overall"] for k, v in again.items()} == {k: v["overall"] for k, v in both.items()}


def test_cli_refuses_simple_flags_with_a_file() -> None:
    done = simulate_cli("--scenario", "simulator/scenarios/sample.yaml", "--agents", "3")
    assert done.returncode == 2 and "--agents" in done.stderr
    done = simulate_cli("--log", "x.jsonl")
    assert done.returncode == 2 and "--config" in done.stderr


def test_declined_and_timed_out_offers_are_missed_offers() -> None:
    base = simple_scenario(agents=7, hours=30, seed=2)
    plans = {a: dataclasses.replace(p, decline_probability=0.3) for a, p in base.plans.items()}
    stats = summarise(simulate(dataclasses.replace(base, plans=plans)))
    assert stats.missed_offers > 0.2 * stats.offered
    assert stats.assigned > 0.99 * stats.offered  # someone else took it
    # an agent slower than the offer's timeout misses every offer; the clock is
    # ticked at the deadline, so the timeouts do happen
    slow = summarise(simulate(SimConfig(agents=3, hours=2, accept_delay_seconds=45, seed=2)))
    assert slow.assigned == 0 and slow.missed_offers >= min(3, slow.offered)


def test_a_run_that_keeps_no_events_decides_as_one_that_explains_them() -> None:
    """Untraced runs skip building explanations (nobody reads them): the decisions,
    and so every figure, are those of a traced run, whose events are explained."""
    cfg = SimConfig(channel="chat", agents=3, capacity=2, hours=20, seed=5, patience_seconds=90)
    traced = simulate(cfg, trace=True)
    plain = simulate(cfg)
    assert traced.assignments
    assert all(a.explanation.get("config_version") for a in traced.assignments)
    assert plain.tallies == traced.tallies
    assert plain.work == traced.work
    assert plain.available_s == traced.available_s
