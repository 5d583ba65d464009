"""``deskroute ingest``: run the gateway until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from gateway.app import Gateway
from gateway.config import GatewayConfigError, load_gateway_config
from streams.logs import setup_logging
from streams.settings import Settings


def run_ingest(settings: Settings, config_path: str = "") -> int:
    path = config_path or settings.gateway_config
    if not path:
        print(
            "deskroute ingest: set DESKROUTE_GATEWAY_CONFIG (or --config) to the gateway's YAML",
            file=sys.stderr,
        )
        return 2
    if not settings.kafka_bootstrap:
        print(
            "deskroute ingest: KAFKA_BOOTSTRAP is not set (host:port[,host:port])", file=sys.stderr
        )
        return 2
    try:
        config = load_gateway_config(path)
    except GatewayConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    # The gateway reports broker trouble itself (503 + its own log line).
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    return asyncio.run(_serve(Gateway(settings, config)))


async def _serve(gateway: Gateway) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        url = await gateway.start()
    except OSError as exc:
        print(f"deskroute ingest: cannot listen: {exc}", file=sys.stderr)
        await gateway.stop()
        return 1
    print(f"ingest gateway on {url} (OpenAPI at {url}/openapi.json)", flush=True)
    await stop.wait()
    await gateway.stop()
    return 0
