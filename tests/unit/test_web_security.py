"""The intake page's pure defences: client address behind proxies, CSRF, form challenge
with proof of work and minimum fill time, member addresses, the [intake] configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from pecsync.config import OrderInfo, load_config
from pecsync.errors import ConfigError
from pecsync.web import security
from pecsync.web.forms import BadInput, member_address

KEY = b"k" * 32


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    proxies = ("127.0.0.1", "10.0.0.0/8")
    # A client talking to us directly cannot choose its address.
    assert security.client_address("203.0.113.9", "1.2.3.4", proxies) == "203.0.113.9"
    # Through our proxy: the right-most hop that is not one of our proxies.
    assert security.client_address("127.0.0.1", "1.2.3.4, 198.51.100.7", proxies) \
        == "198.51.100.7"
    assert security.client_address("10.1.2.3", "198.51.100.7, 10.9.9.9", proxies) \
        == "198.51.100.7"
    assert security.client_address("127.0.0.1", None, proxies) == "127.0.0.1"
    assert security.client_address("127.0.0.1", "garbage", proxies) == "127.0.0.1"
    assert security.client_address("127.0.0.1", "1.2.3.4", ()) == "127.0.0.1"
    assert security.forwarded_tls("127.0.0.1", "https", proxies)
    assert not security.forwarded_tls("203.0.113.9", "https", proxies)


def test_csrf_token_is_bound_to_the_cookie() -> None:
    token = security.csrf_token(KEY, "cookie-a")
    assert security.csrf_ok(KEY, "cookie-a", token)
    assert not security.csrf_ok(KEY, "cookie-b", token)
    assert not security.csrf_ok(KEY, None, token)
    assert not security.csrf_ok(KEY, "cookie-a", None)
    assert not security.csrf_ok(b"x" * 32, "cookie-a", token)


def test_challenge_needs_signature_age_and_work() -> None:
    challenge = security.new_challenge(KEY, "c", now=1000.0)
    answer = security.solve_pow(challenge, 10)
    ok = security.check_challenge(KEY, "c", challenge, answer, bits=10, min_fill=3, now=1005)
    assert ok.ok
    assert security.check_challenge(KEY, "c", challenge, answer, bits=10, min_fill=3,
                                    now=1001).problem == "too_fast"
    assert security.check_challenge(KEY, "c", challenge, answer, bits=10, min_fill=3,
                                    now=1000 + security.FORM_MAX_AGE + 1).problem == "expired"
    assert security.check_challenge(KEY, "other-cookie", challenge, answer, bits=10,
                                    min_fill=0, now=1005).problem == "robot"
    forged = challenge.replace(".1000.", ".900.")
    assert security.check_challenge(KEY, "c", forged, answer, bits=10, min_fill=0,
                                    now=1005).problem == "robot"
    wrong = next(str(n) for n in range(10_000) if not security.pow_ok(challenge, str(n), 10))
    assert not security.check_challenge(KEY, "c", challenge, wrong, bits=10, min_fill=0,
                                        now=1005).ok
    assert security.leading_zero_bits(b"\x00\x0f") == 12


def test_member_address_on_an_order_page() -> None:
    order = OrderInfo("O", slug="o", domains=("pec.ordine.it", "pec.altro.it"))
    assert member_address("Mario.Rossi", order) == "mario.rossi@pec.ordine.it"
    assert member_address("mario", order, "pec.altro.it") == "mario@pec.altro.it"
    assert member_address("mario", order, "evil.example") == "mario@pec.ordine.it"
    assert member_address(" M@Pec.X.it ", None) == "m@pec.x.it"
    for bad in ("mario", "a b@c.it", "@x.it", "x@"):
        with pytest.raises(BadInput):
            member_address(bad, None)
    with pytest.raises(BadInput):
        member_address("ma rio", order)


def test_intake_configuration(tmp_path: Path) -> None:
    base = ('[source]\nhost = "s"\n[destination]\nhost = "d"\n[state]\ndatabase = "x.db"\n')
    p = tmp_path / "c.toml"
    p.write_text(base + '[intake]\nopens_at = 2027-01-31T09:00:00+01:00\n'
                 'closes_at = 2027-03-31\ntrusted_proxies = ["127.0.0.1"]\n'
                 'public_url = "https://migrazione.example/"\ncontact = "x@y.it"\n'
                 '[orders."Ordine A"]\nslug = "ordine-a"\ndomains = ["pec.a.it"]\n')
    cfg = load_config(p)
    assert cfg.intake.opens_at is not None and cfg.intake.opens_at.utcoffset() is not None
    assert cfg.intake.rate_per_address == 5 and cfg.intake.rate_per_client == 30
    assert cfg.orders["Ordine A"].slug == "ordine-a"
    for bad in ('[intake]\ntrusted_proxies = ["nope"]\n',
                '[intake]\nopens_at = 2027-03-01\ncloses_at = 2027-01-01\n',
                '[intake]\ncaptcha_verify_url = "https://v.example/"\n',
                '[orders."A"]\nslug = "Has Spaces"\n', '[intake]\nunknown = 1\n'):
        p.write_text(base + bad)
        with pytest.raises(ConfigError):
            load_config(p)
