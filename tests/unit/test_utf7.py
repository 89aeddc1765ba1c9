"""Modified UTF-7 mailbox names (RFC 3501 §5.1.3)."""

from __future__ import annotations

import random

import pytest

from pecsync.imap.utf7 import decode, encode

KNOWN = {
    "": b"",
    "INBOX": b"INBOX",
    "Àrchivio": b"&AMA-rchivio",
    "Società Rossi & Figli S.r.l.": b"Societ&AOA- Rossi &- Figli S.r.l.",
    "Posta dell'avvocato": b"Posta dell'avvocato",
    "&": b"&-",
    "&&": b"&-&-",
    "A & B": b"A &- B",
    "Posta inviata 2019": b"Posta inviata 2019",
    "Пример": b"&BB8EQAQ4BDwENQRA-",
    "😀": b"&2D3eAA-",
    # The example of RFC 3501 §5.1.3.
    "~peter/mail/台北/日本語": b"~peter/mail/&U,BTFw-/&ZeVnLIqe-",
    # An encoded run right before "&-", and a run at the very end.
    "è&": b"&AOg-&-",
    "caffè": b"caff&AOg-",
}


@pytest.mark.parametrize(("name", "raw"), KNOWN.items(), ids=[repr(k) for k in KNOWN])
def test_known_encodings(name: str, raw: bytes) -> None:
    assert encode(name) == raw
    assert decode(raw) == name
    assert decode(raw.decode("ascii")) == name  # str input too


def test_astral_characters_are_surrogate_pairs() -> None:
    raw = encode("Fatture 😀 2024 𝄞")
    assert raw == b"Fatture &2D3eAA- 2024 &2DTdHg-"
    assert decode(raw) == "Fatture 😀 2024 𝄞"


def test_control_and_delete_characters_are_encoded() -> None:
    for name in ("a\tb", "\x00", "x\x7fy", "\u00a0"):
        raw = encode(name)
        assert all(0x20 <= b <= 0x7E for b in raw), raw
        assert decode(raw) == name


def _random_name(rng: random.Random) -> str:
    pools = [
        "abcXYZ019 -.'/_~",
        "&&&",
        "àèéìòùÀÈ€ßçñ",
        "ДЖЯщ中文日本語",
        "😀🇮🇹𝄞",
        "\x00\t\x7f\u00a0\ufeff\uffff",
    ]
    out = []
    for _ in range(rng.randint(0, 16)):
        if rng.random() < 0.1:
            # Any code point but a lone surrogate, astral ones included.
            cp = rng.choice([rng.randint(0, 0xD7FF), rng.randint(0xE000, 0x10FFFF)])
            out.append(chr(cp))
        else:
            out.append(rng.choice(rng.choice(pools)))
    return "".join(out)


def test_round_trip_random_names() -> None:
    rng = random.Random(20240501)
    for _ in range(600):
        name = _random_name(rng)
        raw = encode(name)
        assert all(0x20 <= b <= 0x7E for b in raw), (name, raw)
        assert decode(raw) == name, (name, raw)
        # Canonical: a decoded name encodes back to exactly the server's bytes.
        assert encode(decode(raw)) == raw


@pytest.mark.parametrize(("bad", "reason"), [
    (b"&AMA", "no closing '-'"),
    (b"Soci&AOk", "no closing '-'"),
    (b"&!!!-", "not modified BASE64"),
    (b"&AM/-", "not modified BASE64"),       # "/" is "," in modified BASE64
    (b"&AMA=-", "not modified BASE64"),      # no "=" padding
    (b"&A-", "impossible length"),
    (b"&AM-", "whole UTF-16"),
    (b"&2D0-", "unpaired"),                   # high surrogate alone
    (b"&3gA-", "unpaired"),                   # low surrogate alone
    (b"&AMB-", "padding bits"),
    (b"&AEE-", "printable character 'A'"),    # "A" must represent itself
    (b"&ACY-", "printable character '&'"),    # "&" is "&-", not encoded
    (b"&AOA-&AOA-", "null shift"),            # two adjacent runs must be one
    (b"\xc3\x80rchivio", "byte 0xC3"),        # raw UTF-8 is not modified UTF-7
    (b"a\x01b", "byte 0x01"),
    ("Àrchivio", "character 'À'"),            # an already decoded name
])
def test_malformed_input_is_a_clear_error(bad: bytes | str, reason: str) -> None:
    with pytest.raises(ValueError, match="mailbox name") as err:
        decode(bad)
    assert reason in str(err.value)
    assert "invalid modified UTF-7" in str(err.value)


def test_lone_surrogate_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        encode("x\ud800y")
