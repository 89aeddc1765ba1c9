"""The lab's command line.

``python -m lab up [--dir DIR] [--members N]``: start two lab servers that keep running for a
rehearsal, seed sample members, and print the path of a ready pecsync configuration;
``python -m lab down [--dir DIR]``: stop them (see lab/rehearsal.py).

``python -m lab render --flavour src|dst --root DIR --port N [--listen ADDR]``: write the
Dovecot config of a lab server (used by docker/ so that it runs the same template)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lab.dovecot import TEMPLATES, render


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m lab")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render", help="print a dovecot.conf for one lab server")
    r.add_argument("--flavour", choices=["src", "dst"], required=True)
    r.add_argument("--root", required=True, help="directory the server keeps its state in")
    r.add_argument("--port", type=int, default=143)
    r.add_argument("--listen", default="127.0.0.1")
    r.add_argument("--checkpassword", metavar="FILE",
                   help="also write the 2FA checkpassword script there")
    for name, text in (("up", "start two lab servers for a rehearsal (they keep running)"),
                       ("down", "stop the servers started by `up`")):
        c = sub.add_parser(name, help=text)
        c.add_argument("--dir", default="lab-run", type=Path,
                       help="where the servers, the config and the list live (./lab-run)")
        if name == "up":
            c.add_argument("--members", type=int, default=6,
                           help="members in the list (at least 3; default 6)")
    args = p.parse_args()
    if args.cmd in ("up", "down"):
        return _rehearsal(args)
    root = Path(args.root)
    sys.stdout.write(render(args.flavour, root, name=args.flavour, port=args.port,
                            listen=args.listen))
    if args.checkpassword:
        Path(args.checkpassword).write_text(
            (TEMPLATES / "checkpassword.in").read_text().replace("@ROOT@", str(root)))
        Path(args.checkpassword).chmod(0o755)
    return 0


def _rehearsal(args: argparse.Namespace) -> int:
    from lab.rehearsal import down, up

    if args.cmd == "down":
        stopped = down(args.dir)
        if stopped:
            sys.stderr.write(f"lab down: servers in {args.dir} stopped\n")
        return 0 if stopped else 1
    cfg = up(args.dir, max(args.members, 3))
    rel = cfg.parent
    sys.stderr.write(
        f"lab up: two Dovecot servers running under {rel}/lab (source with the INBOX. prefix "
        f"and '.' separator, destination with '/'); config and list written:\n"
        f"  .venv/bin/pecsync init-key --config {cfg}\n"
        f"  .venv/bin/pecsync import   --config {cfg} {rel / 'mailboxes.csv'}\n"
        f"  .venv/bin/pecsync run      --config {cfg}\n"
        f"  .venv/bin/pecsync status   --config {cfg}\n"
        f"stop them with: python -m lab down" + (f" --dir {args.dir}" if str(args.dir)
                                                 != "lab-run" else "") + "\n")
    sys.stdout.write(f"{cfg}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
