"""Dashboard logins and sessions.

* Passwords: Argon2id hashes (argon2-cffi), checked in a worker thread; an unknown account is
  checked against a dummy hash, so both take the same time and get the same answer.
* Sessions: a random token in a cookie (``HttpOnly``, ``SameSite=Strict``, and ``Secure``
  with the ``__Host-`` prefix behind TLS); the database keeps only its SHA-256 and when it
  expires (``[admin] session_hours``).
* Failed logins: limited per account and per client address, in the database.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from functools import cache

import anyio
from starlette.requests import Request
from starlette.responses import Response

from pecsync.config import Config
from pecsync.store.admin import AdminStore, AdminUser
from pecsync.web import security

COOKIE = "pecsync_admin"
#: Behind TLS: a cookie only this host over HTTPS can set (no Domain, Path=/, Secure).
TLS_COOKIE = "__Host-pecsync_admin"


def is_tls(request: Request, cfg: Config) -> bool:
    """As the member pages decide it (pecsync.web.security.request_is_tls)."""
    return security.request_is_tls(request, cfg.intake.trusted_proxies)


def client_of(request: Request, cfg: Config) -> str:
    return security.request_client(request, cfg.intake.trusted_proxies)


def cookie_name(request: Request, cfg: Config) -> str:
    return TLS_COOKIE if is_tls(request, cfg) else COOKIE


@cache
def _dummy_hash() -> str:
    from argon2 import PasswordHasher

    return PasswordHasher().hash(secrets.token_urlsafe(16))


def _verify(encoded: str, password: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return PasswordHasher().verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return False


async def check_password(user: AdminUser | None, password: str) -> bool:
    """True when *user* exists and *password* is its password (same work either way)."""
    encoded = user.password_hash if user is not None else _dummy_hash()
    ok = await anyio.to_thread.run_sync(_verify, encoded, password)
    return ok and user is not None


async def rate_limited(admin: AdminStore, cfg: Config, account: str, client: str
                       ) -> datetime | None:
    """Count this login against both limits; when the next try is allowed if over one."""
    window = timedelta(seconds=cfg.admin.rate_window_seconds)
    for kind, key, limit in (("client", client, cfg.admin.rate_per_client),
                             ("account", account.lower(), cfg.admin.rate_per_account)):
        retry_at = await admin.take_login_slot(kind, key, limit, window)
        if retry_at is not None:
            return retry_at
    return None


async def start_session(admin: AdminStore, cfg: Config, request: Request, user: AdminUser,
                        response: Response) -> None:
    token = secrets.token_urlsafe(32)
    lifetime = timedelta(hours=cfg.admin.session_hours)
    await admin.open_session(user, security.token_hash(token), lifetime)
    await admin.clear_login_slots("account", user.name.lower())
    tls = is_tls(request, cfg)
    response.set_cookie(TLS_COOKIE if tls else COOKIE, token,
                        max_age=int(lifetime.total_seconds()), path="/", secure=tls,
                        httponly=True, samesite="strict")


def _token(request: Request, cfg: Config) -> str | None:
    token = request.cookies.get(cookie_name(request, cfg))
    if not token or not (20 <= len(token) <= 64):
        return None
    return token


async def session_user(admin: AdminStore, cfg: Config, request: Request) -> AdminUser | None:
    token = _token(request, cfg)
    if token is None:
        return None
    return await admin.session_user(security.token_hash(token))


async def end_session(admin: AdminStore, cfg: Config, request: Request,
                      response: Response) -> None:
    token = _token(request, cfg)
    if token is not None:
        await admin.close_session(security.token_hash(token))
    tls = is_tls(request, cfg)
    response.delete_cookie(cookie_name(request, cfg), path="/", secure=tls, httponly=True,
                           samesite="strict")


def seconds_until(at: datetime) -> int:
    return max(1, int((at - datetime.now(UTC)).total_seconds()))
