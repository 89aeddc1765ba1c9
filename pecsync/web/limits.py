"""Who may try a password now: the intake page's limits on failed checks, so that nobody can
lock a member out of the page with wrong passwords.

* per client: submissions of one client address (``rate_per_client``), whatever they are;
* per member address *and* client: failed checks (``rate_per_address``): one client's wrong
  tries never stop the member on another client;
* per member address across all clients: a higher ceiling (``rate_per_address_ceiling``)
  that protects the mailbox at the provider;
* per personal link (``/i/<token>``, and the status link ``/s/<token>``): a limit of its own
  (``rate_per_link``) instead of the two above, so the member's own link works even when the
  ceiling is exhausted by others.

A slot is taken before the LOGIN (one statement each, so concurrent requests cannot both
take the last one) and given back when the check did not fail (the password was accepted or
the provider could not be reached): the limits count failed checks only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pecsync.config import IntakeConfig
from pecsync.store.intake import IntakeStore

#: Link checks are also counted against the address ceiling (they are LOGINs at the provider)
#: but never stopped by it.
_UNLIMITED = 2**31 - 1


@dataclass(frozen=True)
class Refusal:
    #: "client", "address" (this client, this address), "ceiling" (all clients) or "link".
    limit: str
    retry_at: datetime


@dataclass
class Check:
    """The slots one password check holds (give them back with :func:`release`)."""

    taken: list[tuple[str, str]] = field(default_factory=list)


async def take_client(store: IntakeStore, intake: IntakeConfig, client: str
                      ) -> Refusal | None:
    """One submission of *client* (every submission counts, failed or not)."""
    retry = await store.take_slot("client", client, intake.rate_per_client,
                                  timedelta(seconds=intake.rate_window_seconds))
    return Refusal("client", retry) if retry is not None else None


async def take_check(store: IntakeStore, intake: IntakeConfig, *, address: str, client: str,
                     link: str | None) -> tuple[Check, Refusal | None]:
    """The slots for one LOGIN check of *address* from *client* (through the personal link
    whose hash is *link*, if any); on a refusal nothing stays taken."""
    window = timedelta(seconds=intake.rate_window_seconds)
    check = Check()
    if link is not None:
        plan = [("link", link, intake.rate_per_link, "link"),
                ("address", address, _UNLIMITED, "ceiling")]
    else:
        plan = [("pair", f"{address} {client}", intake.rate_per_address, "address"),
                ("address", address, intake.rate_per_address_ceiling, "ceiling")]
    for kind, key, limit, name in plan:
        retry = await store.take_slot(kind, key, limit, window)
        if retry is not None:
            await release(store, check)
            return check, Refusal(name, retry)
        check.taken.append((kind, key))
    return check, None


async def release(store: IntakeStore, check: Check) -> None:
    """The check did not fail: its slots are given back."""
    for kind, key in check.taken:
        await store.release_slot(kind, key)
    check.taken.clear()
