"""The bench's simulated link (``latency_proxy.py --rate-mbit``): a token bucket per server
and direction, shared by every connection to that server."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.latency_proxy import LatencyProxy, TokenBucket


def test_bucket_serialises_bookings_at_its_rate() -> None:
    b = TokenBucket(1000.0)
    assert b.reserve(500, now=0.0) == pytest.approx(0.5)
    # A second connection offering at the same moment waits for the first one's bytes.
    assert b.reserve(500, now=0.0) == pytest.approx(1.0)
    assert b.backlog(0.25) == pytest.approx(0.75)
    # After an idle time the link starts from now, not from its last booking.
    assert b.reserve(100, now=5.0) == pytest.approx(5.1)
    assert b.backlog(6.0) == 0.0


def test_bucket_burst_is_bounded_by_its_size() -> None:
    b = TokenBucket(1000.0, burst=200.0)
    # Idle for long: only *burst* bytes pass at once, the rest at the rate.
    assert b.reserve(200, now=100.0) == pytest.approx(100.0)
    assert b.reserve(1000, now=100.0) == pytest.approx(101.0)
    # The average over a long busy stretch is the rate, whatever the chunk sizes.
    b = TokenBucket(1000.0, burst=200.0)
    t = 0.0
    for size in [7, 65536, 1, 300, 4096] * 20:
        t = b.reserve(size, now=0.0)
    total = sum([7, 65536, 1, 300, 4096]) * 20
    assert t == pytest.approx((total - 200) / 1000.0)


def test_bucket_refuses_no_rate() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0.0)


class _Source(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Send(socketserver.BaseRequestHandler):
    SIZE = 400_000

    def handle(self) -> None:
        self.request.sendall(b"x" * self.SIZE)


def _download(port: int) -> int:
    got = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        while chunk := s.recv(65536):
            got += len(chunk)
    return got


def test_rate_is_shared_by_every_connection_to_the_server() -> None:
    """Three connections download 400 KB each through a 8 Mbit/s (1 MB/s) link: 1.2 MB take
    about 1.2 s together, not 0.4 s (a cap per connection would allow that)."""
    with _Source(("127.0.0.1", 0), _Send) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with LatencyProxy("127.0.0.1", server.server_address[1], rtt_ms=0,
                              rate_mbit=8) as proxy:
                started = time.monotonic()
                with ThreadPoolExecutor(3) as pool:
                    sizes = list(pool.map(_download, [proxy.port] * 3))
                took = time.monotonic() - started
                carried = proxy.carried["down"]
        finally:
            server.shutdown()
    assert sizes == [_Send.SIZE] * 3
    assert carried == 3 * _Send.SIZE
    # 1.2 MB at 1 MB/s, less the 10 ms burst; generous above for a loaded machine.
    assert 1.1 < took < 3.0, took
