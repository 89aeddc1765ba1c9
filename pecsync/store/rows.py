"""Rows as both backends return them, and the one way they become dataclasses: by column name.

SQLite returns :class:`sqlite3.Row` and PostgreSQL :class:`NamedRow` (psycopg's row factory
:func:`named_row`); both are read by column name (``row["src_uid"]``), and still by position
for code that predates them (a single-column ``COUNT(*)`` is read with
:meth:`pecsync.store.connector.Connector._value`).  A :class:`RowMapper` fills a dataclass
from rows field by field, by name: a column added to or moved in a ``SELECT`` cannot shift
the values of the others.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from psycopg.rows import RowMaker

T = TypeVar("T")


class Row(Protocol):
    """One result row, read by column name (or position)."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> list[str]: ...


@cache
def _fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


class RowMapper(Generic[T]):
    """Rows of one query shape → the dataclass *cls*, each field from the column of its name
    (or *rename*'s), through its converter when one is given::

        _JOB = RowMapper(Job, rename={"order": "order_name"}, state=JobState)
        jobs = _JOB.all(rows)        # or _JOB(row) for one

    The column positions are looked up by name once per result, then each row is read by
    them: a column added to or moved in a ``SELECT`` cannot shift the others' values, and a
    missing one is an error naming it."""

    def __init__(self, cls: Callable[..., T], *, rename: Mapping[str, str] | None = None,
                 **convert: Callable[[Any], object]) -> None:
        self.cls = cls
        kind = cls
        assert isinstance(kind, type) and dataclasses.is_dataclass(kind), kind
        fields = _fields(kind)
        unknown = (set(convert) | set(rename or {})) - set(fields)
        assert not unknown, f"{kind.__name__} has no field {sorted(unknown)}"
        self.name = kind.__name__
        self._columns = tuple((rename or {}).get(f, f) for f in fields)
        self._convert = tuple(convert.get(f) for f in fields)

    def __call__(self, row: Row) -> T:
        return self.all([row])[0]

    def all(self, rows: Sequence[Row]) -> list[T]:
        if not rows:
            return []
        index = {name: i for i, name in enumerate(rows[0].keys())}
        try:
            get = itemgetter(*(index[column] for column in self._columns))
        except KeyError as exc:
            raise KeyError(f"{self.name}: the query returns no column {exc}") from None
        cls = self.cls
        converts = [(at, convert) for at, convert in enumerate(self._convert) if convert]
        out: list[T] = []
        for row in rows:
            values = list(get(row))
            for at, convert in converts:
                values[at] = convert(values[at])
            out.append(cls(*values))
        return out


def flag_list(value: object) -> tuple[str, ...]:
    """A flags column (``"\\Seen \\Flagged"``) as a tuple."""
    return tuple(str(value).split())


def opt_int(value: object) -> int | None:
    """An integer column that may be NULL."""
    return None if value is None else int(str(value))


def opt_str(value: object) -> str | None:
    """A text column that may be NULL."""
    return None if value is None else str(value)


class NamedRow(tuple[Any, ...]):
    """A PostgreSQL row: a tuple that is also read by column name, like :class:`sqlite3.Row`.
    Subclassed once per column list (:func:`_row_class`), which holds the name → index map."""

    __slots__ = ()
    _index: ClassVar[dict[str, int]] = {}
    _names: ClassVar[tuple[str, ...]] = ()

    def __getitem__(self, key: Any, /) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


@cache
def _row_class(names: tuple[str, ...]) -> type[NamedRow]:
    return type("NamedRow", (NamedRow,), {"__slots__": (), "_names": names,
                                          "_index": {n: i for i, n in enumerate(names)}})


def named_row(cursor: Any) -> RowMaker[NamedRow]:
    """psycopg row factory: rows of :class:`NamedRow` for the cursor's columns."""
    description: Sequence[Any] = cursor.description or ()
    cls = _row_class(tuple(str(column.name) for column in description))
    return cls
