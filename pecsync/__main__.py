"""``python -m pecsync`` and the installed ``pecsync`` command: the operators' CLI, with the
members' web page (``serve``) handed to it — the two front doors never import each other."""

from __future__ import annotations

from pecsync.cli.main import main as cli_main
from pecsync.web.server import cmd_serve


def main() -> int:
    return cli_main(extra_commands={"serve": cmd_serve})


if __name__ == "__main__":
    raise SystemExit(main())
