"""``python -m lab render --flavour src|dst --root DIR --port N [--listen ADDR]``: write the
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
    args = p.parse_args()
    root = Path(args.root)
    sys.stdout.write(render(args.flavour, root, name=args.flavour, port=args.port,
                            listen=args.listen))
    if args.checkpassword:
        Path(args.checkpassword).write_text(
            (TEMPLATES / "checkpassword.in").read_text().replace("@ROOT@", str(root)))
        Path(args.checkpassword).chmod(0o755)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
