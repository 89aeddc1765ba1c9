"""The raw bytes of a message that Dovecot served with NUL bytes rewritten.

Dovecot serves a stored NUL byte as 0x80 in ``BODY[]``.  ``BINARY[]`` (RFC 3516) keeps NULs,
but it is not the raw message either: it decodes every base64 or quoted-printable part (and
rewrites that part's ``Content-Transfer-Encoding`` header to ``binary``).  A 0x80 in
``BODY[]`` is therefore either a real 0x80 (8-bit text: UTF-8 quotes are E2 80 99) or a NUL.

It can only be a NUL where ``BINARY[]`` shows the same bytes undecoded: in the headers and in
the parts that are not base64 or quoted-printable.  :func:`raw_message` walks the MIME tree of
both outputs side by side and takes those regions from ``BINARY[]`` (NULs where the message
has them) and everything else from ``BODY[]``.  Whenever the two trees do not line up exactly,
it gives up (``None``): the caller then reports the message as not verifiable rather than
guess.
"""

from __future__ import annotations

import re
from email.parser import BytesHeaderParser
from email.policy import compat32

__all__ = ["raw_message", "resolve_nul"]

_ENCODED = frozenset({"base64", "quoted-printable"})
_MAX_DEPTH = 50
_HEADERS = BytesHeaderParser(policy=compat32)


def raw_message(body: bytes, binary: bytes) -> bytes | None:
    """The raw message, given Dovecot's ``BODY[]`` and ``BINARY[]`` outputs of it, or None
    when they cannot be lined up part by part.

    >>> raw_message(b"S: x\\r\\n\\r\\na\\x80b", b"S: x\\r\\n\\r\\na\\x00b")
    b'S: x\\r\\n\\r\\na\\x00b'
    """
    if b"\x00" in body:
        return None  # not the output this is about
    return _entity(body, binary, 0)


def resolve_nul(body: bytes, binary: bytes | None, size: int) -> tuple[bytes, str | None]:
    """The raw message, given its ``BODY[]`` (NUL served as 0x80) and ``BINARY[]`` outputs.

    Returns ``(raw, None)`` when the raw bytes are known, or ``(body, reason)`` when they
    cannot be: the message is copied as served and listed as not verifiable.

    >>> resolve_nul(b"a\\x80b", b"a\\x00b", 3)
    (b'a\\x00b', None)
    """
    if binary is None:
        return body, ("unverifiable: the source server cannot serve this message in BINARY; "
                      "NUL bytes, if any, may have been served as 0x80")
    if binary == body or b"\x00" not in binary:
        # No NUL survived even in BINARY: BODY[] was the raw message.
        return body, None
    if len(binary) == size:
        # Same size as stored: nothing was decoded, so BINARY[] is the raw message.
        return binary, None
    # Some parts were decoded: NULs can only be in the parts BINARY[] left as they are.
    raw = raw_message(body, binary)
    if raw is not None and len(raw) == size:
        return raw, None
    return body, ("unverifiable: the source server serves NUL bytes as 0x80 and this "
                  "message's parts could not be lined up with its BINARY form")


def _same_but_nul(served: bytes, binary: bytes) -> bool:
    """*binary* is *served* with some 0x80 bytes being NULs in fact."""
    return len(served) == len(binary) and binary.replace(b"\x00", b"\x80") == served


def _split(entity: bytes) -> tuple[bytes, bytes]:
    """Header block (with its blank line) and body; Dovecot serves CRLF line ends."""
    if entity.startswith(b"\r\n"):
        return entity[:2], entity[2:]
    end = entity.find(b"\r\n\r\n")
    if end < 0:
        return entity, b""
    return entity[:end + 4], entity[end + 4:]


def _entity(served: bytes, binary: bytes, depth: int) -> bytes | None:
    if b"\x80" not in served:
        return served  # nothing here can have been a NUL
    if depth > _MAX_DEPTH:
        return None
    s_head, s_body = _split(served)
    b_head, b_body = _split(binary)
    headers = _HEADERS.parsebytes(s_head)
    cte = str(headers.get("Content-Transfer-Encoding", "")).strip().lower()
    ctype = headers.get_content_type()
    if b"\x80" not in s_head:
        head = s_head
    elif cte in _ENCODED:
        found = _decoded_part_head(s_head, b_head)
        if found is None:
            return None
        head = found
    elif _same_but_nul(s_head, b_head):
        head = b_head
    else:
        return None
    if cte in _ENCODED:
        # Base64 and quoted-printable are ASCII: a 0x80 inside is a broken part whose NULs
        # BINARY[] decoded away.  Without one, BODY[] is the raw body.
        return None if b"\x80" in s_body else head + s_body
    if ctype.startswith("multipart/"):
        boundary = headers.get_param("boundary")
        if not isinstance(boundary, str) or not boundary:
            return None
        rest = _multipart(s_body, b_body, boundary.encode("utf-8", "surrogateescape"), depth)
    elif ctype in ("message/rfc822", "message/global"):
        rest = _entity(s_body, b_body, depth + 1)
    else:
        rest = b_body if _same_but_nul(s_body, b_body) else None
    return None if rest is None else head + rest


def _fields(head: bytes) -> list[bytes]:
    """Header fields, each with its continuation lines and line ends."""
    fields: list[bytes] = []
    for line in head.splitlines(keepends=True):
        if fields and line[:1] in (b" ", b"\t"):
            fields[-1] += line
        else:
            fields.append(line)
    return fields


def _is_cte(field: bytes) -> bool:
    return field.split(b":", 1)[0].strip().lower() == b"content-transfer-encoding"


def _decoded_part_head(served: bytes, binary: bytes) -> bytes | None:
    """The header block of a part BINARY[] decoded: Dovecot drops its
    Content-Transfer-Encoding field and adds ``Content-Transfer-Encoding: binary`` at the
    end; every other field comes in the same order, NULs kept."""
    s_fields = _fields(served)
    b_fields = [f for f in _fields(binary) if not _is_cte(f)]
    s_others = [f for f in s_fields if not _is_cte(f)]
    if len(s_others) != len(b_fields) or not all(
            _same_but_nul(s, b) for s, b in zip(s_others, b_fields, strict=True)):
        return None
    with_nuls = iter(b_fields)
    return b"".join(f if _is_cte(f) else next(with_nuls) for f in s_fields)


def _multipart(served: bytes, binary: bytes, boundary: bytes, depth: int) -> bytes | None:
    """Preamble, parts and epilogue, paired by their delimiter lines."""
    delimiter = re.compile(rb"(?:\A|\r\n)--" + re.escape(boundary)
                           + rb"(--)?[ \t]*(?:\r\n|\Z)")
    s_pieces = _pieces(served, delimiter)
    b_pieces = _pieces(binary, delimiter)
    if s_pieces is None or b_pieces is None or len(s_pieces) != len(b_pieces):
        return None
    out: list[bytes] = []
    last = len(s_pieces) - 1
    for i, ((s_text, s_delim), (b_text, b_delim)) in enumerate(zip(s_pieces, b_pieces,
                                                                   strict=True)):
        if s_delim != b_delim:
            return None
        if i in (0, last):  # preamble and epilogue: never decoded
            text = s_text if b"\x80" not in s_text else (
                b_text if _same_but_nul(s_text, b_text) else None)
        else:
            text = _entity(s_text, b_text, depth + 1)
        if text is None:
            return None
        out += (text, s_delim)
    return b"".join(out)


def _pieces(data: bytes, delimiter: re.Pattern[bytes]) -> list[tuple[bytes, bytes]] | None:
    """``[(text, delimiter line after it), ...]`` up to the close delimiter; the last item is
    the epilogue (with an empty delimiter)."""
    out: list[tuple[bytes, bytes]] = []
    pos = 0
    for m in delimiter.finditer(data):
        out.append((data[pos:m.start()], m.group(0)))
        pos = m.end()
        if m.group(1):  # the close delimiter
            out.append((data[pos:], b""))
            return out
    return None  # no close delimiter: leave such a message to the caller
