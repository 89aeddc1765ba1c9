"""Modified UTF-7 for IMAP mailbox names (RFC 3501 §5.1.3).  Pure stdlib.

Printable US-ASCII (0x20-0x7E) stands for itself, except ``&`` which is written ``&-``.
Every other character is written as UTF-16 (astral characters as surrogate pairs) in a
modified BASE64 run between ``&`` and ``-``: ``,`` instead of ``/`` and no ``=`` padding.

:func:`decode` is strict: it accepts only the one canonical spelling of a name, so that
``encode(decode(raw)) == raw`` always holds and a decoded name can be sent back to the
server unchanged.

>>> encode("Àrchivio")
b'&AMA-rchivio'
>>> decode(b"Societ&AOA- Rossi &- Figli")
'Società Rossi & Figli'
"""

from __future__ import annotations

import base64
import binascii

_B64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,")


def _is_direct(ch: str) -> bool:
    """True for the characters that represent themselves (printable US-ASCII)."""
    return 0x20 <= ord(ch) <= 0x7E


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",")


def encode(name: str) -> bytes:
    """``"Società & Figli"`` → ``b"Societ&AOA- &- Figli"``.

    Raises ``ValueError`` for a string holding a lone surrogate (not a character).
    """
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            run = "".join(pending)
            try:
                data = run.encode("utf-16-be")
            except UnicodeEncodeError:
                raise ValueError(f"mailbox name {name!r}: contains a lone surrogate, "
                                 f"which is not a character") from None
            out.append("&" + _b64(data) + "-")
            pending.clear()

    for ch in name:
        if _is_direct(ch):
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out).encode("ascii")


def decode(raw: bytes | str) -> str:
    """``b"Societ&AOA- &- Figli"`` → ``"Società & Figli"``.

    Raises ``ValueError`` (the message starts with ``mailbox name ...``) when ``raw`` is
    not valid, canonical modified UTF-7: 8-bit or control characters, an ``&`` without
    its ``-``, characters outside modified BASE64, a run that is not whole UTF-16, an
    unpaired surrogate, or a non-canonical spelling (printable ASCII inside a run,
    non-zero padding bits, two adjacent runs).
    """
    if isinstance(raw, bytes):
        text = raw.decode("latin-1")
    elif isinstance(raw, str):
        text = raw
    else:  # pragma: no cover - guarded by the type hints
        raise TypeError(f"expected bytes or str, got {type(raw).__name__}")

    def bad(reason: str) -> ValueError:
        return ValueError(f"mailbox name {raw!r}: invalid modified UTF-7: {reason}")

    out: list[str] = []
    pos = 0
    previous_run_end = -1
    while pos < len(text):
        ch = text[pos]
        if ch != "&":
            if not _is_direct(ch):
                what = f"byte 0x{ord(ch):02X}" if isinstance(raw, bytes) else f"character {ch!r}"
                raise bad(f"{what} at offset {pos} must be BASE64-encoded "
                          "(only printable US-ASCII may appear as is)")
            out.append(ch)
            pos += 1
            continue
        end = text.find("-", pos + 1)
        if end < 0:
            raise bad(f"'&' at offset {pos} has no closing '-'")
        chunk = text[pos + 1:end]
        if not chunk:
            out.append("&")
            pos = end + 1
            continue
        if pos == previous_run_end:
            raise bad(f"BASE64 run at offset {pos} directly follows another one "
                      "(a null shift '-&'); they must be one run")
        wrong = next((c for c in chunk if c not in _B64_ALPHABET), None)
        if wrong is not None:
            raise bad(f"character {wrong!r} in the BASE64 run at offset {pos} "
                      "is not modified BASE64 (A-Z a-z 0-9 + ,)")
        if len(chunk) % 4 == 1:
            raise bad(f"BASE64 run {chunk!r} at offset {pos} has an impossible length")
        std = chunk.replace(",", "/")
        try:
            data = base64.b64decode(std + "=" * (-len(std) % 4), validate=True)
        except binascii.Error as exc:  # pragma: no cover - the checks above catch it first
            raise bad(f"BASE64 run {chunk!r} at offset {pos}: {exc}") from None
        if len(data) % 2:
            raise bad(f"BASE64 run {chunk!r} at offset {pos} is not whole UTF-16 code units")
        try:
            decoded = data.decode("utf-16-be")
        except UnicodeDecodeError:
            raise bad(f"BASE64 run {chunk!r} at offset {pos} holds an unpaired "
                      "UTF-16 surrogate") from None
        if _b64(data) != chunk:
            raise bad(f"BASE64 run {chunk!r} at offset {pos} has non-zero padding bits")
        direct = next((c for c in decoded if _is_direct(c)), None)
        if direct is not None:
            raise bad(f"BASE64 run {chunk!r} at offset {pos} encodes the printable "
                      f"character {direct!r}, which must represent itself")
        out.append(decoded)
        pos = end + 1
        previous_run_end = pos
    return "".join(out)
