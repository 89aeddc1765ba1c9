"""A TCP proxy on loopback that delays each direction by half the wanted round-trip time.

Kernel netem is not available here.  Each chunk read is stamped and written out when its
delay has passed, so latency is added without capping bandwidth (reads never wait) — unless
*mbit* is given: then each direction of each connection is also a link of that many Mbit/s.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time

#: A command line a client sends: tag, name (``UID`` and its command kept together), arguments.
_COMMAND = re.compile(rb"^([A-Za-z0-9.]+) ((?:UID )?[A-Z]+)(?: (.*))?$")


def command_heads(data: bytes) -> list[str]:
    """The IMAP commands in a chunk a client sent, as ``NAME arguments`` (arguments cut at 60
    characters).  Credentials never appear: LOGIN keeps no argument, AUTHENTICATE only its
    mechanism; lines that are not a command (literal data, SASL continuations) are left out.

    >>> command_heads(b'a1 LOGIN u p\\r\\na2 UID FETCH 1:* (FLAGS)\\r\\nAHVzZXIAcHc=\\r\\n')
    ['LOGIN ...', 'UID FETCH 1:* (FLAGS)']
    >>> command_heads(b'a3 AUTHENTICATE PLAIN AHVzZXIAcHc=\\r\\n')
    ['AUTHENTICATE PLAIN ...']
    """
    out = []
    for line in data.split(b"\r\n"):
        m = _COMMAND.match(line)
        if not m:
            continue
        name = m.group(2).decode("ascii")
        args = (m.group(3) or b"").decode("utf-8", "replace")
        if name == "LOGIN":
            out.append("LOGIN ...")
        elif name == "AUTHENTICATE":
            out.append(f"AUTHENTICATE {args.split(' ', 1)[0]} ...")
        else:
            out.append(f"{name} {args[:60]}".rstrip())
    return out


class LatencyProxy:
    def __init__(self, target_host: str, target_port: int, rtt_ms: float,
                 mbit: float = 0.0) -> None:
        self.target = (target_host, target_port)
        self.delay = rtt_ms / 2000.0
        #: Bandwidth of each direction of each connection in Mbit/s (0: not capped).
        self.mbit = mbit
        self.port = 0
        #: Per-connection timeline when *record* is set: (connection, monotonic time the
        #: proxy read the chunk, "up" client->server or "down", bytes); 0 bytes: closed.
        self.events: list[tuple[int, float, str, int]] = []
        #: With *record*: (connection, monotonic time, command head) of every command a client
        #: sent (see :func:`command_heads`; over TLS the proxy sees none).
        self.commands: list[tuple[int, float, str]] = []
        self.record = False
        self._conns = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        # Stopped (__exit__): close the listener and every connection still open, so no
        # socket is left for the garbage collector (a ResourceWarning in the tests).
        server.close()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        for writer in self._writers:
            writer.transport.abort()
        self._loop.run_until_complete(asyncio.sleep(0))
        self._loop.close()

    def cpu_seconds(self) -> float:
        """CPU time of the proxy's own thread so far (it shares the bench's process)."""
        async def now() -> float:
            return time.thread_time()
        return asyncio.run_coroutine_threadsafe(now(), self._loop).result(5)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    conn: int = 0, direction: str = "up") -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        link_free = 0.0  # when the capped link has sent everything queued so far

        async def read() -> None:
            nonlocal link_free
            while True:
                data = await reader.read(65536)
                due = time.monotonic() + self.delay
                if self.record:
                    self.events.append((conn, due - self.delay, direction, len(data)))
                    if direction == "up" and data:
                        self.commands.extend((conn, due - self.delay, head)
                                             for head in command_heads(data))
                if self.mbit and data:
                    link_free = max(link_free, time.monotonic()) + len(data) * 8 / (
                        self.mbit * 1e6)
                    due = max(due, link_free + self.delay)
                await queue.put((due, data))
                if not data:
                    return

        async def write() -> None:
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()

        try:
            await asyncio.gather(read(), write())
        except (ConnectionError, asyncio.IncompleteReadError):
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        self._conns += 1
        conn = self._conns
        await asyncio.gather(self._pump(reader, up_writer, conn, "up"),
                             self._pump(up_reader, writer, conn, "down"),
                             return_exceptions=True)
