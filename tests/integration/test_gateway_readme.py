"""The README's Python example for gateways runs as written against the embedded broker."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from streams import topics
from tests.integration.test_gateway import TENANT_YAML, Inbound
from tests.support import ROOT, Cluster, config_from, eventually

pytestmark = pytest.mark.broker


class EmailInbound(Inbound):
    TOPICS = (topics.INBOUND["email"],)


def test_readme_example(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    (example,) = [b for b in blocks if "Publisher" in b]

    async def scenario() -> None:
        with Cluster(tmp_path) as cluster:
            await cluster.prepare(config_from(TENANT_YAML))
            env = {
                **os.environ,
                "KAFKA_BOOTSTRAP": cluster.broker.bootstrap,
            }
            ran = subprocess.run(
                [sys.executable, "-c", example],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert ran.returncode == 0, ran.stderr
            event_id, source = ran.stdout.split()
            assert event_id.startswith("email:sha256:") and source == "email:help@acme.example"
            reader = EmailInbound(cluster.settings)
            await reader.start()
            try:
                await eventually(lambda: reader.ids(topics.INBOUND["email"]) == [event_id])
            finally:
                await reader.stop()

    asyncio.run(scenario())
