"""Both SQL dialects are written out: queries.sql / schema.sql for SQLite, queries_pg.sql /
schema_pg.sql for PostgreSQL, nothing translated at run time.  Here: both files name the same
statements, the PostgreSQL text holds nothing of SQLite's, every PostgreSQL statement plans on
a real server, and a new database has the same tables, columns and indexes on both."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.queries import names, sql

_STRING = re.compile(r"'(?:[^']|'')*'")
_COMMENT = re.compile(r"--[^\n]*")
#: What only SQLite reads (or what is unsafe on PostgreSQL), with what to write instead.
_SQLITE_ONLY: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<![:\w]):[A-Za-z_]\w*"), ":name parameters (psycopg's are %(name)s)"),
    (re.compile(r"\bINSERT\s+OR\s+(?:IGNORE|REPLACE)\b|\bREPLACE\s+INTO\b", re.I),
     "INSERT OR ... (ON CONFLICT ...)"),
    (re.compile(r"\bIFNULL\s*\(", re.I), "IFNULL (COALESCE)"),
    (re.compile(r"\bINDEXED\s+BY\b", re.I), "INDEXED BY"),
    (re.compile(r"\bchanges\s*\(", re.I), "changes() (the backend passes %(_changes)s)"),
    (re.compile(r"\bpragma", re.I), "PRAGMA (information_schema)"),
    (re.compile(r"\bdatetime\s*\(|\bjulianday\s*\(|\bstrftime\s*\(", re.I),
     "SQLite date functions"),
    (re.compile(r"\blast_insert_rowid\s*\(|\browid\b", re.I), "rowid (RETURNING id)"),
    (re.compile(r"\bGLOB\b", re.I), "GLOB"),
    (re.compile(r"\bjson_(?:each|tree|extract)\s*\(", re.I),
     "SQLite's JSON functions (jsonb_array_elements_text(...) with a cast)"),
    (re.compile(r"\b(?:MAX|MIN)\s*\([^()]*,", re.I), "scalar MAX/MIN (GREATEST/LEAST)"),
)
#: A check-then-insert: exact on SQLite, whose write lock serializes writers; two PostgreSQL
#: transactions both pass the check unless an advisory lock comes first.
_CHECK_THEN_INSERT = re.compile(
    r"\bINSERT\b[^;]*\bSELECT\b[^;]*\bWHERE\b[^;]*\(\s*SELECT\s+COUNT\s*\(", re.I | re.S)


def sqlite_only(text: str) -> list[str]:
    """What in one PostgreSQL statement is SQLite's dialect (empty: nothing)."""
    code = _STRING.sub("''", _COMMENT.sub("", text))
    found = [what for pattern, what in _SQLITE_ONLY if pattern.search(code)]
    if _CHECK_THEN_INSERT.search(code) and "pg_advisory_xact_lock" not in code:
        found.append("a check-then-insert without pg_advisory_xact_lock(...) first")
    return found


def test_both_files_name_the_same_statements() -> None:
    sqlite, postgresql = set(names()), set(names("postgresql"))
    assert sqlite - postgresql == set(), "missing from queries_pg.sql"
    assert postgresql - sqlite == set(), "missing from queries.sql"


def test_no_postgresql_statement_is_in_sqlite_dialect() -> None:
    found = {name: what for name in names("postgresql")
             if (what := sqlite_only(sql(name, "postgresql")))}
    assert found == {}
    assert not [name for name in names() if "%(" in _STRING.sub("''", sql(name))], \
        "psycopg parameters in queries.sql"


@pytest.mark.parametrize(("text", "expected"), [
    ("SELECT a FROM t WHERE b = :b", ":name parameters"),
    ("INSERT OR IGNORE INTO t (a) VALUES (%(a)s)", "INSERT OR"),
    ("UPDATE t SET a = MAX(a, %(a)s)", "scalar MAX/MIN"),
    ("SELECT IFNULL(a, 0) FROM t", "IFNULL"),
    ("SELECT changes()", "changes()"),
    ("SELECT name FROM pragma_table_info('t')", "PRAGMA"),
    ("INSERT INTO a (k) SELECT %(k)s WHERE (SELECT COUNT(*) FROM a) < %(limit)s",
     "check-then-insert"),
])
def test_the_check_finds_sqlite_dialect(text: str, expected: str) -> None:
    assert any(expected in what for what in sqlite_only(text))


def test_the_check_passes_postgresql_text() -> None:
    assert sqlite_only("SELECT a::text, GREATEST(a, %(a)s), MAX(b) FROM t WHERE c LIKE 'x:y%%'"
                       " -- :not_a_parameter") == []
    assert sqlite_only("SELECT pg_advisory_xact_lock(hashtext(%(k)s));\nINSERT INTO a (k) "
                       "SELECT %(k)s WHERE (SELECT COUNT(*) FROM a) < %(limit)s") == []


def _null_params(text: str) -> dict[str, Any]:
    return {name: None for name in re.findall(r"%\((\w+)\)s", text)}


async def test_every_query_plans_on_postgresql(pg_url: str) -> None:
    """EXPLAIN each statement (parsed, analysed and planned against the real schema, not run);
    DDL runs inside a transaction that is rolled back."""
    import psycopg

    async with await CheckpointStore.open(pg_url):
        pass  # creates the schema
    failures: list[str] = []
    async with await psycopg.AsyncConnection.connect(
            pg_url, cursor_factory=psycopg.AsyncClientCursor) as conn:
        for name in names("postgresql"):
            text = sql(name, "postgresql")
            params = _null_params(text)
            explain = not re.match(r"\s*(ALTER|CREATE|DROP)\b", text, re.I)
            try:
                async with conn.transaction(force_rollback=True):
                    await conn.execute(("EXPLAIN " if explain else "") + text, params)
            except (psycopg.errors.DuplicateColumn, psycopg.errors.DuplicateTable,
                    psycopg.errors.DuplicateObject):
                pass  # a migration step's DDL, already applied by open(): it is valid SQL
            except psycopg.Error as exc:
                failures.append(f"{name}: {str(exc).splitlines()[0]}")
    assert not failures, "\n".join(failures)


#: SQLite's declared type → PostgreSQL's (information_schema.columns.data_type).
_TYPES = {"INTEGER": "bigint", "TEXT": "text", "BLOB": "bytea", "REAL": "double precision"}
#: Indexes only one backend has: the partial index of claims (schema_pg.sql says why).
_PG_ONLY_INDEXES = {"job_pending_id"}
Column = tuple[str, str, bool]


def _sqlite_schema(path: Path) -> tuple[dict[str, list[Column]], set[str]]:
    """``{table: [(column, type, not null unless a key), ...]}`` and the index names."""
    db = sqlite3.connect(path)
    try:
        tables: dict[str, list[Column]] = {}
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            tables[str(table)] = [
                (str(c[1]), _TYPES.get(str(c[2]).upper(), str(c[2])), bool(c[3]) and not c[5])
                for c in db.execute(f'PRAGMA table_info("{table}")')]
        indexes = {str(r[0]) for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' "
            "AND name NOT LIKE 'sqlite_autoindex%'")}
        return tables, indexes
    finally:
        db.close()


async def _postgres_schema(url: str) -> tuple[dict[str, list[Column]], set[str]]:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url) as conn:
        keys = {(str(t), str(c)) for t, c in await (await conn.execute(
            "SELECT k.table_name, k.column_name FROM information_schema.key_column_usage k "
            "JOIN information_schema.table_constraints c USING (constraint_schema, "
            "constraint_name) WHERE c.constraint_type = 'PRIMARY KEY' "
            "AND k.table_schema = current_schema()")).fetchall()}
        tables: dict[str, list[Column]] = {}
        for table, column, kind, nullable in await (await conn.execute(
                "SELECT table_name, column_name, data_type, is_nullable "
                "FROM information_schema.columns WHERE table_schema = current_schema() "
                "ORDER BY table_name, ordinal_position")).fetchall():
            tables.setdefault(str(table), []).append(
                (str(column), str(kind),
                 nullable == "NO" and (str(table), str(column)) not in keys))
        indexes = {str(r[0]) for r in await (await conn.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
        )).fetchall()}
        return tables, indexes


async def test_a_new_database_is_the_same_on_both(tmp_path: Path, pg_url: str) -> None:
    """schema.sql and schema_pg.sql (each with the migrations) make the same tables, columns
    in the same order, types, NOT NULLs and indexes."""
    async with await CheckpointStore.open(tmp_path / "s.sqlite3"):
        pass
    async with await CheckpointStore.open(pg_url):
        pass
    sqlite_tables, sqlite_indexes = _sqlite_schema(tmp_path / "s.sqlite3")
    pg_tables, pg_indexes = await _postgres_schema(pg_url)
    assert sorted(pg_tables) == sorted(sqlite_tables)
    for table, columns in sqlite_tables.items():
        assert pg_tables[table] == columns, table
    assert pg_indexes - _PG_ONLY_INDEXES == sqlite_indexes


async def test_an_override_of_several_statements_serializes_a_check_then_insert(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pattern for check-then-insert statements: an advisory lock in a first statement,
    then the check (its own snapshot, taken after the lock).  Twenty concurrent writers,
    limit 3: exactly 3 rows, and the last statement's rows come back.  (Without the lock,
    more than 3 get in: tried.)"""
    import anyio

    from pecsync.store import postgres_backend

    several = ("SELECT pg_advisory_xact_lock(hashtext(%(key)s));\n"
               "INSERT INTO meta (key, value) SELECT %(key)s || %(n)s, 'x' "
               "WHERE (SELECT COUNT(*) FROM meta WHERE key LIKE %(key)s || '%%') < 3 "
               "RETURNING key")
    monkeypatch.setattr(postgres_backend, "_dialect",
                        lambda name: several if name == "limited" else sql(name, "postgresql"))
    async with await CheckpointStore.open(pg_url) as one, \
            await CheckpointStore.open(pg_url) as two:
        taken: list[Any] = []

        async def writer(store: CheckpointStore, n: int) -> None:
            taken.extend(await store._transaction([("limited", {"key": "slot-", "n": str(n)})]))

        async with anyio.create_task_group() as tg:
            for n in range(20):
                tg.start_soon(writer, one if n % 2 else two, n)
        assert len(taken) == 3 and all(str(r[0]).startswith("slot-") for r in taken)
