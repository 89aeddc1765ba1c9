"""Parse IMAP response codes out of server text.

imaplib hands tagged and untagged responses back as text; codes such as
``[OVERQUOTA]``, ``[AUTHENTICATIONFAILED]`` or ``[APPENDUID 38505 3955]``
only exist inside it.  Pure functions, unit-tested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CODE_RE = re.compile(r"^\s*(?:(?:OK|NO|BAD|BYE)\s+)?\[([A-Za-z0-9.\-]+)(?:\s+([^\]]*))?\]\s*(.*)$",
                      re.S)


@dataclass(frozen=True)
class ResponseCode:
    """``[APPENDUID 38505 3955:3957] APPEND completed`` →
    ``ResponseCode(code="APPENDUID", args="38505 3955:3957", text="APPEND completed")``"""

    code: str | None
    args: str
    text: str


def as_text(value: object) -> str:
    """Server response data (bytes, list of bytes, exception) as one readable line."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip()
    if isinstance(value, (list, tuple)):
        return " ".join(as_text(v) for v in value if v is not None).strip()
    return str(value).strip()


def parse_code(text: str) -> ResponseCode:
    """Split a response line into its bracketed code, the code's arguments and the text."""
    m = _CODE_RE.match(text)
    if not m:
        return ResponseCode(None, "", text.strip())
    return ResponseCode(m.group(1).upper(), (m.group(2) or "").strip(), m.group(3).strip())


def find_code(text: str) -> str | None:
    """The first ``[CODE]`` anywhere in *text*, upper-cased (imaplib sometimes prefixes text)."""
    m = re.search(r"\[([A-Za-z0-9.\-]+)(?:\s[^\]]*)?\]", text)
    return m.group(1).upper() if m else None


def parse_uid_set(text: str) -> list[int]:
    """``"3955:3957,3960"`` → ``[3955, 3956, 3957, 3960]`` (ranges kept in the server's order)."""
    uids: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if ":" in part:
            a, b = (int(x) for x in part.split(":", 1))
            step = 1 if b >= a else -1
            uids.extend(range(a, b + step, step))
        else:
            uids.append(int(part))
    return uids


def parse_appenduid(text: str) -> tuple[int, list[int]] | None:
    """``"[APPENDUID 38505 3955:3957] Append completed."`` → ``(38505, [3955, 3956, 3957])``."""
    m = re.search(r"\[APPENDUID\s+(\d+)\s+([0-9:,]+)\]", text, re.I)
    if not m:
        return None
    return int(m.group(1)), parse_uid_set(m.group(2))


def uid_set(uids: list[int]) -> str:
    """Compact UID set: ``[1, 2, 3, 7]`` → ``"1:3,7"`` (input need not be sorted)."""
    out: list[str] = []
    ordered = sorted(set(uids))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}:{ordered[j]}")
        i = j + 1
    return ",".join(out)
