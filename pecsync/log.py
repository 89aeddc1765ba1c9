"""Structured logging (structlog) with redaction on every chain.

The value of a key whose name is a secret's (an allow-list: ``password``, ``passwd``,
``secret``, ``token``, ``key``, ``ciphertext``, ``authorization``… alone or as a part of a
``snake_case`` name such as ``source_password``) is masked, in nested dicts too, and any
:class:`~pecsync.model.Secret` value anywhere in an event prints as ``***``.  Other keys are
never masked: ``waiting_credentials`` is a counter, not a secret.
imapclient and imaplib loggers are held at WARNING: at DEBUG they would print LOGIN
arguments and message literals.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog

from pecsync.model import Secret

#: Names (or parts of ``snake_case``/``kebab-case``/``camelCase`` names) whose values are
#: secrets.  An allow-list: anything else, counters included, is printed as it is.
SECRET_NAMES = frozenset({
    "password", "passwords", "passwd", "pass", "pwd", "passphrase", "secret", "secrets",
    "token", "tokens", "key", "keys", "apikey", "ciphertext", "authorization", "auth",
    "cookie", "credential", "otp", "pin",
})
MASK = "***"
_PARTS = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")


def is_secret_name(name: object) -> bool:
    """``source_password``, ``apiKey``, ``X-Auth-Token``: yes; ``waiting_credentials``,
    ``keyword``, ``passed``: no.

    >>> [is_secret_name(n) for n in ("dst_password", "waiting_credentials", "keyword")]
    [True, False, False]
    """
    return any(part.lower() in SECRET_NAMES for part in _PARTS.split(str(name)) if part)


def _masked(name: object, value: Any) -> Any:
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, dict):
        return {k: _masked(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple) and any(isinstance(v, Secret | dict) for v in value):
        return [_masked(name, v) for v in value]
    if isinstance(value, bool | int | float):
        return value  # a counter or a flag, whatever its name: never a password
    if is_secret_name(name) and value not in (None, ""):
        return MASK
    return value


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask the values of secret-named keys and Secret values."""
    for k, v in list(event.items()):
        if k != "event":
            event[k] = _masked(k, v)
    return event


WITHHELD = "(text withheld: it may quote a password)"


def withhold_encoding_errors(_logger: Any, _method: str, event: MutableMapping[str, Any]
                             ) -> MutableMapping[str, Any]:
    """structlog processor, before ``format_exc_info``: the text of a UnicodeError quotes a
    character of what was being encoded or decoded and its position — a piece of a password,
    when that is what it was.  The traceback is kept; that text is not."""
    exc_info = event.get("exc_info")
    if exc_info is True:
        exc = sys.exc_info()[1]
    elif isinstance(exc_info, BaseException):
        exc = exc_info
    elif isinstance(exc_info, tuple) and len(exc_info) == 3:
        exc = exc_info[1]
    else:
        return event
    found: list[UnicodeError] = []
    seen: set[int] = set()
    todo: list[BaseException] = [exc] if exc is not None else []
    while todo:  # causes, contexts and the members of exception groups (task groups)
        link = todo.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        if isinstance(link, UnicodeError):
            found.append(link)
        if isinstance(link, BaseExceptionGroup):
            todo.extend(link.exceptions)
        todo.extend(e for e in (link.__cause__, link.__context__) if e is not None)
    if found and exc is not None:
        text = "".join(traceback.format_exception(exc))
        for err in found:
            text = text.replace(str(err), WITHHELD)
        del event["exc_info"]
        event["exception"] = text
    return event


class _Sink:
    """Where rendered log lines go: the stream, or, while a live progress area is on the
    terminal, through it (so a log line is printed above the area and never into it)."""

    def __init__(self) -> None:
        self.stream: TextIO = sys.stderr
        self.through: Callable[[str], None] | None = None
        #: False when the lines go to a stream of their own (a log file), not the terminal.
        self.routable = True
        self.lock = threading.Lock()

    def write(self, line: str) -> None:
        through = self.through
        if through is not None:
            through(line)
            return
        with self.lock:
            self.stream.write(line + "\n")
            self.stream.flush()


SINK = _Sink()


class SinkLogger:
    """A structlog logger writing every level's rendered line to :data:`SINK`."""

    def msg(self, message: str) -> None:
        SINK.write(message)

    log = debug = info = warn = warning = error = err = critical = exception = fatal = msg


def _sink_logger(*_args: Any) -> SinkLogger:
    return SinkLogger()


@contextmanager
def routed_through(writer: Callable[[str], None]) -> Iterator[None]:
    """While the block runs, log lines are handed to *writer* (a live display's printer);
    not when they go to a log file (``--log-file``): they stay there."""
    if not SINK.routable:
        yield
        return
    previous, SINK.through = SINK.through, writer
    try:
        yield
    finally:
        SINK.through = previous


def configure(*, json: bool = False, level: int = logging.INFO,
              stream: TextIO | None = None) -> None:
    """Set up structlog for the CLI: readable lines (``2026-03-01T10:00:00Z [info] event
    key=value``) on *stream* (stderr by default), on a terminal or not — a cron job's or a
    CI log is read by a person too; JSON lines only when asked (``--log-format json``)."""
    out = stream or sys.stderr
    SINK.stream = out
    SINK.routable = stream is None
    for name in ("imapclient", "imaplib"):
        logging.getLogger(name).setLevel(logging.WARNING)
    renderer: Any = (structlog.processors.JSONRenderer() if json
                     else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            withhold_encoding_errors,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_sink_logger,
        cache_logger_on_first_use=False,
    )
