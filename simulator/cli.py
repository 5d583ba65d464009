"""``deskroute simulate``: plan staffing and compare strategies offline."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

from simulator.engine import SimConfig, simulate
from simulator.report import DeptStats, summarise
from strategies import STRATEGIES


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("simulate", help="run the routing core offline on generated traffic")
    p.add_argument("--channel", default="call", choices=["email", "social", "chat", "call"])
    p.add_argument("--agents", type=int, default=7)
    p.add_argument("--capacity", type=int, default=1, help="items per agent on the channel")
    p.add_argument("--arrivals-per-hour", type=float, default=100.0)
    p.add_argument("--mean-handle-seconds", type=float, default=180.0)
    p.add_argument("--hours", type=float, default=1000.0)
    p.add_argument("--strategy", default="least-load", choices=sorted(STRATEGIES))
    p.add_argument("--compare", choices=sorted(STRATEGIES), help="a second strategy, same traffic")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--patience", type=float, default=None, help="seconds before a customer leaves")
    p.add_argument("--sl-seconds", type=float, default=20.0, help="service-level threshold")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(fn=run)


def run(args: argparse.Namespace) -> int:
    base = SimConfig(
        channel=args.channel,
        agents=args.agents,
        capacity=args.capacity,
        arrivals_per_hour=args.arrivals_per_hour,
        mean_handle_seconds=args.mean_handle_seconds,
        hours=args.hours,
        strategy=args.strategy,
        seed=args.seed,
        patience_seconds=args.patience,
    )
    strategies = [args.strategy] + ([args.compare] if args.compare else [])
    results: dict[str, DeptStats] = {}
    timing: dict[str, float] = {}
    for name in strategies:
        cfg = dataclasses.replace(base, strategy=name)
        started = time.perf_counter()
        outcome = simulate(cfg)
        took = time.perf_counter() - started
        results[name] = summarise(cfg, outcome, args.sl_seconds)
        timing[name] = round(outcome.events / took) if took else 0.0
    if args.json:
        body = {
            name: {
                "departments": {"desk": r.as_dict()},
                "overall": r.as_dict(),
                "events_per_second": timing[name],
            }
            for name, r in results.items()
        }
        print(json.dumps(body if args.compare else body[args.strategy]))
        return 0
    fields = list(DeptStats.__dataclass_fields__)
    width = max(len(f) for f in fields)
    print(f"{'':<{width}}  " + "  ".join(f"{n:>14}" for n in results))
    for f in fields:
        print(f"{f:<{width}}  " + "  ".join(f"{getattr(r, f):>14}" for r in results.values()))
    print(f"{'core events/s':<{width}}  " + "  ".join(f"{timing[n]:>14}" for n in results))
    return 0
