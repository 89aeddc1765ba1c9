"""Dovecot creates an `auto` folder on its first SELECT; a second session of the same user
selecting it at that moment gets ``NO [ALREADYEXISTS]``.  That is a race, not a folder error:
the SELECT is repeated (twice at most)."""

from __future__ import annotations

import imapclient.exceptions
import pytest

from pecsync.config import ServerConfig
from pecsync.errors import FolderError
from pecsync.imap.connection import Connection
from pecsync.imap.folders import Folders
from pecsync.model import Side


def _connection() -> Connection:
    return Connection(ServerConfig(host="127.0.0.1", port=1), Side.DST, mailbox="m@pec.it")


class _RacingClient:
    """select_folder answers NO [ALREADYEXISTS] *losses* times, then opens the folder."""

    def __init__(self, losses: int) -> None:
        self.losses = losses
        self.calls = 0

    def select_folder(self, name: str, readonly: bool = False) -> dict[bytes, object]:
        self.calls += 1
        if self.calls <= self.losses:
            raise imapclient.exceptions.IMAPClientError(
                "select failed: [ALREADYEXISTS] Mailbox already exists")
        return {b"UIDVALIDITY": 7, b"UIDNEXT": 3, b"EXISTS": 2}


def test_a_select_that_loses_dovecots_autocreate_race_opens_the_folder_again() -> None:
    conn = _connection()
    conn.client = client = _RacingClient(losses=1)
    status = Folders(conn).select("Junk")
    assert (status.uidvalidity, status.exists, client.calls) == (7, 2, 2)
    conn.client = client = _RacingClient(losses=5)
    with pytest.raises(FolderError, match="ALREADYEXISTS"):
        Folders(conn).select("Junk")
    assert client.calls == 3
