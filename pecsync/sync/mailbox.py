"""Copy or verify one whole mailbox: LOGIN → PLAN → (RECONCILE → COPY → VERIFY) per folder.

Like dsync: first the folder tree (create what is missing), then each folder on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from pecsync.config import Config
from pecsync.errors import FolderError
from pecsync.imap.classify import provider_rules
from pecsync.imap.session import ImapSession
from pecsync.model import Credentials, FolderMapping, FolderReport, MailboxReport, Side
from pecsync.store.checkpoints import CheckpointStore
from pecsync.sync.batches import make_batches
from pecsync.sync.copier import FolderCopier, MailboxContext, Progress, in_thread, verify_folder
from pecsync.sync.memory import ByteBudget
from pecsync.sync.plan import FolderPlan, FolderRules, Namespace, plan_folders

log = structlog.get_logger("pecsync.mailbox")


async def plan_mailbox(cfg: Config, src: ImapSession, dst: ImapSession) -> FolderPlan:
    src_prefix, src_delim = await in_thread(src.namespace)
    dst_prefix, dst_delim = await in_thread(dst.namespace)
    src_folders = await in_thread(src.list_folders)
    dst_folders = await in_thread(dst.list_folders)
    rules = FolderRules(rename=dict(cfg.folders.rename), exclude=tuple(cfg.folders.exclude),
                        delimiter_substitute=cfg.folders.delimiter_substitute)
    return plan_folders(src_folders, dst_folders, Namespace(src_prefix, src_delim),
                        Namespace(dst_prefix, dst_delim), rules)


class MailboxRun:
    """Sessions and context for one mailbox; use as an async context manager."""

    def __init__(self, cfg: Config, store: CheckpointStore, src_creds: Credentials,
                 dst_creds: Credentials, progress: Progress | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.src_creds = src_creds
        self.dst_creds = dst_creds
        self.progress = progress or Progress()
        rules = provider_rules(cfg.providers)
        self.src = ImapSession(cfg.source, Side.SRC, mailbox=src_creds.user, extra_rules=rules)
        self.dst = ImapSession(cfg.destination, Side.DST, mailbox=src_creds.user,
                               extra_rules=rules)
        self.report = MailboxReport(src_user=src_creds.user, dst_user=dst_creds.user)
        self.plan: FolderPlan | None = None

    async def __aenter__(self) -> MailboxRun:
        await self.progress.phase("login")
        try:
            await in_thread(self.src.login, self.src_creds)
            if self.progress.on_login:
                await self.progress.on_login("src")
            await in_thread(self.dst.login, self.dst_creds)
            if self.progress.on_login:
                await self.progress.on_login("dst")
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await in_thread(self.src.logout)
        await in_thread(self.dst.logout)

    async def context(self) -> MailboxContext:
        mailbox_id = await self.store.mailbox_id(self.src_creds.user, self.dst_creds.user)
        return MailboxContext(label=self.src_creds.user, src=self.src, dst=self.dst,
                              store=self.store, mailbox_id=mailbox_id, engine=self.cfg.engine,
                              progress=self.progress)

    async def make_plan(self) -> FolderPlan:
        self.plan = await plan_mailbox(self.cfg, self.src, self.dst)
        for warning in self.plan.warnings:
            log.warning("folder_plan_warning", mailbox=self.src_creds.user, warning=warning)
        return self.plan

    def copy_mappings(self) -> Sequence[FolderMapping]:
        assert self.plan is not None
        return [m for m in self.plan.mappings if m.copy]


async def copy_mailbox(cfg: Config, store: CheckpointStore, src_creds: Credentials,
                       dst_creds: Credentials, *, verify: bool = True,
                       progress: Progress | None = None,
                       memory: ByteBudget | None = None) -> MailboxReport:
    """Copy every folder of one mailbox, resuming from checkpoints, then verify.

    *memory* is shared by the mailboxes of a run (default: one of
    ``[engine] max_inflight_bytes`` for this mailbox alone)."""
    async with MailboxRun(cfg, store, src_creds, dst_creds, progress) as run:
        ctx = await run.context()
        ctx.memory = memory or ByteBudget(cfg.engine.max_inflight_bytes)
        await run.progress.phase("plan")
        plan = await run.make_plan()
        for name in plan.create:
            await in_thread(run.dst.create_folder, name)
        # One round trip per side for every folder's STATUS (LIST-STATUS): empty folders and
        # unchanged ones are then settled without opening them.
        ctx.src_statuses = await in_thread(run.src.statuses)
        ctx.dst_statuses = await in_thread(run.dst.statuses)
        log.info("folders_planned", mailbox=ctx.label, folders=len(plan.mappings),
                 created=len(plan.create))
        await run.progress.phase("copy")
        for mapping in run.copy_mappings():
            report = await FolderCopier(ctx, mapping).run(verify=verify)
            run.report.folders.append(report)
            log.info("folder_copied", mailbox=ctx.label, folder=mapping.src, dst_folder=mapping.dst,
                     copied=report.copied, skipped=report.skipped, verified=report.verified,
                     mismatched=report.mismatched)
        return run.report


async def verify_mailbox(cfg: Config, store: CheckpointStore, src_creds: Credentials,
                         dst_creds: Credentials) -> MailboxReport:
    """Re-check every recorded copy on the destination against the source fingerprints, and
    count what the source holds that is not (yet) copied."""
    async with MailboxRun(cfg, store, src_creds, dst_creds) as run:
        ctx = await run.context()
        await run.make_plan()
        for mapping in run.copy_mappings():
            report = FolderReport(src=mapping.src, dst=mapping.dst)
            run.report.folders.append(report)
            state = await store.folder(ctx.mailbox_id, mapping.src)
            src_st = await in_thread(run.src.status, mapping.src)
            report.src_messages = src_st.exists
            if state is None or state.src_uidvalidity != src_st.uidvalidity:
                report.notes.append("not copied yet")
                report.mismatched += src_st.exists
                continue
            try:
                dst_st = await in_thread(run.dst.select, mapping.dst)
            except FolderError:
                report.notes.append("missing on the destination")
                report.mismatched += src_st.exists
                continue
            await verify_folder(ctx, state, src_st.uidvalidity, dst_st, report,
                                only_unverified=False)
            rows = await store.copied_messages(state.id, src_st.uidvalidity)
            report.skipped = sum(1 for r in rows if r.state == "skipped")
            report.verified = sum(1 for r in rows if r.state != "skipped") - report.mismatched
            missing = src_st.exists - len(rows)
            if missing > 0:
                report.notes.append(f"{missing} source message(s) not copied yet")
                report.mismatched += missing
        return run.report


async def destination_fingerprints(cfg: Config, dst_creds: Credentials, folders: Sequence[str]
                                   ) -> dict[str, list[tuple[int, str, str | None]]]:
    """``{folder: [(destination uid, SHA-256, Message-ID), ...]}`` of everything in *folders*
    on the destination (read-only: EXAMINE and PEEK)."""
    dst = ImapSession(cfg.destination, Side.DST, mailbox=dst_creds.user,
                      extra_rules=provider_rules(cfg.providers))
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
                for batch in make_batches(metas, cfg.engine.batch_max_bytes,
                                          cfg.engine.batch_max_messages):
                    for msg in await in_thread(dst.fetch_bodies, batch):
                        found.append((msg.info.uid, msg.sha256, msg.message_id))
            out[folder] = found
    finally:
        await in_thread(dst.logout)
    return out
