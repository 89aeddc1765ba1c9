"""Who still has to act, and what: the job states a member gets out of by coming forward.

A member with no password yet, a refused password, 2-step verification on, or a password
changed since is invited and reminded; a member who is done, or whose mailbox is being copied
(pending, running, retry_wait), never is.  A destination that is full or a failed job is the
operator's to solve, not the member's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pecsync.store.campaign import MEMBER_ACTION_STATES as NEEDS_TO_ACT
from pecsync.store.jobs import Job, JobState


@dataclass(frozen=True)
class Member:
    address: str
    order: str
    state: JobState
    #: Where the message goes: the list's ``contact`` column, else the PEC address.
    recipient: str


def needs_to_act(state: JobState | str | None) -> bool:
    """Whether a mailbox in *state* waits for its member: no password yet, or blocked on it
    (refused, changed, 2-step verification).

    >>> needs_to_act("blocked_2fa"), needs_to_act("done"), needs_to_act("running")
    (True, False, False)
    """
    return state is not None and JobState(state) in NEEDS_TO_ACT


def members_to_reach(jobs: Iterable[Job], contacts: Mapping[str, str]) -> list[Member]:
    """Every member of *jobs* who still has to act, in list order."""
    return [Member(j.address, j.order, j.state, contacts.get(j.address, j.address))
            for j in jobs if j.state in NEEDS_TO_ACT]
