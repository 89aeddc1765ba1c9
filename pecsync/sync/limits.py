"""Connection limits learned from the servers' refusals.

Providers cap the connections one user may hold from one address (Dovecot's
``mail_max_userip_connections`` answers a LOGIN over it with ``NO [LIMIT] Maximum number of
connections from user+IP exceeded (mail_max_userip_connections=2)`` and closes the
connection).  A mailbox's folder lanes each hold one connection to both servers, so such a
limit caps the lanes of every mailbox.  :class:`ConnectionLimits` keeps, per server
(``host:port``), the most connections one mailbox may hold: learned from the first refusal
(the number the server states, else how many connections the mailbox held or was opening
then), kept for the rest of the run and, through *persist*, in the state database (hosts
sharing a PostgreSQL database learn it from each other).  Lanes are then never opened over
it, and a mailbox's own LOGIN refused for the limit (the server has not yet counted the
connections just closed) waits and tries again instead of failing the job.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping

import structlog

from pecsync.errors import ImapError
from pecsync.imap.codes import find_code

log = structlog.get_logger("pecsync.limits")

_WORDS = re.compile(
    r"(too many|maximum number of|max(imum)?|limit (of|on|for)|exceeded).{0,40}"
    r"(connections|sessions|logins|clients)|(connections?|sessions?) limit|"
    r"troppe (connessioni|sessioni)|numero massimo di (connessioni|sessioni)", re.I)
_STATED = re.compile(r"(?:connections?|sessions?)\w*\s*(?:=|:|is|of)\s*(\d{1,4})\b"
                     r"|\((?:\w+)=(\d{1,4})\)", re.I)


def limit_refusal(exc: BaseException) -> bool:
    """True when *exc* is a server's refusal for too many connections (not a password).

    >>> from pecsync.errors import LoginDeferred
    >>> limit_refusal(LoginDeferred("x", response="[LIMIT] Maximum number of connections "
    ...     "from user+IP exceeded (mail_max_userip_connections=2)"))
    True
    >>> limit_refusal(LoginDeferred("x", response="[UNAVAILABLE] Try again later"))
    False
    """
    if not isinstance(exc, ImapError):
        return False
    text = exc.response or ""
    code = find_code(text)
    return bool(_WORDS.search(text)) or (code == "LIMIT" and "size" not in text.lower())


def stated_limit(text: str) -> int | None:
    """The limit a refusal names, if it does.

    >>> stated_limit("[LIMIT] Maximum number of connections from user+IP exceeded "
    ...              "(mail_max_userip_connections=2)")
    2
    >>> stated_limit("Too many connections") is None
    True
    """
    m = _STATED.search(text)
    if not m:
        return None
    n = int(m.group(1) or m.group(2))
    return n if n > 0 else None


Persist = Callable[[str, int], Awaitable[None]]


class ConnectionLimits:
    """Per server (``host:port``), the most connections one mailbox may hold."""

    def __init__(self, known: Mapping[str, int] | None = None,
                 persist: Persist | None = None) -> None:
        self.known: dict[str, int] = dict(known or {})
        self.persist = persist

    @staticmethod
    def server(host: str, port: int) -> str:
        return f"{host.lower()}:{port}"

    def lanes(self, servers: tuple[str, ...], wanted: int) -> int:
        """How many lanes (lane 0 included) a mailbox on *servers* may have, of *wanted*."""
        caps = [self.known[s] for s in servers if s in self.known]
        return max(1, min([wanted, *caps]))

    def merge(self, known: Mapping[str, int]) -> None:
        """Limits learned elsewhere (another host, a previous run): the lower wins."""
        for server, n in known.items():
            self.known[server] = min(n, self.known.get(server, n))

    async def refused(self, server: str, exc: ImapError, held: int) -> int:
        """A LOGIN to *server* refused for the limit while the mailbox held (or was opening)
        *held* other connections to it: the limit learned, at least 1."""
        stated = stated_limit(exc.response or "")
        limit = max(1, stated if stated is not None else held)
        before = self.known.get(server)
        if before is None or limit < before:
            self.known[server] = limit
            log.warning("connection_limit_learned", server=server, connections=limit,
                        stated=stated is not None, response=exc.response)
            if self.persist is not None:
                await self.persist(server, limit)
        return self.known[server]


#: Waits (seconds) before a mailbox's own LOGIN refused for the limit is tried again: the
#: server counts a connection until its process has ended, a moment after LOGOUT.
LOGIN_WAITS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)


class MailboxLimits:
    """The limits of one mailbox's two servers (source, destination)."""

    def __init__(self, limits: ConnectionLimits, src: str, dst: str) -> None:
        self.limits, self.src, self.dst = limits, src, dst

    def lanes(self, wanted: int) -> int:
        """Lanes (lane 0 included) this mailbox may have, of *wanted*."""
        return self.limits.lanes((self.src, self.dst), wanted)

    async def refused(self, exc: BaseException, held: int) -> bool:
        """A lane's LOGIN refused: True (and the limit learned) when for the limit, while the
        mailbox held or was opening *held* other connections to that server."""
        if not isinstance(exc, ImapError) or not limit_refusal(exc):
            return False
        await self.limits.refused(self.dst if exc.side == "dst" else self.src, exc, held)
        return True
