import random

import pytest

from pecsync.imap.utf7 import decode, encode

CASES = {
    "INBOX": b"INBOX",
    "Àrchivio": b"&AMA-rchivio",
    "Società Rossi & Figli S.r.l.": b"Societ&AOA- Rossi &- Figli S.r.l.",
    "Posta dell'avvocato": b"Posta dell'avvocato",
    "&": b"&-",
    "": b"",
    "Пример": b"&BB8EQAQ4BDwENQRA-",
}


@pytest.mark.parametrize(("name", "raw"), CASES.items())
def test_known_encodings(name: str, raw: bytes) -> None:
    assert encode(name) == raw
    assert decode(raw) == name


def test_astral_characters_use_surrogate_pairs() -> None:
    assert decode(encode("Fatture 😀 2024")) == "Fatture 😀 2024"


def test_round_trip_random_names() -> None:
    rng = random.Random(2026)
    alphabet = "abcXYZ &-.'/àèéìòù€ßДЖ中😀\u00a0"
    for _ in range(500):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert decode(encode(name)) == name


@pytest.mark.parametrize("bad", [b"&AMA", b"&!!!-"])
def test_malformed_input_is_a_clear_error(bad: bytes) -> None:
    with pytest.raises(ValueError, match="mailbox name"):
        decode(bad)
