"""`make run DURATION=…` as the README tells a newcomer: it routes every channel,
serves metrics while it runs, ends with a summary, and leaves nothing running."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time

from streams.broker import free_port
from tests.support import ROOT, http_get, metric_value


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_make_run_routes_all_channels_and_cleans_up() -> None:
    web_port = free_port()
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run", "DURATION=20"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "DESKROUTE_WEB_PORT": str(web_port)},
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    scraped = ""
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if not scraped:
            try:
                status, body = http_get(f"http://127.0.0.1:{web_port}/metrics")
                if status == 200 and metric_value(body, "deskroute_assignments_total") > 0:
                    scraped = body
            except OSError:
                pass
        time.sleep(0.5)
    assert proc.wait(timeout=max(1.0, deadline - time.monotonic())) == 0, "".join(lines)
    reader.join(5)
    output = "".join(lines)

    assert scraped, f"/metrics never showed an assignment while running:\n{output}"
    for name in (
        "deskroute_ingested_events_total",
        "deskroute_ingest_to_assign_seconds_bucket",
        "deskroute_queue_depth",
        "deskroute_agents_available",
    ):
        assert name in scraped

    summary = re.search(
        r"summary: sent=(\d+) tickets=(\d+) assigned=(\d+) queued=(\d+) ringing=(\d+) "
        r"unroutable=(\d+) deadlettered=(\d+) unaccounted=(\d+)",
        output,
    )
    assert summary, output
    sent, tickets, assigned, queued, ringing, unroutable, dead, unaccounted = map(
        int, summary.groups()
    )
    assert tickets > 50 and assigned > 0
    assert unaccounted == 0
    assert assigned + queued + ringing + unroutable == tickets
    offers = re.search(r"offers: made=(\d+)", output)
    assert offers and int(offers.group(1)) > 0, output  # chats and calls rang, and were accepted
    assert sent - tickets == dead  # every malformed sample was dead-lettered
    by_channel = dict(
        re.findall(r"(email|social|chat|call)=(\d+)", output.split("assigned by channel:")[1])
    )
    assert set(by_channel) == {"email", "social", "chat", "call"}
    assert all(int(n) > 0 for n in by_channel.values()), by_channel

    broker = re.search(r"broker 127\.0\.0\.1:(\d+)", output)
    assert broker, output
    assert not listening(int(broker.group(1))), "the embedded broker is still running"
    assert not listening(web_port), "the worker is still running"
