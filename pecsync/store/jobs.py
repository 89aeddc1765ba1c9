"""Job queue and credential versions in the state database.

The claim is one ``UPDATE ... WHERE id = (SELECT ...) RETURNING`` statement with a lease, so a
second backend (PostgreSQL with ``FOR UPDATE SKIP LOCKED``) is an addition behind this class.
"""

from __future__ import annotations

import enum
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple

from pecsync.errors import LeaseLost, StoreConflict
from pecsync.model import MailboxRow, Secret
from pecsync.retrypolicy import WRITE_RACE
from pecsync.store.backend import Statement
from pecsync.store.checkpoints import CheckpointStore, now
from pecsync.store.connector import Connector
from pecsync.store.rows import Row, RowMapper, opt_str
from pecsync.vault import Vault, credential_context


class JobState(enum.StrEnum):
    WAITING_CREDENTIALS = "waiting_credentials"
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    BLOCKED_INVALID_CREDENTIALS = "blocked_invalid_credentials"
    BLOCKED_2FA = "blocked_2fa"
    BLOCKED_CREDENTIALS_CHANGED = "blocked_credentials_changed"
    BLOCKED_DESTINATION_FULL = "blocked_destination_full"
    RETRY_WAIT = "retry_wait"
    FAILED = "failed"


BLOCKED_STATES = frozenset({JobState.BLOCKED_INVALID_CREDENTIALS, JobState.BLOCKED_2FA,
                            JobState.BLOCKED_CREDENTIALS_CHANGED,
                            JobState.BLOCKED_DESTINATION_FULL, JobState.WAITING_CREDENTIALS})
#: How long a claimed job belongs to the process running it without a renewal; a running job
#: renews it every quarter of it (pecsync.engine.worker), so only a crashed or stalled
#: (suspended, stopped) process lets it expire, and then another run may take the job over
#: (recover_stale, ``retry``).  A copy stuck in a blocking IMAP call keeps renewing: the
#: servers' ``timeout`` ends such a call.  A stalled process that wakes up finds the job gone
#: at its next beat and stops; its writes are guarded by the owner it claimed the job as.
#: The default of ``[engine] lease_seconds``; each JobStore is given its own (no process-wide
#: setting: the commands pass the configuration's, tests a short one).
DEFAULT_LEASE_SECONDS = 600.0


def _raced(exc: BaseException) -> bool:
    """A credential write lost a race for its version number ("write race")."""
    return isinstance(exc, StoreConflict)


@dataclass(frozen=True)
class Job:
    id: int
    address: str
    order: str
    src_user: str
    dst_user: str
    state: JobState
    phase: str | None
    attempts: int
    error_class: str | None
    error_text: str | None
    next_attempt_at: str | None
    messages_copied: int
    messages_total: int
    bytes_copied: int
    bytes_total: int
    skipped: int
    updated_at: str
    started_at: str | None
    finished_at: str | None


_JOB = RowMapper(Job, rename={"order": "order_name"}, state=JobState)


def _reason(job: Job) -> Job:
    """Without the "mailbox ADDRESS: " a reason recorded before was stored with."""
    prefix = f"mailbox {job.address}: "
    if job.error_text and job.error_text.startswith(prefix):
        return replace(job, error_text=job.error_text.removeprefix(prefix))
    return job


def _job(row: Row) -> Job:
    return _reason(_JOB(row))


@dataclass(frozen=True)
class JobCredentials:
    src: Secret | None
    src_version: int
    src_logged_in: bool
    dst: Secret | None
    dst_version: int


#: Where a credential version came from.
CredentialSource = Literal["csv", "web", "stdin"]


@dataclass(frozen=True)
class CredentialOrigin:
    source: str  # csv, web, stdin, or unknown (stored by an older pecsync)
    at: str


class Lease(NamedTuple):
    """Who holds a job's lease: ``Lease("retry host:4242", "2026-03-01T10:05:00+00:00")``
    (a tuple too: ``owner, until = lease``)."""

    owner: str | None
    until: str | None


@dataclass(frozen=True)
class SelfEnrolled:
    """A mailbox its member added on the intake page (pecsync.web): in an order's domain,
    not on the list, and the source accepted the password."""

    address: str
    order: str
    at: str
    state: str


_SELF_ENROLLED = RowMapper(SelfEnrolled, rename={"order": "order_name"})


@dataclass
class ImportOutcome:
    added: list[str]
    requeued: list[str]
    new_credentials: list[str]
    unchanged: list[str]


def _context(job_id: int, side: str, version: int) -> str:
    return credential_context(job_id, side, version)


def process_owner(prefix: str = "") -> str:
    """Who holds a lease: this host and process (``retry`` prefixes it, for messages)."""
    return f"{prefix}{socket.gethostname()}:{os.getpid()}"


class JobStore:
    def __init__(self, store: CheckpointStore, vault: Vault | None, *,
                 lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        self.store = store
        self.vault = vault
        #: ``[engine] lease_seconds``: how long a job this store claims stays ours without
        #: a renewal (see DEFAULT_LEASE_SECONDS).
        self.lease_seconds = lease_seconds
        #: Jobs this process claimed → the lease owner it claimed them as.
        self._owners: dict[int, str] = {}

    def lease_until(self) -> str:
        """When a lease taken or renewed now runs out."""
        return (datetime.now(UTC) + timedelta(seconds=self.lease_seconds)).isoformat(
            timespec="seconds")

    @property
    def connector(self) -> Connector:
        """The connection this repository's statements run on."""
        return self.store.connector

    def _need_vault(self) -> Vault:
        if self.vault is None:
            raise RuntimeError("credential vault not opened")
        return self.vault

    async def job(self, address: str) -> Job | None:
        row = await self.connector._one("job_by_address", {"address": address.lower()})
        return None if row is None else _job(row)

    async def jobs(self, order: str | None = None) -> list[Job]:
        return [_reason(job) for job in
                _JOB.all(await self.connector._query("list_jobs", {"order_name": order}))]

    async def _latest(self, job_id: int, side: str) -> tuple[int, bytes | None, str | None]:
        row = await self.connector._one("latest_credential", {"job_id": job_id, "side": side})
        if row is None:
            return 0, None, None
        return int(row["version"]), row["ciphertext"], opt_str(row["logged_in_at"])

    async def _latest_source(self, job_id: int, side: str) -> str | None:
        row = await self.connector._one("latest_credential", {"job_id": job_id, "side": side})
        return None if row is None else opt_str(row["source"])

    async def _credential_changes(self, job_id: int, side: str, new: Secret | None,
                                  source: CredentialSource, *, logged_in: bool = False
                                  ) -> list[Statement]:
        """Statements adding a credential version when *new* differs from the latest
        (*logged_in*: it was just checked by a LOGIN, also when it is the same password)."""
        if new is None:
            return []
        version, blob, _ = await self._latest(job_id, side)
        vault = self._need_vault()
        ts = now()
        if blob is not None and vault.open(blob, _context(job_id, side, version)) == new:
            return ([("mark_logged_in", {"job_id": job_id, "side": side, "version": version,
                                         "now": ts})] if logged_in else [])
        version += 1
        stmts: list[Statement] = [
            ("insert_credential", {"job_id": job_id, "side": side, "version": version,
                                   "ciphertext": vault.seal(new, _context(job_id, side, version)),
                                   "now": ts, "source": source})]
        if logged_in:
            stmts.append(("mark_logged_in", {"job_id": job_id, "side": side, "version": version,
                                             "now": ts}))
        return stmts

    async def _csv_changes(self, job_id: int, side: str, new: Secret | None
                           ) -> list[Statement]:
        """A CSV row's password becomes a new version only when the row changed since its
        last import: a password fixed since (web, stdin) is not put back by re-importing an
        unchanged list.  The row is remembered by its fingerprint, never its password."""
        if new is None:
            return []
        fingerprint = self._need_vault().fingerprint(new, f"pecsync/csv/{job_id}/{side}")
        known = await self.connector._value("csv_fingerprint", {"job_id": job_id, "side": side})
        remember = ("set_csv_fingerprint", {"job_id": job_id, "side": side,
                                            "fingerprint": fingerprint, "now": now()})
        if known == fingerprint:
            return []  # the row did not change since its last import
        if known is None and await self._latest_source(job_id, side) in ("web", "stdin"):
            # No fingerprint yet (a database of an older pecsync, or after rotate-key): the
            # password that came later from the member or the operator wins.
            return [remember]
        changes = await self._credential_changes(job_id, side, new, "csv")
        return [*changes, remember]

    async def import_rows(self, rows: Sequence[MailboxRow], *, src_master: bool,
                          dst_master: bool) -> ImportOutcome:
        """Add new mailboxes, version changed passwords and re-queue what they unblock; rows
        missing from the list are left alone.  One transaction."""
        out = ImportOutcome([], [], [], [])
        stmts: list[Statement] = []
        ts = now()
        for row in rows:
            existing = await self.job(row.address)
            if existing is None:
                runnable = ((row.source_password is not None or src_master)
                            and (row.dest_password is not None or dst_master))
                state = JobState.PENDING if runnable else JobState.WAITING_CREDENTIALS
                await self.connector._transaction([("insert_job", {
                    "address": row.address, "order_name": row.order, "src_user": row.source_user,
                    "dst_user": row.dest_user, "state": state.value, "now": ts})])
                created = await self.job(row.address)
                assert created is not None
                stmts += await self._csv_changes(created.id, "src", row.source_password)
                stmts += await self._csv_changes(created.id, "dst", row.dest_password)
                stmts.append(("insert_job_event", {"job_id": created.id, "now": ts,
                                                   "event": "imported", "state": state.value,
                                                   "detail": f"line {row.line}"}))
                out.added.append(row.address)
                continue
            changes = await self._csv_changes(existing.id, "src", row.source_password)
            changes += await self._csv_changes(existing.id, "dst", row.dest_password)
            new_version = any(name == "insert_credential" for name, _ in changes)
            identity_changed = (existing.order, existing.src_user, existing.dst_user) != (
                row.order, row.source_user, row.dest_user)
            if identity_changed:
                stmts.append(("update_job_identity", {"id": existing.id, "order_name": row.order,
                                                      "src_user": row.source_user,
                                                      "dst_user": row.dest_user, "now": ts}))
            stmts += changes
            if not new_version:
                if not identity_changed:
                    out.unchanged.append(row.address)
                continue
            out.new_credentials.append(row.address)
            if existing.state in BLOCKED_STATES - {JobState.BLOCKED_DESTINATION_FULL} \
                    or existing.state == JobState.FAILED:
                stmts.append(("requeue_job", {"id": existing.id, "now": ts}))
                stmts.append(("insert_job_event", {"job_id": existing.id, "now": ts,
                                                   "event": "credentials_updated",
                                                   "state": JobState.PENDING.value,
                                                   "detail": None}))
                out.requeued.append(row.address)
        await self.connector._transaction(stmts)
        return out

    async def set_password(self, job: Job, side: str, secret: Secret,
                           source: CredentialSource = "stdin") -> bool:
        """A new credential version (unchecked); True if it changed."""
        # Another writer took that version number: read again ("write race").
        async for attempt in WRITE_RACE.retrying(_raced):
            with attempt:
                stmts = await self._credential_changes(job.id, side, secret, source)
                if not stmts:
                    return False
                await self.store._transaction(stmts)
                return True
        raise AssertionError("unreachable")

    async def accept_checked(self, job: Job, src: Secret, dst: Secret | None,
                             source: CredentialSource) -> Job:
        """Passwords a LOGIN just accepted (pecsync.intake.submit): stored as new versions
        marked as having logged in, and the job re-queued when it waits for them or is
        blocked on credentials (a done or running job keeps its state).  One transaction."""
        # The next version number is read before the insert (the ciphertext is bound to
        # it): two submissions for one mailbox at once may pick the same one.  The loser's
        # transaction fails as a whole on the primary key and is computed again — and when
        # the winner stored the same password, nothing more is added.
        async for attempt in WRITE_RACE.retrying(_raced):
            with attempt:
                ts = now()
                stmts = await self._credential_changes(job.id, "src", src, source,
                                                       logged_in=True)
                stmts += await self._credential_changes(job.id, "dst", dst, source,
                                                        logged_in=True)
                stmts.append(("insert_job_event", {"job_id": job.id, "now": ts,
                                                   "event": "credentials_submitted",
                                                   "state": job.state.value, "detail": source}))
                stmts.append(("requeue_after_intake", {"id": job.id, "now": ts}))
                await self.store._transaction(stmts)
        updated = await self.job(job.address)
        assert updated is not None
        return updated

    async def enrol(self, address: str, order: str, src: Secret, dst: Secret | None,
                    source: CredentialSource) -> Job:
        """A mailbox not on the list whose password a LOGIN just accepted: added to *order*
        (source and destination user: the address), its password stored as checked, queued,
        and marked ``self_enrolled`` (:meth:`self_enrolled`).  Already there (the list was
        imported meanwhile, or another submission won): the password goes to that job."""
        ts = now()
        address = address.lower()
        try:
            await self.connector._transaction([("insert_job", {
                "address": address, "order_name": order, "src_user": address,
                "dst_user": address, "state": JobState.WAITING_CREDENTIALS.value, "now": ts})])
        except StoreConflict:
            existing = await self.job(address)
            assert existing is not None
            return await self.accept_checked(existing, src, dst, source)
        created = await self.job(address)
        assert created is not None
        await self.connector._transaction([("insert_job_event", {
            "job_id": created.id, "now": ts, "event": "self_enrolled",
            "state": created.state.value, "detail": source})])
        return await self.accept_checked(created, src, dst, source)

    async def self_enrolled(self, order: str | None = None) -> list[SelfEnrolled]:
        """Mailboxes added by their members, oldest first (for ``status`` and the report)."""
        out = _SELF_ENROLLED.all(await self.connector._query("self_enrolled_jobs"))
        return [e for e in out if order is None or e.order == order]

    async def credential_sources(self) -> dict[tuple[int, str], CredentialOrigin]:
        """Where each mailbox's current credential came from, by (job id, side)::

            {(7, "src"): CredentialOrigin(source="web", at="2026-02-03T10:00:00+00:00")}
        """
        rows = await self.connector._query("current_credential_sources")
        return {(int(r["job_id"]), str(r["side"])): CredentialOrigin(
                    str(r["source"] or "unknown"), str(r["created_at"])) for r in rows}

    async def credentials(self, job: Job) -> JobCredentials:
        vault = self.vault
        out: dict[str, tuple[Secret | None, int, bool]] = {}
        for side in ("src", "dst"):
            version, blob, logged = await self._latest(job.id, side)
            secret = None
            if blob is not None:
                assert vault is not None
                secret = vault.open(blob, _context(job.id, side, version))
            out[side] = (secret, version, logged is not None)
        return JobCredentials(out["src"][0], out["src"][1], out["src"][2], out["dst"][0],
                              out["dst"][1])

    async def mark_logged_in(self, job: Job, side: str, version: int) -> None:
        if version:
            await self.connector._transaction([("mark_logged_in", {"job_id": job.id, "side": side,
                                                               "version": version, "now": now()})])

    async def recover_stale(self) -> None:
        await self.connector._transaction([("recover_stale_jobs", {"now": now()})])

    async def claim_next(self, owner: str, order: str | None) -> Job | None:
        """The next runnable job (pending, then retries that are due), now ``running``."""
        return await self._claim("claim_next_job", {"owner": owner, "order_name": order})

    async def claim_resync(self, owner: str, order: str | None, before: str) -> Job | None:
        """A ``done`` job whose last sync started before *before* (ISO time), now ``running``
        for a re-sync (README "Keeping mailboxes in step until the switch")."""
        return await self._claim("claim_resync_job", {"owner": owner, "order_name": order,
                                                      "before": before})

    async def claim(self, job: Job, owner: str) -> Job | None:
        """*job* now ``running`` under *owner*, whatever its state, or None when another
        process runs it (``running`` with a lease that has not expired)."""
        return await self._claim("claim_job", {"id": job.id, "owner": owner})

    async def _claim(self, query: str, params: dict[str, Any]) -> Job | None:
        params = {**params, "lease_until": self.lease_until(), "now": now()}
        # The claimed row comes back whole (RETURNING): no second query, and no scan of
        # every job (that made claiming O(queued jobs)).
        rows = await self.connector._transaction([(query, params)])
        if not rows:
            return None
        job = _job(rows[0])
        self._owners[job.id] = params["owner"]
        return job

    async def lease_holder(self, job: Job) -> Lease:
        """Who holds *job*'s lease and until when (for messages; decides nothing)."""
        row = await self.connector._one("job_lease", {"id": job.id})
        if row is None:
            return Lease(None, None)
        return Lease(opt_str(row["lease_owner"]), opt_str(row["lease_until"]))

    async def count_running(self, order: str | None) -> int:
        """Jobs ``running`` now, in this process or any other sharing the database."""
        return int(await self.connector._value("count_running", {"order_name": order}))

    async def next_wakeup(self, order: str | None) -> str | None:
        at = await self.connector._value("next_wakeup", {"order_name": order})
        return str(at) if at else None

    async def set_phase(self, job: Job, phase: str) -> None:
        self._still_ours(job, await self.store._transaction([("set_job_phase", {
            "id": job.id, "phase": phase, "now": now(), "lease_until": self.lease_until(),
            "owner": self._owners.get(job.id)})]))

    async def set_progress(self, job: Job, *, messages_copied: int, messages_total: int,
                           bytes_copied: int, bytes_total: int, skipped: int,
                           phase: str | None = None) -> None:
        """Counters (and *phase*, when given) of a running job; renews its lease."""
        self._still_ours(job, await self.store._transaction([("set_job_progress", {
            "id": job.id, "messages_copied": messages_copied, "messages_total": messages_total,
            "bytes_copied": bytes_copied, "bytes_total": bytes_total, "skipped": skipped,
            "phase": phase, "owner": self._owners.get(job.id),
            "now": now(), "lease_until": self.lease_until()})]))

    def _still_ours(self, job: Job, written: Sequence[object]) -> None:
        """A guarded write of a job this process claimed matched no row: the lease ran out
        while this process was stalled, and another process took the job over."""
        if not written and job.id in self._owners:
            raise LeaseLost("another process took this mailbox over while this one was "
                            "stalled past its lease", mailbox=job.address,
                            hint="nothing to do: the other process goes on with it")

    async def finish(self, job: Job, state: JobState, *, error_class: str | None = None,
                     error_text: str | None = None, next_attempt_at: str | None = None,
                     event: str = "finished", synced_at: str | None = None,
                     counted: bool = True) -> bool:
        """Give *job* its next state (and an event).  False, writing nothing, when this
        process claimed the job but no longer holds its lease (another process runs it).
        *synced_at*: the job ends ``done`` and its sync started then (``job_sync``);
        *counted*: False gives the attempt back (its claim counted it)."""
        ts = now()
        owner = self._owners.get(job.id)
        synced: list[Statement] = [] if synced_at is None else [
            ("set_last_synced", {"id": job.id, "synced_at": synced_at, "owner": owner})]
        if not counted:
            synced.append(("give_back_attempt", {"id": job.id, "owner": owner,
                                                 "attempts": max(job.attempts - 1, 0)}))
        return bool(await self.connector._transaction([
            *synced,
            ("set_job_state", {"id": job.id, "state": state.value, "error_class": error_class,
                               "error_text": error_text, "next_attempt_at": next_attempt_at,
                               "now": ts, "owner": self._owners.pop(job.id, None)}),
            ("insert_job_event_if_changed", {"job_id": job.id, "now": ts, "event": event,
                                              "state": state.value, "detail": error_text})]))

    async def restore(self, job: Job, *, state: JobState, attempts: int,
                      error_class: str | None, error_text: str | None,
                      next_attempt_at: str | None, reason: str) -> bool:
        """Put a job this run ended back as it was before its claim (the circuit breaker,
        pecsync.engine.breaker); False when another process has taken it since."""
        ts = now()
        return bool(await self.connector._transaction([
            ("restore_job", {"id": job.id, "state": state.value, "attempts": attempts,
                             "error_class": error_class, "error_text": error_text,
                             "next_attempt_at": next_attempt_at, "now": ts}),
            ("insert_job_event_if_changed", {"job_id": job.id, "now": ts,
                                              "event": "breaker_restored", "state": state.value,
                                              "detail": reason})]))

    async def purge_job_credentials(self, job: Job) -> None:
        await self.connector._transaction([("purge_credentials_of_job", {"job_id": job.id})])

    async def purge_credentials(self, *, only_done: bool) -> None:
        await self.connector._transaction([("purge_credentials_of_done" if only_done
                                            else "purge_all_credentials", {})])
