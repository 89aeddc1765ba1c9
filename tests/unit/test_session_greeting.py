"""Capabilities from the greeting: used when listed, asked for when not.

A scripted server on loopback stands in for servers whose greeting is a bare ``* OK``
(Dovecot's always lists them; the integration tests cover that case)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from pecsync.config import ServerConfig
from pecsync.imap import auth
from pecsync.imap.session import ImapSession
from pecsync.model import Side

CAPS = b"IMAP4rev1 AUTH=PLAIN SASL-IR"


class ScriptedServer:
    """Greets, answers CAPABILITY, and records the commands it received."""

    def __init__(self, greeting: bytes) -> None:
        self.greeting = greeting
        self.received: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn, conn.makefile("rb") as lines:
            conn.sendall(self.greeting + b"\r\n")
            for line in lines:
                tag, _, command = line.rstrip(b"\r\n").partition(b" ")
                self.received.append(command)
                if command.upper() == b"CAPABILITY":
                    conn.sendall(b"* CAPABILITY " + CAPS + b"\r\n" + tag + b" OK done\r\n")
                elif command.upper() == b"LOGOUT":
                    conn.sendall(b"* BYE\r\n" + tag + b" OK bye\r\n")
                    return
                else:
                    conn.sendall(tag + b" BAD unexpected\r\n")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def scripted() -> Iterator[list[ScriptedServer]]:
    made: list[ScriptedServer] = []
    yield made
    for server in made:
        server.close()


def connect(server: ScriptedServer) -> ImapSession:
    s = ImapSession(ServerConfig(host="127.0.0.1", port=server.port, security="plain",
                                 timeout=5), Side.SRC, mailbox="prova@pec.test.it")
    s.connect()
    return s


@pytest.mark.parametrize("greeting, asked", [
    (b"* OK [CAPABILITY " + CAPS + b"] ready", []),
    (b"* OK ready", [b"CAPABILITY"]),
])
def test_capabilities_come_from_the_greeting_when_listed(
        scripted: list[ScriptedServer], greeting: bytes, asked: list[bytes]) -> None:
    server = ScriptedServer(greeting)
    scripted.append(server)
    s = connect(server)
    assert auth.offered_before_login(s.connection, "SASL-IR")
    assert auth.offered_before_login(s.connection, "AUTH=PLAIN")
    s.connection.client.logout()
    server.thread.join(5)
    assert server.received == [*asked, b"LOGOUT"]
