"""The body pipeline's state is read before any other command's answer, and dropped with the
connection (the wiring between :mod:`pecsync.imap.connection` and :mod:`pecsync.imap.bodies`;
the pipelining itself runs against Dovecot in tests/integration/test_copy.py and
test_compress.py)."""

from __future__ import annotations

from pecsync.config import ServerConfig
from pecsync.imap.bodies import BodyPipeline
from pecsync.imap.connection import Connection
from pecsync.imap.session import ImapSession
from pecsync.model import Side


class FakePipeline:
    def __init__(self) -> None:
        self.in_flight = True
        self.drained = 0
        self.forgotten = 0

    def drain(self) -> None:
        self.drained += 1
        self.in_flight = False

    def forget(self) -> None:
        self.forgotten += 1
        self.in_flight = False


def _connection() -> Connection:
    return Connection(ServerConfig(host="127.0.0.1", port=1), Side.SRC, mailbox="m@pec.it")


def test_another_command_reads_the_fetches_in_flight_first() -> None:
    conn = _connection()
    conn.pipeline = fake = FakePipeline()
    with conn.guard("FETCH", "INBOX", pipelined=True):
        pass
    assert fake.drained == 0  # a pipelined FETCH reads its own answers
    with conn.guard("STATUS", "INBOX"):
        pass
    assert fake.drained == 1
    with conn.guard("STATUS", "INBOX"):
        pass
    assert fake.drained == 1  # nothing in flight any more


def test_a_closed_connection_forgets_what_was_read_ahead() -> None:
    conn = _connection()
    conn.pipeline = fake = FakePipeline()
    conn.close()
    assert fake.forgotten == 1 and not fake.in_flight
    conn.logout()  # not connected: nothing to say, nothing more to forget
    assert fake.forgotten == 1


def test_the_session_drains_its_own_body_pipeline() -> None:
    s = ImapSession(ServerConfig(host="127.0.0.1", port=1), Side.SRC, mailbox="m@pec.it")
    assert isinstance(s.connection.pipeline, BodyPipeline)
    assert not s.connection.pipeline.in_flight
