"""``python -m pecsync`` and the installed ``pecsync`` command: the operators' CLI, with the
members' web page (``serve``) handed to it — the two front doors never import each other."""

from __future__ import annotations

import gc

from pecsync.cli.main import main as cli_main
from pecsync.web.server import cmd_serve


def main() -> int:
    # What the imports created lives as long as the process: frozen, out of the cyclic
    # collector's sight, a full collection no longer walks every module's objects again.
    # (A run's profile had 3-6% of its CPU in the collector; with this, pecsync's own CPU on
    # 8 x 1,500 messages went from 5.2 to 4.6 s, together with the first-copy flag pass.)
    gc.freeze()
    return cli_main(extra_commands={"serve": cmd_serve})


if __name__ == "__main__":
    raise SystemExit(main())
