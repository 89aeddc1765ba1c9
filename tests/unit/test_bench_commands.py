"""The bench's command listing (``bench.py --commands``) never shows a credential."""

from __future__ import annotations

import base64

from bench.latency_proxy import command_heads


def test_command_heads_keep_commands_and_drop_credentials() -> None:
    secret = base64.b64encode(b"\0mailbox@pec.it\0s3cret-pw").decode()
    chunk = (f"a1 AUTHENTICATE PLAIN {secret}\r\n"
             "a2 LOGIN mailbox@pec.it s3cret-pw\r\n"
             f"{secret}\r\n"  # a SASL continuation line: not a command
             'a3 EXAMINE "INBOX.Archivio"\r\n'
             "a4 UID FETCH 1:* (UID RFC822.SIZE FLAGS INTERNALDATE)\r\n").encode()
    heads = command_heads(chunk)
    assert heads == ["AUTHENTICATE PLAIN ...", "LOGIN ...", 'EXAMINE "INBOX.Archivio"',
                     "UID FETCH 1:* (UID RFC822.SIZE FLAGS INTERNALDATE)"]
    text = " ".join(heads)
    assert secret not in text and "s3cret" not in text and "mailbox@pec.it" not in text
