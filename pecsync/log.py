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
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
