"""The command line both reference generators share: write a generated page, or with
``--check`` exit 1 when the committed one differs (scripts/gen_cli_reference.py,
scripts/gen_config_reference.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def write_or_check(out: Path, text: str, root: Path, script: str, description: str,
                   argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--check", action="store_true",
                    help="exit 1 when the committed page is out of date; write nothing")
    args = ap.parse_args(argv)
    if args.check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            print(f"{out.relative_to(root)} is out of date: run scripts/{script}",
                  file=sys.stderr)
            return 1
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out.relative_to(root)}")
    return 0
