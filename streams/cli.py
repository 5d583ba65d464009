"""``deskroute``: the command line a newcomer, an operator and the tests all use."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from schemas.config_file import ConfigError, load_config_file
from streams.settings import Settings, SettingsError


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"deskroute: bad setting: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.worker import run_worker

    run_worker(_settings())
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from streams.demo import run_demo

    return run_demo(_settings(), args.tenant, args.duration, args.rate, args.seed)


def cmd_topics_create(args: argparse.Namespace) -> int:
    from streams.admin import create_topics

    created = asyncio.run(create_topics(_settings()))
    print(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""))
    return 0


def cmd_config_validate(args: argparse.Namespace) -> int:
    try:
        cfg = load_config_file(args.file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s); config not valid", file=sys.stderr)
        return 1
    s = cfg.summary()
    print(
        f"ok: tenant {s['tenant']}: {s['departments']} departments, {s['agents']} agents, {s['rules']} rules"
    )
    return 0


def cmd_config_apply(args: argparse.Namespace) -> int:
    from streams.admin import publish_config

    try:
        cfg = load_config_file(args.file, version=args.version)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print("config not applied", file=sys.stderr)
        return 1
    asyncio.run(publish_config(_settings(), cfg))
    print(f"applied: tenant {cfg.tenant} version {cfg.version}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from rules import explain, facts_for
    from rules.explain import event_from_json, parse_time
    from schemas.codec import DecodeError

    try:
        cfg = load_config_file(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    try:
        raw = sys.stdin.buffer.read() if args.event == "-" else Path(args.event).read_bytes()
        event = event_from_json(raw)
        at = parse_time(args.at) if args.at else None
    except (OSError, DecodeError, ValueError) as exc:
        print(f"deskroute explain: {args.event}: {exc}", file=sys.stderr)
        return 2
    facts = facts_for(
        event, triggers=args.trigger, now=at, department=args.department, wait_s=args.wait_s
    )
    print(explain(cfg, facts)[1])
    return 0


def cmd_broker(args: argparse.Namespace) -> int:
    import signal

    from streams.broker import EmbeddedBroker

    with EmbeddedBroker(args.port) as broker:
        print(f"KAFKA_BOOTSTRAP={broker.bootstrap}", flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    return 0


def cmd_parse(args: argparse.Namespace) -> int:
    from adapters.cli import run_parse

    return run_parse(args.channel, args.file, args.header, args.tenant)


def cmd_publish(args: argparse.Namespace) -> int:
    from adapters.cli import run_publish

    return run_publish(_settings(), args.channel, args.path, args.header, args.tenant)


def cmd_ingest(args: argparse.Namespace) -> int:
    from gateway.cli import run_ingest

    return run_ingest(_settings(), args.config)


def cmd_report(args: argparse.Namespace) -> int:
    from streams.report import parse_date, run_report

    try:
        start = parse_date(args.start) if args.start else None
        end = parse_date(args.end, end=True) if args.end else None
    except ValueError as exc:
        print(f"deskroute report: {exc}", file=sys.stderr)
        return 2
    print(run_report(_settings(), args.period, args.csv, start, end, args.tenant), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deskroute", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="embedded broker + worker + sample traffic, routing shown live")
    p.add_argument("--tenant", default="examples/demo-tenant.yaml", help="tenant config file")
    p.add_argument("--duration", type=float, default=0.0, help="stop after N seconds (0 = Ctrl-C)")
    p.add_argument("--rate", type=float, default=8.0, help="inbound events per second")
    p.add_argument("--seed", type=int, default=7, help="seed of the sample traffic")
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("worker", help="run one routing worker (KAFKA_BOOTSTRAP must be set)")
    p.set_defaults(fn=cmd_worker)

    p = sub.add_parser("broker", help="run the embedded broker in the foreground")
    p.add_argument("--port", type=int, default=0)
    p.set_defaults(fn=cmd_broker)

    topics_p = sub.add_parser("topics", help="topic administration").add_subparsers(
        dest="topics_command", required=True
    )
    p = topics_p.add_parser("create", help="create every deskroute topic")
    p.set_defaults(fn=cmd_topics_create)

    config_p = sub.add_parser("config", help="tenant configuration").add_subparsers(
        dest="config_command", required=True
    )
    p = config_p.add_parser("validate", help="check a tenant config file, list every problem")
    p.add_argument("file")
    p.set_defaults(fn=cmd_config_validate)
    p = config_p.add_parser("apply", help="validate and publish a tenant config")
    p.add_argument("file")
    p.add_argument("--version", type=int, required=True, help="config version (must increase)")
    p.set_defaults(fn=cmd_config_apply)

    p = sub.add_parser("explain", help="how the rules route one event, rule by rule (offline)")
    p.add_argument("--event", required=True, help="InboundReceived JSON file ('-' = stdin)")
    p.add_argument("--config", default="examples/demo-tenant.yaml", help="tenant config file")
    from rules.vocabulary import TRIGGERS

    p.add_argument(
        "--trigger", action="append", choices=TRIGGERS, help="instead of the event's own triggers"
    )
    p.add_argument("--department", default="", help="the queue the ticket waits in (queue_wait)")
    p.add_argument("--wait-s", type=float, default=None, help="how long it has waited (queue_wait)")
    p.add_argument("--at", default="", help="clock of time conditions (default: received_at)")
    p.set_defaults(fn=cmd_explain)

    from adapters.cli import CHANNELS

    p = sub.add_parser(
        "parse", help="show the canonical event(s) of a payload, or why it is refused"
    )
    p.add_argument("channel", choices=CHANNELS)
    p.add_argument("file", help="payload file ('-' reads standard input)")
    p.add_argument("--header", action="append", default=[], metavar="NAME:VALUE")
    p.add_argument("--tenant", default="demo")
    p.set_defaults(fn=cmd_parse)
    p = sub.add_parser("publish", help="parse payloads and publish them to the inbound topics")
    p.add_argument("channel", choices=CHANNELS)
    p.add_argument("path", help="file of one payload per line, a raw email, or a folder of .eml")
    p.add_argument("--header", action="append", default=[], metavar="NAME:VALUE")
    p.add_argument("--tenant", default="demo")
    p.set_defaults(fn=cmd_publish)
    p = sub.add_parser(
        "report", help="per-department report from the outcome topics (day, week or month)"
    )
    p.add_argument("--period", choices=("day", "week", "month"), default="day")
    p.add_argument("--csv", action="store_true", help="CSV (department and agent rows) for export")
    p.add_argument("--from", dest="start", default="", help="first day (YYYY-MM-DD, UTC)")
    p.add_argument("--to", dest="end", default="", help="last day, included (YYYY-MM-DD, UTC)")
    p.add_argument("--tenant", default="", help="one tenant only")
    p.set_defaults(fn=cmd_report)
    from simulator.cli import add_parser as add_simulate

    add_simulate(sub)

    p = sub.add_parser("ingest", help="run the ingest gateway (HTTP webhooks -> inbound topics)")
    p.add_argument("--config", default="", help="gateway YAML (default: DESKROUTE_GATEWAY_CONFIG)")
    p.set_defaults(fn=cmd_ingest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
