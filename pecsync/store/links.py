"""Personal links of a member (``/i/<token>`` on the intake page): the link an invitation or
a reminder carries.  Only the SHA-256 of a token is stored; the token itself exists in the
message sent and nowhere else.  Named queries only.

The link opens the form with the member's address filled in, and the intake page gives it a
rate limit of its own (so other people's failed tries on an address never lock its member out
of the personal link).  Opening and submitting are recorded for the campaign's response
tracking (per wave: sent, failed, link opened, password submitted, done).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from pecsync.store.checkpoints import CheckpointStore, now
from pecsync.store.connector import Repository
from pecsync.store.rows import RowMapper


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class MemberLink:
    token_hash: str
    address: str
    order: str | None
    created_at: str
    opened_at: str | None
    open_count: int
    submitted_at: str | None


_LINK = RowMapper(MemberLink, rename={"order": "order_name"})


class LinkStore(Repository):
    def __init__(self, store: CheckpointStore) -> None:
        super().__init__(store)
        #: What it was built from (the statements run on ``self.connector``).
        self.store = store

    async def issue(self, address: str, order: str | None) -> str:
        """A new personal link token for *address* (returned once; only its hash is kept).
        Earlier links of the address stay valid."""
        token = secrets.token_urlsafe(32)
        await self.connector._transaction([("insert_member_link", {
            "token_hash": token_hash(token), "address": address.lower(), "order_name": order,
            "now": now()})])
        return token

    async def resolve(self, token: str) -> MemberLink | None:
        """The link a token belongs to, or None for a token never issued."""
        if not token or len(token) > 200:
            return None
        row = await self.connector._one("member_link_of_token",
                                        {"token_hash": token_hash(token)})
        return None if row is None else _LINK(row)

    async def mark_opened(self, token: str) -> None:
        await self.connector._transaction([("mark_member_link_opened", {
            "token_hash": token_hash(token), "now": now()})])

    async def mark_submitted(self, token: str) -> None:
        await self.connector._transaction([("mark_member_link_submitted", {
            "token_hash": token_hash(token), "now": now()})])

    async def of_address(self, address: str) -> list[MemberLink]:
        rows = await self.connector._query("member_links_of_address",
                                           {"address": address.lower()})
        return _LINK.all(rows)
