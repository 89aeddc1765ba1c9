"""Structured logging (structlog) with redaction on every chain.

Any key that looks like a secret (password, secret, token, key, authorization) is masked,
and any :class:`~pecsync.model.Secret` value anywhere in an event prints as ``***``.
imapclient and imaplib loggers are held at WARNING: at DEBUG they would print LOGIN
arguments and message literals.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from pecsync.model import Secret

_SECRET_KEY = re.compile(r"pass(word)?|secret|token|key|authorization|credential", re.I)
MASK = "***"


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask secret-looking keys and Secret values."""
    for k, v in list(event.items()):
        if isinstance(v, Secret) or (_SECRET_KEY.search(k) and v not in (None, "", False)):
            event[k] = MASK
        elif isinstance(v, dict):
            event[k] = {ik: MASK if isinstance(iv, Secret) or _SECRET_KEY.search(str(ik))
                        else iv for ik, iv in v.items()}
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


def configure(*, json: bool | None = None, level: int = logging.INFO,
              stream: TextIO | None = None) -> None:
    """Set up structlog for the CLI: console lines on a TTY, JSON lines otherwise."""
    out = stream or sys.stderr
    if json is None:
        json = not out.isatty()
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
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
