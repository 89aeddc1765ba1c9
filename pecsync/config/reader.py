"""Typed access to TOML tables and values, with errors that name file, table and key."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from pecsync.errors import ConfigError

T = TypeVar("T")


class Reader:
    """Typed access to one TOML table with precise error messages."""

    def __init__(self, path: Path, table: str, data: Any, known: set[str]) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: [{table}]: expected a table")
        self.path = path
        self.table = table
        self.data = data
        unknown = sorted(set(data) - known)
        if unknown:
            raise self.error(unknown[0], f"unknown key (known keys: {', '.join(sorted(known))})")

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: [{self.table}] {key}: {message}")

    def get(self, key: str, kind: type[T], default: T | None = None, *, required: bool = False,
            check: Callable[[T], str | None] | None = None) -> T | None:
        if key not in self.data:
            if required:
                raise self.error(key, "missing (required)")
            return default
        value = self.data[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise self.error(key, f"expected {kind.__name__}, got {value!r}")
        if check is not None:
            problem = check(value)
            if problem:
                raise self.error(key, problem)
        return value  # type: ignore[no-any-return]


def positive(value: int) -> str | None:
    return None if value > 0 else f"must be greater than 0, got {value}"


def valid_port(value: int) -> str | None:
    return None if 0 < value < 65536 else f"expected a port from 1 to 65535, got {value}"


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``"6h"``, ``"30m"``, ``"1d"``, ``"90s"``, ``"1h30m"`` → timedelta; ValueError otherwise."""
    parts = re.fullmatch(r"(?:\s*(\d+(?:\.\d+)?)\s*([smhd]))+\s*", text.lower())
    if not parts:
        raise ValueError(f"expected a duration like \"6h\", \"30m\" or \"1d\", got {text!r}")
    seconds = sum(float(n) * _DURATION_UNITS[u]
                  for n, u in re.findall(r"(\d+(?:\.\d+)?)\s*([smhd])", text.lower()))
    if seconds <= 0:
        raise ValueError(f"must be longer than 0, got {text!r}")
    return timedelta(seconds=seconds)
