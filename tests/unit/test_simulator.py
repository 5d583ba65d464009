"""The simulator runs the real routing core; on a textbook queue it must agree
with queueing theory (Erlang C), and compared strategies see identical traffic."""

from __future__ import annotations

import json
import math
import subprocess
import sys

from agents_state import MemoryState, on_ticket_routed, withdraw_ticket
from schemas.events import TicketRouted
from simulator import SimConfig, simulate, summarise
from simulator.engine import DEPT, TENANT, tenant_config
from simulator.report import gini
from tests.support import ROOT


def erlang_c(load: float, agents: int) -> float:
    top = load**agents / math.factorial(agents) * agents / (agents - load)
    return top / (sum(load**k / math.factorial(k) for k in range(agents)) + top)


def test_matches_erlang_c_on_an_m_m_n_queue() -> None:
    cfg = SimConfig(agents=7, arrivals_per_hour=100, mean_handle_seconds=180, hours=400, seed=3)
    stats = summarise(cfg, simulate(cfg), sl_seconds=20)
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
    stats = summarise(cfg, simulate(cfg), sl_seconds=20)
    assert stats.abandoned > 0
    assert stats.assigned + stats.abandoned == stats.offered
    assert stats.p90_wait_s <= 30


def test_compared_strategies_see_the_same_customers() -> None:
    one = simulate(SimConfig(hours=50, strategy="least-load", seed=9))
    two = simulate(SimConfig(hours=50, strategy="round-robin", seed=9))
    assert one.arrived == two.arrived
    again = simulate(SimConfig(hours=50, strategy="least-load", seed=9))
    assert again.waited == one.waited and again.work_per_agent == one.work_per_agent


def test_withdraw_removes_waiting_work_only() -> None:
    config = tenant_config(SimConfig(agents=1))
    state = MemoryState()  # nobody online: the ticket waits
    routed = TicketRouted("t1", TENANT, "call", "s", "c", DEPT, "r", 1, 3, 0.0, 0.0, 0.0)
    state.apply(on_ticket_routed(state, config, routed, 0.0))
    gone = withdraw_ticket(state, config, "t1", 5.0)
    state.apply(gone)
    assert not gone.noop
    assert state.departments[f"{TENANT}\x1f{DEPT}"].queues["call"] == ()
    assert state.tickets[f"{TENANT}\x1ft1"].status == "withdrawn"
    assert withdraw_ticket(state, config, "t1", 6.0).noop == "not waiting"


def test_gini() -> None:
    assert gini([5, 5, 5]) == 0.0
    assert gini([0, 0, 9]) > 0.6
    assert gini([]) == 0.0


def test_cli_json_and_compare() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "simulate",
            "--channel",
            "call",
            "--agents",
            "7",
            "--arrivals-per-hour",
            "100",
            "--mean-handle-seconds",
            "180",
            "--hours",
            "20",
            "--strategy",
            "least-load",
            "--seed",
            "1",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    body = json.loads(out)
    for key in (
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
    ):
        assert key in body["overall"] and key in body["departments"]["desk"]
    table = subprocess.run(
        [sys.executable, "-m", "streams.cli", "simulate", "--hours", "5", "--compare", "random"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "least-load" in table and "random" in table and "service_level" in table
