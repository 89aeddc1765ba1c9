"""A loopback TCP proxy that resets each connection once, at a random byte count.

Every connection through the proxy draws two thresholds (one per direction) uniformly from
``[low, high]`` bytes.  When either direction has passed its threshold, the proxy forwards
the bytes up to it and then resets both sides (RST, as a provider's load balancer or a NAT
that forgets a session does): the client sees ``Connection reset by peer`` in the middle of
whatever it was reading or writing.  With ``stall=True`` the proxy instead stops forwarding
at the threshold (both ways) and keeps the connection open: the client's read times out.  A
connection that closes before its thresholds is left alone.  ``resets`` counts the
connections cut (or stalled), ``connections`` the connections made.

Optionally *delay* seconds are added to every chunk (each way), to slow a copy down.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading


class ResetProxy:
    def __init__(self, target_host: str, target_port: int, *, low: int = 2_000,
                 high: int = 3_000_000, seed: int | None = None, delay: float = 0.0,
                 stall: bool = False, max_faults: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.host = "127.0.0.1"
        self.port = 0
        self.low, self.high = low, high
        self.delay = delay
        #: At the threshold, stop forwarding (both ways, silently) instead of resetting: the
        #: client's read times out.
        self.stall = stall
        #: At most this many connections are cut or stalled; later ones pass untouched.
        self.max_faults = max_faults
        self.rng = random.Random(seed)
        self.connections = 0
        self.resets = 0
        #: Set to False to let every later connection through untouched.
        self.armed = True
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._writers: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> ResetProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stop.wait()
        server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await server.wait_closed()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            self._writers.discard(writer)
            return
        self._writers.add(up_writer)
        try:
            await self._proxy(reader, writer, up_reader, up_writer)
        finally:
            for w in (writer, up_writer):
                w.transport.abort()
                self._writers.discard(w)

    async def _proxy(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        armed = self.armed and (self.max_faults is None or self.resets < self.max_faults)
        cut = asyncio.Event()
        stalled = asyncio.Event()
        limits = [self.rng.randint(self.low, self.high) for _ in range(2)]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                       limit: int) -> None:
            sent = 0
            try:
                while not cut.is_set():
                    data = await src.read(65536)
                    if not data:
                        dst.close()
                        return
                    if stalled.is_set():
                        continue  # swallowed: the other end waits for an answer in vain
                    if self.delay:
                        await asyncio.sleep(self.delay)
                    if armed and sent + len(data) >= limit:
                        dst.write(data[:max(0, limit - sent)])
                        await dst.drain()
                        if self.stall:
                            self.resets += 1
                            stalled.set()
                            continue
                        cut.set()
                        return
                    sent += len(data)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                cut.set()

        tasks = [asyncio.ensure_future(pump(reader, up_writer, limits[0])),
                 asyncio.ensure_future(pump(up_reader, writer, limits[1]))]
        both = asyncio.gather(*tasks)
        waiter = asyncio.ensure_future(cut.wait())
        try:
            await asyncio.wait([both, waiter], return_when=asyncio.FIRST_COMPLETED)
            if cut.is_set():
                if armed:
                    self.resets += 1
                for w in (writer, up_writer):
                    _reset(w)
        finally:
            for task in (*tasks, waiter):
                task.cancel()
            await asyncio.gather(both, waiter, return_exceptions=True)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0) instead of FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
