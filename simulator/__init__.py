"""Offline simulation and replay of a help desk on the routing core, with a virtual clock."""

from simulator.engine import Engine, Outcome, SimConfig, run_scenario, simulate
from simulator.replay import replay
from simulator.report import DeptStats, Report, report, summarise
from simulator.scenario import Scenario, load_scenario, simple_scenario

__all__ = [
    "DeptStats",
    "Engine",
    "Outcome",
    "Report",
    "Scenario",
    "SimConfig",
    "load_scenario",
    "replay",
    "report",
    "run_scenario",
    "simple_scenario",
    "simulate",
    "summarise",
]
