"""Leaving a folder without expunging (pecsync.imap.folders.Folders.unselect): UNSELECT where
the server offers it, else the folder opened read-only; never CLOSE (it expunges)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from pecsync.imap.folders import Folders


class _Client:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def unselect_folder(self) -> None:
        self.sent.append("UNSELECT")

    def close_folder(self) -> None:  # pragma: no cover - must never be called
        self.sent.append("CLOSE")


class _Conn:
    def __init__(self, capabilities: set[str]) -> None:
        self.capabilities = capabilities
        self.client = _Client()
        self.commands = 0
        self.selected: str | None = "INBOX"

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    @contextlib.contextmanager
    def guard(self, what: str, folder: str) -> Iterator[None]:
        yield

    def forget_read_ahead(self) -> None:
        pass


@pytest.mark.parametrize(("capabilities", "sent", "examined"), [
    ({"UNSELECT"}, ["UNSELECT"], []),
    (set(), [], ["INBOX"]),
])
def test_unselect_or_examine_never_close(monkeypatch: pytest.MonkeyPatch,
                                         capabilities: set[str], sent: list[str],
                                         examined: list[str]) -> None:
    conn = _Conn(capabilities)
    folders = Folders(conn)  # type: ignore[arg-type]
    opened: list[str] = []

    def examine(name: str) -> Any:
        opened.append(name)
    monkeypatch.setattr(folders, "examine", examine)
    folders.unselect("INBOX")
    assert conn.client.sent == sent and opened == examined
    assert conn.selected == (None if sent else "INBOX")
