"""``pecsync check``: the pre-flight check, and the server part of it before every ``run``."""

from __future__ import annotations

import argparse
import sys

import anyio
import structlog

from pecsync.cli.common import master_passwords, vault_for
from pecsync.config import Config
from pecsync.engine.preflight import (
    EXIT_UNREACHABLE,
    SAMPLE_STATES,
    MemberCheck,
    Problem,
    ServerReport,
    check_members,
    check_servers,
    exit_code,
)
from pecsync.model import Secret
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.checks import CredentialChecks
from pecsync.store.jobs import Job, JobStore

log = structlog.get_logger("pecsync.check")

#: Capabilities worth showing (what pecsync uses, or misses when absent).
USEFUL = ("IMAP4REV1", "IMAP4REV2", "LITERAL+", "MULTIAPPEND", "UIDPLUS", "BINARY",
          "LIST-STATUS", "NAMESPACE", "SPECIAL-USE", "CONDSTORE", "QRESYNC",
          "COMPRESS=DEFLATE", "QUOTA", "STARTTLS", "AUTH=PLAIN", "SASL-IR", "ID", "IDLE")
#: Missing on a destination: what pecsync then does differently.
_DST_MISSING = {"UIDPLUS": "copies are found by content after each batch (slower)",
                "MULTIAPPEND": "one APPEND per message (slower)",
                "BINARY": "messages with NUL bytes cannot be copied (listed as skipped)"}


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")


def _namespaces(groups: dict[str, list[tuple[str, str]]]) -> str:
    parts = []
    for kind, entries in groups.items():
        if entries:
            parts.append(f"{kind} " + ", ".join(f"\"{p}\" (separator \"{d}\")"
                                                 for p, d in entries))
    return "; ".join(parts) or "none"


def _print_server(report: ServerReport, members: MemberCheck | None) -> None:
    s = report.server
    _write(f"{report.side}: {report.where} (security = \"{s.security}\""
           + (f", master_user = \"{s.master_user}\"" if s.master_user else "") + ")")
    if not report.reach.ok:
        _write(f"  reach: PROBLEM: {report.reach.detail}")
        return
    _write(f"  reach: {report.reach.detail} in {report.reach.seconds * 1000:.0f} ms"
           + (f"; greeting {report.reach.greeting!r}" if report.reach.greeting else ""))
    if report.tls or report.reach.tls:
        _write(f"  TLS: {report.tls or report.reach.tls}")
    elif s.security == "plain":
        _write("  TLS: none (security = \"plain\": passwords and mail travel unencrypted)")
    caps = report.capabilities
    namespaces = report.namespaces
    if members is not None and report.side in members.capabilities:
        caps = caps | members.capabilities[report.side]
        namespaces = namespaces or members.namespaces.get(report.side, {})
    logged_in = bool(report.login) or (members is not None
                                       and report.side in members.capabilities)
    shown = [c for c in USEFUL if c in caps] + sorted(c for c in caps
                                                      if c.startswith("APPENDLIMIT="))
    _write(f"  capabilities{'' if logged_in else ' (before login)'}: "
           f"{' '.join(shown) or 'none announced'}")
    if report.side == "destination" and logged_in:
        for cap, effect in _DST_MISSING.items():
            if cap not in caps:
                _write(f"  note: no {cap}: {effect}")
    if report.login:
        _write(f"  login: {report.login}")
    elif s.master_user and not report.problems:
        _write("  login: master user not tried (no mailbox in the list to log in as)")
    for note in report.notes:
        _write(f"  warning: {note}")
    if logged_in:
        _write(f"  namespaces: {_namespaces(namespaces)}")
        _write(f"  quota: {'supported (QUOTA)' if 'QUOTA' in caps else 'not announced'}")
    else:
        _write("  namespaces, separator, quota: known after a login (import the list, or "
               "set master_user)")


def _print_provider(cfg: Config) -> None:
    """The source provider's profile members are told about ([source] provider)."""
    p = cfg.member_provider
    _write(f"provider profile: {p.key} ({p.name}); webmail {p.webmail_url or '(not set)'}; "
           f"password recovery {p.recovery_url or '(not set)'}")
    _write(f"  2-step off: {' > '.join(p.twofa_path) or '(not set)'}"
           + (f"; {p.twofa_confirm}" if p.twofa_confirm else ""))
    if p.app_passwords:
        _write("  app passwords: yes" + (f", they expire after {p.app_password_months} months"
                                         if p.app_password_months else ""))


def _print_members(members: MemberCheck, sample: int) -> None:
    _write(f"members (a sample of up to {sample}, never one blocked, each password once):")
    if not members.results:
        _write("  none tried" + (f" ({members.skipped_checked} already checked with their "
                                 f"current passwords)" if members.skipped_checked else ""))
    for result in members.results:
        parts = []
        for side, (what, text) in result.sides.items():
            parts.append(f"{side} {what}" + (f" ({text})" if text else ""))
        line = f"  {result.address}: " + ", ".join(parts)
        if result.blocked is not None:
            line += f" -> {result.blocked.value}"
        _write(line)
    if members.results and members.skipped_checked:
        _write(f"  ({members.skipped_checked} skipped: their current passwords were already "
               f"checked)")
    if members.plan is not None:
        _write(f"folder mapping of {members.mapping_of}:")
        for m in members.plan.mappings[:60]:
            note = "" if m.copy else " (not selectable: created, not copied)"
            if m.dst in members.plan.create:
                note += " (to create)"
            _write(f"  {m.src} -> {m.dst}{note}")
        if len(members.plan.mappings) > 60:
            _write(f"  ... {len(members.plan.mappings) - 60} more")
        for warning in members.plan.warnings:
            _write(f"  warning: {warning}")


def _first_runnable(jobs: list[Job]) -> list[Job]:
    """Up to 3 mailboxes for the master logins: runnable ones first."""
    runnable = [j for j in jobs if j.state in SAMPLE_STATES][:3]
    return runnable or jobs[:3]


async def cmd_check(cfg: Config, args: argparse.Namespace) -> int:
    src_master, dst_master = master_passwords(cfg)
    listed: list[Job] = []
    if cfg.state_exists():
        async with await CheckpointStore.open(cfg.state) as store:
            listed = await JobStore(store, None).jobs(args.order)
    servers = await check_servers(cfg, jobs=_first_runnable(listed), src_master=src_master,
                                  dst_master=dst_master)
    problems: list[Problem] = [p for r in servers for p in r.problems]
    members: MemberCheck | None = None
    if not problems and listed and args.sample > 0:
        vault = None
        if not (cfg.source.master_user and cfg.destination.master_user):
            vault = vault_for(cfg)
        async with await CheckpointStore.open(cfg.state) as store:
            members = await check_members(cfg, JobStore(store, vault), CredentialChecks(store),
                                          order=args.order, sample=args.sample,
                                          src_master=src_master, dst_master=dst_master)
        problems += members.problems
    _write(f"pecsync check: {cfg.path}")
    _print_provider(cfg)
    for report in servers:
        _print_server(report, members)
    if members is not None:
        _print_members(members, args.sample)
    elif not listed:
        _write("members: none to try (no mailbox list imported" + (f" for order {args.order}"
                                                                   if args.order else "") + ")")
    elif problems:
        _write("members: not tried (fix the servers first)")
    code = exit_code(problems)
    if problems:
        _write(f"{len(problems)} problem(s):")
        for problem in problems:
            _write(f"  - {problem.line()}")
    _write(f"result: {'OK' if code == 0 else 'NOT READY'} (exit {code})")
    log.info("check_finished", exit_code=code, problems=len(problems))
    return code


async def servers_ready(cfg: Config, jobs: list[Job], *, src_master: Secret | None,
                        dst_master: Secret | None, follow: bool, wait: bool = False) -> int:
    """``run``'s pre-flight: both servers reached, their greetings read, the master users
    logged in; 0 to go on, else the exit code (after saying what is wrong).

    A server that cannot be reached is a fact about the server, not about a mailbox: a plain
    ``run`` exits 3 at once, nothing claimed and no attempt spent.  With *wait* the check is
    made again every :func:`wait_seconds` until both answer (Ctrl-C ends the wait, exit 3);
    with *follow* the run starts anyway and its mailboxes wait for the server (the jobs'
    retries and the circuit breaker)."""
    waited = False
    while True:
        servers = await check_servers(cfg, jobs=_first_runnable(jobs), src_master=src_master,
                                      dst_master=dst_master, thorough=False)
        problems = [p for r in servers for p in r.problems]
        code = exit_code(problems) if problems else 0
        if code != EXIT_UNREACHABLE:
            break
        if follow:
            for problem in problems:
                sys.stderr.write(f"pecsync run: warning: {problem.line()}; starting anyway "
                                 f"(--follow): the mailboxes wait for it\n")
            return 0
        if not wait:
            for problem in problems:
                sys.stderr.write(f"pecsync run: not started: {problem.line()}\n")
            sys.stderr.write("pecsync run: nothing was claimed and no attempt spent; run it "
                             "again once the server is up, or with --wait to wait for it\n")
            log.error("preflight_unreachable", exit_code=code,
                      problems=[p.text for p in problems])
            return code
        every = wait_seconds(cfg)
        if not waited:
            for problem in problems:
                sys.stderr.write(f"pecsync run: waiting (--wait): {problem.text}; trying "
                                 f"again every {every:.0f} s, nothing claimed meanwhile "
                                 f"(Ctrl-C to stop)\n")
        log.info("preflight_waiting", seconds=every, problems=[p.text for p in problems])
        waited = True
        await anyio.sleep(every)
    if not problems:
        if waited:
            sys.stderr.write("pecsync run: both servers answer now: starting\n")
        return 0
    for problem in problems:
        sys.stderr.write(f"pecsync run: not started: {problem.line()}\n")
    sys.stderr.write("pecsync run: no mailbox was touched; `pecsync check` tells more\n")
    log.error("preflight_failed", exit_code=code, problems=[p.text for p in problems])
    return code


def wait_seconds(cfg: Config) -> float:
    """How often ``run --wait`` tries an unreachable server again: ``[engine]
    retry_initial_seconds``, between 1 and 30 seconds."""
    return min(max(cfg.engine.retry_initial_seconds, 1.0), 30.0)
