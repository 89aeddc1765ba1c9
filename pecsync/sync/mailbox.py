"""Copy or verify one whole mailbox: LOGIN → PLAN → (RECONCILE → COPY → VERIFY) per folder.

Like dsync: first the folder tree (create what is missing), then each folder on its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
import structlog

from pecsync.errors import FolderError, ImapError
from pecsync.imap.classify import provider_rules
from pecsync.imap.session import ImapSession
from pecsync.model import (
    Credentials,
    FolderMapping,
    FolderReport,
    FolderStatus,
    MailboxReport,
    MessageInfo,
    RemoteFolder,
    Side,
)
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.ledger import FolderLedger
from pecsync.sync.aio import (
    concurrently,
    current_thread_budget,
    first_error,
    in_thread,
    logout_pair,
    thread_budget,
    threads_for,
)
from pecsync.sync.batches import make_batches
from pecsync.sync.context import MailboxContext, Progress
from pecsync.sync.copier import FolderCopier
from pecsync.sync.lanes import (
    ConnectionSlots,
    EarlyLanes,
    FixedSlots,
    FolderTree,
    LaneLogins,
    copy_in_lanes,
    lanes_for,
    most_lanes,
)
from pecsync.sync.limits import LOGIN_WAITS, ConnectionLimits, MailboxLimits, limit_refusal
from pecsync.sync.memory import ByteBudget
from pecsync.sync.namespaces import select_own_folders
from pecsync.sync.plan import FolderPlan, FolderRules, Namespace, plan_folders
from pecsync.sync.quarantine import Quarantine
from pecsync.sync.reconnect import Reconnector, ReconnectPolicy
from pecsync.sync.resync import adopt_renamed_folders, sync_mailbox_flags
from pecsync.sync.settings import MailboxSettings
from pecsync.sync.verify import verify_folder

log = structlog.get_logger("pecsync.mailbox")


@dataclass
class Survey:
    """What one LIST round trip per side tells: the plan and every folder's STATUS."""

    plan: FolderPlan
    src_statuses: dict[str, FolderStatus] | None
    dst_statuses: dict[str, FolderStatus] | None
    #: Source folders left out (other users', shared, virtual) and why.
    notes: list[str]


async def plan_mailbox(settings: MailboxSettings, src: ImapSession, dst: ImapSession) -> Survey:
    got: dict[str, tuple[tuple[str, str], list[RemoteFolder],
                         dict[str, FolderStatus] | None]] = {}

    async def side(name: str, session: ImapSession) -> None:
        got[name] = await in_thread(session.survey)

    await concurrently(lambda: side("src", src), lambda: side("dst", dst))
    (src_prefix, src_delim), src_folders, src_statuses = got["src"]
    (dst_prefix, dst_delim), dst_folders, dst_statuses = got["dst"]
    selection = select_own_folders(src_folders, Namespace(src_prefix, src_delim),
                                   src.foreign_namespaces,
                                   include_shared=settings.folders.include_shared,
                                   virtual=settings.folders.virtual)
    src_folders = selection.kept
    folders = settings.folders
    rules = FolderRules(rename=dict(folders.rename), exclude=tuple(folders.exclude),
                        delimiter_substitute=folders.delimiter_substitute)
    plan = plan_folders(src_folders, dst_folders, Namespace(src_prefix, src_delim),
                        Namespace(dst_prefix, dst_delim), rules)
    return Survey(plan, src_statuses, dst_statuses, selection.notes)


class MailboxRun:
    """Sessions and context for one mailbox; use as an async context manager."""

    def __init__(self, settings: MailboxSettings, store: CheckpointStore, src_creds: Credentials,
                 dst_creds: Credentials, progress: Progress | None = None, *,
                 quarantine: Quarantine | None = None, recheck: bool = False) -> None:
        self.settings = settings
        self.quarantine = quarantine
        self.recheck = recheck
        self.store = store
        self.src_creds = src_creds
        self.dst_creds = dst_creds
        self.progress = progress or Progress()
        self.src, self.dst = self._sessions()
        self.report = MailboxReport(src_user=src_creds.user, dst_user=dst_creds.user)
        self.survey: Survey | None = None
        #: Lanes connecting while this pair logs in (see EarlyLanes; copy_mailbox owns them).
        self.early: EarlyLanes | None = None
        #: Both sides of the mailbox's own pair logged in (a later failure is mid-copy).
        self.logged_in = False
        #: The lanes' LOGINs: a refused password is tried by one lane, not by each.
        self.lane_logins = LaneLogins()
        #: The folders of this round, once planned (what a failed round copied is counted).
        self.copiers: list[FolderCopier] = []

    def _sessions(self) -> tuple[ImapSession, ImapSession]:
        """A (not yet connected) source and destination session for this mailbox."""
        rules = provider_rules(self.settings.providers)
        return (ImapSession(self.settings.source, Side.SRC, mailbox=self.src_creds.user,
                            extra_rules=rules),
                ImapSession(self.settings.destination, Side.DST, mailbox=self.src_creds.user,
                            extra_rules=rules))

    @property
    def plan(self) -> FolderPlan | None:
        return self.survey.plan if self.survey is not None else None

    async def __aenter__(self) -> MailboxRun:
        await self.progress.phase("login")
        try:
            # Both logins at once: a login costs the server a process start and the
            # network a few round trips.
            await concurrently(lambda: self._login("src"), lambda: self._login("dst"))
        except BaseException:
            await self.__aexit__()
            raise
        self.logged_in = True
        return self

    async def _login(self, side: str) -> None:
        """Log in one side and record it at once (a source login that worked tells a later
        refusal "password changed" from "wrong password", even if the destination fails)."""
        session, creds = ((self.src, self.src_creds) if side == "src"
                          else (self.dst, self.dst_creds))
        for wait in (*LOGIN_WAITS, None):
            try:
                await in_thread(session.login, creds)
                break
            except ImapError as exc:
                # Refused for the connection limit: the server has not yet counted this
                # mailbox's connections just closed (or the member's own hold it).  Wait,
                # log in again: a limit is not the job's failure.
                if wait is None or not limit_refusal(exc):
                    raise
                log.info("login_waits_for_connection_limit", mailbox=self.src_creds.user,
                         side=side, seconds=wait)
                await in_thread(session.connection.close)
                await anyio.sleep(wait)
        if self.progress.on_login:
            await self.progress.on_login(side)

    async def open_lane(self) -> tuple[ImapSession, ImapSession]:
        """One more logged-in connection pair for this mailbox (a folder lane)."""
        pair = await self.connect_lane()
        await self.login_lane(pair)
        return pair

    async def connect_lane(self) -> tuple[ImapSession, ImapSession]:
        """A connection pair for a lane: connected (greeting read, TLS up), not logged in."""
        src, dst = self._sessions()
        try:
            await concurrently(lambda: in_thread(src.connect), lambda: in_thread(dst.connect))
        except BaseException:
            await logout_pair(src, dst)
            raise
        return src, dst

    async def login_lane(self, pair: tuple[ImapSession, ImapSession]) -> None:
        src, dst = pair
        try:
            await self.lane_logins.login(lambda: concurrently(
                lambda: in_thread(src.login, self.src_creds),
                lambda: in_thread(dst.login, self.dst_creds)))
        except BaseException:
            await logout_pair(src, dst)
            raise

    async def __aexit__(self, *exc: object) -> None:
        await logout_pair(self.src, self.dst)

    async def context(self) -> MailboxContext:
        mailbox_id = await self.store.mailbox_id(self.src_creds.user, self.dst_creds.user)
        return MailboxContext(label=self.src_creds.user, src=self.src, dst=self.dst,
                              store=self.store, mailbox_id=mailbox_id, engine=self.settings.engine,
                              progress=self.progress, quarantine=self.quarantine,
                              recheck=self.recheck,
                              members_own_destination=self.settings.switch_at is not None
                              and datetime.now(UTC) >= self.settings.switch_at)

    async def make_plan(self) -> FolderPlan:
        """Plan the folder tree; also keeps every folder's STATUS (``self.survey``)."""
        self.survey = await plan_mailbox(self.settings, self.src, self.dst)
        # A folder renamed at the source keeps its state and destination folder (no copy of
        # its messages a second time): pecsync.sync.resync.
        mailbox_id = await self.store.find_mailbox(self.src_creds.user)
        if mailbox_id is not None:
            self.survey.plan = await adopt_renamed_folders(
                self.store, mailbox_id, self.survey.plan, self.survey.src_statuses,
                lambda name: in_thread(self.src.status, name), self.src_creds.user,
                self._listing)
        plan = self.survey.plan
        self.report.notes.extend(self.survey.notes)
        for note in self.survey.notes:
            log.info("folders_left_out", mailbox=self.src_creds.user, note=note)
        for warning in plan.warnings:
            log.warning("folder_plan_warning", mailbox=self.src_creds.user, warning=warning)
        return plan

    async def _listing(self, name: str) -> list[MessageInfo]:
        """Metadata of every message of source folder *name* (no body)."""
        _, metas = await in_thread(self.src.examine_with_meta, name, 1)
        return metas

    def copy_mappings(self) -> Sequence[FolderMapping]:
        assert self.plan is not None
        return [m for m in self.plan.mappings if m.copy]


async def copy_mailbox(settings: MailboxSettings, store: CheckpointStore, src_creds: Credentials,
                       dst_creds: Credentials, *, verify: bool = True,
                       progress: Progress | None = None,
                       memory: ByteBudget | None = None,
                       slots: ConnectionSlots | None = None,
                       sync_flags: bool = False,
                       quarantine: Quarantine | None = None,
                       recheck: bool = False,
                       limits: ConnectionLimits | None = None) -> MailboxReport:
    """Copy every folder of one mailbox, resuming from checkpoints, then verify.

    *sync_flags*: then bring the destination's flags in step with flag changes at the
    source (the re-sync of ``run``, pecsync.sync.resync).

    *memory* is shared by the mailboxes of a run (default: one of
    ``[engine] max_inflight_bytes`` for this mailbox alone).  *slots* lends extra connection
    pairs for folder lanes (default: ``[engine] folders_in_parallel - 1`` of them, within
    ``max_connections_per_host``).  *quarantine* keeps the messages the destination refuses;
    *recheck* verifies every recorded copy again (not only the unverified ones) and copies
    again what is missing or changed on the destination.  *limits*: the connection limits
    learned from the servers' refusals, shared by the mailboxes of a run (default: this
    mailbox's own).

    A connection lost once the mailbox is logged in (network error, timeout, ``BYE``) on the
    mailbox's own pair ends that round (a folder lane's only hands its folder back, see
    :mod:`pecsync.sync.lanes`): every connection of the mailbox is closed, and after a
    backoff the mailbox logs in again and resumes from its checkpoints
    (see :mod:`pecsync.sync.reconnect`).  That new LOGIN is the credential check: a refusal
    is raised as itself, never tried again.  A failure before the first login worked is
    raised at once (the server is down or refuses: the attempt ends)."""
    if slots is None:
        slots = FixedSlots(min(settings.engine.folders_in_parallel,
                               settings.engine.max_connections_per_host) - 1)
    progress = progress or Progress()
    limit = MailboxLimits(limits if limits is not None else ConnectionLimits(),
                          ConnectionLimits.server(settings.source.host, settings.source.port),
                          ConnectionLimits.server(settings.destination.host,
                                                  settings.destination.port))
    rounds = Reconnector(ReconnectPolicy(settings.engine.reconnect_attempts,
                                         settings.engine.reconnect_initial_seconds,
                                         settings.engine.reconnect_max_seconds),
                         src_creds.user, progress.should_stop)

    def on_checkpoint() -> None:
        rounds.checkpoint()
        progress.checkpoint()

    counted = dataclasses.replace(progress, on_checkpoint=on_checkpoint)

    #: Messages and bytes copied by rounds that ended on a lost connection, by folder.
    carried: dict[str, list[int]] = {}

    async def one_round() -> MailboxReport:
        run = MailboxRun(settings, store, src_creds, dst_creds, counted, quarantine=quarantine,
                         recheck=recheck)
        try:
            report = await _copy_round(run, settings, store, verify, memory, slots,
                                       sync_flags, limit)
        except BaseException:
            for copier in run.copiers:
                counts = carried.setdefault(copier.report.src, [0, 0])
                counts[0] += copier.report.copied
                counts[1] += copier.report.bytes_copied
            raise
        finally:
            rounds.established = rounds.established or run.logged_in
        for folder in report.folders:  # the last round saw those as already present
            copied, size = carried.get(folder.src, (0, 0))
            folder.copied += copied
            folder.bytes_copied += size
            folder.already_present = max(0, folder.already_present - copied)
        return report

    if current_thread_budget() is not None:  # the caller sized it (a run, a test)
        return await rounds.run(one_round)
    with thread_budget(threads_for(settings.engine)):
        return await rounds.run(one_round)


async def _copy_round(run: MailboxRun, settings: MailboxSettings, store: CheckpointStore,
                      verify: bool, memory: ByteBudget | None, slots: ConnectionSlots,
                      sync_flags: bool, limit: MailboxLimits | None = None) -> MailboxReport:
    """One round of :func:`copy_mailbox`: log in, plan, copy; every connection of the round is
    closed when it returns or fails."""
    try:
        async with anyio.create_task_group() as background:
            if settings.engine.folders_in_parallel > 1 and await _first_copy(store,
                                                                        run.src_creds.user):
                # A first copy almost always has several folders: its lanes connect while
                # the mailbox logs in, and log in once the plan says how many are needed
                # (a refused password is tried once, never once per lane).
                lanes = settings.engine.folders_in_parallel
                run.early = EarlyLanes(run.connect_lane, run.login_lane, slots, lanes - 1,
                                       run.src_creds.user, limit,
                                       more=most_lanes(lanes) - lanes)
                run.early.start(background)
            try:
                report = await _copy(run, settings, verify, memory, slots, sync_flags, limit)
            finally:
                if run.early is not None:
                    await run.early.close()  # what the lanes did not adopt, on every path
    except BaseExceptionGroup as group:
        raise first_error(group) from None
    return report


async def _copy(run: MailboxRun, settings: MailboxSettings, verify: bool,
                memory: ByteBudget | None, slots: ConnectionSlots, sync_flags: bool = False,
                limit: MailboxLimits | None = None) -> MailboxReport:
    async with run:
        ctx = await run.context()
        ctx.memory = memory or ByteBudget(settings.engine.max_inflight_bytes)
        await run.progress.phase("plan")
        plan = await run.make_plan()
        assert run.survey is not None
        # The plan's LIST also brought every folder's STATUS (LIST-STATUS): empty folders and
        # unchanged ones are then settled without opening them.  Folders still to create on
        # the destination are new, so never "unchanged"; the lanes create them (FolderTree).
        tree = FolderTree(plan.create)
        ctx.src_statuses, ctx.dst_statuses = run.survey.src_statuses, run.survey.dst_statuses
        log.info("folders_planned", mailbox=ctx.label, folders=len(plan.mappings),
                 created=len(plan.create))
        await run.progress.phase("copy")
        # With lanes, a folder's final verification is one more piece of work for any lane
        # (the one that reads back first), not the end of its copy on the lane that made it.
        defer = verify and settings.engine.folders_in_parallel > 1
        copiers = run.copiers = [FolderCopier(m, label=ctx.label, recheck=ctx.recheck,
                                              defer_verify=defer)
                                  for m in run.copy_mappings()]
        todo = []
        for copier in copiers:
            missing = tree.missing(copier.mapping.dst)
            if await copier.settle(ctx, verify=verify, dst_exists=not missing):
                _log_folder(copier)
            else:
                todo.append(copier)
        if run.early is not None:
            # Logged in, and this many lanes have work (a large folder is shared by several).
            most = most_lanes(settings.engine.folders_in_parallel)
            run.early.proceed(sum(lanes_for(ctx, c, most) for c in todo) - 1)
        await copy_in_lanes(ctx, todo, verify=verify, lanes=settings.engine.folders_in_parallel,
                            slots=slots, open_lane=run.open_lane, on_done=_log_folder,
                            tree=tree, early=run.early.take() if run.early else (),
                            limit=limit)
        run.report.folders.extend(c.report for c in copiers)
        if sync_flags:
            await sync_mailbox_flags(ctx, plan, run.report.folders)
        return run.report


async def _first_copy(store: CheckpointStore, src_user: str) -> bool:
    """No folder of this mailbox has been copied before (a re-run opens no lane early)."""
    mailbox_id = await store.find_mailbox(src_user)
    return mailbox_id is None or not await store.folders(mailbox_id)


def _log_folder(copier: FolderCopier) -> None:
    report = copier.report
    log.debug("folder_copied", mailbox=copier.label, folder=report.src, dst_folder=report.dst,
             copied=report.copied, skipped=report.skipped, verified=report.verified,
             mismatched=report.mismatched)


async def verify_mailbox(settings: MailboxSettings, store: CheckpointStore, src_creds: Credentials,
                         dst_creds: Credentials) -> MailboxReport:
    """Re-check every recorded copy on the destination against the source fingerprints, and
    count what the source holds that is not (yet) copied."""
    async with MailboxRun(settings, store, src_creds, dst_creds) as run:
        ctx = await run.context()
        await run.make_plan()
        for mapping in run.copy_mappings():
            report = FolderReport(src=mapping.src, dst=mapping.dst)
            run.report.folders.append(report)
            state = await store.folder(ctx.mailbox_id, mapping.src)
            src_st = await in_thread(run.src.status, mapping.src)
            report.src_messages = src_st.exists
            if state is None or state.src_uidvalidity != src_st.uidvalidity:
                # Nothing recorded: an empty folder has nothing to copy (not a problem); the
                # messages of a folder not copied yet are not copied, not mismatched.
                report.not_copied += src_st.exists
                report.notes.append("empty" if src_st.exists == 0 else "not copied yet")
                continue
            try:
                dst_st = await in_thread(run.dst.select, mapping.dst)
            except FolderError:
                report.notes.append("missing on the destination")
                rows = await store.copied_messages(state.id, src_st.uidvalidity)
                copies = sum(1 for r in rows if r.state != "skipped")
                report.mismatched += copies
                report.not_copied += max(0, src_st.exists - len(rows))
                continue
            ledger = FolderLedger.of(store, state, src_uidvalidity=src_st.uidvalidity,
                                     dst_uidvalidity=dst_st.uidvalidity)
            await verify_folder(ctx, ledger, dst_st, report, only_unverified=False)
            rows = await store.copied_messages(state.id, src_st.uidvalidity)
            report.skipped = sum(1 for r in rows if r.state == "skipped")
            report.verified = sum(1 for r in rows if r.state != "skipped") - report.mismatched
            missing = src_st.exists - len(rows)
            if missing > 0:
                report.notes.append(f"{missing} source message(s) not copied yet")
                report.not_copied += missing
        return run.report


async def destination_fingerprints(settings: MailboxSettings, dst_creds: Credentials,
                                   folders: Sequence[str]
                                   ) -> dict[str, list[tuple[int, str, str | None]]]:
    """``{folder: [(destination uid, SHA-256, Message-ID), ...]}`` of everything in *folders*
    on the destination (read-only: EXAMINE and PEEK)."""
    dst = ImapSession(settings.destination, Side.DST, mailbox=dst_creds.user,
                      extra_rules=provider_rules(settings.providers))
    out: dict[str, list[tuple[int, str, str | None]]] = {}
    await in_thread(dst.login, dst_creds)
    try:
        for folder in folders:
            try:
                st = await in_thread(dst.examine, folder)
            except FolderError:
                out[folder] = []
                continue
            found: list[tuple[int, str, str | None]] = []
            if st.exists:
                metas = await in_thread(dst.fetch_meta, "1:*")
                for batch in make_batches(metas, settings.engine.batch_max_bytes,
                                          settings.engine.batch_max_messages):
                    for msg in await in_thread(dst.fetch_bodies, batch):
                        found.append((msg.info.uid, msg.sha256, msg.message_id))
            out[folder] = found
    finally:
        await in_thread(dst.logout)
    return out
