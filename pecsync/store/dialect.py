"""SQLite → PostgreSQL: the mechanical translation of queries.sql and schema.sql.

pecsync's SQL is written once, in SQLite's dialect (the embedded default).  For PostgreSQL
each named statement is either

* an override of the same name in ``queries_pg.sql`` (claims with ``FOR UPDATE SKIP
  LOCKED``, anything SQLite-only such as ``changes()`` or ``pragma_table_info``), or
* translated here, by rules that are safe for the subset pecsync uses: ``:name`` parameters
  → ``%(name)s`` (psycopg), ``INSERT OR IGNORE`` → ``ON CONFLICT DO NOTHING``, ``IFNULL`` →
  ``COALESCE``, scalar ``MAX(a, b)``/``MIN(a, b)`` → ``GREATEST``/``LEAST``, ``INDEXED BY``
  hints dropped, ``%`` doubled, ``SELECT name FROM pragma_table_info('t')`` →
  information_schema (migration steps).  ``INSERT OR REPLACE`` is NOT guessed (it raises:
  write an upsert override).

An override may hold several statements separated by ``;`` (run in order, in the same
transaction, each with a fresh snapshot; the last one's rows are returned): e.g. an advisory
lock, then the check-then-insert it serializes.

A statement that uses a construct known not to exist (or not to be safe) on PostgreSQL raises
:class:`Untranslatable` naming it, so a new SQLite-only query fails the unit test that
translates every query (tests/unit/test_store_dialect.py), not a run in production.

Parameters are bound client-side (psycopg's ClientCursor), as literals: PostgreSQL then infers
types from context exactly where SQLite never asked (``:x IS NULL OR col = :x``).
"""

from __future__ import annotations

import re


class Untranslatable(ValueError):
    """A statement needs a PostgreSQL override in queries_pg.sql."""


_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_TABLE_INFO = re.compile(r"SELECT\s+name\s+FROM\s+pragma_table_info\s*\(\s*'(\w+)'\s*\)",
                         re.I)
_STRING = re.compile(r"'(?:[^']|'')*'")
#: SQLite-only constructs: (pattern, what to do about it).
_SQLITE_ONLY: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bchanges\s*\(", re.I), "changes() (use a CTE with RETURNING)"),
    (re.compile(r"\bpragma", re.I), "PRAGMA"),
    (re.compile(r"\bINSERT\s+OR\s+REPLACE\b", re.I), "INSERT OR REPLACE (write an upsert)"),
    (re.compile(r"\bREPLACE\s+INTO\b", re.I), "REPLACE INTO (write an upsert)"),
    (re.compile(r"\bdatetime\s*\(|\bjulianday\s*\(|\bstrftime\s*\(", re.I),
     "SQLite date functions"),
    (re.compile(r"\blast_insert_rowid\s*\(|\browid\b", re.I), "rowid"),
    (re.compile(r"\bGLOB\b", re.I), "GLOB"),
    (re.compile(r"\bVACUUM\b", re.I), "VACUUM"),
    (re.compile(r"\bjson_(?:each|tree|extract)\s*\(", re.I),
     "SQLite's JSON functions (PostgreSQL: jsonb_array_elements_text(...) with a cast)"),
    # A check-then-insert (INSERT ... SELECT ... WHERE (SELECT COUNT(*) ...) < :limit) is
    # exact on SQLite, whose write lock serializes writers; on PostgreSQL two transactions
    # both pass the check.
    (re.compile(r"\bINSERT\b[^;]*\bSELECT\b[^;]*\bWHERE\b[^;]*\(\s*SELECT\s+COUNT\s*\(",
                re.I | re.S),
     "a check-then-insert (concurrent PostgreSQL transactions both pass the check: take "
     "SELECT pg_advisory_xact_lock(hashtext(...)) in a first statement of the override)"),
)


def _outside_strings(sql: str, fn: re.Pattern[str], repl: str) -> str:
    """Apply a substitution to the parts of *sql* that are not string literals."""
    out: list[str] = []
    last = 0
    for m in _STRING.finditer(sql):
        out.append(fn.sub(repl, sql[last:m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(fn.sub(repl, sql[last:]))
    return "".join(out)


def _strip_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] if "--" in line and "'" not in line else line
                     for line in sql.splitlines())


def query_to_postgres(name: str, sql: str) -> str:
    """One named statement of queries.sql in PostgreSQL's dialect (or Untranslatable)."""
    body = _strip_comments(sql)
    # The column list a migration step looks at (``SELECT name FROM pragma_table_info('t')``).
    body = _TABLE_INFO.sub(r"SELECT column_name AS name FROM information_schema.columns "
                           r"WHERE table_schema = current_schema() AND table_name = '\1'", body)
    code = _STRING.sub("''", body)
    for pattern, what in _SQLITE_ONLY:
        if pattern.search(code):
            raise Untranslatable(f"query {name!r}: {what} has no PostgreSQL translation: add "
                                 f"an override named {name!r} to pecsync/store/queries_pg.sql")
    insert_or_ignore = re.search(r"\bINSERT\s+OR\s+IGNORE\b", code, re.I) is not None
    body = _outside_strings(body, re.compile(r"%"), "%%")
    body = _outside_strings(body, re.compile(r"\bINSERT\s+OR\s+IGNORE\b", re.I), "INSERT")
    body = _outside_strings(body, re.compile(r"\s+INDEXED\s+BY\s+\w+", re.I), "")
    body = _outside_strings(body, re.compile(r"\bIFNULL\s*\(", re.I), "COALESCE(")
    # SQLite's scalar max(a, b) / min(a, b) (an aggregate never has a comma inside).
    body = _outside_strings(body, re.compile(r"\bMAX(\s*\([^()]*,)", re.I), r"GREATEST\1")
    body = _outside_strings(body, re.compile(r"\bMIN(\s*\([^()]*,)", re.I), r"LEAST\1")
    body = _outside_strings(body, _PARAM, r"%(\1)s")
    if insert_or_ignore:
        body = body.rstrip().rstrip(";")
        if re.search(r"\bRETURNING\b", body, re.I):
            raise Untranslatable(f"query {name!r}: INSERT OR IGNORE ... RETURNING: add an "
                                 f"override to pecsync/store/queries_pg.sql")
        body += "\nON CONFLICT DO NOTHING"
    return body.strip().rstrip(";")


_SCHEMA_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^\s*PRAGMA[^;]*;\s*$", re.I | re.M), ""),
    (re.compile(r"\bINTEGER\s+PRIMARY\s+KEY\b", re.I),
     "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    # IMAP UIDs and sizes are unsigned 32-bit and more: every integer is 64-bit here.
    (re.compile(r"\bINTEGER\b", re.I), "BIGINT"),
    (re.compile(r"\bBLOB\b", re.I), "BYTEA"),
    (re.compile(r"\bREAL\b", re.I), "DOUBLE PRECISION"),
    (re.compile(r"\bAUTOINCREMENT\b", re.I), ""),
    (re.compile(r"\bWITHOUT\s+ROWID\b", re.I), ""),
)


def schema_to_postgres(schema: str) -> list[str]:
    """schema.sql as PostgreSQL DDL statements, one per list item."""
    text = "\n".join(line.split("--", 1)[0] for line in schema.splitlines())
    for pattern, repl in _SCHEMA_RULES:
        text = pattern.sub(repl, text)
    return [s.strip() for s in text.split(";") if s.strip()]
