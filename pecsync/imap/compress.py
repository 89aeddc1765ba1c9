"""COMPRESS=DEFLATE (RFC 4978): raw deflate both ways after ``COMPRESS DEFLATE``.

:meth:`pecsync.imap.raw.RawWire.start_compress` swaps imaplib's writer and reader for
deflating and inflating ones; every write is flushed with ``Z_SYNC_FLUSH`` so the server can
act on a command at once.  Inflation (:class:`Inflating`) is bounded per read, so a hostile
stream cannot balloon memory.
"""

from __future__ import annotations

import io
import ipaddress
import socket
import zlib
from typing import Any

_CHUNK = 1 << 16
_MAX_INFLATE = 1 << 20


class Inflating(io.RawIOBase):
    """A socket's raw-deflate stream, read inflated."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.inflate = zlib.decompressobj(wbits=-15)
        self.pending = b""
        self.tail = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self.pending:
            if self.tail:
                data, self.tail = self.tail, b""
            else:
                data = self.sock.recv(_CHUNK)
                if not data:
                    return 0  # connection closed
            self.pending = self.inflate.decompress(data, _MAX_INFLATE)
            self.tail = self.inflate.unconsumed_tail
        n = min(len(view), len(self.pending))
        view[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


def worth_it(host: str) -> bool:
    """For "auto": compress only to a server that is not on this machine."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return True
    return not all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)
