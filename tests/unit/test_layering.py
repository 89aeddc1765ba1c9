"""Imports point one way: cli/web → engine → reports/intake → sync → imap | store → base → model.

The layers are read from every ``import`` of every module under ``pecsync/`` (function-level
imports included, since a lazy import is still a dependency).  A module may import its own
package and anything in a lower layer; two packages of one layer never import each other
(``imap`` and ``store``, the two front doors ``cli`` and ``web``).  The checker is tested on a
planted upward import so that it can fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "pecsync"

#: Higher imports lower.  A name missing here is a new top-level piece of pecsync: give it a
#: layer (the test says so).
LAYERS: dict[str, int] = {
    "": 0,  # the package root: __version__ only
    "model": 0,
    "errors": 0,
    "state_wording": 0,  # the one table of job-state wording: imports nothing, read by all
    "vault": 1,
    "config": 1,
    "log": 1,
    "faults": 1,
    "memory_tuning": 1,
    "files": 1,
    "imap": 2,
    "store": 2,
    "sync": 3,
    "reports": 4,
    "intake": 4,
    "engine": 5,
    "campaign": 5,  # invitations and reminders: uses store, config and reports.mailer
    "cli": 6,
    "web": 6,
    "__main__": 7,
}


def _top(dotted: str) -> str | None:
    """``pecsync.sync.copier`` → ``sync``; ``pecsync`` → ``""``; not pecsync → None."""
    parts = dotted.split(".")
    if parts[0] != "pecsync":
        return None
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import of a pecsync module in *path*."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "pecsync":
                # ``from pecsync import cli`` imports the subpackage cli; ``from pecsync import
                # __version__`` only the package root.
                for alias in node.names:
                    is_module = (root / alias.name).is_dir() or (root / f"{alias.name}.py").exists()
                    found.append((node.lineno, f"pecsync.{alias.name}" if is_module else "pecsync"))
            else:
                found.append((node.lineno, node.module))
    return found


def violations(root: Path) -> list[str]:
    """Every upward or sideways import below *root* (a ``pecsync`` package directory), e.g.
    ``['store/jobs.py:18 (store, layer 2) imports pecsync.intake.mailbox_list (intake, layer 4)']``.
    """
    out: list[str] = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        own = rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 else rel.stem
        own = "" if own == "__init__" else own
        if own not in LAYERS:
            out.append(f"{rel}: top-level piece {own!r} has no layer in test_layering.LAYERS")
            continue
        for line, module in _imports(path, root):
            target = _top(module)
            if target is None or target == own:
                continue
            if target not in LAYERS:
                out.append(f"{rel}:{line} imports {module}, which has no layer")
            elif LAYERS[target] >= LAYERS[own] and target != "":
                out.append(f"{rel}:{line} ({own}, layer {LAYERS[own]}) imports {module} "
                           f"({target}, layer {LAYERS[target]})")
    return out


def test_pecsync_imports_point_down_only() -> None:
    assert violations(PACKAGE) == []


def test_a_planted_upward_import_is_found(tmp_path: Path) -> None:
    root = tmp_path / "pecsync"
    (root / "store").mkdir(parents=True)
    (root / "sync").mkdir()
    (root / "__init__.py").write_text('__version__ = "0"\n')
    (root / "sync" / "copier.py").write_text("from pecsync.store.jobs import Job\n")
    (root / "store" / "jobs.py").write_text(
        "def f() -> None:\n    from pecsync.sync.copier import copy  # lazy, still upward\n")
    found = violations(root)
    assert found == ["store/jobs.py:2 (store, layer 2) imports pecsync.sync.copier "
                     "(sync, layer 3)"]


@pytest.mark.parametrize(("a", "b"), [("imap", "store"), ("store", "imap"), ("cli", "web")])
def test_siblings_of_one_layer_do_not_import_each_other(tmp_path: Path, a: str, b: str) -> None:
    root = tmp_path / "pecsync"
    (root / a).mkdir(parents=True)
    (root / a / "x.py").write_text(f"import pecsync.{b}.y\n")
    assert len(violations(root)) == 1
