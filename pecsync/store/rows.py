"""Rows as both backends return them, and the one way they become dataclasses: by column name.

SQLite returns :class:`sqlite3.Row` and PostgreSQL :class:`NamedRow` (psycopg's row factory
:func:`named_row`); both are read by column name (``row["src_uid"]``), and still by position
for code that predates them (a single-column ``COUNT(*)`` is read with
:meth:`pecsync.store.connector.Connector.value`).  :func:`build` fills a dataclass from a row,
field by field, by name: a column added to or moved in a ``SELECT`` cannot shift the values of
the others.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

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


def build(cls: Callable[..., T], row: Row, /, **given: object) -> T:
    """The dataclass *cls* from *row*: each field from the column of its name, unless *given*
    (a converted value, or a column of another name)::

        build(Job, row, order=row["order_name"], state=JobState(row["state"]))
    """
    return cls(**{name: given[name] if name in given else row[name]
                  for name in _fields(cls)})


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
