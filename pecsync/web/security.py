"""The page's defences, pure where they can be: CSRF tokens, the one-time form challenge with
its proof of work and minimum fill time, the client address behind trusted proxies, and the
response headers.  Keys are derived from the vault key (pecsync.vault.Vault.derive), so every
server process agrees on them and a restart does not invalidate open forms."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.requests import Request

CSRF_COOKIE = "pecsync_csrf"
#: A form older than this is refused ("expired"): long enough to fetch a password.
FORM_MAX_AGE = 2 * 3600


def new_cookie_value() -> str:
    return secrets.token_urlsafe(32)


def _mac(key: bytes, *parts: str) -> str:
    digest = hmac.new(key, "\0".join(parts).encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def csrf_token(key: bytes, cookie: str) -> str:
    """The form's CSRF field for the browser's cookie (double submit, signed)."""
    return _mac(key, "csrf", cookie)


def csrf_ok(key: bytes, cookie: str | None, token: str | None) -> bool:
    if not cookie or not token:
        return False
    return hmac.compare_digest(csrf_token(key, cookie), token)


def new_challenge(key: bytes, cookie: str, now: float | None = None) -> str:
    """A one-time challenge ``nonce.issued.signature`` bound to the browser's cookie."""
    nonce = secrets.token_urlsafe(12)
    issued = str(int(now if now is not None else time.time()))
    return f"{nonce}.{issued}.{_mac(key, 'form', nonce, issued, cookie)}"


@dataclass(frozen=True)
class ChallengeCheck:
    ok: bool
    #: "robot", "expired" or "too_fast" when not ok (keys of the member texts).
    problem: str | None = None


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + 8 - byte.bit_length()
    return bits


def pow_ok(challenge: str, answer: str, bits: int) -> bool:
    """The proof of work: SHA-256 of ``challenge:answer`` starts with *bits* zero bits
    (pecsync/web/static/intake.js finds *answer*)."""
    if bits <= 0:
        return True
    if not answer or len(answer) > 16 or not answer.isdigit():
        return False
    digest = hashlib.sha256(f"{challenge}:{answer}".encode("ascii")).digest()
    return leading_zero_bits(digest) >= bits


def solve_pow(challenge: str, bits: int) -> str:
    """What a browser does (for tests and the load script)."""
    n = 0
    while not pow_ok(challenge, str(n), bits):
        n += 1
    return str(n)


def check_challenge(key: bytes, cookie: str, challenge: str, answer: str, *, bits: int,
                    min_fill: float, now: float | None = None) -> ChallengeCheck:
    parts = challenge.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return ChallengeCheck(False, "robot")
    nonce, issued, sig = parts
    if not hmac.compare_digest(_mac(key, "form", nonce, issued, cookie), sig):
        return ChallengeCheck(False, "robot")
    age = (now if now is not None else time.time()) - int(issued)
    if age > FORM_MAX_AGE:
        return ChallengeCheck(False, "expired")
    if age < min_fill:
        return ChallengeCheck(False, "too_fast")
    if not pow_ok(challenge, answer, bits):
        return ChallengeCheck(False, "robot")
    return ChallengeCheck(True)


def challenge_hash(challenge: str) -> str:
    return hashlib.sha256(challenge.encode("ascii", "replace")).hexdigest()


def token_hash(token: str) -> str:
    """Status links are stored as this hash only."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def new_status_token() -> str:
    return secrets.token_urlsafe(32)


def _networks(proxies: Sequence[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(p, strict=False) for p in proxies]


def _trusted(host: str, nets: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(ip in n for n in nets)


def client_address(peer: str | None, forwarded_for: str | None,
                   proxies: Sequence[str]) -> str:
    """Who is asking: the peer, unless the peer is a trusted proxy; then the right-most
    address of ``X-Forwarded-For`` that is not itself a trusted proxy (what a client puts
    at the left can be forged, what our proxies append cannot)."""
    peer = peer or "unknown"
    nets = _networks(proxies)
    if not forwarded_for or not _trusted(peer, nets):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, nets):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage in the header: count it against the proxy
    return peer


def forwarded_tls(peer: str | None, proto: str | None, proxies: Sequence[str]) -> bool:
    """The member's connection was TLS (``X-Forwarded-Proto: https`` from a trusted proxy)."""
    if not proto or proto.strip().lower() != "https":
        return False
    return _trusted(peer or "", _networks(proxies))


def security_headers(*, tls: bool, captcha_origin: str | None) -> list[tuple[str, str]]:
    """Headers on every response: no framing, no referrer, scripts and styles from this site
    only (no inline code at all)."""
    script = "'self'" + (f" {captcha_origin}" if captcha_origin else "")
    frame = f"frame-src {captcha_origin}; " if captcha_origin else ""
    connect = "'self'" + (f" {captcha_origin}" if captcha_origin else "")
    csp = (f"default-src 'none'; script-src {script}; style-src 'self'; img-src 'self'; "
           f"connect-src {connect}; {frame}form-action 'self'; base-uri 'none'; "
           f"frame-ancestors 'none'")
    headers = [("Content-Security-Policy", csp), ("X-Frame-Options", "DENY"),
               ("Referrer-Policy", "no-referrer"), ("X-Content-Type-Options", "nosniff"),
               ("Cross-Origin-Opener-Policy", "same-origin"),
               ("Permissions-Policy", "camera=(), microphone=(), geolocation=()")]
    if tls:
        headers.append(("Strict-Transport-Security", "max-age=31536000"))
    return headers


def request_is_tls(request: Request, trusted_proxies: Sequence[str]) -> bool:
    """HTTPS, or a trusted proxy's ``X-Forwarded-Proto: https`` (the member pages and the
    dashboard decide it the same way: cookies are ``Secure`` and ``__Host-`` only then)."""
    peer = request.client.host if request.client else None
    return request.url.scheme == "https" or forwarded_tls(
        peer, request.headers.get("x-forwarded-proto"), trusted_proxies)


def request_client(request: Request, trusted_proxies: Sequence[str]) -> str:
    """The client's address: the peer, or a trusted proxy's ``X-Forwarded-For``."""
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.get("x-forwarded-for"), trusted_proxies)
