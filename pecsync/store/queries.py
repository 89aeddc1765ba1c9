"""Named SQL statements, loaded once from ``queries.sql`` (``-- name: xxx`` blocks)."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def _load() -> dict[str, str]:
    text = resources.files("pecsync.store").joinpath("queries.sql").read_text("utf-8")
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


def sql(name: str) -> str:
    """The statement called *name*; KeyError names the missing query."""
    return _load()[name]


def schema() -> str:
    return resources.files("pecsync.store").joinpath("schema.sql").read_text("utf-8")
