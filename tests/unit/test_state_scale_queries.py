"""The queries issue 26 made faster for 10,000 mailboxes give the same answers, on SQLite and
PostgreSQL: the current credential's origin per side, the claim order, ``status --json``."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from pecsync.cli.status import status_json
from pecsync.model import MailboxRow, Secret
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobState, JobStore
from pecsync.vault import Vault, new_key


async def test_latest_credential_origin_and_claim_order(state_db: Path | str) -> None:
    async with await CheckpointStore.open(state_db) as store:
        jobs = JobStore(store, Vault(base64.b64decode(new_key())))
        rows = [MailboxRow(i + 2, "O", f"m{i}@pec.example.it", f"m{i}@pec.example.it",
                           Secret(f"p{i}"), f"m{i}@pec.example.it", Secret(f"q{i}"))
                for i in range(5)]
        await jobs.import_rows(rows, src_master=False, dst_master=False)
        listed = await jobs.jobs()
        # A newer source password for the second mailbox, from the web page.
        await jobs.set_password(listed[1], "src", Secret("new"), source="web")
        origins = await jobs.credential_sources()
        assert {k: v.source for k, v in origins.items()} == {
            **{(j.id, side): "csv" for j in listed for side in ("src", "dst")},
            (listed[1].id, "src"): "web"}
        # Claims take the pending jobs in id order, whatever is done before them.
        for j in listed[:2]:
            await jobs.finish(j, JobState.DONE)
        claimed = [await jobs.claim_next("w", None) for _ in range(4)]
        assert [c.address if c else None for c in claimed] == [
            "m2@pec.example.it", "m3@pec.example.it", "m4@pec.example.it", None]


def test_status_json_is_the_document_with_one_mailbox_a_line() -> None:
    doc = {"generated_at": "2026-12-07T03:00:00+00:00", "totals": {"done": 1},
           "orders": [{"order": "Comune di Prato", "mailboxes": 2}],
           "mailboxes": [{"address": "a@pec.it", "reason": "già fatto", "phase": None},
                         {"address": "b@pec.it", "reason": None, "phase": "copy"}],
           "intake_requests": {"count": 0, "addresses": []}}
    text = status_json(doc)
    assert json.loads(text) == doc
    assert '    {"address": "a@pec.it", "reason": "già fatto", "phase": null},' in text
    assert json.loads(status_json(dict(doc, mailboxes=[]))) == dict(doc, mailboxes=[])
