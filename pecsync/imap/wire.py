"""IMAP syntax read and written by pecsync's own commands: INTERNALDATE, FETCH metadata,
STATUS and NAMESPACE answers, literals keyed by UID, quoted folder names.

Pure functions of bytes and imaplib's raw answers (see :mod:`pecsync.imap.codes` for the
``[CODE]`` texts): no connection here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from imapclient.response_parser import parse_fetch_response, parse_response

from pecsync.imap import utf7
from pecsync.model import FolderStatus, MessageInfo

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UID_RE = re.compile(rb"\bUID (\d+)")


def format_internaldate(dt: datetime) -> str:
    """``datetime(2024, 3, 1, 9, 5, 7, tzinfo=+01:00)`` → ``"01-Mar-2024 09:05:07 +0100"``."""
    if dt.tzinfo is None:
        dt = dt.astimezone()
    offset = dt.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return (f"{dt.day:02d}-{MONTHS[dt.month - 1]}-{dt.year:04d} "
            f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d} "
            f"{sign}{minutes // 60:02d}{minutes % 60:02d}")


META_ITEMS = "(UID RFC822.SIZE FLAGS INTERNALDATE)"


_FETCH_LINE_RE = re.compile(rb"^\d+ \((.*)\)\s*$", re.S)
_META_UID_RE = re.compile(rb"(?:^|[ (])UID (\d+)")
_META_SIZE_RE = re.compile(rb"(?:^|[ (])RFC822\.SIZE (\d+)")
_META_FLAGS_RE = re.compile(rb"(?:^|[ (])FLAGS \(([^()]*)\)")
_META_DATE_RE = re.compile(rb'(?:^|[ (])INTERNALDATE "([^"]+)"')
_DATE_RE = re.compile(
    rb"\s*(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$")
_MONTH_NO = {m.encode().lower(): n for n, m in enumerate(MONTHS, 1)}
_ZONES: dict[bytes, timezone] = {}


def parse_internaldate(raw: bytes) -> datetime:
    """``b"27-Nov-2026 05:54:12 +0100"`` → an aware datetime (offset kept as sent).

    >>> parse_internaldate(b" 7-Mar-2024 09:05:07 -0130").isoformat()
    '2024-03-07T09:05:07-01:30'
    """
    m = _DATE_RE.match(raw)
    if not m:
        raise ValueError(f"not an IMAP date-time: {raw!r}")
    day, mon, year, hh, mi, ss, sign, zh, zm = m.groups()
    zone = _ZONES.get(sign + zh + zm)
    if zone is None:
        minutes = int(zh) * 60 + int(zm)
        zone = timezone(timedelta(minutes=-minutes if sign == b"-" else minutes))
        _ZONES[sign + zh + zm] = zone
    return datetime(int(year), _MONTH_NO[mon.lower()], int(day), int(hh), int(mi), int(ss),
                    tzinfo=zone)


def parse_meta(data: Sequence[Any]) -> list[MessageInfo]:
    """MessageInfo of each FETCH answer carrying our metadata items, sorted by UID.

    A plain-regex reading of the usual one-line answers (imapclient's general parser cost
    15% of pecsync's CPU in a profile); anything unusual goes to imapclient's parser."""
    out: list[MessageInfo] = []
    try:
        for line in data:
            if line is None:
                continue
            if not isinstance(line, bytes):
                raise ValueError("literal in a metadata answer")
            m = _FETCH_LINE_RE.match(line)
            if not m:
                raise ValueError("unexpected FETCH line")
            items = m.group(1)
            info = _meta_of(items)
            if info is None:
                if _META_SIZE_RE.search(items) and _META_DATE_RE.search(items):
                    raise ValueError("an answer not understood")
                continue  # an unsolicited FLAGS update, not our answer
            out.append(info)
    except (ValueError, KeyError, UnicodeDecodeError):
        return parse_meta_general(data)
    out.sort(key=lambda i: i.uid)
    return out


def parse_meta_general(data: Sequence[Any]) -> list[MessageInfo]:
    """What :func:`parse_meta` returns, read by imapclient's general parser (any answer)."""
    resp = parse_fetch_response([d for d in data if d is not None], False, True)
    out = []
    for uid, item in resp.items():
        if b"RFC822.SIZE" not in item or b"INTERNALDATE" not in item:
            continue  # an unsolicited FLAGS update, not our answer
        flags = tuple(sorted(f.decode() if isinstance(f, bytes) else str(f)
                             for f in item.get(b"FLAGS", ())))
        out.append(MessageInfo(uid=int(uid), size=int(item[b"RFC822.SIZE"]), flags=flags,
                               internaldate=item[b"INTERNALDATE"]))
    out.sort(key=lambda m: m.uid)
    return out


def personal_namespace(personal: Any) -> tuple[str, str]:
    """``(prefix, delimiter)`` of the first personal namespace (``("", "/")`` if none)."""
    if not personal:
        return "", "/"
    prefix, delim = personal[0]
    prefix_s = utf7.decode(prefix) if isinstance(prefix, bytes) else str(prefix)
    delim_s = delim.decode() if isinstance(delim, bytes) else (delim or "/")
    return prefix_s, delim_s


def namespace_prefixes(*groups: Any) -> tuple[str, ...]:
    """Every prefix of the given NAMESPACE groups (other users', shared), decoded."""
    out: list[str] = []
    for group in groups:
        for entry in group or ():
            prefix = entry[0] if entry else None
            if prefix is None:
                continue
            out.append(utf7.decode(prefix) if isinstance(prefix, bytes) else str(prefix))
    return tuple(out)


def parse_statuses(rows: Sequence[Any]) -> dict[str, FolderStatus] | None:
    """``{folder: FolderStatus}`` from untagged STATUS answers; None if one is not understood
    (the caller then asks STATUS per folder)."""
    out: dict[str, FolderStatus] = {}
    for row in rows:
        try:
            if isinstance(row, tuple):  # the name came as a literal
                name_raw, rest = row[1], row[2] if len(row) > 2 else b""
                parsed = [name_raw, *parse_response([rest])]
            else:
                parsed = list(parse_response([row]))
            name = parsed[0] if isinstance(parsed[0], bytes) else str(parsed[0]).encode()
            items = parsed[1]
            values = {items[i].upper(): int(items[i + 1]) for i in range(0, len(items), 2)}
        except (ValueError, IndexError, TypeError, AttributeError):
            return None  # an answer we do not understand: fall back to STATUS per folder
        out[utf7.decode(name)] = FolderStatus(uidvalidity=values.get(b"UIDVALIDITY", 0),
                                              uidnext=values.get(b"UIDNEXT", 0),
                                              exists=values.get(b"MESSAGES", 0),
                                              highestmodseq=values.get(b"HIGHESTMODSEQ"))
    return out


def literals_by_uid(data: Sequence[Any]) -> dict[int, bytes]:
    """``{uid: literal}`` from imaplib's FETCH data (the UID may come before or after the
    literal)."""
    out: dict[int, bytes] = {}
    last_literal: bytes | None = None
    for part in data:
        if isinstance(part, tuple):
            m = _UID_RE.search(part[0])
            if m:
                out[int(m.group(1))] = part[1]
                last_literal = None
            else:
                last_literal = part[1]  # UID comes after the literal
        elif isinstance(part, bytes) and last_literal is not None:
            m = _UID_RE.search(part)
            if m:
                out[int(m.group(1))] = last_literal
            last_literal = None
    return out


#: A read-back FETCH: the copy's bytes and what verification compares besides them, in one
#: command (a FETCH of the metadata first cost a round trip per read-back round, issue 26).
READ_BACK_ITEMS = "(UID RFC822.SIZE FLAGS INTERNALDATE BODY.PEEK[])"


def literals_with_meta(data: Sequence[Any]) -> tuple[dict[int, bytes], dict[int, MessageInfo]]:
    """``({uid: literal}, {uid: MessageInfo})`` from imaplib's data of a
    :data:`READ_BACK_ITEMS` FETCH: the metadata items may come before the literal (in its
    line) or after it (in the line imaplib keeps after the tuple), or in a FETCH answer of
    their own (a server that splits its answers).  A message whose items are in no one
    answer has no MessageInfo: the caller asks for those apart.

    >>> data = [(b'1 (UID 7 RFC822.SIZE 2 FLAGS ($Pec) BODY[] {2}', b'hi'),
    ...         b' INTERNALDATE " 1-Mar-2024 09:05:07 +0100")']
    >>> bodies, metas = literals_with_meta(data)
    >>> bodies, metas[7].flags, metas[7].internaldate.isoformat()
    ({7: b'hi'}, ('$Pec',), '2024-03-01T09:05:07+01:00')
    """
    bodies: dict[int, bytes] = {}
    metas: dict[int, MessageInfo] = {}
    for i, part in enumerate(data):
        if isinstance(part, tuple):
            text = part[0]
            tail = data[i + 1] if i + 1 < len(data) else None
            if isinstance(tail, bytes) and not _FETCH_LINE_RE.match(tail):
                text += tail  # the rest of this answer's line, after the literal
            uid = _UID_RE.search(text)
            if uid is not None:
                bodies[int(uid.group(1))] = part[1]
        elif isinstance(part, bytes) and _FETCH_LINE_RE.match(part):
            text = part  # an answer of its own (a server that splits its answers)
        else:
            continue
        info = _meta_of(text)
        if info is not None:
            metas.setdefault(info.uid, info)
    return bodies, metas


def _meta_of(text: bytes) -> MessageInfo | None:
    """The MessageInfo in one FETCH answer's text, or None when an item is missing (an
    unsolicited flag update) or not understood."""
    uid = _META_UID_RE.search(text)
    size = _META_SIZE_RE.search(text)
    flags = _META_FLAGS_RE.search(text)
    date = _META_DATE_RE.search(text)
    if uid is None or size is None or flags is None or date is None:
        return None
    try:
        return MessageInfo(
            uid=int(uid.group(1)), size=int(size.group(1)),
            flags=tuple(sorted(f.decode("ascii") for f in flags.group(1).split())),
            internaldate=parse_internaldate(date.group(1)))
    except (ValueError, KeyError, UnicodeDecodeError):
        return None  # asked for apart, through the general parser


def quote(name: str) -> bytes:
    """A folder name as an IMAP quoted string, in modified UTF-7.

    >>> quote("Posta inviata/Città")
    b'"Posta inviata/Citt&AOA-"'
    """
    raw: bytes = utf7.encode(name)
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
