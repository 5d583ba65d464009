"""``deskroute simulate``: plan staffing and compare strategies offline.

Three inputs: the simple case from flags (one department, one channel), a
scenario file (``--scenario``), or a recorded log replayed under a tenant
config (``--log`` with ``--config``). ``--compare`` runs a second strategy on
the same input and prints both side by side. Compared strategies and the
routing domains of a scenario (departments that share no agent) run in
processes of their own, side by side.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from schemas.config_file import ConfigError, load_config_file
from schemas.events import CHANNELS
from schemas.tenant_config import TenantConfig
from simulator.engine import Outcome, merged, routing_domains, run_scenario
from simulator.replay import replay
from simulator.report import DeptStats, Report, report
from simulator.scenario import (
    Duration,
    Scenario,
    load_scenario,
    simple_scenario,
    strategy_label,
    with_strategy,
)
from strategies import STRATEGIES

#: Flags of the simple case, with their defaults; not allowed with a file.
_SIMPLE: dict[str, Any] = {
    "channel": "call",
    "agents": 7,
    "capacity": 1,
    "arrivals_per_hour": 100.0,
    "mean_handle_seconds": 180.0,
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "simulate",
        help="run the routing core offline on generated traffic or a recorded log",
        description="Run the routing core offline with a virtual clock: on generated traffic"
        " (flags, or --scenario FILE) or on a recorded log (--log FILE --config FILE).",
    )
    src = p.add_argument_group("input (default: the simple case from the flags below)")
    src.add_argument("--scenario", metavar="FILE", help="scenario YAML or JSON")
    src.add_argument("--log", metavar="FILE", help="JSONL of canonical events to replay")
    src.add_argument(
        "--config", metavar="FILE", help="tenant config for --log (or the scenario it recorded)"
    )
    simple = p.add_argument_group("the simple case")
    simple.add_argument("--channel", choices=CHANNELS, help="default: call")
    simple.add_argument("--agents", type=int, help="default: 7")
    simple.add_argument("--capacity", type=int, help="items per agent on the channel (1)")
    simple.add_argument("--arrivals-per-hour", type=float, help="Poisson rate (100)")
    simple.add_argument("--mean-handle-seconds", type=float, help="exponential mean (180)")
    run = p.add_argument_group("every input")
    run.add_argument("--hours", type=float, help="simulated hours (1000; a scenario's own)")
    run.add_argument(
        "--strategy",
        choices=sorted(STRATEGIES),
        help="for every department (default: least-load; a file's own strategies)",
    )
    run.add_argument("--compare", choices=sorted(STRATEGIES), help="a second strategy, same input")
    run.add_argument("--seed", type=int, help="default: 1 (a scenario's own)")
    run.add_argument(
        "--patience", type=float, metavar="SECONDS", help="customers leave after waiting this long"
    )
    run.add_argument(
        "--accept-delay",
        type=float,
        metavar="SECONDS",
        help="agents answer this long after the work reaches them (default 0)",
    )
    run.add_argument(
        "--sl-seconds", type=float, help="service-level threshold (20; a scenario's own)"
    )
    run.add_argument("--record", metavar="FILE", help="write the core's input events as JSONL")
    run.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="processes for compared strategies and separate routing domains (default: cores)",
    )
    run.add_argument(
        "--by-channel", action="store_true", help="the table shows each channel too (JSON always)"
    )
    run.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(fn=run_cli)


class UsageError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Job:
    """One run: a scenario, or a log under a config."""

    label: str
    scenario: Scenario | None = None
    config: TenantConfig | None = None
    log: str = ""
    record: str = ""


@dataclass(frozen=True, slots=True)
class Result:
    label: str
    report: Report
    events: int
    outputs: int
    seconds: float
    simulated_hours: float
    rejected: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.label,
            **self.report.as_dict(),
            "simulated_hours": round(self.simulated_hours, 3),
            "events": self.events,
            "events_per_second": round(self.events / self.seconds) if self.seconds else 0,
            "rejected": len(self.rejected),
        }


def tasks(job: Job) -> list[tuple[Job, tuple[str, ...] | None]]:
    """A job's runs: one per routing domain of a scenario (they share no agent, so
    they run apart with the same figures), else the whole job."""
    if job.scenario is None or job.record:
        return [(job, None)]
    domains = routing_domains(job.scenario.config)
    return [(job, d) for d in domains] if len(domains) > 1 else [(job, None)]


def execute(job: Job, departments: tuple[str, ...] | None = None) -> tuple[Outcome, float]:
    """One run, and how long it took."""
    started = time.perf_counter()
    out: Outcome
    if job.scenario is not None:
        if job.record:
            with open(job.record, "wb") as f:
                out = run_scenario(job.scenario, record=f)
        else:
            out = run_scenario(job.scenario, departments=departments)
    else:
        assert job.config is not None
        if job.record:
            with open(job.record, "wb") as f:
                out = replay(job.config, job.log, record=f)
        else:
            out = replay(job.config, job.log)
    return out, time.perf_counter() - started


def run_jobs(jobs: list[Job], sl_seconds: float, workers: int) -> list[Result]:
    """Every run of every job, side by side on ``workers`` processes."""
    work = [t for job in jobs for t in tasks(job)]
    if len(work) == 1 or workers <= 1:
        done = [execute(*t) for t in work]
    else:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=min(workers, len(work)), mp_context=ctx) as pool:
            done = list(pool.map(execute, *zip(*work, strict=True)))
    results = []
    for job in jobs:
        parts = [d for (j, _), d in zip(work, done, strict=True) if j is job]
        out = merged([o for o, _ in parts])
        results.append(
            Result(
                job.label,
                report(out, sl_seconds),
                out.events,
                out.outputs,
                max(took for _, took in parts),
                out.end / 3600.0,
                tuple(out.rejected),
            )
        )
    return results


def plan(args: argparse.Namespace) -> tuple[list[Job], float, str]:
    """The runs the flags ask for, the service-level threshold, and a title."""
    given = [f"--{k.replace('_', '-')}" for k in _SIMPLE if getattr(args, k) is not None]
    if args.scenario and args.log:
        raise UsageError("give --scenario or --log, not both")
    if (args.scenario or args.log) and given:
        raise UsageError(f"{', '.join(given)}: only for the simple case (no --scenario or --log)")
    if args.config and not args.log:
        raise UsageError("--config goes with --log")
    sl = args.sl_seconds
    if args.log:
        if not args.config:
            raise UsageError("--log needs --config FILE (the tenant config to replay under)")
        for flag in ("hours", "seed", "patience", "accept_delay"):
            if getattr(args, flag) is not None:
                raise UsageError(f"--{flag.replace('_', '-')}: a replay takes times from the log")
        config = replay_config(args.config)
        if args.strategy:
            config = with_strategy(config, args.strategy)
        jobs = [Job(strategy_label(config), config=config, log=args.log, record=args.record)]
        if args.compare:
            other = with_strategy(config, args.compare)
            jobs.append(Job(args.compare, config=other, log=args.log))
        return _distinct(jobs), 20.0 if sl is None else sl, f"replay of {args.log}"
    if args.scenario:
        scenario = load_scenario(args.scenario)
        title = f"scenario {args.scenario}" + (f" ({scenario.name})" if scenario.name else "")
    else:
        values = {
            k: getattr(args, k) if getattr(args, k) is not None else d for k, d in _SIMPLE.items()
        }
        if values["agents"] < 1 or values["capacity"] < 1:
            raise UsageError("--agents and --capacity must be at least 1")
        if values["arrivals_per_hour"] < 0 or values["mean_handle_seconds"] < 0:
            raise UsageError("--arrivals-per-hour and --mean-handle-seconds must be >= 0")
        scenario = simple_scenario(**values, hours=1000.0)
        title = "simple case"
    changes: dict[str, Any] = {}
    for flag in ("hours", "seed"):
        if getattr(args, flag) is not None:
            changes[flag] = getattr(args, flag)
    if args.hours is not None and args.hours <= 0:
        raise UsageError("--hours must be > 0")
    if sl is not None:
        changes["sl_seconds"] = sl
    if args.patience is not None:
        fixed = Duration("fixed", args.patience)
        changes["patience"] = {c: fixed for c in {a.channel for a in scenario.arrivals}}
    if args.accept_delay is not None:
        if args.accept_delay < 0:
            raise UsageError("--accept-delay must be >= 0")
        delay = Duration("fixed", args.accept_delay)
        changes["plans"] = {
            a: dataclasses.replace(p, accept_delay=delay) for a, p in scenario.plans.items()
        }
    scenario = dataclasses.replace(scenario, **changes)
    if args.strategy:
        scenario = scenario.with_strategy(args.strategy)
    if args.record and scenario.patience:
        raise UsageError(
            "--record: customers who give up (patience) have no canonical event, so a replay"
            " could not reproduce the run; record a scenario without patience"
        )
    jobs = [Job(scenario.strategy_label(), scenario=scenario, record=args.record)]
    if args.compare:
        jobs.append(Job(args.compare, scenario=scenario.with_strategy(args.compare)))
    c = scenario.config
    title += (
        f": {len(c.departments)} department(s), {len(c.agents)} agent(s),"
        f" {scenario.hours:g} h simulated, seed {scenario.seed}"
    )
    return _distinct(jobs), scenario.sl_seconds, title


def replay_config(path: str) -> TenantConfig:
    """A tenant config file, or a scenario's departments and agents (the config it ran)."""
    try:
        return load_config_file(path)
    except ConfigError as exc:
        if not any(p.field == "arrivals" for p in exc.problems):
            raise
    return load_scenario(path).config


def _distinct(jobs: list[Job]) -> list[Job]:
    if len(jobs) == 2 and jobs[0].label == jobs[1].label:
        return [jobs[0], dataclasses.replace(jobs[1], label=f"{jobs[1].label} (2)")]
    return jobs


def run_cli(args: argparse.Namespace) -> int:
    try:
        jobs, sl, title = plan(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s); nothing simulated", file=sys.stderr)
        return 1
    except UsageError as exc:
        print(f"deskroute simulate: {exc}", file=sys.stderr)
        return 2
    results = run_jobs(jobs, sl, args.jobs or os.cpu_count() or 1)
    for r in results[:1]:
        for line in r.rejected[:10]:
            print(f"not applied: {line}", file=sys.stderr)
        if len(r.rejected) > 10:
            print(f"not applied: ... {len(r.rejected) - 10} more", file=sys.stderr)
    if args.json:
        bodies = {r.label: r.as_dict() for r in results}
        print(json.dumps(bodies if len(results) > 1 else bodies[results[0].label]))
        return 0
    print(render_table(title, results, sl, args.by_channel))
    return 0


def render_table(title: str, results: list[Result], sl: float, by_channel: bool = False) -> str:
    fields = list(DeptStats.__dataclass_fields__)
    width = max(len(f) for f in fields) + 2
    col = max(14, *(len(r.label) + 2 for r in results))
    lines = [title, f"{'':<{width}}" + "".join(f"{r.label:>{col}}" for r in results)]

    def section(name: str, pick: Any) -> None:
        lines.append(name)
        for f in fields:
            values = [getattr(pick(r), f) for r in results]
            lines.append(f"  {f:<{width - 2}}" + "".join(f"{v:>{col}}" for v in values))

    first = results[0].report
    for d in first.departments:
        section(f"department {d}", lambda r, d=d: r.report.departments[d])
    if by_channel:
        for c in first.channels:
            section(f"channel {c}", lambda r, c=c: r.report.channels[c])
    section("overall", lambda r: r.report.overall)
    lines.append(f"service level = answered within {sl:g} s")
    lines.append(f"{'events':<{width}}" + "".join(f"{r.events:>{col}}" for r in results))
    eps = [round(r.events / r.seconds) if r.seconds else 0 for r in results]
    lines.append(f"{'events/s':<{width}}" + "".join(f"{v:>{col}}" for v in eps))
    return "\n".join(lines)
