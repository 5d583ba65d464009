"""``deskroute parse`` and ``deskroute publish``: the adapters from a shell.

``parse`` is what a support engineer runs to see why a payload was refused, so
it must answer for any input: the events as JSON (exit 0) or the reason (exit 2),
never a traceback.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson

from adapters.registry import ADAPTERS, parse
from adapters.result import Context, Parsed, Rejected
from schemas.codec import encode
from streams.settings import Settings

#: CLI channel names: the adapters (email, facebook, ..., canonical).
CHANNELS = tuple(ADAPTERS)


def _say(text: str, *, err: bool = False) -> None:
    # Whatever a payload held, the terminal gets valid UTF-8.
    print(text.encode("utf-8", "replace").decode("utf-8"), file=sys.stderr if err else sys.stdout)


def parse_headers(items: list[str]) -> dict[str, str] | str:
    """``NAME:VALUE`` options as a lower-cased mapping, or what is wrong with one."""
    headers: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            return f"--header {item!r}: expected NAME:VALUE"
        headers[name.strip().lower()] = value.strip()
    return headers


def run_parse(channel: str, file: str, header_items: list[str], tenant: str) -> int:
    headers = parse_headers(header_items)
    if isinstance(headers, str):
        _say(f"deskroute parse: {headers}", err=True)
        return 2
    try:
        body = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        _say(f"deskroute parse: cannot read {file}: {exc.strerror or exc}", err=True)
        return 2
    result = parse(channel, body, Context(tenant, headers))
    if isinstance(result, Rejected):
        note = " (valid, but nothing to route)" if result.ignored else ""
        _say(f"rejected: {result.reason}: {result.detail}{note}")
        return 2
    for event in result.events:
        _say(orjson.dumps(orjson.loads(encode(event)), option=orjson.OPT_INDENT_2).decode())
    for skipped in result.skipped:
        _say(f"skipped: {skipped.reason}: {skipped.detail}", err=True)
    return 0


def payloads(channel: str, path: Path) -> Iterator[tuple[str, bytes]]:
    """(label, body): one raw email per file, else one payload per non-blank line."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if channel == "email":
            if file.suffix.lower() == ".eml" or not path.is_dir():
                yield str(file), file.read_bytes()
            continue
        for n, line in enumerate(file.read_bytes().splitlines(), start=1):
            if line.strip():
                yield f"{file}:{n}", line


def run_publish(
    settings: Settings, channel: str, path: str, header_items: list[str], tenant: str
) -> int:
    headers = parse_headers(header_items)
    if isinstance(headers, str):
        _say(f"deskroute publish: {headers}", err=True)
        return 2
    try:
        items = list(payloads(channel, Path(path)))
    except OSError as exc:
        _say(f"deskroute publish: cannot read {path}: {exc.strerror or exc}", err=True)
        return 2
    if not settings.kafka_bootstrap:
        _say("deskroute publish: KAFKA_BOOTSTRAP is not set (host:port[,host:port])", err=True)
        return 2
    return asyncio.run(_publish(settings, channel, items, headers, tenant))


async def _publish(
    settings: Settings,
    channel: str,
    items: list[tuple[str, bytes]],
    headers: dict[str, str],
    tenant: str,
) -> int:
    from gateway.publisher import BrokerUnavailable, Publisher  # Kafka only for this command

    publisher = Publisher(settings)
    published = 0
    rejected: Counter[str] = Counter()
    ignored: Counter[str] = Counter()
    try:
        await publisher.start()
        for label, body in items:
            result = parse(channel, body, Context(tenant, headers, time.time()))
            outcomes = [result] if isinstance(result, Rejected) else list(result.skipped)
            for r in outcomes:
                (ignored if r.ignored else rejected)[r.reason] += 1
                if not r.ignored:
                    _say(f"{label}: rejected: {r.reason}: {r.detail}")
            if isinstance(result, Parsed):
                await publisher.publish(result.events)
                published += len(result.events)
    except BrokerUnavailable as exc:
        _say(f"deskroute publish: {exc} (published {published} before that)", err=True)
        return 1
    finally:
        await publisher.stop()
    _say(
        f"published {published}, rejected {sum(rejected.values())}, ignored {sum(ignored.values())}"
    )
    for kind, counts in (("rejected", rejected), ("ignored", ignored)):
        for reason, n in counts.most_common():
            _say(f"  {kind} {reason}: {n}")
    return 2 if rejected else 0
