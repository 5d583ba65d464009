"""Offline simulation of a help desk on the routing core, with a virtual clock."""

from simulator.engine import SimConfig, simulate
from simulator.report import DeptStats, summarise

__all__ = ["DeptStats", "SimConfig", "simulate", "summarise"]
