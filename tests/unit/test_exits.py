"""``copy`` and ``run`` share one exit-code map (pecsync.engine.exits), and ``copy`` retries
under the engine's retry policy (pecsync.engine.outcome.RetryPolicy)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

from pecsync.cli import main as cli_main
from pecsync.config import load_config
from pecsync.engine import exits, foreground, pool
from pecsync.engine.foreground import ForegroundResult, copy_foreground
from pecsync.engine.outcome import Outcome, RetryPolicy, report_outcome
from pecsync.engine.pool import RunSummary
from pecsync.errors import AuthenticationFailed, TransientError
from pecsync.model import Credentials, FolderReport, MailboxReport, Secret
from pecsync.store.jobs import JobState
from pecsync.sync.copier import Progress

EXPECTED = {
    JobState.DONE: 0,
    JobState.PENDING: 3, JobState.RUNNING: 3, JobState.RETRY_WAIT: 3,
    JobState.FAILED: 1, JobState.WAITING_CREDENTIALS: 1,
    JobState.BLOCKED_INVALID_CREDENTIALS: 1, JobState.BLOCKED_2FA: 1,
    JobState.BLOCKED_CREDENTIALS_CHANGED: 1, JobState.BLOCKED_DESTINATION_FULL: 1,
}


def _report(**counts: int) -> MailboxReport:
    report = MailboxReport(src_user="rossi@pec.it", dst_user="rossi@pec.it")
    report.folders.append(FolderReport(src="INBOX", dst="INBOX", **counts))
    return report


def test_every_state_is_mapped() -> None:
    assert set(exits.STATE_EXIT) == set(JobState) == set(EXPECTED)


@pytest.mark.parametrize("state", list(JobState))
@pytest.mark.parametrize("exceptions", [False, True])
def test_copy_exits_as_run_on_that_mailbox_alone(state: JobState, exceptions: bool) -> None:
    report = _report(skipped=1) if exceptions else _report()
    copy_code = ForegroundResult(report, Outcome(state), None).exit_code
    run_code = RunSummary(Counter({state.value: 1}), jobs_run=1, internal_errors=0,
                          exceptions=int(exceptions)).exit_code
    # Someone's action needed (messages in the quarantine) beats work left for later.
    assert copy_code == run_code == (1 if exceptions else EXPECTED[state])


@pytest.mark.parametrize(("counts", "code"), [
    ({}, 0),
    ({"skipped": 2}, 1),        # refused by the destination, kept in the quarantine
    ({"unverifiable": 1}, 1),   # copied but could not be checked
    ({"mismatched": 1}, 1),     # a copy differs: the job would be failed
])
def test_copy_exit_code_from_its_report(counts: dict[str, int], code: int) -> None:
    report = _report(**counts)
    assert ForegroundResult(report, report_outcome(report, "rossi@pec.it"), None).exit_code \
        == code


def test_one_map_for_copy_run_and_errors() -> None:
    assert (pool.EXIT_OK, pool.EXIT_BLOCKED, pool.EXIT_TRANSIENT, pool.EXIT_INTERNAL) == (
        exits.EXIT_OK, exits.EXIT_BLOCKED, exits.EXIT_TRANSIENT, exits.EXIT_INTERNAL)
    assert cli_main.error_exit is exits.error_exit
    assert foreground.mailbox_exit is exits.mailbox_exit
    assert exits.error_exit(TransientError("reset", side="dst")) == exits.EXIT_TRANSIENT
    assert exits.error_exit(AuthenticationFailed("no", side="src")) == exits.EXIT_BLOCKED


def test_run_priorities() -> None:
    assert RunSummary(Counter({"done": 1}), 1, 1).exit_code == 4
    assert RunSummary(Counter({"blocked_2fa": 1}), 1, 0, breaker="down").exit_code == 3
    assert RunSummary(Counter({"retry_wait": 1, "failed": 1}), 2, 0).exit_code == 1


def _config(tmp_path: Path) -> Any:
    p = tmp_path / "c.toml"
    p.write_text('[source]\nhost = "127.0.0.1"\nsecurity = "plain"\n[destination]\n'
                 'host = "127.0.0.1"\nsecurity = "plain"\n[state]\ndatabase = "s.sqlite3"\n'
                 '[engine]\nretries = 2\n')
    return load_config(p)


def test_copy_retries_transient_failures_under_the_engine_policy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _config(tmp_path)
    assert RetryPolicy.for_foreground(cfg.engine).max_attempts == 3
    calls: list[int] = []

    async def flaky(*args: Any, **kwargs: Any) -> tuple[MailboxReport, Outcome]:
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("connection reset", side="src")
        report = _report()
        return report, report_outcome(report, "rossi@pec.it")

    monkeypatch.setattr(foreground, "attempt_mailbox", flaky)
    creds = Credentials("rossi@pec.it", Secret("pw"), None)
    fast = RetryPolicy(RetryPolicy.for_foreground(cfg.engine).max_attempts, 0.01, 0.02)
    result = anyio.run(lambda: copy_foreground(cfg, None, creds, creds,  # type: ignore[arg-type]
                                               verify=False, progress=Progress(), policy=fast))
    assert len(calls) == 3 and result.outcome.state == JobState.DONE and result.exit_code == 0

    calls.clear()

    async def down(*args: Any, **kwargs: Any) -> tuple[MailboxReport, Outcome]:
        calls.append(1)
        raise TransientError("connection reset", side="src")

    monkeypatch.setattr(foreground, "attempt_mailbox", down)
    with pytest.raises(TransientError):
        anyio.run(lambda: copy_foreground(cfg, None, creds, creds,  # type: ignore[arg-type]
                                          verify=False, progress=Progress(), policy=fast))
    assert len(calls) == 3  # [engine] retries = 2: three attempts, then the error itself

    calls.clear()

    async def refused(*args: Any, **kwargs: Any) -> tuple[MailboxReport, Outcome]:
        calls.append(1)
        raise AuthenticationFailed("refused", side="src")

    monkeypatch.setattr(foreground, "attempt_mailbox", refused)
    with pytest.raises(AuthenticationFailed):
        anyio.run(lambda: copy_foreground(cfg, None, creds, creds,  # type: ignore[arg-type]
                                          verify=False, progress=Progress(), policy=fast))
    assert len(calls) == 1  # never a LOGIN tried again
