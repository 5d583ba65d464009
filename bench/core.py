"""The routing core alone: ``deskroute simulate`` on a fixed generated scenario.

The same pure core the worker calls, with dict-backed state and a virtual clock,
no Kafka and no Faust: its speed against ``e2e_eps`` (``core_ratio``) shows what
the shell costs. Run as the CLI a user runs (a subprocess, JSON output), on a
scenario sized so that the work stays bounded (occupancy below one: no queue
grows without end) and that is large enough to time (:data:`ARGS`, about 200,000
events: arrivals and finishes).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from bench.common import ROOT, say

DEFAULT_EVENTS = 0  # the scenario fixes its size
#: 100 tickets/s for 1000 s on 50 agents x 20 emails, 60 s each: 6,000 of 1,000
#: slots would overflow, so handle time is 6 s (600 busy of 1,000 slots).
ARGS = (
    "--channel",
    "email",
    "--agents",
    "50",
    "--capacity",
    "20",
    "--arrivals-per-hour",
    "360000",
    "--mean-handle-seconds",
    "6",
    "--hours",
    "0.28",
    "--seed",
    "1",
    "--json",
)
TIMEOUT_S = 600.0


def run(n: int) -> dict[str, float]:
    del n
    cmd = [sys.executable, "-m", "streams.cli", "simulate", *ARGS]
    say(f"core: {' '.join(cmd[2:])}")
    started = time.monotonic()
    done = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"simulate exited {done.returncode}: {done.stderr[-500:]}")
    report = json.loads(done.stdout)
    eps = float(report["events_per_second"])
    # Arrivals and finishes; older versions of the report did not count them.
    events = int(report.get("events") or 2 * report["overall"]["offered"])
    say(f"core: {events} events at {eps:.0f}/s ({time.monotonic() - started:.1f}s with start-up)")
    return {"core_eps": round(eps, 1), "core_events": events}
