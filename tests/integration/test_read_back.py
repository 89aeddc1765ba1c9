"""A read-back round is one round trip (issue 26): the destination folder's EXAMINE with the
first FETCH pipelined behind it, and each FETCH brings the copies' flags and INTERNALDATE with
their bytes.  Against Dovecot and Cyrus: what comes back is what the metadata FETCH and the
body FETCH say apart, a copy not there is left out, and a refused EXAMINE is a FolderError
on a connection that still works."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pecsync.errors import FolderError
from pecsync.model import MessageInfo, Side
from tests.conftest import cyrus_user
from tests.helpers import seed, session, when

BODIES = [b"Subject: uno\r\nMessage-ID: <1@pec.it>\r\n\r\nprimo\r\n",
          b"Subject: due\r\n\r\nsecondo, 8 bit: caff\xc3\xa8\r\n",
          b"Subject: tre\r\n\r\n" + b"terzo " * 4000 + b"\r\n"]
FLAGS: list[tuple[str, ...]] = [("\\Seen",), (), ("\\Flagged", "\\Seen")]


@pytest.mark.parametrize("server_name", ["dovecot_dst", "cyrus_flat"])
def test_one_round_trip_brings_the_bytes_and_the_metadata(
        server_name: str, request: pytest.FixtureRequest) -> None:
    server = request.getfixturevalue(server_name)
    user = cyrus_user("readback")
    server.add_user(user, "pw")
    seed(server, user, "INBOX", [(b, f, when(i)) for i, (b, f) in
                                 enumerate(zip(BODIES, FLAGS, strict=True))])
    s = session(server, user, Side.DST)
    try:
        s.examine("INBOX")
        alone = {m.uid: m for m in s.fetch_meta("1:*")}
        bodies = {m.info.uid: m for m in s.fetch_bodies(list(alone.values()))}
        # What verification knows of a copy: its destination UID and the size it should
        # have; UID 99 is not there.
        wanted = [MessageInfo(uid, alone[uid].size, (), datetime(1970, 1, 1, tzinfo=UTC))
                  for uid in sorted(alone)] + [MessageInfo(99, 10, (), datetime.now(UTC))]
        before = s.commands
        st = s.examine_for_read_back("INBOX", wanted)
        got = s.fetch_bodies(wanted, read_back=True)
        assert s.commands - before == 2  # EXAMINE and one FETCH: no metadata FETCH apart
    finally:
        s.logout()
    assert st.exists == len(BODIES)
    assert [m.info.uid for m in got] == sorted(alone)  # UID 99 left out, not an error
    for m in got:
        assert m.info == alone[m.info.uid]  # flags, INTERNALDATE and size as read apart
        assert m.info.internaldate.utcoffset() == alone[m.info.uid].internaldate.utcoffset()
        assert (m.body, m.sha256) == (bodies[m.info.uid].body, bodies[m.info.uid].sha256)
        assert m.message_id is None  # the copy's Message-ID is the source's business
    assert ({tuple(f for f in m.info.flags if f != "\\Recent") for m in got}
            == {tuple(sorted(f)) for f in FLAGS})


def test_a_refused_examine_reads_its_fetch_and_the_connection_goes_on(
        dovecot_dst: Any, users: Any) -> None:
    user = users.pair()
    seed(dovecot_dst, user, "INBOX", [(BODIES[0], (), when(0))])
    s = session(dovecot_dst, user, Side.DST)
    try:
        wanted = [MessageInfo(1, len(BODIES[0]), (), datetime.now(UTC))]
        with pytest.raises(FolderError) as err:
            s.examine_for_read_back("Nonexistent", wanted)
        assert "EXAMINE" in str(err.value) and err.value.folder == "Nonexistent"
        assert s.selected is None
        # The refused FETCH behind it was read: the next commands get their own answers.
        s.examine_for_read_back("INBOX", wanted)
        got = s.fetch_bodies(wanted, read_back=True)
        assert [m.info.uid for m in got] == [1]
        assert s.fetch_meta("1:*")[0] == got[0].info
    finally:
        s.logout()


def test_a_copy_not_there_is_neither_waited_for_nor_asked_for_again(
        dovecot_dst: Any, users: Any) -> None:
    """A batch with a copy that is gone (deleted by the member, say) ends with its own FETCH:
    the next batch, asked for ahead, is not read with it, and is not asked for again."""
    user = users.pair()
    seed(dovecot_dst, user, "INBOX", [(b, (), when(i)) for i, b in enumerate(BODIES)])
    s = session(dovecot_dst, user, Side.DST)

    def wanted(*uids: int) -> list[MessageInfo]:
        return [MessageInfo(u, 10, (), datetime(1970, 1, 1, tzinfo=UTC)) for u in uids]

    try:
        before = s.commands
        s.examine_for_read_back("INBOX", wanted(1, 99))
        first = s.fetch_bodies(wanted(1, 99), then=wanted(2, 98, 3), read_back=True)
        second = s.fetch_bodies(wanted(2, 98, 3), read_back=True)
        assert s.commands - before == 3  # EXAMINE and two FETCHes, none twice
    finally:
        s.logout()
    assert [m.info.uid for m in first] == [1]
    assert [m.info.uid for m in second] == [2, 3]
