"""The store speaks in named methods: no module outside ``pecsync/store/`` runs a statement.

Outside the store, no module may
* reach the generic API (``_query``/``_transaction``, the old public ``query``/``transaction``,
  the connector, the backend, the raw connection, ``execute``/``fetchall``),
* import the pieces that hold or run SQL (``queries``, ``backend``, the two
  backends, the ``connector``, the ``migrations``, the ``rows`` they return), or
* name a statement of queries.sql / queries_pg.sql where a statement is passed: the first
  argument of a call or the first item of a tuple (``("mark_delivery", {...})``).

Callers use the store's named methods, which return typed values (dataclasses), never rows
to unpack by position.  The checker is shown failing on planted uses of each kind.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pecsync.store.queries import names

PACKAGE = Path(__file__).resolve().parents[2] / "pecsync"

#: Attributes that are the store's insides.
PRIVATE_ATTRIBUTES = frozenset({"_query", "_transaction", "query", "transaction", "backend",
                                "connector", "db", "execute", "executemany", "execute_fetchall",
                                "fetchall"})
#: Modules of pecsync.store that hold or run SQL.
PRIVATE_MODULES = frozenset({"pecsync.store.queries", "pecsync.store.backend",
                             "pecsync.store.sqlite_backend",
                             "pecsync.store.postgres_backend", "pecsync.store.connector",
                             "pecsync.store.migrations", "pecsync.store.rows"})


def query_names() -> frozenset[str]:
    return frozenset(names()) | frozenset(names("postgresql"))


def _statement_names(tree: ast.AST, known: frozenset[str]) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        first: ast.expr | None = None
        if isinstance(node, ast.Call) and node.args:
            first = node.args[0]
        elif isinstance(node, ast.Tuple) and node.elts:
            first = node.elts[0]
        if (isinstance(first, ast.Constant) and isinstance(first.value, str)
                and first.value in known):
            found.append((first.lineno, first.value))
    return found


def violations(root: Path, known: frozenset[str] | None = None) -> list[str]:
    """Every use of the store's insides below *root* (a ``pecsync`` package directory) outside
    its ``store/``, e.g. ``['cli/x.py:3 uses .query (the store's generic API)']``."""
    known = query_names() if known is None else known
    out: list[str] = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] == "store":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRIBUTES:
                out.append(f"{rel}:{node.lineno} uses .{node.attr} (the store's generic API)")
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = {node.module} | {f"{node.module}.{a.name}" for a in node.names}
                for module in sorted(modules & PRIVATE_MODULES):
                    out.append(f"{rel}:{node.lineno} imports {module}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in PRIVATE_MODULES:
                        out.append(f"{rel}:{node.lineno} imports {alias.name}")
        out.extend(f"{rel}:{line} names the statement {name!r}"
                   for line, name in _statement_names(tree, known))
    return out


def test_no_module_outside_the_store_runs_a_statement() -> None:
    assert violations(PACKAGE) == []


def test_the_known_statements_are_read() -> None:
    known = query_names()
    assert {"claim_next_job", "mark_delivery", "mailbox_messages"} <= known


@pytest.mark.parametrize(("source", "expected"), [
    ("async def f(store):\n    return await store._query('x', {})\n",
     "cli/planted.py:2 uses ._query (the store's generic API)"),
    ("async def f(store):\n    await store.transaction([])\n",
     "cli/planted.py:2 uses .transaction (the store's generic API)"),
    ("def f(env):\n    return env.store.backend.where\n",
     "cli/planted.py:2 uses .backend (the store's generic API)"),
    ("from pecsync.store.queries import sql\n",
     "cli/planted.py:1 imports pecsync.store.queries"),
    ("from pecsync.store import sqlite_backend\n",
     "cli/planted.py:1 imports pecsync.store.sqlite_backend"),
    ("from pecsync.store.connector import Connector\n",
     "cli/planted.py:1 imports pecsync.store.connector"),
    ("async def f(store):\n    return await store.connector.compact()\n",
     "cli/planted.py:2 uses .connector (the store's generic API)"),
    ("import pecsync.store.migrations\n",
     "cli/planted.py:1 imports pecsync.store.migrations"),
    ("STMTS = [('mark_delivery', {'id': 1})]\n",
     "cli/planted.py:1 names the statement 'mark_delivery'"),
    ("async def f(run):\n    await run('mark_delivery', {})\n",
     "cli/planted.py:2 names the statement 'mark_delivery'"),
])
def test_a_planted_use_is_found(tmp_path: Path, source: str, expected: str) -> None:
    root = tmp_path / "pecsync"
    (root / "cli").mkdir(parents=True)
    (root / "store").mkdir()
    (root / "cli" / "planted.py").write_text(source)
    # The same code inside the store is its own business.
    (root / "store" / "jobs.py").write_text(source)
    assert violations(root, frozenset({"mark_delivery"})) == [expected]


def test_a_json_key_spelled_like_a_statement_is_not_a_use(tmp_path: Path) -> None:
    root = tmp_path / "pecsync"
    (root / "cli").mkdir(parents=True)
    (root / "cli" / "doc.py").write_text("DOC = {'intake_requests': 1}\n"
                                         "N = DOC['intake_requests']\n")
    assert violations(root, frozenset({"intake_requests"})) == []
