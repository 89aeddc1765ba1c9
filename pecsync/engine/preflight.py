"""Pre-flight checks (``pecsync check``, and the server part before every ``run``), like
imapsync's ``--justlogin``: reach each server, read its capabilities, log in with the master
user, try a sample of members' passwords (each credential version at most once), and plan
one mailbox's folders — saying plainly what is wrong and what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

import anyio
import structlog

from pecsync.config import Config, ServerConfig
from pecsync.engine.exits import EXIT_BLOCKED, EXIT_OK, EXIT_TRANSIENT, EXIT_USAGE
from pecsync.engine.outcome import classify_failure
from pecsync.engine.settings import mailbox_settings
from pecsync.errors import (
    AuthenticationFailed,
    ImapError,
    TlsError,
    TransientError,
    TwoFactorRequired,
)
from pecsync.imap.classify import provider_rules
from pecsync.imap.probe import CONFIG, OK, Reach, probe
from pecsync.imap.session import ImapSession
from pecsync.model import Credentials, Secret, Side
from pecsync.store.checks import CredentialChecks
from pecsync.store.jobs import Job, JobState, JobStore
from pecsync.sync.limits import limit_refusal
from pecsync.sync.mailbox import plan_mailbox
from pecsync.sync.plan import FolderPlan

log = structlog.get_logger("pecsync.preflight")
T = TypeVar("T")

#: Exit codes of docs/reference/exit-codes.md, as ``check`` names them (pecsync.engine.exits).
EXIT_MEMBERS, EXIT_CONFIG, EXIT_UNREACHABLE = EXIT_BLOCKED, EXIT_USAGE, EXIT_TRANSIENT
#: States a sampled member may be in: runnable, never blocked (a blocked password is never
#: tried again by a check: providers lock accounts).
SAMPLE_STATES = frozenset({JobState.PENDING, JobState.RETRY_WAIT})


async def _thread(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn, abandon_on_cancel=True)


@dataclass(frozen=True)
class Problem:
    """Something wrong, with its exit code and the next step."""

    code: int
    text: str
    next_step: str

    def line(self) -> str:
        return f"{self.text} — next step: {self.next_step}"


@dataclass
class ServerReport:
    side: str  # "source" | "destination"
    server: ServerConfig
    reach: Reach
    capabilities: frozenset[str] = frozenset()
    login: str | None = None
    namespaces: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: Worth saying, not stopping for (a mailbox the master user cannot log in as).
    notes: list[str] = field(default_factory=list)
    #: "TLSv1.3, certificate verified" (implicit TLS or STARTTLS).
    tls: str | None = None

    @property
    def where(self) -> str:
        return f"{self.server.host}:{self.server.port}"


def _server(cfg: Config, side: str) -> ServerConfig:
    return cfg.source if side == "source" else cfg.destination


def _session(cfg: Config, side: str, mailbox: str) -> ImapSession:
    return ImapSession(_server(cfg, side), Side.SRC if side == "source" else Side.DST,
                       mailbox=mailbox, extra_rules=provider_rules(cfg.providers))


def _env_name(side: str) -> str:
    return "PECSYNC_SOURCE_PASSWORD" if side == "source" else "PECSYNC_DEST_PASSWORD"


def _unreached(report: ServerReport) -> ServerReport:
    code = EXIT_CONFIG if report.reach.status == CONFIG else EXIT_UNREACHABLE
    report.problems.append(Problem(code, f"{report.side}: {report.reach.detail}",
                                   report.reach.next_step or ""))
    return report


async def check_server(cfg: Config, side: str, *, as_users: Sequence[str],
                       master_password: Secret | None, thorough: bool = True) -> ServerReport:
    """Reach *side*, read its capabilities and, with a master user, log in with it as the
    first of *as_users* (mailboxes of the list) that it accepts — up to 3, so that one
    mailbox missing on that server does not pass for a wrong configuration — and read its
    namespaces.

    *thorough* (``check``) probes the server first (name, TCP, TLS, greeting told apart);
    otherwise (``run``, where every round trip shows over a slow link) the probe runs only
    when connecting fails, to say why, and the namespaces are not read."""
    server = _server(cfg, side)
    if thorough:
        reach = await _thread(lambda: probe(server))
        if not reach.ok:
            return _unreached(ServerReport(side, server, reach))
    else:
        reach = Reach(OK, f"IMAP server at {server.host}:{server.port}")
    report = ServerReport(side, server, reach)
    session = _session(cfg, side, as_users[0] if as_users else "(check)")
    try:
        try:
            await _thread(session.connect)
        except ImapError:
            if thorough:
                raise
            report.reach = await _thread(lambda: probe(server))
            if not report.reach.ok:
                return _unreached(report)
            raise
        report.capabilities = session.greeting_capabilities()
        version = session.tls_version()
        if version:
            checked = "verified" if server.tls_verify else "NOT checked (tls_verify = false)"
            report.tls = (f"{'STARTTLS, ' if server.security == 'starttls' else ''}{version}, "
                          f"certificate {checked}")
        if server.master_user and master_password is not None and as_users:
            refused: list[tuple[str, ImapError]] = []
            for user in as_users[:3]:
                if refused:  # a refused login closed the connection
                    session = _session(cfg, side, user)
                try:
                    await _thread(partial(session.login, Credentials(user, master_password,
                                                                     server.master_user)))
                except (AuthenticationFailed, TwoFactorRequired) as exc:
                    refused.append((user, exc))
                    continue
                report.capabilities = session.capabilities
                report.login = f"master user {server.master_user} logged in as {user}"
                if thorough:
                    report.namespaces = await _thread(session.namespaces)
                if refused:
                    report.notes.append(
                        f"the master login as {', '.join(u for u, _ in refused)} was refused "
                        f"({refused[-1][1].response or refused[-1][1].detail}): do these "
                        f"mailboxes exist on the {side}?")
                break
            else:
                users = ", ".join(u for u, _ in refused)
                last = refused[-1][1]
                report.problems.append(Problem(
                    EXIT_CONFIG,
                    f"{side}: master login refused at {report.where} (master_user "
                    f"{server.master_user} as {users}): {last.response or last.detail}",
                    f"check [{side}] master_user and its password (${_env_name(side)}), and "
                    f"that host and port are this provider's IMAP server (another server has "
                    f"other users); the mailboxes must exist there"))
    except TlsError as exc:
        report.problems.append(Problem(EXIT_CONFIG, f"{side}: {exc.detail}",
                                       exc.hint or "check security, port and ca_file"))
    except TransientError as exc:
        if limit_refusal(exc):
            # The server answered: the mailbox checked holds all the connections its
            # provider allows (its member's own mail client, say).  Not the server's fault:
            # the run's mailboxes wait for their connections (pecsync.sync.limits).
            report.notes.append(f"the login as {as_users[0]} was refused for the provider's "
                                f"connection limit ({exc.response}): mailboxes wait for it")
        else:
            report.problems.append(Problem(
                EXIT_UNREACHABLE, f"{side}: {exc.detail}",
                "try again later; if it persists, check host and port"))
    except ImapError as exc:
        report.problems.append(Problem(EXIT_CONFIG, f"{side}: {exc.detail}",
                                       exc.hint or "check the server settings"))
    finally:
        await _thread(session.logout)
    return report


async def check_servers(cfg: Config, *, jobs: Sequence[Job], src_master: Secret | None,
                        dst_master: Secret | None, thorough: bool = True
                        ) -> list[ServerReport]:
    """Both servers at once (``run`` does this, not *thorough*, before claiming any job); a
    master user logs in as one of *jobs*' mailboxes."""
    reports: dict[str, ServerReport] = {}

    async def one(side: str, users: list[str], master: Secret | None) -> None:
        reports[side] = await check_server(cfg, side, as_users=users, master_password=master,
                                           thorough=thorough)

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, "source", [j.src_user for j in jobs], src_master)
        tg.start_soon(one, "destination", [j.dst_user for j in jobs], dst_master)
    return [reports["source"], reports["destination"]]


def exit_code(problems: Sequence[Problem]) -> int:
    """2 for a configuration problem, else 3 for an unreachable server, else 1 for refused
    members, else 0."""
    codes = {p.code for p in problems}
    for code in (EXIT_CONFIG, EXIT_UNREACHABLE, EXIT_MEMBERS):
        if code in codes:
            return code
    return EXIT_OK


@dataclass
class MemberResult:
    address: str
    #: side → "ok" | "refused" | "twofa" | "unreachable" (with the server's words).
    sides: dict[str, tuple[str, str]] = field(default_factory=dict)
    blocked: JobState | None = None


@dataclass
class MemberCheck:
    results: list[MemberResult] = field(default_factory=list)
    skipped_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    mapping_of: str | None = None
    plan: FolderPlan | None = None
    #: side → what the mailbox planned showed after login (capabilities, namespaces).
    capabilities: dict[str, frozenset[str]] = field(default_factory=dict)
    namespaces: dict[str, dict[str, list[tuple[str, str]]]] = field(default_factory=dict)


def _result_of(exc: BaseException) -> str:
    if isinstance(exc, TwoFactorRequired):
        return "twofa"
    if isinstance(exc, AuthenticationFailed):
        return "refused"
    return "unreachable"


async def check_members(cfg: Config, jobs: JobStore, checks: CredentialChecks, *,
                        order: str | None, sample: int, src_master: Secret | None,
                        dst_master: Secret | None) -> MemberCheck:
    """Log in as up to *sample* members (runnable, never blocked, whose current passwords no
    check has tried), record each credential version tried, and plan the folders of the
    first mailbox that logged in on both sides.  A member refused where another sampled
    member logged in is blocked as ``run`` would block it (no second failed login later);
    when every sampled login at a server is refused, nothing is blocked: that is the
    configuration speaking."""
    out = MemberCheck()
    masters = {"source": src_master if cfg.source.master_user else None,
               "destination": dst_master if cfg.destination.master_user else None}
    refused: dict[str, list[tuple[Job, Exception, bool]]] = {"source": [], "destination": []}
    worked = {"source": False, "destination": False}
    for job in await jobs.jobs(order):
        if len(out.results) >= sample:
            break
        if job.state not in SAMPLE_STATES:
            continue
        # Both sides with master users: no member password is needed (nor decrypted).
        creds = await jobs.credentials(job) if None in masters.values() else None
        plan: dict[str, tuple[Credentials, int]] = {}
        #: Results of earlier checks of these very passwords: a refused one is never tried
        #: again; passwords that all worked already need no second check.
        earlier: list[str | None] = []
        for side, key, user in (("source", "src", job.src_user),
                                ("destination", "dst", job.dst_user)):
            master = masters[side]
            if master is not None:
                plan[side] = (Credentials(user, master, _server(cfg, side).master_user), 0)
                continue
            assert creds is not None
            secret, version = (creds.src, creds.src_version) if key == "src" \
                else (creds.dst, creds.dst_version)
            if secret is None:
                break
            earlier.append(await checks.result(job.id, key, version))
            plan[side] = (Credentials(user, secret), version)
        if len(plan) < 2:
            continue
        if earlier and (all(r is not None for r in earlier)
                        or any(r not in (None, "ok") for r in earlier)):
            out.skipped_checked += 1
            continue
        result = MemberResult(job.address)
        sessions: dict[str, ImapSession] = {}
        for side, (member, version) in plan.items():
            session = _session(cfg, side, job.address)
            try:
                await _thread(partial(session.login, member))
            except (ImapError, OSError) as exc:
                what = _result_of(exc)
                text = exc.response if isinstance(exc, ImapError) and exc.response else str(exc)
                result.sides[side] = (what, text)
                if what in ("refused", "twofa"):
                    refused[side].append((job, exc, version > 0))
            else:
                result.sides[side] = ("ok", "" if version else "through the master user")
                worked[side] = True
                sessions[side] = session
                if side == "source" and version:
                    await jobs.mark_logged_in(job, "src", version)
            if version:
                await checks.record(job.id, "src" if side == "source" else "dst", version,
                                    result.sides[side][0])
        try:
            if out.plan is None and len(sessions) == 2:
                survey = await plan_mailbox(mailbox_settings(cfg), sessions["source"],
                                            sessions["destination"])
                out.plan, out.mapping_of = survey.plan, job.address
                for side, session in sessions.items():
                    out.capabilities[side] = session.capabilities
                    out.namespaces[side] = await _thread(session.namespaces)
        finally:
            for session in sessions.values():
                await _thread(session.logout)
        out.results.append(result)
    for side, entries in refused.items():
        if not entries:
            continue
        if not worked[side]:
            out.problems.append(Problem(
                EXIT_MEMBERS,
                f"every sampled login at the {side} ({_server(cfg, side).host}:"
                f"{_server(cfg, side).port}) was refused ({len(entries)})",
                "that is most likely the configuration (host, port, master_user), not the "
                "passwords: nothing was blocked; check the settings, then `pecsync check` "
                "with other members"))
            continue
        for job, err, own_password in entries:
            if not own_password:
                out.problems.append(Problem(
                    EXIT_MEMBERS, f"{job.address}: {side} login as this mailbox refused "
                                  f"through the master user: {err}",
                    "does the mailbox exist on that server?"))
                continue
            creds = await jobs.credentials(job)
            outcome = classify_failure(err, credential_worked_before=creds.src_logged_in,
                                       attempts=job.attempts,
                                       max_attempts=cfg.engine.max_attempts,
                                       retry_initial=cfg.engine.retry_initial_seconds,
                                       retry_max=cfg.engine.retry_max_seconds)
            await jobs.finish(job, outcome.state, error_class=outcome.error_class,
                              error_text=f"pecsync check: {outcome.error_text}",
                              event="check")
            for result in out.results:
                if result.address == job.address:
                    result.blocked = outcome.state
            out.problems.append(Problem(EXIT_MEMBERS, f"{job.address}: {side} login refused "
                                                      f"({outcome.state.value})",
                                        "see `pecsync status`; the member must give the right "
                                        "password (re-import or `pecsync retry "
                                        "--password-stdin`)"))
    return out
