"""The fast metadata parser agrees with imapclient's general parser."""

from __future__ import annotations

import pytest

from pecsync.imap.wire import (
    literals_with_meta,
    parse_internaldate,
    parse_meta,
    parse_meta_general,
)

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


def test_read_back_answers_carry_their_metadata_before_or_after_the_literal() -> None:
    """A read-back FETCH brings bytes and metadata in one answer (issue 26): the items may
    come in the literal's line (Dovecot) or after it, in the line imaplib keeps after the
    tuple; they read as the metadata parser reads them alone."""
    data = [
        (b'1 (UID 7 RFC822.SIZE 1234 FLAGS (\\Seen $Pec) '
         b'INTERNALDATE "27-Nov-2026 05:54:12 +0100" BODY[] {5}', b"hello"),
        b")",
        (b'2 (BODY[] {2}', b"hi"),
        b' UID 9 RFC822.SIZE 55 FLAGS () INTERNALDATE " 1-Jan-2001 00:00:00 -0930")',
        b'3 (FLAGS (\\Seen) UID 9)',  # an unsolicited flag update: not the answer
    ]
    bodies, metas = literals_with_meta(data)
    assert bodies == {7: b"hello", 9: b"hi"}
    alone = parse_meta(LINES[:2])
    assert metas[7] == alone[0]
    assert metas[9] == alone[1]
    assert metas[9].internaldate.utcoffset() == alone[1].internaldate.utcoffset()


def test_read_back_answers_split_in_two_are_read_from_both() -> None:
    """A server that splits its answer (the metadata in a FETCH answer of its own): read from
    that one; an item missing everywhere leaves the message without metadata, which the
    read-back then asks for apart (BodyPipeline)."""
    split = [(b'1 (UID 7 BODY[] {5}', b"hello"), b")",
             b'1 (UID 7 RFC822.SIZE 1234 FLAGS (\\Seen $Pec) '
             b'INTERNALDATE "27-Nov-2026 05:54:12 +0100")']
    bodies, metas = literals_with_meta(split)
    assert bodies == {7: b"hello"}
    assert metas[7] == parse_meta(LINES[:1])[0]
    bodies, metas = literals_with_meta([(b'1 (UID 7 FLAGS () BODY[] {5}', b"hello"), b")"])
    assert bodies == {7: b"hello"} and metas == {}


def test_a_read_back_literal_takes_no_uid_from_another_answer() -> None:
    """The line after a literal continues its answer only when it is not an answer of its own:
    a flag update for UID 9 does not name the literal before it."""
    data = [(b'1 (BODY[] {5}', b"hello"), b'3 (FLAGS (\\Seen) UID 9)']
    bodies, metas = literals_with_meta(data)
    assert bodies == {} and metas == {}
