"""Where passwords come from: environment, a file, or a prompt on a TTY — never argv."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from pecsync.errors import UsageError
from pecsync.model import Secret


def not_utf8(where: str, mailbox: str | None = None) -> UsageError:
    """The error for a password that is not UTF-8 text.  It says where, never which byte nor
    at what position (what a UnicodeError would say): that would be part of the password."""
    return UsageError(f"{where} is not UTF-8 text", mailbox=mailbox,
                      hint="enter the password again as UTF-8 (typed in a Latin-1 terminal?)")


def utf8_secret(value: str, where: str, mailbox: str | None = None) -> Secret:
    """*value* as a Secret, refused when it cannot be sent: an undecodable byte (from the
    environment or a terminal) kept as a lone surrogate."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise not_utf8(where, mailbox) from None
    return Secret(value)


def read_password(*, env: str, file: str | None, prompt: str, what: str) -> Secret:
    """The password for *what*: ``--...-password-file`` wins, then ``$env``, then a prompt."""
    if file:
        try:
            text = Path(file).read_text("utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read the {what} password file {file}: {exc.strerror}"
                             ) from None
        except UnicodeDecodeError:
            raise not_utf8(f"the {what} password file {file}") from None
        value = text.rstrip("\r\n")
        if not value:
            raise UsageError(f"the {what} password file {file} is empty")
        return Secret(value)
    from_env = os.environ.get(env)
    if from_env:
        return utf8_secret(from_env, f"the {what} password in ${env}")
    if sys.stdin.isatty():
        try:
            entered = getpass.getpass(prompt)
        except UnicodeDecodeError:
            raise not_utf8(f"the {what} password typed") from None
        if entered:
            return utf8_secret(entered, f"the {what} password typed")
    raise UsageError(f"no {what} password: set {env}, pass a password file, or run on a "
                     f"terminal to be asked")
