"""Where passwords come from: environment, a file, or a prompt on a TTY — never argv."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from pecsync.errors import UsageError
from pecsync.model import Secret


def read_password(*, env: str, file: str | None, prompt: str, what: str) -> Secret:
    """The password for *what*: ``--...-password-file`` wins, then ``$env``, then a prompt."""
    if file:
        try:
            text = Path(file).read_text("utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read the {what} password file {file}: {exc.strerror}"
                             ) from None
        value = text.rstrip("\r\n")
        if not value:
            raise UsageError(f"the {what} password file {file} is empty")
        return Secret(value)
    from_env = os.environ.get(env)
    if from_env:
        return Secret(from_env)
    if sys.stdin.isatty():
        entered = getpass.getpass(prompt)
        if entered:
            return Secret(entered)
    raise UsageError(f"no {what} password: set {env}, pass a password file, or run on a "
                     f"terminal to be asked")
