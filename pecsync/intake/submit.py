"""The intake operation: a member's (or the operator's) password for one mailbox, checked by
exactly one LOGIN, stored as a new credential version, and the job queued.

Used by the web intake page (pecsync.web) and by ``pecsync retry --password-stdin``: written
once.  A refused check is never retried (providers lock accounts), and nothing is stored
unless the server accepted the password.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import anyio
import structlog

from pecsync.config import Config, ServerConfig
from pecsync.errors import AuthenticationFailed, ImapError, TwoFactorRequired
from pecsync.imap.classify import provider_rules
from pecsync.imap.session import ImapSession
from pecsync.model import Credentials, Secret, Side
from pecsync.store.jobs import CredentialSource, Job, JobStore

log = structlog.get_logger("pecsync.intake")

#: LOGIN checks running at once in one process (each holds a thread and a connection).
_CHECKS = anyio.CapacityLimiter(16)


class Verdict(enum.StrEnum):
    ACCEPTED = "accepted"
    INVALID = "invalid_credentials"
    TWO_FACTOR = "two_factor"
    UNAVAILABLE = "unavailable"
    DEST_INVALID = "dest_invalid_credentials"


@dataclass(frozen=True)
class SubmitResult:
    verdict: Verdict
    #: The job after the submission (re-queued when accepted).
    job: Job
    #: The server's words for a refusal (no password in them), for the operator.
    response: str | None = None


def _check(server: ServerConfig, side: Side, user: str, password: Secret,
           cfg: Config) -> tuple[Verdict, str | None]:
    """One LOGIN as the member (never as a master user): the check the member's words
    are about.  Runs in a worker thread."""
    session = ImapSession(server, side, mailbox=user, extra_rules=provider_rules(cfg.providers))
    try:
        session.login(Credentials(user, password, None))
    except TwoFactorRequired as exc:
        return Verdict.TWO_FACTOR, exc.response or str(exc)
    except AuthenticationFailed as exc:
        return Verdict.INVALID, exc.response or str(exc)
    except ImapError as exc:  # transient, TLS, refused connection: "try again later"
        return Verdict.UNAVAILABLE, str(exc)
    except OSError as exc:
        return Verdict.UNAVAILABLE, f"network error: {exc.strerror or type(exc).__name__}"
    session.logout()
    return Verdict.ACCEPTED, None


async def check_login(cfg: Config, side: Side, user: str, password: Secret) -> tuple[
        Verdict, str | None]:
    server = cfg.source if side == Side.SRC else cfg.destination
    return await anyio.to_thread.run_sync(_check, server, side, user, password, cfg,
                                          limiter=_CHECKS)


async def submit_credentials(cfg: Config, jobs: JobStore, job: Job, src: Secret, *,
                             source: CredentialSource, dst: Secret | None = None
                             ) -> SubmitResult:
    """Check *src* with one source LOGIN (and *dst*, when given, with one destination LOGIN
    after it), then store them and queue *job*.  Anything but an accepted LOGIN stores
    nothing and leaves the job as it was."""
    bound = log.bind(mailbox=job.address, source=source)
    verdict, response = await check_login(cfg, Side.SRC, job.src_user, src)
    if verdict == Verdict.ACCEPTED and dst is not None:
        verdict, response = await check_login(cfg, Side.DST, job.dst_user, dst)
        if verdict in (Verdict.INVALID, Verdict.TWO_FACTOR):
            verdict = Verdict.DEST_INVALID
    if verdict != Verdict.ACCEPTED:
        bound.info("credentials_refused", verdict=verdict.value, response=response)
        return SubmitResult(verdict, job, response)
    updated = await jobs.accept_checked(job, src, dst, source)
    bound.info("credentials_accepted", state=updated.state.value)
    return SubmitResult(Verdict.ACCEPTED, updated)


@dataclass(frozen=True)
class EnrolResult:
    verdict: Verdict
    #: The new job when accepted and enrolled (None: refused, or only verified).
    job: Job | None
    response: str | None = None


async def enrol_credentials(cfg: Config, jobs: JobStore, address: str, order: str,
                            src: Secret, *, dst: Secret | None = None, enrol: bool = True
                            ) -> EnrolResult:
    """A member not on the list, whose address is in *order*'s domains: one source LOGIN as
    the address (and one destination LOGIN when *dst* is given).  Accepted and *enrol*: the
    mailbox joins *order* and is queued like any other (:meth:`JobStore.enrol`).  Anything
    else stores nothing (a refused password proves nothing about who typed it)."""
    bound = log.bind(mailbox=address, order=order)
    verdict, response = await check_login(cfg, Side.SRC, address, src)
    if verdict == Verdict.ACCEPTED and dst is not None:
        verdict, response = await check_login(cfg, Side.DST, address, dst)
        if verdict in (Verdict.INVALID, Verdict.TWO_FACTOR):
            verdict = Verdict.DEST_INVALID
    if verdict != Verdict.ACCEPTED:
        bound.info("enrolment_refused", verdict=verdict.value, response=response)
        return EnrolResult(verdict, None, response)
    if not enrol:
        bound.info("enrolment_verified_only")
        return EnrolResult(Verdict.ACCEPTED, None)
    job = await jobs.enrol(address, order, src, dst, "web")
    bound.info("self_enrolled", state=job.state.value)
    return EnrolResult(Verdict.ACCEPTED, job)
