"""The certificate's text (pecsync.reports.certificate.certificate_json): indented, one
message per line, and exactly the certificate when parsed back, whatever the folder names
and Message-IDs hold."""

from __future__ import annotations

import json
from typing import Any

from pecsync.reports.certificate import certificate_json


def _cert() -> dict[str, Any]:
    tricky = ['<a"b\\c@pec.it>', "<città\u2028@pec.it>", None, "\"[\n]\"", "<x>"]
    return {
        "format": "pecsync-certificate/1", "mailbox": "rossi@pec.example",
        "folders": [
            {"source": "INBOX", "destination": "INBOX", "messages": [
                {"sha256": f"{i:064x}", "size": i, "message_id": tricky[i % len(tricky)],
                 "source_uid": i, "destination_uid": i + 7, "verified": True}
                for i in range(1, 40)]},
            {"source": "Vuota", "destination": "Vuota", "messages": []},
            # A folder named like a placeholder, and one named like a message line.
            {"source": "0123456789abcdef:1", "destination": '{"sha256": "x"}',
             "messages": [{"sha256": "ff", "size": 1, "message_id": None}],
             "left_on_destination": [{"destination_uid": 3, "source_uid": 1}]},
        ],
        "skipped": [], "totals": {"messages_source": 40}, "digest": "d",
    }


def test_the_text_parses_back_to_the_certificate() -> None:
    cert = _cert()
    assert json.loads(certificate_json(cert)) == cert


def test_one_message_per_line_and_the_rest_indented() -> None:
    text = certificate_json(_cert())
    lines = text.split("\n")  # not splitlines(): U+2028 in a Message-ID is not a line end
    messages = [ln for ln in lines if ln.lstrip().startswith('{"sha256"')]
    assert len(messages) == 40  # 39 + 1, each whole on its line
    assert all(ln.startswith(" " * 8) for ln in messages)
    assert all(json.loads(ln.strip().rstrip(",")) for ln in messages)
    assert '      "messages": [],' in lines or '      "messages": []' in lines
    assert '  "format": "pecsync-certificate/1",' in lines


def test_a_certificate_without_folders() -> None:
    cert = {"format": "pecsync-certificate/1", "folders": []}
    assert json.loads(certificate_json(cert)) == cert
