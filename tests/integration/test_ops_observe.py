"""`make observe` as a person runs it: Prometheus on loopback scraping a deskroute
/metrics endpoint, with the alert rules loaded, and a clean stop on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client import generate_latest

from streams import metrics
from streams.broker import free_port
from tests.deploy.tools import tool
from tests.support import ROOT


class _Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = generate_latest(metrics.REGISTRY)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def api(port: int, path: str) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
        return dict(json.loads(resp.read()))


def test_make_observe_scrapes_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    tool("prometheus")
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = free_port()
    env = {
        **os.environ,
        "OBSERVE_TARGET": f"127.0.0.1:{server.server_address[1]}",
        "OBSERVE_PORT": str(port),
        "OBSERVE_DIR": str(tmp_path / "prometheus"),
    }
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "observe"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        up = False
        while time.monotonic() < deadline and not up:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                targets = api(port, "/api/v1/targets")["data"]["activeTargets"]  # type: ignore[index]
                up = any(t["health"] == "up" for t in targets)
            except OSError:
                pass
            time.sleep(0.5)
        assert up, "Prometheus never scraped the target"
        names = api(port, "/api/v1/label/__name__/values")["data"]
        assert "deskroute_offers_total" in names  # type: ignore[operator]
        groups = api(port, "/api/v1/rules")["data"]["groups"]  # type: ignore[index]
        assert {g["name"] for g in groups} == {"deskroute.routing", "deskroute.platform"}
        assert (tmp_path / "prometheus" / "prometheus.yml").exists()
    finally:
        # Ctrl-C in a terminal signals the whole foreground process group.
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        server.shutdown()
    # make itself dies of the SIGINT, as it does for any target interrupted by Ctrl-C;
    # what matters is that Prometheus shut down in order and left nothing behind.
    assert proc.returncode in (0, -signal.SIGINT), out
    assert "Prometheus on http://127.0.0.1" in out
    assert "exiting gracefully" in out
    assert not (tmp_path / "prometheus" / "data" / "lock").exists(), "TSDB not closed"
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "Prometheus still listening"
