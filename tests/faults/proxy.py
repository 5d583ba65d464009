"""A loopback TCP proxy the fault tests put between every Kafka client and the broker.

The embedded broker keeps its data only in memory, so an outage cannot be made by
stopping it. Instead the broker advertises the proxy's port (see
``streams.broker.EmbeddedBroker(advertised_port=...)``), every client, after
bootstrap too, connects through the proxy, and the test cuts the link:

* ``cut("refuse")`` closes every live connection and stops listening, so a new
  connection is refused by the kernel, as when the broker's host is down;
* ``cut("hold")`` closes every live connection and accepts new ones without ever
  forwarding a byte, as in a network partition where requests time out;
* ``restore()`` listens and forwards again (held connections are closed, so their
  clients reconnect instead of waiting out a timeout).

The proxy runs its own event loop in a thread: the tests block their own loop now
and then (urllib, ``Popen.wait``), and that must not stall the clients' traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from streams.broker import free_port

T = TypeVar("T")
Mode = Literal["refuse", "hold"]


@dataclass
class ProxyStats:
    accepted: int = 0  # connections forwarded to the broker
    closed_by_cut: int = 0  # live connections a cut closed
    held: int = 0  # connections accepted while cut in "hold" mode
    refused_listening: int = 0  # cuts that stopped listening
    bytes_to_broker: int = 0
    bytes_to_clients: int = 0


class TcpProxy:
    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.target_port = target_port
        self.port = port or free_port()
        self.stats = ProxyStats()
        self._mode: Mode | None = None
        self._server: asyncio.Server | None = None
        self._live: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._held: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def is_cut(self) -> bool:
        return self._mode is not None

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def cut(self, mode: Mode = "refuse") -> None:
        self._call(self._cut(mode))

    def restore(self) -> None:
        self._call(self._restore())

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- inside the proxy's loop ------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, reuse_address=True
        )

    async def _cut(self, mode: Mode) -> None:
        self._mode = mode
        if mode == "refuse" and self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            self.stats.refused_listening += 1
        for client, upstream in list(self._live):
            self.stats.closed_by_cut += 1
            _abort(client)
            _abort(upstream)
        self._live.clear()

    async def _restore(self) -> None:
        for held in list(self._held):
            _abort(held)
        self._held.clear()
        self._mode = None
        if self._server is None:
            await self._listen()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for client, upstream in list(self._live):
            _abort(client)
            _abort(upstream)
        for held in list(self._held):
            _abort(held)
        self._live.clear()
        self._held.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._mode == "hold":
            self.stats.held += 1
            self._held.add(writer)  # read nothing, forward nothing, until restore()
            return
        if self._mode == "refuse":  # accepted just before the listener closed
            _abort(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            _abort(writer)
            return
        if self._mode is not None:  # cut while connecting
            _abort(writer)
            _abort(up_writer)
            return
        self.stats.accepted += 1
        pair = (writer, up_writer)
        self._live.add(pair)
        up = asyncio.ensure_future(self._pipe(reader, up_writer, to_broker=True))
        down = asyncio.ensure_future(self._pipe(up_reader, writer, to_broker=False))
        try:
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (up, down):
                task.cancel()
            await asyncio.gather(up, down, return_exceptions=True)
            self._live.discard(pair)
            _abort(writer)
            _abort(up_writer)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, to_broker: bool
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                if to_broker:
                    self.stats.bytes_to_broker += len(data)
                else:
                    self.stats.bytes_to_clients += len(data)
                writer.write(data)
                await writer.drain()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close at once (RST), as a dropped link does, without waiting for the peer."""
    transport = writer.transport
    if not transport.is_closing():
        transport.abort()
