"""The ``pecsync`` command.  Drives the engine; nothing in the engine imports this package.

Exit codes (same for every command):
  0  everything asked for is done (and verified)
  1  blocked: needs operator or member action (wrong password, 2-step verification,
     destination full, verification mismatch, messages refused by the destination and
     kept in the quarantine)
  2  usage or configuration error
  3  transient failure remains (network, server unavailable; for `run`: only after a stop
     by the operator, since run waits for jobs in retry_wait): run again later
  4  internal error (a bug: please report it with the log)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import NoReturn

import anyio
import structlog
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from pecsync import __version__
from pecsync import log as logsetup
from pecsync.cli import bulk, check, dbcmd, reporting
from pecsync.cli.passwords import read_password
from pecsync.cli.progress import ProgressLine
from pecsync.config import Config, load_config
from pecsync.errors import (
    AuthenticationFailed,
    ConfigError,
    DestinationFull,
    PecsyncError,
    StoreError,
    TransientError,
    TwoFactorRequired,
    UsageError,
)
from pecsync.memory_tuning import tune_allocator
from pecsync.model import Credentials, MailboxReport
from pecsync.reports.collect import write_certificate_for
from pecsync.reports.render import CSV_DIALECTS
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import set_lease_seconds
from pecsync.sync.mailbox import copy_mailbox, destination_fingerprints, verify_mailbox
from pecsync.sync.quarantine import Quarantine, quarantine_dir

EXIT_OK, EXIT_BLOCKED, EXIT_USAGE, EXIT_TRANSIENT, EXIT_INTERNAL = 0, 1, 2, 3, 4

log = structlog.get_logger("pecsync.cli")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pecsync",
        description="Copy PEC (certified e-mail) mailboxes between IMAP servers, byte for byte, "
                    "resumably, and verify every message.",
        epilog=__doc__.split("\n", 2)[2] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"pecsync {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="log warnings and errors only (reports still go to stdout)")
    parser.add_argument("--log-json", action="store_true",
                        help="log JSON lines even on a terminal")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def mailbox_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", required=True, metavar="FILE", help="TOML configuration")
        p.add_argument("--source-user", required=True, metavar="USER",
                       help="mailbox login on the source server")
        p.add_argument("--dest-user", metavar="USER",
                       help="mailbox login on the destination (default: the source user)")
        p.add_argument("--source-password-file", metavar="FILE",
                       help="file holding the source password (else $PECSYNC_SOURCE_PASSWORD, "
                            "else a prompt); with [source] master_user, the master's password")
        p.add_argument("--dest-password-file", metavar="FILE",
                       help="file holding the destination password (else "
                            "$PECSYNC_DEST_PASSWORD, else a prompt)")

    copy = sub.add_parser(
        "copy", help="copy one mailbox (resumes where it stopped), then verify it",
        description="Copy every folder and message of one mailbox from the source to the "
                    "destination, resuming from the checkpoints of earlier runs, then fetch "
                    "the copies back and compare SHA-256, flags and INTERNALDATE. "
                    "Exits 0 only when the whole mailbox is copied and verified.")
    mailbox_args(copy)
    copy.add_argument("--no-verify", action="store_true",
                      help="skip the verification pass (exit 0 then means copied, unverified)")
    verify = sub.add_parser(
        "verify", help="re-check a copied mailbox against the recorded source fingerprints",
        description="Fetch every recorded copy from the destination and compare it with the "
                    "SHA-256, flags and INTERNALDATE recorded from the source; count source "
                    "messages not copied yet.  Prints per-folder counts.")
    mailbox_args(verify)
    verify.add_argument("--certificate", metavar="FILE",
                        help="check the destination against this completeness certificate")

    imp = sub.add_parser(
        "import", help="import (or re-import) the operator's mailbox list (CSV)",
        description="Read a CSV with the header order,address,source_user,source_password,"
                    "dest_user,dest_password.  New rows become jobs, a changed password becomes "
                    "a new credential version and re-queues a mailbox blocked on credentials, "
                    "unchanged rows do nothing, rows missing from the file are left alone.  A "
                    "file with errors imports nothing unless --skip-invalid is given.  "
                    "Passwords are stored encrypted (needs $PECSYNC_KEY or [state] key_file).")
    imp.add_argument("--config", required=True, metavar="FILE")
    imp.add_argument("csv", metavar="mailboxes.csv")
    imp.add_argument("--skip-invalid", action="store_true",
                     help="import the valid rows even when some rows are invalid")

    run = sub.add_parser(
        "run", help="copy every runnable mailbox with a pool of workers",
        description="Run every pending job (and every retry that is due) with N workers, "
                    "never more than [engine] max_connections_per_host connections per server. "
                    "First Ctrl-C/SIGTERM: finish the batches in flight and stop; second: abort "
                    "now (safe: resumes next run).  A connection lost mid-copy (network "
                    "error, timeout, BYE) is reconnected and the copy resumes from its "
                    "checkpoints ([engine] reconnect_attempts in a row without progress, "
                    "then retry_wait).  Exits when no job can progress without a person "
                    "(every mailbox done, blocked_* or failed): jobs in retry_wait are "
                    "waited for until their time comes.  How long it may wait: the sum of "
                    "one job's retry_wait backoffs, at most retry_initial_seconds x (1 + 2 + "
                    "... + 2^(max_attempts-2)), each wait capped at retry_max_seconds — "
                    "about 31 minutes with the defaults (60 s, 6 attempts) — plus the "
                    "attempts themselves.  Ctrl-C ends the wait within a second (exit 3).  With "
                    "--follow it never exits by itself.  Before claiming any mailbox it "
                    "reaches both servers and logs in with the master users (exit 2 or 3 with "
                    "what is wrong, nothing touched); it stops claiming when [engine] "
                    "breaker_failures mailboxes in a row fail to log in at one server (exit 3, "
                    "those mailboxes left as they were).")
    run.add_argument("--config", required=True, metavar="FILE")
    run.add_argument("--workers", type=int, metavar="N",
                     help="parallel mailboxes (default: [engine] workers)")
    run.add_argument("--order", metavar="ORDER", help="only this order's mailboxes")
    run.add_argument("--follow", action="store_true",
                     help="keep waiting for new work after every job is done or blocked "
                          "(new credentials from a re-import, `retry` or the intake page); "
                          "re-sync done mailboxes every [migration] resync_every and, once "
                          "after [migration] switch_at, a final sync of every mailbox")
    run.add_argument("--resync", action="store_true",
                     help="also re-sync every done mailbox once, now (new mail, new and "
                          "renamed folders, flag changes at the source)")

    retry = sub.add_parser(
        "retry", help="run one mailbox now, whatever its state, resuming from checkpoints",
        description="Run the job of ADDRESS in the foreground whatever its state (blocked, "
                    "failed, done), resuming from its checkpoints.  --password-stdin reads a "
                    "new source password from the first line of standard input, "
                    "--dest-password-stdin a destination password from the next line.")
    retry.add_argument("--config", required=True, metavar="FILE")
    retry.add_argument("address", metavar="ADDRESS")
    retry.add_argument("--password-stdin", action="store_true",
                       help="new source password on standard input")
    retry.add_argument("--dest-password-stdin", action="store_true",
                       help="new destination password on standard input")

    status = sub.add_parser(
        "status", help="counts per state, progress, and who is blocked and why",
        description="Per order and overall: mailboxes per state, messages and bytes copied, "
                    "and for blocked or failed mailboxes the reason and the next step.")
    status.add_argument("--config", required=True, metavar="FILE")
    status.add_argument("--order", metavar="ORDER")
    status.add_argument("--json", action="store_true", help="machine-readable output")

    chk = sub.add_parser(
        "check", help="pre-flight: reach both servers, log in, try a few members, show the "
                      "folder mapping",
        description="Before a run: reach both servers (name, port, TLS and its certificate, "
                    "the IMAP greeting), show their capabilities, log in with the master user "
                    "when configured, read namespaces, separator and quota support, log in as "
                    "a sample of members (never one already blocked, each password at most "
                    "once: recorded in the database) and show the folder mapping of one "
                    "mailbox.  Says plainly what is wrong and the next step.  Exits 0 when "
                    "ready, 2 for a configuration problem (wrong host or port, not IMAP, TLS, "
                    "master login refused), 3 when a server cannot be reached now, 1 when "
                    "members were refused.")
    chk.add_argument("--config", required=True, metavar="FILE")
    chk.add_argument("--order", metavar="ORDER", help="only this order's mailboxes")
    chk.add_argument("--sample", type=int, default=3, metavar="N",
                     help="members to log in as (default 3; 0: servers only)")

    key = sub.add_parser("init-key", help="create the key file that encrypts stored passwords",
                         description="Create [state] key_file with a new random key, mode 0600.")
    key.add_argument("--config", required=True, metavar="FILE")
    rot = sub.add_parser("rotate-key", help="re-encrypt stored passwords under a new key")
    rot.add_argument("--config", required=True, metavar="FILE")
    purge = sub.add_parser("purge-credentials", help="erase stored passwords",
                           description="Erase stored passwords (all, or with --done only those "
                                       "of verified mailboxes) and compact the database.")
    purge.add_argument("--config", required=True, metavar="FILE")
    purge.add_argument("--done", action="store_true", help="only for mailboxes that are done")

    rep = sub.add_parser(
        "report", help="daily report per order: states, changes, who must act, deadline",
        description="Write the daily report (per order and overall): totals per state, what "
                    "changed since the previous report, every mailbox that needs action with "
                    "the reason and the next step, the deadline forecast and the mailboxes at "
                    "risk.  HTML pages are self-contained (no scripts, no external assets).  "
                    "--send e-mails each order its page with the CSV attached via [smtp]; a "
                    "failed send is retried by the next --send.")
    rep.add_argument("--config", required=True, metavar="FILE")
    rep.add_argument("--order", metavar="ORDER")
    rep.add_argument("--date", metavar="YYYY-MM-DD", help="report date (default: today)")
    rep.add_argument("--out", required=True, metavar="DIR")
    rep.add_argument("--format", default="html,csv,json", help="any of html,csv,json")
    rep.add_argument("--lang", choices=["it", "en"], default="it")
    rep.add_argument("--send", action="store_true", help="e-mail each order its report")
    rep.add_argument("--csv-dialect", choices=CSV_DIALECTS, default="rfc4180",
                     help="rfc4180 (',' separator, the default) or excel-it (';' separator "
                          "and a UTF-8 BOM: opens directly in Excel with an Italian locale)")
    notices = sub.add_parser(
        "notices", help="ready-to-send notices for members who must act",
        description="Write one notice per blocked member (Italian; override a template with "
                    "notices/<state>.txt next to the config, first line = subject) and "
                    "notices.csv for mail merge.")
    notices.add_argument("--config", required=True, metavar="FILE")
    notices.add_argument("--out", required=True, metavar="DIR")
    notices.add_argument("--order", metavar="ORDER")
    notices.add_argument("--csv-dialect", choices=CSV_DIALECTS, default="rfc4180",
                         help="notices.csv as rfc4180 (',') or excel-it (';' and a BOM)")
    cert = sub.add_parser(
        "certificate", help="completeness certificate of one mailbox (JSON)",
        description="Print (or --out FILE) the JSON record of everything copied for ADDRESS: "
                    "folders with counts and bytes on both sides, the SHA-256 of every message "
                    "and a digest over them, skipped messages with reasons.  Check a "
                    "destination against it later with `pecsync verify --certificate FILE`.")
    cert.add_argument("--config", required=True, metavar="FILE")
    cert.add_argument("address", metavar="ADDRESS")
    cert.add_argument("--out", metavar="FILE")
    serve = sub.add_parser(
        "serve", help="the members' self-service intake page (web)",
        description="Serve the intake page where members enter their PEC address and current "
                    "password: one LOGIN checks it, an accepted password is stored encrypted "
                    "and the mailbox queued for `run` (which may run at the same time on the "
                    "same database).  Pages: / (every order), /o/SLUG (one order), /s/TOKEN "
                    "(a member's own status).  Put it behind a TLS reverse proxy (README).")
    serve.add_argument("--config", required=True, metavar="FILE")
    serve.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT",
                       help="address to listen on (default 127.0.0.1:8080)")
    dbcmd.add_parser(sub)
    return parser


def _credentials(cfg: Config, args: argparse.Namespace) -> tuple[Credentials, Credentials]:
    src_user = args.source_user
    dst_user = args.dest_user or src_user
    src_pw = read_password(env="PECSYNC_SOURCE_PASSWORD", file=args.source_password_file,
                           prompt=f"Source password for {src_user}: ", what="source")
    dst_pw = read_password(env="PECSYNC_DEST_PASSWORD", file=args.dest_password_file,
                           prompt=f"Destination password for {dst_user}: ", what="destination")
    return (Credentials(src_user, src_pw, cfg.source.master_user),
            Credentials(dst_user, dst_pw, cfg.destination.master_user))


def _print_report(report: MailboxReport, *, title: str, elapsed: float) -> None:
    out = sys.stdout
    out.write(f"{title}: {report.src_user} -> {report.dst_user}\n")
    for note in report.notes:
        out.write(f"  - {note}\n")
    width = max([len(f.src) for f in report.folders] + [6])
    out.write(f"  {'folder':<{width}}  {'source':>7} {'copied':>7} {'present':>7} "
              f"{'skipped':>7} {'verified':>8} {'mismatch':>8}\n")
    for f in report.folders:
        out.write(f"  {f.src:<{width}}  {f.src_messages:>7} {f.copied:>7} {f.already_present:>7} "
                  f"{f.skipped:>7} {f.verified:>8} {f.mismatched:>8}\n")
        for note in f.notes[:20]:
            out.write(f"    - {note}\n")
        if f.dropped_flags:
            out.write(f"    - flags the destination does not keep: "
                      f"{' '.join(sorted(f.dropped_flags))}\n")
    mb = report.bytes_copied / 1e6
    rate = report.copied / elapsed if elapsed > 0 else 0.0
    out.write(f"  total: {report.src_messages} source messages, {report.copied} copied "
              f"({mb:.1f} MB, {rate:.0f} msg/s, {mb / elapsed if elapsed else 0:.1f} MB/s), "
              f"{report.verified} verified, {report.skipped} skipped, {report.mismatched} "
              f"mismatched, {report.unverifiable} not verifiable, {report.not_copied} not copied "
              f"yet, {report.repaired} copied again, {elapsed:.1f} s\n")
    if report.skipped:
        out.write(f"  INCOMPLETE: {report.skipped} message(s) refused or skipped by the "
                  f"destination, kept byte for byte in the quarantine (see the notes above)\n")


async def _cmd_copy(cfg: Config, args: argparse.Namespace) -> int:
    src, dst = _credentials(cfg, args)
    progress = ProgressLine(enabled=not args.quiet)
    started = time.monotonic()
    async with await CheckpointStore.open(cfg.state) as store:
        report: MailboxReport | None = None
        with progress:
            async for attempt in AsyncRetrying(
                    retry=retry_if_exception_type(TransientError),
                    stop=stop_after_attempt(cfg.engine.retries + 1),
                    wait=wait_exponential_jitter(initial=1, max=30), reraise=True):
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        log.warning("copy_retried", mailbox=src.user,
                                    attempt=attempt.retry_state.attempt_number)
                    report = await copy_mailbox(cfg, store, src, dst,
                                                verify=cfg.engine.verify and not args.no_verify,
                                                progress=progress.callbacks(), sync_flags=True,
                                                quarantine=Quarantine(
                                                    quarantine_dir(cfg.database, src.user)))
        assert report is not None
        # A certificate only from a verification: written when every copy was checked.
        if cfg.engine.verify and not args.no_verify and not report.mismatched:
            path = await write_certificate_for(store, cfg, src.user, dst.user)
            if path is not None:
                cert = json.loads(path.read_text("utf-8"))
                sys.stdout.write(f"certificate: {path} (digest {cert['digest']}"
                                 + (f"; INCOMPLETE: {cert['incomplete']} message(s) in "
                                    f"quarantine" if cert.get("incomplete") else "") + ")\n")
    assert report is not None
    elapsed = time.monotonic() - started
    _print_report(report, title="copied", elapsed=elapsed)
    log.info("mailbox_copied", mailbox=src.user, copied=report.copied,
             bytes=report.bytes_copied, verified=report.verified, skipped=report.skipped,
             mismatched=report.mismatched, seconds=round(elapsed, 2))
    return (EXIT_BLOCKED if report.mismatched or report.unverifiable or report.skipped
            else EXIT_OK)


async def _cmd_verify(cfg: Config, args: argparse.Namespace) -> int:
    if args.certificate:
        return await _verify_certificate(cfg, args)
    src, dst = _credentials(cfg, args)
    started = time.monotonic()
    async with await CheckpointStore.open(cfg.state) as store:
        report = await verify_mailbox(cfg, store, src, dst)
    _print_report(report, title="verified", elapsed=time.monotonic() - started)
    if report.mismatched or report.not_copied:
        sys.stdout.write("  next step: run `pecsync copy` again (`pecsync retry ADDRESS` for a "
                         "mailbox of the list): it appends what is missing or changed, leaves "
                         "the bad copies alone and verifies\n")
    return EXIT_BLOCKED if report.mismatched or report.not_copied else EXIT_OK


async def _verify_certificate(cfg: Config, args: argparse.Namespace) -> int:
    """The destination against a completeness certificate: only the destination is read."""
    import json
    from pathlib import Path

    from pecsync.reports.certificate import compare_with_destination

    try:
        cert = json.loads(Path(args.certificate).read_text("utf-8"))
        folders = [f["destination"] for f in cert["folders"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{args.certificate}: not a pecsync certificate ({exc})") from None
    dst_user = args.dest_user or cert.get("destination_user") or args.source_user
    dst_pw = None
    if not (args.dest_password_file or cfg.destination.master_user):
        dst_pw = await bulk.stored_dest_password(cfg, args.source_user, dst_user)
    if dst_pw is None:
        dst_pw = read_password(env="PECSYNC_DEST_PASSWORD", file=args.dest_password_file,
                               prompt=f"Destination password for {dst_user}: ",
                               what="destination")
    found = await destination_fingerprints(
        cfg, Credentials(dst_user, dst_pw, cfg.destination.master_user), folders)
    problems = []
    for folder in folders:
        problems += compare_with_destination(cert, folder, found[folder])
    total = sum(len(v) for v in found.values())
    if problems:
        sys.stdout.write(f"certificate check FAILED for {cert.get('mailbox')}: "
                         f"{len(problems)} problem(s)\n")
        for p in problems:
            sys.stdout.write(f"  - {p}\n")
        return EXIT_BLOCKED
    sys.stdout.write(f"certificate check passed for {cert.get('mailbox')}: {total} message(s) "
                     f"in {len(folders)} folder(s) match (digest {cert.get('digest')})\n")
    return EXIT_OK


def _warn_transport(cfg: Config) -> None:
    """Say it at every start when a connection is not protected as it should be."""
    import ipaddress

    for table, server in (("source", cfg.source), ("destination", cfg.destination)):
        if server.security != "plain" and not server.tls_verify:
            sys.stderr.write(f"pecsync: warning: [{table}] tls_verify = false: the certificate "
                             f"of {server.host} is not checked; a man in the middle could read "
                             f"passwords and mail\n")
        if server.security == "plain":
            try:
                loopback = ipaddress.ip_address(server.host).is_loopback
            except ValueError:
                loopback = server.host == "localhost"
            if not loopback:
                sys.stderr.write(f"pecsync: warning: [{table}] security = \"plain\": passwords "
                                 f"and mail to {server.host} travel unencrypted\n")


def _exit_code(exc: PecsyncError) -> int:
    if isinstance(exc, (ConfigError, UsageError)):
        return EXIT_USAGE
    if isinstance(exc, TransientError):
        return EXIT_TRANSIENT
    if isinstance(exc, (AuthenticationFailed, TwoFactorRequired, DestinationFull)):
        return EXIT_BLOCKED
    if isinstance(exc, StoreError) or exc.kind == "vault":
        return EXIT_USAGE
    return EXIT_BLOCKED


#: A command: the loaded configuration and the parsed arguments → the exit code.
Command = Callable[[Config, argparse.Namespace], Awaitable[int]]


def main(argv: Sequence[str] | None = None,
         extra_commands: Mapping[str, Command] | None = None) -> int:
    """The ``pecsync`` command.  *extra_commands*: commands this package cannot import
    itself (``serve`` lives in ``pecsync.web``; ``pecsync.__main__`` hands it over)."""
    args = build_parser().parse_args(argv)
    tune_allocator()
    logsetup.configure(json=True if args.log_json else None,
                       level=logging.DEBUG if args.verbose
                       else logging.WARNING if args.quiet else logging.INFO)
    commands = {"copy": _cmd_copy, "verify": _cmd_verify, "import": bulk.cmd_import,
                "run": bulk.cmd_run, "retry": bulk.cmd_retry, "check": check.cmd_check,
                "status": bulk.cmd_status,
                "init-key": bulk.cmd_init_key, "rotate-key": bulk.cmd_rotate_key,
                "purge-credentials": bulk.cmd_purge, "report": reporting.cmd_report,
                "notices": reporting.cmd_notices, "certificate": reporting.cmd_certificate,
                **(extra_commands or {})}
    if args.command not in commands and args.command != "db":
        sys.stderr.write(f"pecsync {args.command}: not available from this entry point (use "
                         f"`python -m pecsync` or the installed `pecsync` command)\n")
        return EXIT_USAGE
    try:
        if args.command == "db":  # works on database URLs and paths, not a configuration
            return anyio.run(dbcmd.cmd_db, args)
        cfg = load_config(args.config)
        set_lease_seconds(cfg.engine.lease_seconds)
        _warn_transport(cfg)
        return anyio.run(commands[args.command], cfg, args)
    except PecsyncError as exc:
        code = _exit_code(exc)
        sys.stderr.write(f"pecsync {args.command}: {exc}\n")
        log.error("command_failed", command=args.command, error=exc.kind, exit_code=code)
        return code
    except KeyboardInterrupt:
        sys.stderr.write("pecsync: interrupted; checkpoints are safe, run the command again "
                         "to resume\n")
        return EXIT_TRANSIENT
    except Exception:
        log.exception("internal_error", command=args.command)
        sys.stderr.write("pecsync: internal error (a bug); the log above has the details\n")
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
