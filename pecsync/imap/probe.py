"""Reach a server before anything else: name, TCP, TLS, greeting — each failure told apart.

``probe(cfg.destination)`` says in plain words what is wrong (no such host, nothing listening,
no answer, TLS refused or untrusted, not an IMAP server, the server refusing connections) and
what to do, without logging in.  It reads the greeting only (no command is sent).
"""

from __future__ import annotations

import re
import socket
import ssl
import time
from dataclasses import dataclass

from pecsync.config import ServerConfig
from pecsync.imap.connection import tls_context

#: Outcome kinds; CONFIG and UNREACHABLE map to exit codes 2 and 3.
OK, CONFIG, UNREACHABLE = "ok", "config", "unreachable"


@dataclass(frozen=True)
class Reach:
    """What reaching a server showed: ``Reach("ok", "IMAP server ...", greeting=...)``."""

    status: str
    detail: str
    next_step: str | None = None
    greeting: str | None = None
    tls: str | None = None  # "TLSv1.3, certificate verified for HOST"
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == OK


def _printable(raw: bytes, limit: int = 80) -> str:
    text = raw.decode("utf-8", "replace").strip()
    # "* OK [CAPABILITY IMAP4rev1 ...] Dovecot ready.": the list is shown apart.
    text = re.sub(r"^(\* \w+) \[CAPABILITY [^\]]*\]", r"\1", text)
    return "".join(c if c.isprintable() else "?" for c in text)[:limit]


def _read_line(sock: socket.socket | ssl.SSLSocket) -> bytes:
    data = b""
    while not data.endswith(b"\n") and len(data) < 2048:
        chunk = sock.recv(2048 - len(data))
        if not chunk:
            break
        data += chunk
    return data


def probe(server: ServerConfig, timeout: float | None = None) -> Reach:
    """Resolve, connect, do TLS when ``security = "tls"``, and read the greeting."""
    wait = timeout or min(server.timeout, 15.0)
    where = f"{server.host}:{server.port}"
    started = time.monotonic()
    try:
        socket.getaddrinfo(server.host, server.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return Reach(CONFIG, f"host name {server.host!r} not found ({exc.strerror})",
                     "check `host` in the configuration (a typo?) and this machine's DNS")
    sock: socket.socket | ssl.SSLSocket | None = None
    tls_note = None
    try:
        try:
            sock = socket.create_connection((server.host, server.port), timeout=wait)
        except ConnectionRefusedError:
            return Reach(UNREACHABLE, f"nothing listens on {where} (connection refused)",
                         "check `port` (993 for security = \"tls\", 143 for \"starttls\") "
                         "and that the server is up; try again later if it is restarting")
        except TimeoutError:
            return Reach(UNREACHABLE, f"no answer from {where} within {wait:.0f} s",
                         "a firewall may drop the connection, or the host/port is wrong; "
                         "check them, and that this machine may reach the server")
        except OSError as exc:
            return Reach(UNREACHABLE, f"cannot connect to {where}: {exc.strerror or exc}",
                         "check host, port and this machine's network")
        sock.settimeout(wait)
        if server.security == "tls":
            try:
                sock = tls_context(server).wrap_socket(sock, server_hostname=server.host)
            except ssl.SSLCertVerificationError as exc:
                return Reach(CONFIG, f"{where}: TLS certificate not trusted: "
                                     f"{exc.verify_message}",
                             "check that `host` is the name in the server's certificate, or "
                             "set `ca_file` to the CA that signed it")
            except ssl.SSLError as exc:
                return Reach(CONFIG, f"{where}: TLS handshake failed ({exc.reason})",
                             "is this an implicit-TLS port? For port 143 use security = "
                             "\"starttls\" (or \"plain\" on a test server)")
            except TimeoutError:
                return Reach(CONFIG, f"{where}: no TLS answer within {wait:.0f} s",
                             "is this an implicit-TLS port? For port 143 use security = "
                             "\"starttls\"")
            tls_note = (f"{sock.version()}, certificate "
                        + ("verified" if server.tls_verify else "NOT checked (tls_verify = "
                                                                 "false)"))
        try:
            line = _read_line(sock)
        except TimeoutError:
            hint = ("an implicit-TLS port (993) answers only after a TLS handshake: use "
                    "security = \"tls\" there" if server.security != "tls"
                    else "check host and port")
            return Reach(CONFIG, f"{where} sent no greeting within {wait:.0f} s: not an IMAP "
                                 f"server, or it waits for TLS", hint, tls=tls_note)
        except (ssl.SSLError, OSError) as exc:
            return Reach(UNREACHABLE, f"{where}: connection lost before the greeting ({exc})",
                         "try again; if it persists, check host, port and security",
                         tls=tls_note)
    finally:
        if sock is not None:
            sock.close()
    seconds = time.monotonic() - started
    text = _printable(line)
    upper = text.upper()
    if upper.startswith("* OK") or upper.startswith("* PREAUTH"):
        return Reach(OK, f"IMAP server at {where}", greeting=text, tls=tls_note,
                     seconds=seconds)
    if upper.startswith("* BYE"):
        return Reach(UNREACHABLE, f"{where} refuses connections now: {text}",
                     "too many connections or maintenance: try again later", greeting=text,
                     tls=tls_note)
    if not text:
        return Reach(UNREACHABLE, f"{where} closed the connection without a greeting",
                     "check host, port and security; try again later", tls=tls_note)
    return Reach(CONFIG, f"{where} is not an IMAP server: it said {text!r}",
                 "check `port` (IMAP is 993 with TLS, 143 with STARTTLS); that looks like "
                 "another service", greeting=text, tls=tls_note)
