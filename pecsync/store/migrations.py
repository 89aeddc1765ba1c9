"""Numbered schema migrations, the same on SQLite and PostgreSQL.

``meta.schema`` holds the number of the last migration a database has.  Opening a database
(:meth:`pecsync.store.connector.Connector.open`) runs :func:`upgrade`:

1. a database of a newer pecsync (a number this code does not know) is refused, untouched,
   and so is one ``pecsync db copy`` moved elsewhere;
2. ``schema.sql`` (``schema_pg.sql`` on PostgreSQL) runs: ``CREATE TABLE IF NOT EXISTS``
   creates the tables a database lacks (all of them in a new one, which gets ``meta.schema`` =
   :data:`BASELINE`: the file creates exactly that schema) and leaves existing tables as they
   are;
3. every migration numbered above the database's runs, in order, each in a transaction of its
   own that also records its number: a crash between two leaves a database at the first one's
   number, and the next open goes on from there.

The backend holds the right to migrate throughout (PostgreSQL: a session advisory lock, so
hosts starting together do not migrate at once; SQLite: each step re-reads the number inside
its ``BEGIN IMMEDIATE``, so a second process skips what the first one did).

A step runs named statements (``step.rows``, ``step.execute``), written like every other in
both queries.sql and queries_pg.sql; a step may also branch on ``step.dialect``.

Changing the schema: a new table may be appended to schema.sql (``IF NOT EXISTS`` creates it
in every database, old or new).  A change to an existing table (a column, an index on a new
column, a data fix) is a new :class:`Migration` at the end of :data:`MIGRATIONS` and never an
edit of its ``CREATE TABLE``: a new database is created at :data:`BASELINE` and migrated like
an old one, so both end up the same (tests/unit/test_store_migration.py compares them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pecsync.errors import StoreError
from pecsync.store.backend import MigrationStep, Migrator, committed


@dataclass(frozen=True)
class Migration:
    """Step *number* of the schema: ``Migration(3, "credential_source", add_source)``."""

    number: int
    name: str
    apply: Callable[[MigrationStep], Awaitable[None]]


async def _columns(step: MigrationStep, query: str) -> set[str]:
    return {str(r["name"]) for r in await step.rows(query)}


async def _folder_content_match(step: MigrationStep) -> None:
    """2: ``folder.content_match``.  Schema 1 did not record whether a pass had to be
    content-matched, so a folder whose pass never completed is taken as one."""
    if "content_match" not in await _columns(step, "folder_columns"):
        await step.execute("add_content_match")
        await step.execute("content_match_unfinished")


async def _credential_source(step: MigrationStep) -> None:
    """3: ``credential.source`` (csv, web, stdin; NULL for versions stored before).  Releases
    up to 1c4819b added it by probing without a number, so a schema-2 database may have it."""
    if "source" not in await _columns(step, "credential_columns"):
        await step.execute("add_credential_source")


#: Every migration, in order; schema 1 is the first release's (no number stored as 1 is
#: ever migrated from below it).
MIGRATIONS: tuple[Migration, ...] = (
    Migration(2, "folder_content_match", _folder_content_match),
    Migration(3, "credential_source", _credential_source),
)
#: The schema this code writes and reads.
SCHEMA_VERSION = MIGRATIONS[-1].number
#: The schema ``schema.sql`` creates in a new database (its tables' columns are frozen there:
#: later changes are migrations).
BASELINE = 3


def _number(value: str | None) -> int | None:
    return None if value is None else int(value)


async def upgrade(migrator: Migrator) -> list[int]:
    """Bring the database up to :data:`SCHEMA_VERSION`; the migrations it ran."""
    moved = await migrator.meta("moved_to")
    if moved:
        raise StoreError(f"this state database was copied to {moved} "
                         f"(pecsync db copy) and is no longer used",
                         hint=f"set [state] database = \"{moved}\"")
    found = _number(await migrator.meta("schema"))
    if found is not None and found > SCHEMA_VERSION:
        raise StoreError(f"state database of a newer pecsync (schema {found}; "
                         f"this one knows {SCHEMA_VERSION})",
                         hint="run the pecsync version that wrote it, or a newer one: "
                              "an older one could lose what it records")
    await migrator.create_tables(str(BASELINE))
    found = _number(await migrator.meta("schema"))
    ran: list[int] = []
    for migration in MIGRATIONS:
        if found is not None and found >= migration.number:
            continue
        async with migrator.step() as step:
            # Read again inside the transaction: another process may have just done it.
            current = int((await step.rows("get_schema_version"))[0]["value"])
            if current < migration.number:
                await migration.apply(step)
                await step.execute("set_schema_version", {"version": str(migration.number)})
                ran.append(migration.number)
        if ran and ran[-1] == migration.number:
            committed([f"migrate_{migration.number}_{migration.name}"])
    committed(["schema"])
    return ran
