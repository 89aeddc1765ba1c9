"""Reading and validating what a member posts: bounded, UTF-8, no surprises.  Every problem
is a :class:`BadInput` carrying the HTTP status and the member's words for it."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.requests import Request

from pecsync.config import OrderInfo

#: A form is a few short fields: anything larger is not one of ours.
MAX_BODY = 16 * 1024
MAX_FIELDS = 12
LIMITS = {"address": 254, "password": 512, "dst_password": 512, "csrf": 64, "challenge": 128,
          "pow": 16, "website": 256, "domain": 253, "lang": 4}
_ADDRESS = re.compile(r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
                      r"(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")
_LOCAL = re.compile(r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+$")


class BadInput(Exception):
    """A request the page cannot take; *key* names the member text, *field* the field."""

    def __init__(self, status: int, key: str, field: str | None = None) -> None:
        super().__init__(key)
        self.status, self.key, self.field = status, key, field


async def read_form(request: Request) -> dict[str, str]:
    """The posted fields (urlencoded or multipart, no files), at most MAX_BODY bytes."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise BadInput(413, "too_long", "form")
    if ctype == "multipart/form-data":
        try:
            async with request.form(max_files=0, max_fields=MAX_FIELDS,
                                    max_part_size=MAX_BODY) as form:
                items = list(form.multi_items())
        except Exception:  # the parser's own errors: not a form we can read
            raise BadInput(400, "missing", "form") from None
        if any(isinstance(v, UploadFile) for _, v in items):
            raise BadInput(400, "bad_chars", "form")
        pairs = [(k, str(v)) for k, v in items]
    elif ctype == "application/x-www-form-urlencoded":
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise BadInput(413, "too_long", "form")
        try:
            text = body.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict",
                              max_num_fields=MAX_FIELDS)
        except UnicodeDecodeError:
            raise BadInput(400, "encoding") from None
        except ValueError:  # too many fields
            raise BadInput(413, "too_long", "form") from None
    else:
        raise BadInput(415, "missing", "form")
    out: dict[str, str] = {}
    for key, value in pairs:
        if key in out:
            raise BadInput(400, "bad_chars", key if key in LIMITS else "form")
        limit = LIMITS.get(key)
        if limit is not None and len(value) > limit:
            raise BadInput(413, "too_long", key)
        out[key] = value
    return out


def text_field(form: dict[str, str], name: str, *, required: bool = True) -> str:
    value = form.get(name, "")
    if not value:
        if required:
            raise BadInput(400, "missing", name)
        return ""
    if any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise BadInput(400, "bad_chars", name)
    return value


def member_address(raw: str, order: OrderInfo | None, domain: str = "") -> str:
    """The full address a member meant: on an order's page the part before ``@`` is enough
    (the order's domain, or the one chosen among several, is added)."""
    address = raw.strip().lower()
    if "@" not in address and order is not None and order.domains:
        if not _LOCAL.match(address):
            raise BadInput(400, "bad_address", "address")
        chosen = domain.strip().lower()
        address = f"{address}@{chosen if chosen in order.domains else order.domains[0]}"
    if not _ADDRESS.match(address):
        raise BadInput(400, "bad_address", "address")
    return address
