"""Modified UTF-7 for IMAP mailbox names (RFC 3501 §5.1.3).

>>> encode("Àrchivio")
b'&AMA-rchivio'
>>> decode(b"Soci&AOk-t&AOA- Rossi &- Figli")
'Società Rossi & Figli'
"""

from __future__ import annotations

import base64
import re

_RUN = re.compile(r"&([^-]*)-")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",")


def encode(name: str) -> bytes:
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            out.append("&" + _b64("".join(pending).encode("utf-16-be")) + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out).encode("ascii")


def decode(raw: bytes | str) -> str:
    text = raw.decode("ascii") if isinstance(raw, bytes) else raw
    pos = 0
    out: list[str] = []
    while pos < len(text):
        amp = text.find("&", pos)
        if amp < 0:
            out.append(text[pos:])
            break
        out.append(text[pos:amp])
        end = text.find("-", amp)
        if end < 0:
            raise ValueError(f"mailbox name {text!r}: '&' without closing '-'")
        chunk = text[amp + 1:end]
        if not chunk:
            out.append("&")
        else:
            data = chunk.replace(",", "/")
            try:
                decoded = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
                out.append(decoded.decode("utf-16-be"))
            except (ValueError, UnicodeDecodeError):
                raise ValueError(f"mailbox name {text!r}: invalid modified UTF-7 "
                                 f"{chunk!r}") from None
        pos = end + 1
    return "".join(out)
