"""``make bench``: run every benchmark, then print ONE line of JSON with every figure.

Progress goes to stderr; stdout holds only the final JSON line. Each benchmark is
a module with ``run(n) -> dict`` and ``DEFAULT_EVENTS``, and gets a fresh embedded
broker; to add one, append it to :data:`BENCHMARKS` and let :func:`derived`
combine figures of several. ``BENCH_EVENTS`` sets N for all of them (defaults:
ceiling 20,000, e2e 10,000; the core and memory runs size themselves, see
their modules). The line holds at least ``ceiling_eps``, ``e2e_eps``,
``e2e_ratio``, ``p50_ms`` and ``p99_ms`` (ingest-to-assign at half of ``e2e_eps``),
``core_eps``, ``core_ratio`` and ``rss_growth``; ``e2e_records_ratio`` compares,
record for record, what the worker reads end to end (about five records per
ticket: inbound, routed, the agents' answers and their relayed copies) with the
ceiling's one record per event. A benchmark that fails adds ``<name>_error`` to the
JSON instead of its figures, the others still run, and the exit code is 1.
"""

from __future__ import annotations

import json
import signal
import sys
import time
import traceback
from collections.abc import Callable
from types import ModuleType

from bench import ceiling, core, decision, e2e, gateway, memory, rules
from bench.common import events_from_env, say

Figures = dict[str, float]

#: (name, module) in the order they run.
BENCHMARKS: list[tuple[str, ModuleType]] = [
    ("ceiling", ceiling),
    ("e2e", e2e),
    ("core", core),
    ("memory", memory),
    ("gateway", gateway),
    ("rules", rules),
    ("decision", decision),
]


def derived(result: dict[str, object]) -> Figures:
    """Figures computed from other benchmarks' figures of the same run."""
    out: Figures = {}
    ceiling_eps, e2e_eps = result.get("ceiling_eps"), result.get("e2e_eps")
    if isinstance(ceiling_eps, float | int) and isinstance(e2e_eps, float | int) and ceiling_eps:
        out["e2e_ratio"] = round(e2e_eps / ceiling_eps, 4)
    records_eps = result.get("e2e_records_eps")
    if (
        isinstance(ceiling_eps, float | int)
        and isinstance(records_eps, float | int)
        and ceiling_eps
    ):
        out["e2e_records_ratio"] = round(records_eps / ceiling_eps, 4)
    core_eps = result.get("core_eps")
    if isinstance(core_eps, float | int) and isinstance(e2e_eps, float | int) and e2e_eps:
        out["core_ratio"] = round(core_eps / e2e_eps, 2)
    return out


def main() -> int:
    # SIGTERM unwinds like Ctrl-C, so every benchmark's cleanup (worker, broker) runs.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    n_env = events_from_env()
    started = time.monotonic()
    result: dict[str, object] = {}
    failed = False
    for name, module in BENCHMARKS:
        n: int = n_env or module.DEFAULT_EVENTS
        bench: Callable[[int], Figures] = module.run
        say(f"{name}: starting with N={n}")
        try:
            result.update(bench(n))
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            failed = True
            traceback.print_exc(file=sys.stderr)
            result[f"{name}_error"] = f"{type(exc).__name__}: {exc}"
            say(f"{name}: FAILED: {exc}")
    result.update(derived(result))
    result["bench_wall_s"] = round(time.monotonic() - started, 1)
    say("done; figures follow as one JSON line")
    print(json.dumps(result), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the benchmarks have stopped their processes by now
        say("interrupted; no figures")
        sys.exit(130)
