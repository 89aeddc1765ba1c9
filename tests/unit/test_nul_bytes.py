"""Lining up Dovecot's BODY[] (NUL served as 0x80) with its BINARY[] (encoded parts decoded,
their Content-Transfer-Encoding rewritten to binary) to get the raw message back."""

from __future__ import annotations

import base64
import binascii

from pecsync.imap.nul_bytes import raw_message, resolve_nul

DER = bytes(range(256)) * 2  # a decoded smime.p7s is full of NUL bytes


def message(text: bytes, *, header: bytes = b"", inner_text: bytes = b"ok") -> bytes:
    b64 = base64.encodebytes(DER).replace(b"\n", b"\r\n")
    return (b"From: a@example.it\r\nSubject: x" + header + b"\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="BB"\r\n\r\npreamble\r\n--BB\r\n'
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
            b"\r\n" + text + b"\r\n"
            b"--BB\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b64 + b"\r\n--BB\r\n"
            b"Content-Type: message/rfc822\r\n\r\n"
            b'Subject: inner\r\nContent-Type: multipart/alternative; boundary="CC"\r\n\r\n'
            b"--CC\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: "
            b"quoted-printable\r\n\r\nsoft=\r\nbreak =E2=80=99 =00\r\n--CC\r\n"
            b"Content-Type: text/plain\r\n\r\n" + inner_text + b"\r\n--CC--\r\n"
            b"--BB--\r\nepilogue\r\n")


def served(raw: bytes) -> bytes:
    """BODY[] as Dovecot serves it."""
    return raw.replace(b"\x00", b"\x80")


def as_binary(raw: bytes) -> bytes:
    """BINARY[] as Dovecot 2.3 serves it (measured: see the integration test)."""
    b64 = base64.encodebytes(DER).replace(b"\n", b"\r\n")
    out = raw.replace(b"Content-Transfer-Encoding: base64\r\n\r\n" + b64,
                      b"Content-Transfer-Encoding: binary\r\n\r\n" + DER)
    return out.replace(b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                       b"soft=\r\nbreak =E2=80=99 =00",
                       b"Content-Transfer-Encoding: binary\r\n\r\n"
                       + binascii.a2b_qp(b"soft=\r\nbreak =E2=80=99 =00"))


def test_utf8_text_beside_a_signature_is_not_a_nul() -> None:
    raw = message("l’avvocato — testo".encode())  # E2 80 99, E2 80 94
    assert b"\x80" in served(raw) and b"\x00" in as_binary(raw)
    assert raw_message(served(raw), as_binary(raw)) == raw
    assert resolve_nul(served(raw), as_binary(raw), len(raw)) == (raw, None)


def test_real_nuls_in_text_parts_and_headers_come_back() -> None:
    raw = message(b"a\x00b \xe2\x80\x99", header=b" \x00", inner_text=b"in\x00ner")
    assert raw_message(served(raw), as_binary(raw)) == raw
    assert resolve_nul(served(raw), as_binary(raw), len(raw)) == (raw, None)


def test_anything_that_does_not_line_up_is_left_unverifiable() -> None:
    raw = message(b"a\x00b")
    broken = as_binary(raw).replace(b"--BB--", b"--XX--")  # no close delimiter
    assert raw_message(served(raw), broken) is None
    body, note = resolve_nul(served(raw), broken, len(raw))
    assert body == served(raw) and note and note.startswith("unverifiable")
    # A 0x80 inside a base64 part: BINARY[] decoded it away, nothing tells what it was.
    bad = raw.replace(b"Content-Transfer-Encoding: base64\r\n\r\n",
                      b"Content-Transfer-Encoding: base64\r\n\r\n\x80")
    assert raw_message(served(bad), as_binary(bad)) is None
    # A differing identity part (not just NUL against 0x80).
    assert raw_message(served(raw), as_binary(raw).replace(b"a\x00b", b"a\x00c")) is None


def test_a_decoded_part_with_8bit_header_fields() -> None:
    # Dovecot drops the part's Content-Transfer-Encoding field and appends its own at the
    # end of the part's header (measured on the corpus's russian-attachment-yahoo.eml).
    name = "Картинка".encode()  # D0 9A D0 B0 D1 80 ...: a 0x80 in a header field
    part = (b"Content-Type: image/png; name=\"" + name + b"\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment;\r\n filename=\"" + name + b"\x00\"\r\n\r\n")
    raw = (b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n' + part
           + base64.b64encode(DER) + b"\r\n--B--\r\n")
    binary = (b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
              + part.replace(b"Content-Transfer-Encoding: base64\r\n", b"")
                    .replace(b"\r\n\r\n", b"\r\nContent-Transfer-Encoding: binary\r\n\r\n")
              + DER + b"\r\n--B--\r\n")
    assert raw_message(served(raw), binary) == raw
    # Any other difference in that header block: not lined up.
    assert raw_message(served(raw), binary.replace(b"attachment", b"inline")) is None
