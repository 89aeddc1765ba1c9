"""Logging in: the four paths, and how a refusal is classified.

Which path depends on the credentials and on what the server offers before login:

- a master user, or a user name or password that is not ASCII, go by SASL PLAIN (UTF-8,
  RFC 4616): ``AUTHENTICATE PLAIN <initial response>`` with SASL-IR (one round trip),
  else imapclient's ``plain_login`` (two);
- plain ASCII credentials by imapclient's ``LOGIN``;
- non-ASCII credentials towards a server without AUTH=PLAIN by ``LOGIN`` with both arguments
  as UTF-8 literals (imaplib would send them as ASCII only).

Never a password in an error: refusals quote the server's words and the user name only.
"""

from __future__ import annotations

import base64
import imaplib
import re

import imapclient.exceptions

from pecsync.errors import AuthenticationFailed, ImapError, LoginDeferred, TwoFactorRequired
from pecsync.imap.classify import Failure, Phase, classify_response
from pecsync.imap.codes import as_text
from pecsync.imap.connection import Connection, await_continuation
from pecsync.model import Credentials, Secret


def log_in(conn: Connection, creds: Credentials) -> None:
    """Connect if needed and log in; refusals are classified (wrong password, 2-step
    verification, a temporary refusal).  The connection is dropped when it fails."""
    try:
        _log_in(conn, creds)
    except BaseException:
        conn.close()
        raise


def offered_before_login(conn: Connection, capability: str) -> bool:
    """A capability the server announced before login (greeting or CAPABILITY)."""
    caps = conn.imap.capabilities
    return capability.upper() in {c.upper() for c in caps}


def _log_in(conn: Connection, creds: Credentials) -> None:
    if conn.client is None:
        conn.connect()
    client = conn.client
    conn.commands += 1
    # imaplib sends LOGIN's arguments as ASCII: other characters go by SASL PLAIN (UTF-8,
    # RFC 4616) when the server offers it, else as UTF-8 literals of LOGIN.
    ascii_only = creds.user.isascii() and creds.password.reveal().isascii()
    plain = offered_before_login(conn, "AUTH=PLAIN")
    literal = False
    with conn.guard("login"):
        try:
            sasl = bool(creds.master_user) or not ascii_only
            if sasl and plain and offered_before_login(conn, "SASL-IR"):
                _plain_login_ir(conn, creds.user if creds.master_user else "",
                                creds.master_user or creds.user, creds.password)
            elif sasl and (plain or creds.master_user):
                client.plain_login(creds.master_user or creds.user, creds.password.reveal(),
                                   authorization_identity=creds.user if creds.master_user
                                   else None)
            elif ascii_only:
                client.login(creds.user, creds.password.reveal())
            else:
                literal = True
                _login_literal(conn, creds.user, creds.password)
        except imapclient.exceptions.LoginError as exc:
            raise login_refusal(conn, as_text(exc), creds, literal=literal) from None
        except (imaplib.IMAP4.abort, imapclient.exceptions.IMAPClientAbortError):
            raise  # connection lost during LOGIN: transient, not a refused password
        except imapclient.exceptions.IMAPClientError as exc:
            raise login_refusal(conn, as_text(exc), creds, literal=literal) from None
        except UnicodeError:
            # Never the exception's text: it quotes a character of the password and
            # its position.  (A str that is not UTF-8 text: an undecodable byte read
            # from the environment or a terminal, kept as a lone surrogate.)
            raise conn.error(
                AuthenticationFailed,
                f"cannot log in{_whom(conn, creds.user, 'as', master=bool(creds.master_user))}"
                f": the password or user name is not valid text (an undecodable byte?), so "
                f"it cannot be sent",
                hint="enter the password again as UTF-8 text") from None
        conn.logged_in()
    conn.maybe_compress()


def _plain_login_ir(conn: Connection, authzid: str, authcid: str, password: Secret) -> None:
    """``AUTHENTICATE PLAIN <initial response>`` (SASL-IR, RFC 4959): one round trip
    instead of two.  A refusal raises imapclient's LoginError, as its own login does."""
    token = base64.b64encode(f"{authzid}\0{authcid}\0{password.reveal()}".encode())
    try:
        typ, data = conn.simple("AUTHENTICATE", "PLAIN", token)
    finally:
        del token
    if typ != "OK":
        raise imapclient.exceptions.LoginError(as_text(data))
    conn.imap.state = "AUTH"


def _login_literal(conn: Connection, user: str, password: Secret) -> None:
    """``LOGIN`` with both arguments as UTF-8 literals, for a server that offers no SASL
    PLAIN (imaplib would send them as ASCII only).  A NO raises imapclient's LoginError,
    as its own login does; a BAD (the server does not take these bytes) raises
    :class:`AuthenticationFailed` without the server's words, which could quote them."""
    imap = conn.imap
    tag = imap._new_tag()
    imap.send(tag + b" LOGIN")
    args = [user.encode(), password.reveal().encode()]
    try:
        for arg in args:
            imap.send(b" {" + str(len(arg)).encode() + b"}\r\n")
            if not await_continuation(imap, tag):
                break
            imap.send(arg)
        else:
            imap.send(b"\r\n")
    finally:
        del args
    typ, data = conn.answer("LOGIN", tag)
    if typ == "BAD":
        raise conn.error(
            AuthenticationFailed,
            f"login refused{_whom(conn, user, 'for')}: the password has characters (not "
            f"ASCII) that this server's LOGIN cannot take, and it offers no AUTHENTICATE PLAIN",
            hint="use a password of ASCII characters only, or a master user")
    if typ != "OK":
        raise imapclient.exceptions.LoginError(as_text(data))
    imap.state = "AUTH"


def _whom(conn: Connection, user: str, word: str, *, master: bool = False) -> str:
    """`` for USER`` (*word* USER) when the login is not the mailbox's own name, plus `` (as
    master user)``; ``""`` for the mailbox's own login: the error names the mailbox already,
    and the address need not stand twice in one line."""
    text = "" if user == conn.mailbox else f" {word} {user}"
    return text + (" (as master user)" if master else "")


def login_refusal(conn: Connection, text: str, creds: Credentials, *,
                  literal: bool = False) -> ImapError:
    """The typed error of a refused login, from the server's words *text*:
    :class:`TwoFactorRequired`, :class:`AuthenticationFailed` or (temporary)
    :class:`LoginDeferred`.  *literal*: the password went as a UTF-8 literal of LOGIN."""
    text = re.sub(r"^b['\"](.*)['\"]$", r"\1", text.strip())
    who = _whom(conn, creds.user, "for", master=bool(creds.master_user))
    failure = classify_response(Phase.LOGIN, text, conn.extra_rules)
    if failure == Failure.TWO_FACTOR:
        return conn.error(TwoFactorRequired, f"login refused{who}: {text}",
                          hint="2-step verification is on: turn it off or use an app "
                               "password", response=text)
    if failure in (Failure.INVALID_CREDENTIALS, Failure.ACCOUNT_DISABLED, Failure.FATAL):
        hint = "check the user name and password"
        if literal:
            hint += ("; the password has characters that are not ASCII, which a server "
                     "without AUTHENTICATE PLAIN may not take over LOGIN")
        return conn.error(AuthenticationFailed, f"login refused{who}: {text}",
                          hint=hint, response=text)
    return conn.error(LoginDeferred, f"login failed{who}: {text}", hint="will retry",
                      response=text)
