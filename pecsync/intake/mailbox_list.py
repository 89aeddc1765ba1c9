"""Parse and validate the operator's mailbox list (CSV).  Pure: no database, no IMAP.

Header (column order free, extra columns refused)::

    order,address,source_user,source_password,dest_user,dest_password[,contact]

``contact`` (optional): where the member's invitation and reminders go instead of the PEC
address (an ordinary e-mail address).

The separator is read from the header line: ``,``, or ``;`` as Excel writes CSV with an
Italian (or any comma-decimal) locale, or a tab.  A UTF-8 BOM and CRLF line ends are fine.

Every problem names the file, the line and the column — never a password value.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from pecsync.model import MailboxRow, Secret

COLUMNS = ("order", "address", "source_user", "source_password", "dest_user", "dest_password",
           "contact")
REQUIRED = ("order", "address")
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


@dataclass(frozen=True)
class RowError:
    path: str
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" + (f": column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class ParsedList:
    rows: list[MailboxRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    #: The header's columns (lower case).
    columns: tuple[str, ...] = ()


_SEPARATOR_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs"}


def detect_delimiter(text: str) -> str:
    r"""The separator of the list, from its header line only (never from rows: they hold
    passwords, which may contain any separator).

    >>> detect_delimiter("order;address;source_password\r\nA;x@y.it;p,w\r\n")
    ';'
    >>> detect_delimiter("order,address\n"), detect_delimiter("order\taddress\n")
    (',', '\t')
    """
    first = text.splitlines()[0] if text else ""
    best, best_known = ",", -1
    for candidate in (",", ";", "\t"):
        known = sum(1 for h in first.split(candidate) if h.strip().lower() in COLUMNS)
        if known > best_known:
            best, best_known = candidate, known
    return best


def parse_mailbox_list(path: Path) -> ParsedList:
    """Read *path*; return the valid rows and one error per problem found."""
    result = ParsedList()
    name = str(path)

    def err(line: int, column: str | None, message: str) -> None:
        result.errors.append(RowError(name, line, column, message))

    try:
        raw = path.read_bytes()
    except OSError as exc:
        err(0, None, f"cannot read the file: {exc.strerror}")
        return result
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        # Not the byte nor its column: it may be in a password.
        err(line, None, "not UTF-8 text; save the file as UTF-8 CSV (in Excel: \"CSV UTF-8\", "
                        "not \"CSV (delimitato dal separatore di elenco)\", which is Windows-1252)")
        return result
    if not text.strip():
        err(1, None, "the file is empty (expected a header: " + ",".join(COLUMNS) + ")")
        return result
    delimiter = detect_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(reader)]
        result.columns = tuple(header)
    except csv.Error as exc:
        err(1, None, f"unreadable CSV: {exc}")
        return result
    missing = [c for c in REQUIRED if c not in header]
    for c in missing:
        err(1, c, "missing column in the header (expected " + ",".join(COLUMNS) + ")")
    unknown = [h for h in header if h not in COLUMNS]
    if len(header) == 1 and unknown:
        odd = sorted({c for c in header[0] if not (c.isalnum() or c in "_ ")})
        err(1, None, "the header has one column only: the separator "
            + (f"seems to be {' or '.join(repr(c) for c in odd)}, " if odd else "is not found, ")
            + "pecsync reads ',' ';' or tab: save the list as CSV with one of them")
        return result
    for h in unknown:
        err(1, h or "(empty)", "unknown column in the header (expected "
            + ",".join(COLUMNS) + ")")
    dupes = {h for h in header if header.count(h) > 1}
    for h in sorted(dupes):
        err(1, h, "column appears twice in the header")
    if missing or unknown or dupes:
        return result
    seen: dict[str, int] = {}
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                err(line, None, f"{len(values)} fields, expected {len(header)} (check the "
                                f"{_SEPARATOR_NAMES[delimiter]} separating them and quotes)")
                continue
            rec = dict(zip(header, values, strict=True))
            order = rec.get("order", "").strip()
            address = rec.get("address", "").strip().lower()
            bad = False
            if not order:
                err(line, "order", "empty: every mailbox belongs to an order")
                bad = True
            if not _ADDRESS.match(address):
                err(line, "address", f"{address or '(empty)'!s} is not an e-mail address")
                bad = True
            elif address in seen:
                err(line, "address", f"{address} already listed on line {seen[address]}")
                bad = True
            for col in ("source_user", "dest_user"):
                value = rec.get(col, "")
                if value != value.strip() and value.strip():
                    err(line, col, "leading or trailing spaces")
                    bad = True
            contact = rec.get("contact", "").strip().lower()
            if contact and not _ADDRESS.match(contact):
                err(line, "contact", f"{contact} is not an e-mail address")
                bad = True
            if bad:
                continue
            seen[address] = line
            src_pw = rec.get("source_password", "")
            dst_pw = rec.get("dest_password", "")
            result.rows.append(MailboxRow(
                line=line, order=order, address=address,
                source_user=rec.get("source_user", "").strip() or address,
                source_password=Secret(src_pw) if src_pw else None,
                dest_user=rec.get("dest_user", "").strip() or address,
                dest_password=Secret(dst_pw) if dst_pw else None,
                contact=contact or None))
    except csv.Error as exc:
        err(reader.line_num, None, f"unreadable CSV: {exc}")
    return result
