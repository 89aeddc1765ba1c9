"""``copy``: one mailbox in the foreground, through the engine path of ``run``/``retry``.

The same attempt (:func:`pecsync.engine.worker.attempt_mailbox`), the same retry policy
(:class:`pecsync.engine.outcome.RetryPolicy`, here with ``[engine] retries`` and waits the
operator sits through), the same certificate write (:mod:`pecsync.engine.certify`) and the
same exit-code map (:mod:`pecsync.engine.exits`).  What a job row would hold (state, attempts)
lives only for the command's duration: ``copy`` leaves the job table alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import anyio
import structlog

from pecsync.config import Config
from pecsync.engine.certify import write_certificate
from pecsync.engine.exits import mailbox_exit
from pecsync.engine.outcome import Outcome, RetryPolicy
from pecsync.engine.settings import mailbox_settings
from pecsync.engine.worker import attempt_mailbox
from pecsync.model import Credentials, MailboxReport
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobState
from pecsync.sync.context import Progress
from pecsync.sync.quarantine import Quarantine, quarantine_dir

log = structlog.get_logger("pecsync.cli")


@dataclass(frozen=True)
class ForegroundResult:
    report: MailboxReport
    #: The state the mailbox would be in as a job of ``run``.
    outcome: Outcome
    #: The certificate written (verified mailboxes only).
    certificate: Path | None

    @property
    def exit_code(self) -> int:
        """The exit code of ``run`` on this mailbox alone; copies that could not be verified
        count as exceptions, like messages in the quarantine."""
        return mailbox_exit(self.outcome.state,
                            exceptions=bool(self.report.skipped or self.report.unverifiable))


async def copy_foreground(cfg: Config, store: CheckpointStore, src: Credentials,
                          dst: Credentials, *, verify: bool, progress: Progress,
                          policy: RetryPolicy | None = None) -> ForegroundResult:
    """Copy (and with *verify*, verify and certify) the mailbox of *src* to *dst*, trying
    again after a transient failure as *policy* says (default: ``[engine] retries``).  A
    failure that is not tried again (or the last one) is raised as itself."""
    policy = policy or RetryPolicy.for_foreground(cfg.engine)
    settings = mailbox_settings(cfg)
    quarantine = Quarantine(quarantine_dir(cfg.database, src.user))
    attempts = 1
    while True:
        try:
            report, outcome = await attempt_mailbox(settings, store, src, dst,
                                                    address=src.user, quarantine=quarantine,
                                                    progress=progress, verify=verify)
            break
        except Exception as exc:
            judged = policy.classify(exc, attempts=attempts, credential_worked_before=False,
                                     address=src.user)
            if judged.state != JobState.RETRY_WAIT:
                raise
            attempts += 1
            await anyio.sleep(judged.retry_in or 0.0)
            log.warning("copy_retried", mailbox=src.user, attempt=attempts)
    # A certificate only from a verification: written when every copy was checked.
    path = None
    if verify and outcome.state == JobState.DONE:
        path = await write_certificate(store, cfg, src.user, dst.user)
    return ForegroundResult(report, outcome, path)
