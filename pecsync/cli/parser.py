"""The ``pecsync`` command line: every command, its options and its help text."""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

from pecsync import __version__
from pecsync.cli import dbcmd, users
from pecsync.engine.exits import EXIT_USAGE
from pecsync.reports.render import CSV_DIALECTS

#: Shown under ``pecsync --help``.
EPILOG = """\
Exit codes (same for every command):
  0  everything asked for is done (and verified)
  1  blocked: needs operator or member action (wrong password, 2-step verification,
     destination full, verification mismatch, messages refused by the destination and
     kept in the quarantine)
  2  usage or configuration error
  3  transient failure remains (network, server unavailable; for `run`: a server that
     cannot be reached at the start, or a stop by the operator, since run waits for jobs
     in retry_wait): run again later
  4  internal error (a bug: please report it with the log)
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pecsync",
        description="Copy PEC (certified e-mail) mailboxes between IMAP servers, byte for byte, "
                    "resumably, and verify every message.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"pecsync {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="log warnings and errors only (reports still go to stdout)")
    parser.add_argument("--log-format", choices=["text", "json"], default="text",
                        help="log lines as readable text (the default, on a terminal or "
                             "not) or as JSON lines")
    parser.add_argument("--log-json", action="store_true",
                        help="the same as --log-format json")
    parser.add_argument("--log-file", metavar="FILE",
                        help="append log lines to FILE instead of standard error (reports "
                             "and summaries still go to standard output)")
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
                    "what is wrong, nothing touched: a server that cannot be reached exits 3 "
                    "at once unless --wait or --follow); it stops claiming when [engine] "
                    "breaker_failures mailboxes in a row fail to log in at one server, or "
                    "that many connections in a row fail there, whatever the mailbox (exit "
                    "3, those mailboxes left as they were).")
    run.add_argument("--config", required=True, metavar="FILE")
    run.add_argument("--workers", type=int, metavar="N",
                     help="parallel mailboxes (default: [engine] workers); one whose "
                          "folders are all copied makes room for the next while it reads its "
                          "last copies back")
    run.add_argument("--order", metavar="ORDER", help="only this order's mailboxes")
    run.add_argument("--follow", action="store_true",
                     help="keep waiting for new work after every job is done or blocked "
                          "(new credentials from a re-import, `retry` or the intake page); "
                          "re-sync done mailboxes every [migration] resync_every and, once "
                          "after [migration] switch_at, a final sync of every mailbox; with a "
                          "[campaign] table, send reminder waves as they fall due")
    run.add_argument("--wait", action="store_true",
                     help="when a server cannot be reached at the start, wait for it (tried "
                          "again every [engine] retry_initial_seconds, at most 30 s; nothing "
                          "claimed meanwhile) instead of exiting 3")
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
                    "(a member's own status).  Put it behind a TLS reverse proxy "
                    "(docs/guides/tls-deployment.md).")
    serve.add_argument("--config", required=True, metavar="FILE")
    serve.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT",
                       help="address to listen on (default 127.0.0.1:8080)")
    dbcmd.add_parser(sub)
    _campaign_parsers(sub)
    users.add_parser(sub)
    return parser


def _campaign_parsers(sub: Any) -> None:
    """``invite`` and ``remind`` (docs/guides/campaign.md)."""
    inv = sub.add_parser(
        "invite", help="e-mail each member who has no working password yet a personal link",
        description="Send each member who still has to act (no password yet, password "
                    "refused, 2-step verification on, password changed) an invitation "
                    "through [smtp], once per member: the deadline and what happens after "
                    "it, switching 2-step verification off first, not changing the password, "
                    "the order's contacts and the member's personal link ([intake] "
                    "public_url/i/<token>).  Text and HTML, Italian first.  It goes to the "
                    "PEC address, or to the list's contact column when there is one.  A "
                    "4xx answer keeps the message queued for the next run; a 5xx is "
                    "recorded as refused with the server's answer (status shows it).")
    inv.add_argument("--config", required=True, metavar="FILE")
    inv.add_argument("--order", metavar="ORDER", help="only this order's members")
    inv.add_argument("--dry-run", action="store_true", help="print who would get what")
    rem = sub.add_parser(
        "remind", help="send the reminder wave that has fallen due (cron)",
        description="Send the [campaign] reminders wave that has fallen due (offsets from "
                    "[migration] deadline) to every member who still has to act, each with "
                    "their own next step, once per member and wave (also with several "
                    "processes or hosts at once), and retry what earlier runs left queued. "
                    "`run --follow` does the same every [campaign] interval_seconds.")
    rem.add_argument("--config", required=True, metavar="FILE")
    rem.add_argument("--due", action="store_true", help="send what has fallen due")
    rem.add_argument("--order", metavar="ORDER", help="only this order's members")
    rem.add_argument("--dry-run", action="store_true", help="print who would get what")
