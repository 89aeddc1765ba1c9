"""The ``pecsync`` command.  Drives the engine; nothing in the engine imports this package.

Exit codes: :mod:`pecsync.engine.exits` (listed under ``pecsync --help``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence

import anyio
import structlog

from pecsync import log as logsetup
from pecsync.cli import (
    check,
    dbcmd,
    importlist,
    invite,
    keys,
    reporting,
    retry,
    run,
    status,
    users,
)
from pecsync.cli.mailbox import cmd_copy, cmd_verify
from pecsync.cli.parser import build_parser
from pecsync.config import Config, load_config
from pecsync.engine.exits import EXIT_INTERNAL, EXIT_TRANSIENT, EXIT_USAGE, error_exit
from pecsync.errors import PecsyncError
from pecsync.memory_tuning import tune_allocator
from pecsync.store.jobs import set_lease_seconds

__all__ = ["Command", "build_parser", "main"]

log = structlog.get_logger("pecsync.cli")


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



#: A command: the loaded configuration and the parsed arguments → the exit code.
Command = Callable[[Config, argparse.Namespace], Awaitable[int]]


def main(argv: Sequence[str] | None = None,
         extra_commands: Mapping[str, Command] | None = None) -> int:
    """The ``pecsync`` command.  *extra_commands*: commands this package cannot import
    itself (``serve`` lives in ``pecsync.web``; ``pecsync.__main__`` hands it over)."""
    args = build_parser().parse_args(argv)
    tune_allocator()
    log_file = None
    if args.log_file:
        try:
            log_file = open(args.log_file, "a", encoding="utf-8")  # noqa: SIM115 (the process's)
        except OSError as exc:
            sys.stderr.write(f"pecsync: cannot write the log file {args.log_file}: "
                             f"{exc.strerror}\n")
            return EXIT_USAGE
    logsetup.configure(json=args.log_json or args.log_format == "json",
                       level=logging.DEBUG if args.verbose
                       else logging.WARNING if args.quiet else logging.INFO,
                       stream=log_file)
    commands = {"copy": cmd_copy, "verify": cmd_verify, "import": importlist.cmd_import,
                "run": run.cmd_run, "retry": retry.cmd_retry, "check": check.cmd_check,
                "status": status.cmd_status,
                "init-key": keys.cmd_init_key, "rotate-key": keys.cmd_rotate_key,
                "purge-credentials": keys.cmd_purge, "report": reporting.cmd_report,
                "notices": reporting.cmd_notices, "certificate": reporting.cmd_certificate,
                "invite": invite.cmd_invite, "remind": invite.cmd_remind,
                "users": users.cmd_users,
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
        code = error_exit(exc)
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
