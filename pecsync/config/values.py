"""Values TOML has no type for, and checks beyond a type: each a function of one raw value
that returns the value (or a problem as text) or raises ValueError with the message the
configuration error shows after ``file: [table] key:``.  Named in the declarations
(pecsync/config/settings.py) as ``parse=`` or ``check=``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextlib import suppress
from datetime import UTC, date, datetime, timedelta
from typing import Any

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


def duration(value: Any) -> timedelta:
    """Seconds (a number > 0) or a duration text (``"6h"``)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return timedelta(seconds=float(value))
    return parse_duration(str(value))


def toml_date(value: Any) -> date:
    if not isinstance(value, date):
        raise ValueError(f"expected a date like 2026-12-31 (no quotes), got {value!r}")
    return value


def utc_moment(value: Any) -> datetime:
    """A TOML date or date-time; without an offset it is UTC (a date: its start)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise ValueError(f"expected a date or date-time like 2027-01-31T09:00:00+01:00 (no "
                     f"quotes), got {value!r}")


def local_moment(value: Any) -> datetime:
    """A TOML date-time (or its ISO text); without an offset it is this machine's local time."""
    if isinstance(value, str):
        with suppress(ValueError):
            value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise ValueError(f"expected a date and time like 2027-03-31T06:00:00+01:00, got "
                         f"{value!r}")
    return value if value.tzinfo is not None else value.astimezone()


def folder_renames(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected dict, got {value!r}")
    for k, v in value.items():
        if not isinstance(v, str) or not v.strip():
            raise ValueError(f"{k!r}: expected a folder path, got {v!r}")
    return dict(value)


def optional_text(value: Any) -> str | None:
    """A string; empty means not set."""
    if not isinstance(value, str):
        raise ValueError(f"expected str, got {value!r}")
    return value or None


#: ``[campaign] reminders``' default: offsets from ``[migration] deadline``.
DEFAULT_REMINDERS = ("-21d", "-14d", "-7d", "-3d", "-1d")


def reminder_offset(text: str) -> timedelta:
    """A reminder offset from the deadline: ``"-7d"``, ``"-12h"``, ``"0d"`` (the deadline's
    day); ValueError otherwise."""
    m = re.fullmatch(r"(-?)(\d+)([smhd])", text.strip())
    if not m:
        raise ValueError(f"expected an offset before the deadline like \"-7d\" or \"-12h\", "
                         f"got {text!r}")
    seconds = int(m.group(2)) * _DURATION_UNITS[m.group(3)]
    if seconds and not m.group(1):
        raise ValueError(f"a reminder after the deadline reaches nobody in time: {text!r} "
                         f"(write it with a minus: \"-{text.strip()}\")")
    return -timedelta(seconds=seconds)


def reminder_waves(value: Any) -> tuple[tuple[str, timedelta], ...]:
    """Wave names as written and their offsets, in time order."""
    if not isinstance(value, list):
        raise ValueError(f"expected list, got {value!r}")
    waves: list[tuple[str, timedelta]] = []
    for name in value:
        if not isinstance(name, str):
            raise ValueError(f"expected a list of strings, got {name!r}")
        offset = reminder_offset(name)
        if name.strip() in {w for w, _ in waves} or offset in {o for _, o in waves}:
            raise ValueError(f"{name!r} is listed twice")
        waves.append((name.strip(), offset))
    return tuple(sorted(waves, key=lambda w: w[1]))


# --- checks: a problem as text, or None --------------------------------------------------------

def regex(item: str) -> str | None:
    try:
        re.compile(item)
    except re.error as exc:
        return f"invalid regular expression {item!r}: {exc}"
    return None


def network(item: str) -> str | None:
    import ipaddress

    try:
        ipaddress.ip_network(item, strict=False)
    except ValueError:
        return f"expected IP addresses or networks, got {item!r}"
    return None


def https_url(value: str) -> str | None:
    return None if value.startswith("https://") else f"expected an https:// URL, got {value!r}"


def email(item: str) -> str | None:
    return None if "@" in item else f"expected e-mail addresses, got {item!r}"


def domain(item: str) -> str | None:
    return (None if re.fullmatch(r"[a-z0-9.-]+\.[a-z]+", item)
            else f"expected lower-case domain names, got {item!r}")


def slug(value: str) -> str | None:
    return (None if re.fullmatch(r"[a-z0-9][a-z0-9-]*", value)
            else f"expected lower-case letters, digits and -, got {value!r}")


def one_character(value: str) -> str | None:
    return None if len(value) == 1 else "expected one character"
