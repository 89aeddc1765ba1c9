"""The one door to imaplib's internals: every private name of imaplib (and of imapclient)
that pecsync uses is used here, behind the typed methods of :class:`RawWire`.

pecsync talks to servers through imapclient, and sends some commands itself where
imapclient cannot: pipelined commands (NAMESPACE with LIST-STATUS, EXAMINE with FETCH, the
body FETCHes sent ahead), APPEND with literal8 and LITERAL+, LOGIN with UTF-8 literals,
AUTHENTICATE with an initial response, COMPRESS, a LOGOUT that does not wait.  Those need
imaplib's tags, its reader of tagged and untagged answers and its state; the alternative,
a reader of our own, would re-implement the response parser that imapclient keeps using.
docs/design/wire.md says why, and what to check when Python's imaplib changes.

The internals used: imaplib's ``IMAP4._command``, ``_new_tag``, ``_command_complete``,
``_get_response``, ``_get_capabilities``, ``tagged_commands``, ``untagged_responses``,
``state``, ``is_readonly``, ``tagnum``, ``sock``, ``file``, ``send`` and ``readline``;
imapclient's ``IMAPClient._imap``, ``_create_IMAP4``, ``_process_select_response`` and
``_proc_folder_list``.

Nothing here changes imaplib for the whole process: the line limit is an attribute of each
connection (:attr:`_Imap4.max_line`, read by its own ``readline``), and COMPRESS is sent by
hand instead of being added to ``imaplib.Commands``.
"""

from __future__ import annotations

import imaplib
import io
import ssl
import zlib
from typing import Any, cast

import imapclient
import imapclient.imap4
import imapclient.tls

from pecsync.imap import compress

#: Longest line a server may send: a 200 KB folded header arrives inside a literal, but some
#: servers send long untagged lines (LIST, SEARCH results) too.  imaplib's own is 1 MB.
MAX_LINE = 50_000_000


class _Imap4(imaplib.IMAP4):
    """imaplib's connection object, with two changes of its own (not of imaplib's):

    - its line limit is :attr:`max_line`, not the module-wide ``imaplib._MAXLINE``;
    - it takes the capabilities from the greeting when they are there (``* OK [CAPABILITY
      ...]``, as Dovecot's): imaplib asks for CAPABILITY right after the greeting, one
      round trip per connection for nothing.  Only the first time: after STARTTLS the list
      must be asked for again over TLS (RFC 3501 6.2.1), and it is — imapclient (>= 4.1)
      has imaplib's ``starttls`` call this again, which then sends CAPABILITY.
    """

    max_line = MAX_LINE
    _greeted = False

    def readline(self) -> bytes:
        line = cast(bytes, self.file.readline(self.max_line + 1))
        if len(line) > self.max_line:
            raise self.error(f"got more than {self.max_line} bytes")
        return line

    def _get_capabilities(self) -> None:
        if not self._greeted:
            self._greeted = True
            listed = self.untagged_responses.pop("CAPABILITY", None)
            if listed and isinstance(listed[-1], bytes):
                self.capabilities = tuple(listed[-1].decode("ascii", "replace").upper().split())
                return
        super()._get_capabilities()  # type: ignore[misc]


class _PlainImap(_Imap4, imapclient.imap4.IMAP4WithTimeout):  # type: ignore[misc]
    pass


class _TlsImap(_Imap4, imapclient.tls.IMAP4_TLS):  # type: ignore[misc]
    pass


class Client(imapclient.IMAPClient):  # type: ignore[misc]
    """imapclient, connecting with :class:`_Imap4`."""

    def _create_IMAP4(self) -> imaplib.IMAP4:
        connect_timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _TlsImap(self.host, self.port, self.ssl_context,  # type: ignore[call-arg]
                            connect_timeout)
        return _PlainImap(self.host, self.port, connect_timeout)


#: One tagged answer: ``("OK", [b"[APPENDUID 7 12] done"])``.
Answer = tuple[str, list[Any]]


class RawWire:
    """The commands pecsync writes itself on one connection, and what they read back.

    ``wire.answer(name, wire.command(name, ...))`` is one command; several
    :meth:`command` calls before their :meth:`answer` are pipelined.  Untagged answers
    gather by kind (``FETCH``, ``LIST``, ``STATUS`` ...) until :meth:`take` takes them."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._imap: imaplib.IMAP4 = client._imap
        # imapclient sets imaplib's debug level to 5, which makes imaplib build a repr() of
        # every response — every message body — only for a logger that drops it: more than
        # half of pecsync's CPU time in a profile.  pecsync never wants that trace (it would
        # carry message content, and the LOGIN command).
        self._imap.debug = 0

    # --- sending ----------------------------------------------------------------------
    def command(self, name: str, *args: str | bytes, selected: bool = False) -> bytes:
        """Send a command imaplib knows, without waiting; its tag.  *selected*: send it as
        if a folder were open (imaplib refuses ``UID`` otherwise) — a FETCH pipelined behind
        the EXAMINE that opens its folder."""
        if not selected:
            return cast(bytes, self._imap._command(name, *args))
        state, self._imap.state = self._imap.state, "SELECTED"
        try:
            return cast(bytes, self._imap._command(name, *args))
        finally:
            self._imap.state = state

    def begin(self, line: bytes) -> bytes:
        """Start a command imaplib does not build (APPEND with literal8, LOGIN with UTF-8
        literals, COMPRESS): a new tag, then *line* after it.  The rest goes with
        :meth:`send`, the answer with :meth:`answer`."""
        tag = cast(bytes, self._imap._new_tag())
        self._imap.send(tag + b" " + line)
        return tag

    def send(self, data: bytes) -> None:
        self._imap.send(data)

    def await_continuation(self, tag: bytes) -> bool:
        """Wait for ``+`` before sending a synchronising literal; False if the server answered
        the command instead (a NO before the literal, e.g. over quota)."""
        while self._imap._get_response():
            if self._imap.tagged_commands.get(tag):
                return False
        return True

    # --- reading ----------------------------------------------------------------------
    def answer(self, name: str, tag: bytes) -> Answer:
        """The tagged answer to the command of *tag*: a BAD comes back as ``("BAD",
        [text])`` like a NO, instead of an exception; a lost connection still raises
        imaplib's ``abort``."""
        try:
            typ, data = self._imap._command_complete(name, tag)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            return "BAD", [str(exc).encode()]
        return str(typ), list(data)

    def complete(self, name: str, tag: bytes) -> Answer:
        """The tagged answer to the command of *tag*, a BAD raised as imaplib's ``error``
        (as imapclient's own commands do)."""
        typ, data = self._imap._command_complete(name, tag)
        return str(typ), list(data)

    def simple(self, name: str, *args: str | bytes) -> Answer:
        """Send *name* and wait for its tagged answer (see :meth:`answer`)."""
        return self.answer(name, self.command(name, *args))

    def uid(self, command: str, *args: str) -> Answer:
        """``UID command args`` and its answer, the command's untagged answers included
        (imaplib's public ``uid``; they are also left gathered: :meth:`take` them)."""
        typ, data = self._imap.uid(command, *args)
        return str(typ), list(data)

    def take(self, kind: str) -> list[Any]:
        """The untagged answers of *kind* gathered so far, which are then forgotten."""
        return list(self._imap.untagged_responses.pop(kind, []))

    def forget(self, *kinds: str) -> None:
        """Forget the untagged answers gathered: of *kinds*, or all of them."""
        if not kinds:
            self._imap.untagged_responses = {}
            return
        for kind in kinds:
            self._imap.untagged_responses.pop(kind, None)

    def opened_folder(self, readonly: bool) -> dict[bytes, Any]:
        """A pipelined SELECT/EXAMINE has been answered OK: the folder's SELECT data (as
        imapclient's ``select_folder`` returns it) from the untagged answers other than
        FETCH, and imaplib's state is now that of an open folder."""
        gathered = {k: v for k, v in self._imap.untagged_responses.items() if k != "FETCH"}
        status = cast(dict[bytes, Any],
                      self._client._process_select_response(gathered))
        self._imap.state = "SELECTED"
        self._imap.is_readonly = readonly
        for kind in gathered:
            self._imap.untagged_responses.pop(kind, None)
        return status

    def folder_list(self, rows: list[Any]) -> list[tuple[Any, ...]]:
        """LIST answers read by :meth:`take`, parsed as imapclient's ``list_folders``."""
        return cast(list[tuple[Any, ...]], self._client._proc_folder_list(rows))

    def authenticated(self) -> None:
        """A login pecsync sent itself succeeded: imaplib's state is now authenticated."""
        self._imap.state = "AUTH"

    # --- the transport ----------------------------------------------------------------
    @property
    def tags_sent(self) -> int:
        """Commands tagged on this connection so far (imaplib's own included)."""
        return int(self._imap.tagnum)

    def greeting_capabilities(self) -> frozenset[str]:
        """Capabilities the server announced before login (greeting or CAPABILITY)."""
        return frozenset(str(c).upper() for c in self._imap.capabilities)

    def tls_version(self) -> str | None:
        """The TLS version of this connection (``"TLSv1.3"``), None when not encrypted."""
        sock = self._imap.sock
        return sock.version() if isinstance(sock, ssl.SSLSocket) else None

    def read_buffer(self, size: int) -> None:
        """Read through a buffer of *size* bytes: literals of megabytes arrive in far fewer
        reads.  Only between commands (nothing may be left in the old buffer)."""
        imap: Any = self._imap
        old = imap.file
        imap.file = imap.sock.makefile("rb", buffering=size)
        old.close()

    def start_compress(self, read_buffer: int) -> None:
        """Deflate both ways from now on, right after the server's OK to COMPRESS: imaplib
        writes through ``send`` (``sock.sendall``) and reads through ``file``; both are
        swapped for this connection's deflating and inflating ones."""
        imap: Any = self._imap
        sock = imap.sock
        deflate = zlib.compressobj(wbits=-15)

        def send(data: bytes) -> None:
            sock.sendall(deflate.compress(data) + deflate.flush(zlib.Z_SYNC_FLUSH))

        imap.send = send
        old = imap.file
        imap.file = io.BufferedReader(compress.Inflating(sock), buffer_size=read_buffer)
        old.close()

    def logout_and_go(self) -> None:
        """Say LOGOUT without waiting for the server's goodbye (the caller closes)."""
        self.begin(b"LOGOUT\r\n")
