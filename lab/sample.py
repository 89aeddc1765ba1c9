"""Synthetic PEC-shaped messages for the demo and the benchmark (seeded, reproducible).

They look like provider envelopes ("busta di trasporto"): multipart/signed around a
multipart/mixed with a text part, daticert.xml and postacert.eml, plus an smime.p7s part
of random bytes.  The signature is NOT real (no provider signs test data): these
messages test size mix, structure and throughput; the real signed corpus in
../shared/corpus/pec is the byte-exactness oracle.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

ORDERS = ("ordine-avvocati-esempio", "ordine-ingegneri-esempio")
SUBJECTS = ("Convocazione assemblea", "Fattura n. {n}", "Notifica atto {n}",
            "Comunicazione del Consiglio", "Ricevuta pagamento quota {n}",
            "Richiesta documentazione pratica {n}")


@dataclass(frozen=True)
class SampleMessage:
    folder: str  # logical path, "/" separated; "INBOX" for the inbox
    body: bytes
    flags: tuple[str, ...]
    internaldate: datetime


def _wrap(data: bytes) -> bytes:
    enc = base64.b64encode(data)
    return b"\r\n".join(enc[i:i + 76] for i in range(0, len(enc), 76))


def pec_message(rng: random.Random, n: int, size: int, when: datetime) -> bytes:
    """One PEC-shaped envelope of roughly *size* bytes."""
    sender = f"mittente{rng.randint(1, 999)}@pec.esempio.it"
    rcpt = f"iscritto{rng.randint(1, 999)}@pec.ordine.esempio.it"
    subject = rng.choice(SUBJECTS).format(n=n)
    date = when.strftime("%a, %d %b %Y %H:%M:%S +0000")
    boundary_s, boundary_m = f"----sig{n:08d}", f"----mix{n:08d}"
    payload = _wrap(rng.randbytes(max(size - 2500, 64) * 3 // 4))
    daticert = (f'<?xml version="1.0" encoding="UTF-8"?>\r\n<postacert tipo="posta-certificata" '
                f'errore="nessuno"><intestazione><mittente>{sender}</mittente><destinatari '
                f'tipo="certificato">{rcpt}</destinatari><oggetto>{subject}</oggetto>'
                f'</intestazione><dati><gestore-emittente>ESEMPIO PEC S.p.A.</gestore-emittente>'
                f'<identificativo>opec{n:010d}@pec.esempio.it</identificativo></dati>'
                f'</postacert>\r\n').encode()
    inner = (f"Message-ID: <orig{n}.{rng.randint(0, 1 << 30)}@esempio.it>\r\nFrom: {sender}\r\n"
             f"To: {rcpt}\r\nSubject: {subject}\r\nDate: {date}\r\nMIME-Version: 1.0\r\n"
             f"Content-Type: application/pdf; name=\"documento{n}.pdf\"\r\n"
             f"Content-Transfer-Encoding: base64\r\n\r\n").encode() + payload + b"\r\n"
    parts = [
        (f"--{boundary_m}\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
         f"Content-Transfer-Encoding: quoted-printable\r\n\r\nMessaggio di posta certificata"
         f"\r\n\r\nIl giorno {date} il messaggio \"{subject}\" =E8 stato inviato da "
         f"\"{sender}\" indirizzato a: {rcpt}\r\n").encode(),
        (f"--{boundary_m}\r\nContent-Type: application/xml; name=\"daticert.xml\"\r\n"
         f"Content-Transfer-Encoding: base64\r\n\r\n").encode() + _wrap(daticert) + b"\r\n",
        (f"--{boundary_m}\r\nContent-Type: message/rfc822; name=\"postacert.eml\"\r\n"
         f"Content-Disposition: inline; name=\"postacert.eml\"\r\n\r\n").encode() + inner,
        f"--{boundary_m}--\r\n".encode(),
    ]
    mixed = (f"Content-Type: multipart/mixed; boundary=\"{boundary_m}\"\r\n\r\n").encode() \
        + b"".join(parts)
    sig = (f"--{boundary_s}\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n"
           f"Content-Transfer-Encoding: base64\r\n\r\n").encode() + _wrap(rng.randbytes(1800))
    headers = (f"Return-Path: <{sender}>\r\nMessage-ID: <opec{n:010d}@pec.esempio.it>\r\n"
               f"X-Riferimento-Message-ID: <orig{n}@esempio.it>\r\nX-Trasporto: posta-certificata"
               f"\r\nDate: {date}\r\nSubject: POSTA CERTIFICATA: {subject}\r\n"
               f"From: \"Per conto di: {sender}\" <posta-certificata@pec.esempio.it>\r\n"
               f"Reply-To: {sender}\r\nTo: {rcpt}\r\nMIME-Version: 1.0\r\n"
               f"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; "
               f"micalg=sha-256; boundary=\"{boundary_s}\"\r\n\r\n"
               f"This is an S/MIME signed message\r\n\r\n--{boundary_s}\r\n").encode()
    return headers + mixed + b"\r\n" + sig + f"\r\n--{boundary_s}--\r\n".encode()


def size_mix(rng: random.Random, large: bool = True) -> int:
    """Mostly 5-80 KB, 2% 80 KB-1 MB, 1 in 2,000 of 1-30 MB (when *large*): about 60 KB
    on average, like the reference corpus (28,783 messages, 1.38 GB)."""
    r = rng.random()
    if large and r < 0.0005:
        return rng.randint(1_000_000, 30_000_000)
    if r < 0.02:
        return rng.randint(80_000, 1_000_000)
    return rng.randint(5_000, 80_000)


FOLDERS = ("INBOX", "Posta inviata", "Archivio", "Archivio/2023", "Società Rossi & Figli",
           "Àrchivio clienti")


def mailbox(seed: int, count: int, *, large: bool = True,
            folders: tuple[str, ...] = FOLDERS) -> Iterator[SampleMessage]:
    """*count* messages spread over *folders* (INBOX gets about half)."""
    rng = random.Random(seed)
    start = datetime(2023, 1, 1, 9, 0, tzinfo=UTC)
    for n in range(count):
        folder = "INBOX" if rng.random() < 0.5 else rng.choice(folders)
        when = start + timedelta(minutes=37 * n + rng.randint(0, 30))
        flags: tuple[str, ...] = ()
        r = rng.random()
        if r < 0.7:
            flags = ("\\Seen",)
        if r < 0.1:
            flags = ("\\Seen", "\\Flagged", "$PecRicevuta")
        yield SampleMessage(folder, pec_message(rng, seed * 1_000_000 + n,
                                                size_mix(rng, large), when), flags, when)
