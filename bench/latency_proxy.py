"""A TCP proxy on loopback that delays each direction by half the wanted round-trip time.

Kernel netem is not available here.  Each chunk read is stamped and written out when its
delay has passed, so latency is added without capping bandwidth (reads never wait) — unless
*mbit* is given: then each direction of each connection is also a link of that many Mbit/s —
or *rate_mbit*: then each direction of the server's link is one :class:`TokenBucket` of that
many Mbit/s shared by every connection to it (a provider's bandwidth to the migration host),
and reads wait while more than :data:`QUEUE_SECONDS` of data is queued for it.

Standalone (one server)::

    python bench/latency_proxy.py --target 127.0.0.1:1143 --rtt-ms 20 --rate-mbit 50
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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


#: How much data (in seconds of the link's rate) may wait for a capped link before the proxy
#: stops reading from the sender: a router's queue.  TCP's flow control does the rest.
QUEUE_SECONDS = 0.05


class TokenBucket:
    """One direction of a link of *rate* bytes per second, shared by every connection: a
    token bucket holding at most *burst* bytes (tokens build up while the link is idle).

    Pure: the caller passes the time.  :meth:`reserve` books *n* bytes and returns when the
    last of them has left the link; bookings are served in order (FIFO), so connections
    share the link by the bytes they offer.

    >>> b = TokenBucket(1000.0, burst=0)
    >>> b.reserve(500, now=10.0), b.reserve(500, now=10.0), b.reserve(100, now=20.0)
    (10.5, 11.0, 20.1)
    """

    def __init__(self, rate: float, burst: float = 0.0) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst
        #: When the link has sent everything booked so far (tokens owed: later than now).
        self.free_at = float("-inf")

    def reserve(self, n: int, now: float) -> float:
        """Book *n* bytes offered at *now*; the time they have all been sent."""
        start = max(self.free_at, now - self.burst / self.rate)
        self.free_at = start + n / self.rate
        return max(self.free_at, now)

    def backlog(self, now: float) -> float:
        """Seconds of data booked and not yet sent at *now* (0 when idle)."""
        return max(0.0, self.free_at - now)


def mbit_bucket(mbit: float) -> TokenBucket:
    """A link of *mbit* Mbit/s with a burst of 10 ms of its rate."""
    rate = mbit * 1e6 / 8
    return TokenBucket(rate, burst=rate * 0.01)


class LatencyProxy:
    def __init__(self, target_host: str, target_port: int, rtt_ms: float,
                 mbit: float = 0.0, rate_mbit: float = 0.0, listen_port: int = 0) -> None:
        self.listen_port = listen_port
        self.target = (target_host, target_port)
        self.delay = rtt_ms / 2000.0
        #: Bandwidth of each direction of each connection in Mbit/s (0: not capped).
        self.mbit = mbit
        #: Bandwidth of each direction of the server's link in Mbit/s, shared by every
        #: connection (0: not capped): ``links["up"]`` client to server, ``["down"]`` back.
        self.rate_mbit = rate_mbit
        self.links = ({"up": mbit_bucket(rate_mbit), "down": mbit_bucket(rate_mbit)}
                      if rate_mbit else {})
        #: Bytes carried per direction (every connection, the whole life of the proxy).
        self.carried = {"up": 0, "down": 0}
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
            asyncio.start_server(self._handle, "127.0.0.1", self.listen_port))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        # Stopped (__exit__): close the listener and every connection still open, so no
        # socket is left for the garbage collector (a ResourceWarning in the tests).
        server.close()
        tasks = asyncio.all_tasks(self._loop)
        self._loop.set_exception_handler(lambda loop, context: None)  # the cancellations below
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
                self.carried[direction] += len(data)
                shared = self.links.get(direction)
                if shared is not None and data:
                    now = time.monotonic()
                    due = max(due, shared.reserve(len(data), now) + self.delay)
                    # A full router queue: stop reading (the sender's TCP window fills).
                    wait = shared.backlog(now) - QUEUE_SECONDS
                    if wait > 0:
                        await asyncio.sleep(wait)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", required=True, metavar="HOST:PORT")
    ap.add_argument("--listen-port", type=int, default=0, help="default: any free port")
    ap.add_argument("--rtt-ms", type=float, default=0.0)
    ap.add_argument("--mbit", type=float, default=0.0, help="cap per connection and direction")
    ap.add_argument("--rate-mbit", type=float, default=0.0,
                    help="cap per direction shared by every connection to the server")
    args = ap.parse_args()
    host, port = args.target.rsplit(":", 1)
    with LatencyProxy(host, int(port), args.rtt_ms, args.mbit, args.rate_mbit,
                      listen_port=args.listen_port) as proxy:
        print(f"listening on 127.0.0.1:{proxy.port}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
