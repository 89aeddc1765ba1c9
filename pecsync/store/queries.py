"""Named SQL statements, loaded once from ``queries.sql`` (``-- name: xxx`` blocks).

``queries.sql`` is SQLite's dialect.  For PostgreSQL a statement of the same name in
``queries_pg.sql`` wins; any other is translated by :mod:`pecsync.store.dialect`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

from pecsync.store.dialect import query_to_postgres, schema_to_postgres

Dialect = Literal["sqlite", "postgresql"]


def _parse(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("-- name:"):
            if name:
                out[name] = "\n".join(lines).strip()
            name, lines = line.split(":", 1)[1].strip(), []
        elif name and not line.startswith("--"):
            lines.append(line)
    if name:
        out[name] = "\n".join(lines).strip()
    return out


def _read(filename: str) -> str:
    return resources.files("pecsync.store").joinpath(filename).read_text("utf-8")


@cache
def _load() -> dict[str, str]:
    return _parse(_read("queries.sql"))


@cache
def pg_overrides() -> dict[str, str]:
    """The statements written for PostgreSQL by hand (``queries_pg.sql``)."""
    return _parse(_read("queries_pg.sql"))


@cache
def _pg(name: str) -> str:
    override = pg_overrides().get(name)
    if override is not None:
        return override.rstrip().rstrip(";")
    return query_to_postgres(name, _load()[name])


def names() -> list[str]:
    """Every named statement (of queries.sql)."""
    return list(_load())


def sql(name: str, dialect: Dialect = "sqlite") -> str:
    """The statement called *name*; KeyError names the missing query."""
    if dialect == "postgresql":
        return _pg(name)
    return _load()[name]


def schema() -> str:
    return _read("schema.sql")


@cache
def pg_schema() -> list[str]:
    """schema.sql translated, then the PostgreSQL-only DDL of ``schema_pg.sql`` (statements
    end with a line ``-- end``: function bodies hold ``;``)."""
    extra: list[str] = []
    for block in _read("schema_pg.sql").split("\n-- end"):
        body = "\n".join(line for line in block.splitlines()
                         if not line.lstrip().startswith("--")).strip()
        if body:
            extra.append(body)
    return schema_to_postgres(schema()) + extra
