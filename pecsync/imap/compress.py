"""COMPRESS=DEFLATE (RFC 4978) under imaplib: raw deflate both ways after ``COMPRESS DEFLATE``.

imaplib writes through ``IMAP4.send`` (``sock.sendall``) and reads through ``IMAP4.file`` (a
buffered reader); both are swapped for deflating/inflating ones.  Every write is flushed with
``Z_SYNC_FLUSH`` so the server can act on a command at once.  Inflation is bounded per read, so
a hostile stream cannot balloon memory.
"""

from __future__ import annotations

import io
import ipaddress
import socket
import zlib
from typing import Any

_CHUNK = 1 << 16
_MAX_INFLATE = 1 << 20


class _Inflating(io.RawIOBase):
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


def start(imap: Any, read_buffer: int) -> None:
    """Switch an imaplib connection to deflate, right after the server's OK to COMPRESS."""
    sock = imap.sock
    deflate = zlib.compressobj(wbits=-15)

    def send(data: bytes) -> None:
        sock.sendall(deflate.compress(data) + deflate.flush(zlib.Z_SYNC_FLUSH))

    imap.send = send
    old = imap.file
    imap.file = io.BufferedReader(_Inflating(sock), buffer_size=read_buffer)
    old.close()


def worth_it(host: str) -> bool:
    """For "auto": compress only to a server that is not on this machine."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return True
    return not all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)
