"""Each configuration key declared once: a dataclass field made with :func:`setting`.

The field's name is the TOML key, its annotation the type, its default the default; the
metadata carries the help text, the bounds and any check beyond the type.  :class:`Table`
reads one TOML table into such a dataclass and refuses an unknown key, a wrong type or a
value out of bounds with a :class:`~pecsync.errors.ConfigError` that names the file, the
table and the key.  The reference page and its test read the same declarations
(:func:`declared`), so a key exists in one place.

Plain stdlib ``dataclasses`` metadata rather than a validation library: docs/design/
configuration.md has the measurements (nothing is added to ``pecsync --help``'s start-up).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar

from pecsync.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Setting:
    """What a field's metadata says about its key (see :func:`setting`)."""

    help: str
    gt: float | None = None
    ge: float | None = None
    le: float | None = None
    #: The message when a bound is not met (default: one made from the bounds).
    bounds: str | None = None
    #: The raw TOML value → the field's value; a ValueError's text is the error.  Replaces
    #: the type check (for types TOML does not have: a duration, a date-time, a mapping).
    parse: Callable[[Any], Any] | None = None
    #: After the type check: a problem as text, or None.
    check: Callable[[Any], str | None] | None = None
    #: A Path that must name an existing file.
    must_exist: bool = False
    #: The default taken from another key's value: (that key, value → default).
    default_by: tuple[str, Mapping[str, Any]] | None = None


def setting(default: Any = MISSING, *, help: str, gt: float | None = None,
            ge: float | None = None, le: float | None = None, bounds: str | None = None,
            parse: Callable[[Any], Any] | None = None,
            check: Callable[[Any], str | None] | None = None, must_exist: bool = False,
            default_by: tuple[str, Mapping[str, Any]] | None = None,
            default_factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field that is a configuration key (no default and no *default_by*: the key
    is required)."""
    meta = {"setting": Setting(help, gt, ge, le, bounds, parse, check, must_exist, default_by)}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Key:
    """One declared key: its field, its setting and its type (``X | None`` unwrapped)."""

    name: str
    setting: Setting
    kind: Any
    optional: bool
    field: Field[Any]

    @property
    def required(self) -> bool:
        return (self.field.default is MISSING and self.field.default_factory is MISSING
                and self.setting.default_by is None)

    def describe(self) -> str:
        """The type and bounds in words, for the reference page."""
        s = self.setting
        kind = _kind_words(self.kind)
        limits = [f"> {_num(s.gt)}" if s.gt is not None else "",
                  f"≥ {_num(s.ge)}" if s.ge is not None else "",
                  f"≤ {_num(s.le)}" if s.le is not None else ""]
        text = " ".join([kind, ", ".join(x for x in limits if x)]).strip()
        return text + (", required" if self.required else "")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _kind_words(kind: Any) -> str:
    if typing.get_origin(kind) is Literal:
        return "one of " + ", ".join(f'"{a}"' for a in typing.get_args(kind))
    if typing.get_origin(kind) is tuple:
        return "list of strings"
    names = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path"}
    return names.get(kind, getattr(kind, "__name__", str(kind)))


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """``X | None`` → (X, True); X → (X, False)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


def declared(cls: type) -> tuple[Key, ...]:
    """The keys *cls* declares, in field order (fields without a setting are not keys)."""
    return _declared(cls)


@cache
def _declared(cls: type) -> tuple[Key, ...]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        s = f.metadata.get("setting")
        if isinstance(s, Setting):
            kind, optional = _unwrap(hints[f.name])
            out.append(Key(f.name, s, kind, optional, f))
    return tuple(out)


def key_names(*classes: type) -> set[str]:
    return {k.name for cls in classes for k in declared(cls)}


def _bounds_problem(s: Setting, value: float) -> str | None:
    ok = ((s.gt is None or value > s.gt) and (s.ge is None or value >= s.ge)
          and (s.le is None or value <= s.le))
    if ok:
        return None
    if s.bounds:
        return s.bounds.format(value=value)
    low = (f"greater than {_num(s.gt)}" if s.gt is not None
           else f"at least {_num(s.ge)}" if s.ge is not None else "")
    high = f"at most {_num(s.le)}" if s.le is not None else ""
    return f"must be {' and '.join(x for x in (low, high) if x)}, got {value}"


class Table:
    """One TOML table of one file, read into declared dataclasses."""

    def __init__(self, path: Path, table: str, data: Any, *classes: type,
                 also: Iterable[str] = ()) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: [{table}]: expected a table")
        self.path = path
        self.table = table
        self.data = data
        known = key_names(*classes) | set(also)
        unknown = sorted(set(data) - known)
        if unknown:
            raise self.error(unknown[0], f"unknown key (known keys: {', '.join(sorted(known))})")

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: [{self.table}] {key}: {message}")

    def read(self, cls: type[T], **given: Any) -> T:
        """*cls* from this table: every declared key present, checked; absent keys keep their
        default; *given* fills the fields that are not keys (a name from the table's title)."""
        values = self.present(cls)
        for key in declared(cls):
            if key.name in values:
                continue
            if key.setting.default_by is not None:
                other, table = key.setting.default_by
                values[key.name] = table[values.get(other, _default(cls, other))]
            elif key.required:
                raise self.error(key.name, "missing (required)")
        return cls(**values, **given)

    def present(self, cls: type) -> dict[str, Any]:
        """The declared keys of *cls* this table has, read and checked."""
        return {k.name: self.value(k) for k in declared(cls) if k.name in self.data}

    def value(self, key: Key) -> Any:
        raw = self.data[key.name]
        s = key.setting
        if s.parse is not None:
            try:
                value = s.parse(raw)
            except ValueError as exc:
                raise self.error(key.name, str(exc)) from None
        else:
            value = self._typed(key, raw)
        if isinstance(value, int | float) and not isinstance(value, bool):
            problem = _bounds_problem(s, value)
            if problem:
                raise self.error(key.name, problem)
        if s.check is not None:
            problem = s.check(value)
            if problem:
                raise self.error(key.name, problem)
        return value

    def _typed(self, key: Key, raw: Any) -> Any:
        kind = key.kind
        if typing.get_origin(kind) is Literal:
            choices = typing.get_args(kind)
            if raw not in choices or not isinstance(raw, str):
                raise self.error(key.name, f"expected one of {', '.join(choices)}, got {raw!r}")
            return raw
        if typing.get_origin(kind) is tuple:
            if not isinstance(raw, list):
                raise self.error(key.name, f"expected list, got {raw!r}")
            for item in raw:
                if not isinstance(item, str):
                    raise self.error(key.name, f"expected a list of strings, got {item!r}")
            return tuple(raw)
        if kind is Path:
            if not isinstance(raw, str):
                raise self.error(key.name, f"expected str, got {raw!r}")
            if not raw and key.optional:
                return None  # ca_file = "": none, as before
            resolved = (self.path.parent / raw).resolve()
            if key.setting.must_exist and not resolved.is_file():
                raise self.error(key.name, f"file not found: {resolved}")
            return resolved
        if kind is float and isinstance(raw, int) and not isinstance(raw, bool):
            return float(raw)
        if kind in (str, int, float, bool):
            if isinstance(raw, kind) and not (kind is int and isinstance(raw, bool)):
                return raw
            raise self.error(key.name, f"expected {kind.__name__}, got {raw!r}")
        raise TypeError(f"{key.name}: declare a parse= for {kind!r}")  # a programming error


def _default(cls: type, name: str) -> Any:
    f = next(f for f in fields(cls) if f.name == name)
    return f.default


# --- checks shared by several keys -----------------------------------------------------------

def nonblank(value: str) -> str | None:
    return None if value.strip() else "is empty"


def each(check: Callable[[str], str | None]) -> Callable[[tuple[str, ...]], str | None]:
    """A check of every item of a list."""
    def run(items: tuple[str, ...]) -> str | None:
        return next((p for p in map(check, items) if p), None)
    return run


PORT = "expected a port from 1 to 65535, got {value}"
