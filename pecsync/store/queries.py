"""Named SQL statements, loaded once per dialect from ``-- name: xxx`` blocks.

Both dialects are written out: ``queries.sql`` is SQLite's (``:name`` parameters),
``queries_pg.sql`` PostgreSQL's (psycopg's ``%(name)s``, a literal ``%`` written ``%%``), with
the same names; nothing is translated at run time.  The schema likewise: ``schema.sql`` and
``schema_pg.sql``.  tests/unit/test_store_dialect.py checks that both files name the same
statements, plans every PostgreSQL one on a real server, and compares the two schemas.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

Dialect = Literal["sqlite", "postgresql"]

_FILES: dict[Dialect, str] = {"sqlite": "queries.sql", "postgresql": "queries_pg.sql"}


def _parse(text: str) -> dict[str, str]:
    """``-- name: x`` blocks; comment lines are dropped, a trailing ``;`` too."""
    out: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("-- name:"):
            if name:
                out[name] = "\n".join(lines).strip().rstrip(";")
            name, lines = line.split(":", 1)[1].strip(), []
        elif name and not line.startswith("--"):
            lines.append(line)
    if name:
        out[name] = "\n".join(lines).strip().rstrip(";")
    return out


def _read(filename: str) -> str:
    return resources.files("pecsync.store").joinpath(filename).read_text("utf-8")


@cache
def statements(dialect: Dialect = "sqlite") -> dict[str, str]:
    """Every named statement of *dialect*, by name."""
    return _parse(_read(_FILES[dialect]))


def names(dialect: Dialect = "sqlite") -> list[str]:
    """Every statement name (of queries.sql, unless *dialect* says otherwise)."""
    return list(statements(dialect))


def sql(name: str, dialect: Dialect = "sqlite") -> str:
    """The statement called *name*; KeyError names the missing query."""
    return statements(dialect)[name]


def schema() -> str:
    """SQLite's schema (``schema.sql``), one script."""
    return _read("schema.sql")


def pg_schema() -> str:
    """PostgreSQL's schema (``schema_pg.sql``), one script: run without parameters (the simple
    query protocol takes several statements, and ``$$`` bodies holding ``;``)."""
    return _read("schema_pg.sql")
