"""``deskroute ingest`` and ``deskroute publish`` as an operator runs them, on the embedded broker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from adapters.signatures import viber_signature
from schemas.events import InboundReceived
from streams import topics
from streams.broker import die_with_parent, free_port
from tests.integration.test_gateway import GATEWAY_YAML, TENANT_YAML, Inbound, viber_message
from tests.support import ROOT, Cluster, config_from, eventually, http_get

pytestmark = pytest.mark.broker


def env_for(cluster: Cluster, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP": cluster.broker.bootstrap,
        **extra,
    }


def test_ingest_and_publish_commands(tmp_path: Path) -> None:
    async def scenario() -> None:
        with Cluster(tmp_path) as cluster:
            await cluster.prepare(config_from(TENANT_YAML))
            reader = Inbound(cluster.settings)
            await reader.start()
            config = tmp_path / "gateway.yaml"
            config.write_text(GATEWAY_YAML)
            port = free_port()
            log = tmp_path / "ingest.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "streams.cli", "ingest"],
                    cwd=ROOT,
                    env=env_for(
                        cluster,
                        DESKROUTE_GATEWAY_CONFIG=str(config),
                        DESKROUTE_GATEWAY_PORT=str(port),
                    ),
                    stdout=out,
                    stderr=out,
                    preexec_fn=die_with_parent,
                )
            try:
                base = f"http://127.0.0.1:{port}"

                def ready() -> bool:
                    assert proc.poll() is None, log.read_text()
                    try:
                        return http_get(f"{base}/health/ready")[0] == 200
                    except OSError:
                        return False

                await eventually(ready, 30, "gateway ready")
                body = viber_message(501)
                request = urllib.request.Request(
                    f"{base}/ingest/acme/viber",
                    data=body,
                    headers={
                        "Content-Type": "application/json",
                        "X-Viber-Content-Signature": viber_signature("viber-token", body),
                    },
                )
                with urllib.request.urlopen(request, timeout=10) as resp:
                    assert resp.status == 200

                lines = tmp_path / "viber.jsonl"
                lines.write_bytes(viber_message(502) + b"\n{broken\n" + viber_message(503) + b"\n")
                published = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "streams.cli",
                        "publish",
                        "viber",
                        str(lines),
                        "--tenant",
                        "acme",
                    ],
                    cwd=ROOT,
                    env=env_for(cluster),
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                assert published.returncode == 2, published.stderr  # one line was rejected
                assert "published 2, rejected 1, ignored 0" in published.stdout
                assert "rejected malformed_json: 1" in published.stdout

                social = topics.INBOUND["social"]
                await eventually(lambda: len(reader.ids(social)) >= 3)
                assert sorted(reader.ids(social)) == ["viber:501", "viber:502", "viber:503"]
                assert all(
                    isinstance(v, InboundReceived) and v.tenant == "acme" for _, v in reader.records
                )
            finally:
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(20) == 0, log.read_text()
                await reader.stop()

    asyncio.run(scenario())
