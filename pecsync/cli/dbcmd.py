"""``pecsync db copy``: move a migration's state from SQLite to a shared PostgreSQL."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pecsync.config import PostgresTarget, is_postgres_url
from pecsync.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    db = sub.add_parser("db", help="state database maintenance (db copy)",
                        description="State database maintenance.")
    dbsub = db.add_subparsers(dest="db_command", required=True, parser_class=type(db))
    copy = dbsub.add_parser(
        "copy", help="copy a migration from its SQLite file to an empty PostgreSQL database",
        description="Copy everything a migration recorded (mailboxes, jobs, credentials still "
                    "encrypted under the same key, checkpoints, messages, events, reports) "
                    "from the SQLite state file to an empty PostgreSQL database, in one "
                    "transaction.  Stop every `pecsync run` on the file first.  Then set "
                    "[state] database to the URL: `run` on any host goes on where the "
                    "migration stopped.  The password comes from $PECSYNC_DB_PASSWORD "
                    "(never in the URL); TLS from libpq's environment (PGSSLMODE, "
                    "PGSSLROOTCERT).  The SQLite file is marked as moved and refuses "
                    "further use.")
    copy.add_argument("--from", dest="source", required=True, metavar="SQLITE_PATH")
    copy.add_argument("--to", dest="target", required=True, metavar="postgresql://USER@HOST/DB")


async def cmd_db(args: argparse.Namespace) -> int:
    if not is_postgres_url(args.target):
        raise UsageError(f"--to: expected postgresql://USER@HOST[:PORT]/DB, got "
                         f"{args.target.split('@')[-1]!r}")
    if "@" in args.target and ":" in args.target.split("//", 1)[1].split("@", 1)[0]:
        raise UsageError("--to: no password in the URL: use $PECSYNC_DB_PASSWORD")
    # Imported here: psycopg (libpq, its own OpenSSL) is ~23 MB of resident memory and 60 ms
    # of start-up in every pecsync process, for a command run once per migration.
    from pecsync.store.transfer import copy_sqlite_to_postgres

    report = await copy_sqlite_to_postgres(Path(args.source), PostgresTarget(args.target))
    sys.stdout.write(f"copied {args.source} to {args.target} in {report.seconds:.1f} s:\n")
    for table, rows in report.rows.items():
        sys.stdout.write(f"  {table}: {rows} row(s)\n")
    sys.stdout.write(f"now set [state] database = \"{args.target}\" in the configuration of "
                     f"every host\n")
    return 0
