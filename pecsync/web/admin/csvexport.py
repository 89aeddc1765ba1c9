"""The members table as CSV: exactly the rows and columns the order page shows for the same
filter and search (RFC 4180, UTF-8 with a BOM so spreadsheet programs read the accents)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from pecsync.web.admin.view import MemberRow

COLUMNS = ("Indirizzo", "Stato", "Prossimo passo", "Password", "Messaggi copiati",
           "Ultima attività", "Inviti", "Promemoria")


def members_csv(rows: Sequence[MemberRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([_safe(v) for v in (r.address, r.state_label, r.next_step,
                                            r.credential, r.messages, r.last_activity,
                                            r.invitations, r.reminders)])
    return "\ufeff" + out.getvalue()


def _safe(value: str) -> str:
    """No cell starts a formula when opened in a spreadsheet."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
