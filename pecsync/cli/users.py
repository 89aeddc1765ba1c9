"""``pecsync users add|list|remove``: the accounts of the orders' dashboard (``/admin`` of
``pecsync serve``).  Passwords come from standard input only and are stored as Argon2id
hashes (argon2-cffi), never as text."""

from __future__ import annotations

import argparse
import re
import sys

from pecsync.cli.passwords import not_utf8
from pecsync.config import Config
from pecsync.errors import StoreConflict, UsageError
from pecsync.store.admin import ROLES, AdminStore
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobStore

#: A dashboard password shorter than this is refused (it guards members' data).
MIN_PASSWORD = 12
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    users = sub.add_parser(
        "users", help="accounts of the orders' dashboard (/admin of `pecsync serve`)",
        description="Accounts of the orders' dashboard.  An operator sees every order; an "
                    "order account sees and acts on its own orders only.  Passwords are read "
                    "from standard input (one line) and stored as Argon2id hashes.")
    usub = users.add_subparsers(dest="users_command", required=True, parser_class=type(users))
    add = usub.add_parser("add", help="add an account",
                          description="Add a dashboard account; its password is the first "
                                      f"line of standard input (at least {MIN_PASSWORD} "
                                      "characters).")
    add.add_argument("--config", required=True, metavar="FILE")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--order", action="append", default=[], metavar="ORDER",
                     help="an order this account sees (repeat for several; role order only)")
    add.add_argument("--password-stdin", action="store_true", required=True,
                     help="read the password from standard input (required: never in argv)")
    lst = usub.add_parser("list", help="list the accounts")
    lst.add_argument("--config", required=True, metavar="FILE")
    rm = usub.add_parser("remove", help="remove an account and end its sessions")
    rm.add_argument("--config", required=True, metavar="FILE")
    rm.add_argument("name", metavar="NAME")


def hash_password(password: str) -> str:
    from argon2 import PasswordHasher  # Argon2id with the library's (RFC 9106) parameters

    return PasswordHasher().hash(password)


def _read_password() -> str:
    try:
        line = sys.stdin.readline()
    except UnicodeDecodeError:
        raise not_utf8("the password on standard input") from None
    password = line.rstrip("\r\n")
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"the password on standard input is shorter than {MIN_PASSWORD} "
                         f"characters")
    return password


async def cmd_users(cfg: Config, args: argparse.Namespace) -> int:
    async with await CheckpointStore.open(cfg.state) as store:
        admin = AdminStore(store)
        if args.users_command == "list":
            users = await admin.users()
            if not users:
                sys.stdout.write("no dashboard accounts: add one with `pecsync users add`\n")
            for u in users:
                seen = ", ".join(u.orders) if u.role == "order" else "(every order)"
                sys.stdout.write(f"{u.name}\t{u.role}\t{seen}\tcreated {u.created_at}\t"
                                 f"last login {u.last_login_at or 'never'}\n")
            return 0
        if args.users_command == "remove":
            if not await admin.remove_user(args.name):
                raise UsageError(f"no dashboard account {args.name!r}")
            sys.stdout.write(f"removed {args.name} (its sessions are ended; its actions stay "
                             f"in the audit log)\n")
            return 0
        if not _NAME.fullmatch(args.name):
            raise UsageError(f"account name {args.name!r}: letters, digits, '.', '_', '@', "
                             f"'-', at most 64")
        orders = list(dict.fromkeys(args.order))
        if args.role == "operator" and orders:
            raise UsageError("--order is for role order: an operator sees every order")
        if args.role == "order":
            if not orders:
                raise UsageError("role order needs at least one --order ORDER")
            known = set(cfg.orders) | {j.order for j in await JobStore(store, None).jobs()}
            unknown = [o for o in orders if o not in known]
            if unknown:
                raise UsageError(f"--order {unknown[0]!r}: no such order in the list or the "
                                 f"configuration (known: {', '.join(sorted(known)) or 'none'})")
        password = _read_password()
        try:
            await admin.add_user(args.name, args.role, orders, hash_password(password))
        except StoreConflict:
            raise UsageError(f"dashboard account {args.name!r} exists already (remove it "
                             f"first to change it)") from None
        sys.stdout.write(f"added {args.name} ({args.role}"
                         + (f": {', '.join(orders)}" if orders else "") + ")\n")
        return 0
