"""The fast metadata parser agrees with imapclient's general parser."""

from __future__ import annotations

import pytest

from pecsync.imap.wire import parse_internaldate, parse_meta, parse_meta_general

LINES = [
    b'1 (UID 7 RFC822.SIZE 1234 FLAGS (\\Seen $Pec) INTERNALDATE "27-Nov-2026 05:54:12 +0100")',
    b'2 (UID 9 RFC822.SIZE 55 FLAGS () INTERNALDATE " 1-Jan-2001 00:00:00 -0930")',
    b'3 (RFC822.SIZE 10 INTERNALDATE "31-Dec-1999 23:59:59 +0000" FLAGS (\\Answered) UID 12)',
    b'4 (FLAGS (\\Seen) UID 13)',  # an unsolicited flag update: ignored by both
]


def test_fast_parser_matches_imapclient() -> None:
    fast = parse_meta(LINES)
    general = parse_meta_general(LINES)
    assert [m.uid for m in fast] == [7, 9, 12]
    assert fast == general
    for a, b in zip(fast, general, strict=True):
        assert a.internaldate.utcoffset() == b.internaldate.utcoffset()
        assert a.internaldate.isoformat() == b.internaldate.isoformat()


def test_unusual_answers_fall_back() -> None:
    odd = [(b'1 (UID 7 RFC822.SIZE 3 FLAGS () INTERNALDATE {26}',
            b"27-Nov-2026 05:54:12 +0100"), b")"]
    with pytest.raises(Exception):  # noqa: B017 - whatever imapclient raises on nonsense
        parse_meta([b"garbage"])
    assert parse_meta([]) == []
    assert isinstance(parse_meta(odd), list)


def test_bad_dates_are_refused() -> None:
    with pytest.raises(ValueError):
        parse_internaldate(b"2026-11-27 05:54:12")
