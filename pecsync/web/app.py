"""The intake page as an ASGI application (Starlette + Jinja2): ``create_app(cfg)``.

Routes: ``GET/POST /`` (every order), ``GET/POST /o/<slug>`` (one order: the local part is
enough), ``GET/POST /i/<token>`` (a member's personal link from an invitation: the form with
the address filled in), ``GET/POST /s/<token>`` (a member's own status, and a new password
after a change), ``/static/`` (this package's CSS and script; nothing from third parties).

Order of the checks on a POST (each answers with its own page and a 4xx, never a LOGIN):
window open → form readable and small → CSRF → fields → robot check → form not used
before → client limit → address on the list, or in an order's domains (else nothing is
recorded) → failed-check limits (pecsync.web.limits) → one LOGIN.  A member in an order's
domains who is not on the list is added to that order when the LOGIN succeeds
(``[intake] enrol_verified``).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pecsync.config import Config, OrderInfo
from pecsync.errors import PecsyncError
from pecsync.intake.submit import Verdict, enrol_credentials, submit_credentials
from pecsync.model import Secret
from pecsync.state_wording import wording
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.intake import IntakeStore
from pecsync.store.jobs import Job, JobStore
from pecsync.store.links import LinkStore, MemberLink
from pecsync.store.syncstate import SyncStore, final_sync_done
from pecsync.vault import Vault, load_key
from pecsync.web import limits, security
from pecsync.web.admin import admin_routes
from pecsync.web.forms import BadInput, member_address, read_form, text_field
from pecsync.web.i18n import LANGS, TEXT
from pecsync.web.wording import domains_text, long_date, long_time, provider_words

log = structlog.get_logger("pecsync.web")
HERE = Path(__file__).parent
try:
    LOCAL_TZ: Any = ZoneInfo("Europe/Rome")
except Exception:  # no time zone data: UTC, said as such
    LOCAL_TZ = UTC


@dataclass
class Site:
    """What every request shares (opened by the lifespan)."""

    cfg: Config
    vault: Vault
    key: bytes
    store: CheckpointStore | None = None

    @property
    def jobs(self) -> JobStore:
        assert self.store is not None
        return JobStore(self.store, self.vault)

    @property
    def intake(self) -> IntakeStore:
        assert self.store is not None
        return IntakeStore(self.store)

    @property
    def links(self) -> LinkStore:
        assert self.store is not None
        return LinkStore(self.store)


def _lang(request: Request) -> str:
    lang = request.query_params.get("lang", "it")
    return lang if lang in LANGS else "it"


def _tls(request: Request, cfg: Config) -> bool:
    return security.request_is_tls(request, cfg.intake.trusted_proxies)


def _client(request: Request, cfg: Config) -> str:
    return security.request_client(request, cfg.intake.trusted_proxies)


def _local(at: datetime | str | None, lang: str) -> str:
    if at is None:
        return "—"
    when = datetime.fromisoformat(at) if isinstance(at, str) else at
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(LOCAL_TZ)
    return when.strftime("%d/%m/%Y %H:%M" if lang == "it" else "%Y-%m-%d %H:%M")


class Pages:
    def __init__(self, site: Site) -> None:
        self.site = site
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.autoescape = True

    # --- rendering ------------------------------------------------------------------------
    def render(self, request: Request, name: str, status: int = 200, **ctx: Any) -> Response:
        lang = _lang(request)
        cfg = self.site.cfg
        other = "en" if lang == "it" else "it"
        query = {k: v for k, v in request.query_params.items() if k != "lang"}
        if other == "en":
            query["lang"] = "en"
        lang_link = request.url.path + ("?" + urllib.parse.urlencode(query) if query else "")
        suffix = "?lang=en" if lang == "en" else ""
        cookie = request.cookies.get(security.CSRF_COOKIE)
        new_cookie = None
        if not cookie or len(cookie) > 64:
            cookie = new_cookie = security.new_cookie_value()
        intake = cfg.intake
        order = ctx.get("order")
        domains = (list(order.domains) if isinstance(order, OrderInfo) else
                   [d for o in cfg.orders.values() for d in o.domains])
        context = {"t": TEXT[lang], "lang": lang, "lang_link": lang_link, "suffix": suffix,
                   "deadline": long_date(cfg.deadline, lang) if cfg.deadline else None,
                   "switch_at": (long_time(cfg.switch_at, lang, LOCAL_TZ) if cfg.switch_at
                                 else None),
                   "provider": provider_words(cfg.member_provider, lang),
                   "domains": domains, "domains_text": domains_text(domains),
                   "new_webmail_url": intake.new_webmail_url,
                   "contact": intake.contact, "csrf": security.csrf_token(self.site.key, cookie),
                   "challenge": security.new_challenge(self.site.key, cookie),
                   "pow_bits": intake.pow_bits,
                   "min_fill_ms": int(intake.min_fill_seconds * 1000),
                   "ask_dst_password": not cfg.destination.master_user,
                   "captcha_site_key": intake.captcha_site_key,
                   "captcha_script_url": intake.captcha_script_url,
                   "retry_url": (request.url.path + suffix if request.method == "POST"
                                 else None), **ctx}
        response = self.templates.TemplateResponse(request, name, context, status_code=status)
        if new_cookie:
            response.set_cookie(security.CSRF_COOKIE, new_cookie, httponly=True,
                                samesite="strict", secure=_tls(request, cfg), path="/")
        return response

    def problem(self, request: Request, exc: BadInput) -> Response:
        t = TEXT[_lang(request)]
        if exc.key in ("csrf", "twice", "robot", "expired", "too_fast"):
            message = t[exc.key]
        else:
            field = t.get(f"field_{exc.field}", exc.field or "")
            message = t["bad_form"].format(problem=t[exc.key].format(field=field))
        return self.render(request, "message.html", exc.status, title=t["bad_title"],
                           message=message, retry_link=True)

    # --- the window ------------------------------------------------------------------------
    def closed(self, request: Request, status: int) -> Response | None:
        intake = self.site.cfg.intake
        now = datetime.now(UTC)
        t = TEXT[_lang(request)]
        lang = _lang(request)
        if intake.opens_at and now < intake.opens_at:
            message = t["not_open"].format(opens=_local(intake.opens_at, lang))
        elif intake.closes_at and now >= intake.closes_at:
            message = t["closed"].format(closes=_local(intake.closes_at, lang))
        else:
            return None
        return self.render(request, "message.html", status, title=t["closed_title"],
                           message=message)

    # --- GET pages -------------------------------------------------------------------------
    def _order(self, request: Request) -> OrderInfo | None:
        slug = request.path_params.get("slug")
        if slug is None:
            return None
        for order in self.site.cfg.orders.values():
            if order.slug == slug:
                return order
        raise HTTPException(404)

    async def form(self, request: Request) -> Response:
        order = self._order(request)
        closed = self.closed(request, 200)
        if closed is not None:
            return closed
        return self.render(request, "form.html", order=order,
                           order_name=(order.display_name or order.name) if order else None,
                           action=request.url.path + _suffix(request))

    async def link_form(self, request: Request) -> Response:
        """A member's personal link (``/i/<token>``): the form with the address filled in;
        the opening is recorded for the campaign's tracking."""
        link = await self._link(request)
        if link is None:
            return self.link_unknown(request)
        closed = self.closed(request, 200)
        if closed is not None:
            return closed
        await self.site.links.mark_opened(request.path_params["token"])
        order = self.site.cfg.orders.get(link.order) if link.order else None
        return self.render(request, "form.html", order=order,
                           order_name=(order.display_name or order.name) if order else None,
                           link_address=link.address,
                           action=request.url.path + _suffix(request))

    async def _link(self, request: Request) -> MemberLink | None:
        token = request.path_params["token"]
        if not (20 <= len(token) <= 64) or not all(c.isalnum() or c in "-_" for c in token):
            return None
        return await self.site.links.resolve(token)

    def link_unknown(self, request: Request) -> Response:
        t = TEXT[_lang(request)]
        return self.render(request, "message.html", 404, title=t["link_unknown_title"],
                           message=t["link_unknown"], form_link="/" + _suffix(request))

    async def link_submit(self, request: Request) -> Response:
        link = await self._link(request)
        if link is None:
            return self.link_unknown(request)
        order = self.site.cfg.orders.get(link.order) if link.order else None
        try:
            return await self._submit(request, order=order, job=None, link=link)
        except BadInput as exc:
            return self.problem(request, exc)
        except PecsyncError as exc:
            return self.unavailable(request, exc)

    async def status(self, request: Request) -> Response:
        job = await self._job_of_token(request)
        return await self._status_page(request, job)

    async def _switched(self, job: Job) -> bool:
        """The final sync after ``[migration] switch_at`` is done: the old mailbox no longer
        matters, and neither does its password."""
        switch_at = self.site.cfg.switch_at
        if switch_at is None or job.state.value != "done":
            return False
        assert self.site.store is not None
        sync = (await SyncStore(self.site.store).job_syncs(job.order)).get(job.address)
        return final_sync_done(sync.last_synced_at if sync else None, switch_at)

    async def _status_page(self, request: Request, job: Job, status: int = 200, **extra: Any
                           ) -> Response:
        lang = _lang(request)
        words = wording(job.state, lang)
        label, next_step = words.member, words.member_step
        total = max(job.messages_total, job.messages_copied)
        messages = TEXT[lang]["messages_of"].format(
            copied=f"{job.messages_copied:,}".replace(",", "."),
            total=f"{total:,}".replace(",", "."))
        if total == 0 and job.state.value != "done":
            messages = TEXT[lang]["not_counted"]
        return self.render(request, "status.html", status, job=job, state_label=label,
                           next_step=next_step, messages=messages,
                           updated=_local(job.updated_at, lang),
                           switched=await self._switched(job),
                           action=request.url.path + _suffix(request), **extra)

    async def _job_of_token(self, request: Request) -> Job:
        token = request.path_params["token"]
        if not (20 <= len(token) <= 64) or not all(c.isalnum() or c in "-_" for c in token):
            raise HTTPException(404)
        address = await self.site.intake.address_of_token(security.token_hash(token))
        job = await self.site.jobs.job(address) if address else None
        if job is None:
            raise HTTPException(404)
        return job

    # --- POST ------------------------------------------------------------------------------
    async def submit(self, request: Request) -> Response:
        order = self._order(request)
        try:
            return await self._submit(request, order=order, job=None, link=None)
        except BadInput as exc:
            return self.problem(request, exc)
        except PecsyncError as exc:
            return self.unavailable(request, exc)

    async def resubmit(self, request: Request) -> Response:
        job = await self._job_of_token(request)
        if await self._switched(job):  # finished: no password is wanted any more
            return await self._status_page(request, job, 409)
        try:
            return await self._submit(request, order=None, job=job, link=None)
        except BadInput as exc:
            return self.problem(request, exc)
        except PecsyncError as exc:
            return self.unavailable(request, exc)

    def unavailable(self, request: Request, exc: PecsyncError) -> Response:
        """The database stayed busy or failed: nothing was stored (every write is one
        transaction), the member may simply try again; the operator reads the log."""
        log.error("intake_failed", error=str(exc))
        t = TEXT[_lang(request)]
        response = self.render(request, "message.html", 503, title=t["error_title"],
                               message=t["error"], retry_link=True)
        response.headers["Retry-After"] = "60"
        return response

    async def _submit(self, request: Request, *, order: OrderInfo | None, job: Job | None,
                      link: MemberLink | None) -> Response:
        """*job*: the status link's mailbox; *link*: the personal link's; else the address
        typed (on *order*'s page, or the common one)."""
        cfg = self.site.cfg
        intake = cfg.intake
        lang = _lang(request)
        t = TEXT[lang]
        closed = self.closed(request, 403)
        if closed is not None:
            return closed
        form = await read_form(request)
        cookie = request.cookies.get(security.CSRF_COOKIE)
        if not security.csrf_ok(self.site.key, cookie, form.get("csrf")):
            raise BadInput(403, "csrf")
        assert cookie is not None
        if job is None and link is None:
            raw_address = text_field(form, "address")
        password = text_field(form, "password")
        dst_password = (text_field(form, "dst_password") if not cfg.destination.master_user
                        else None)
        if form.get("website"):  # the honeypot: people never see it
            raise BadInput(400, "robot")
        check = security.check_challenge(self.site.key, cookie, form.get("challenge", ""),
                                         form.get("pow", ""), bits=intake.pow_bits,
                                         min_fill=intake.min_fill_seconds)
        if not check.ok:
            raise BadInput(400, check.problem or "robot")
        client = _client(request, cfg)
        if intake.captcha_verify_url and not await _captcha_ok(
                cfg, form.get(intake.captcha_field, ""), client):
            raise BadInput(400, "robot")
        if not await self.site.intake.use_form(security.challenge_hash(form["challenge"])):
            raise BadInput(409, "twice")
        if job is not None:
            address = job.address
        elif link is not None:
            address = link.address
        else:
            address = member_address(raw_address, order, form.get("domain", ""))
        refusal = await limits.take_client(self.site.intake, intake, client)
        if refusal is not None:
            return self.refused(request, refusal, client, address)
        if job is None:
            job = await self.site.jobs.job(address)
        enrol_in: OrderInfo | None = None
        if job is None:
            enrol_in = _order_of_domain(cfg, order, address)
            if enrol_in is None:
                # Not ours: nothing is recorded, no LOGIN (junk never reaches the operator).
                log.info("intake_not_ours", address=address, client=client)
                domains = [d for o in ([order] if order else cfg.orders.values())
                           for d in o.domains]
                message = (t["not_ours"].format(domains=domains_text(domains), address=address)
                           if domains else t["not_listed"].format(address=address))
                return self.render(request, "message.html", 404, title=t["not_ours_title"],
                                   message=message, contact_line=True, retry_link=True)
        token = request.path_params.get("token")
        link_key = security.token_hash(token) if token is not None else None
        held, refusal = await limits.take_check(self.site.intake, intake, address=address,
                                                client=client, link=link_key)
        if refusal is not None:
            return self.refused(request, refusal, client, address)
        src, dst = Secret(password), Secret(dst_password) if dst_password else None
        enrolled = False
        accepted: Job | None
        if job is not None:
            result = await submit_credentials(cfg, self.site.jobs, job, src, source="web",
                                              dst=dst)
            verdict, accepted = result.verdict, result.job
        else:
            assert enrol_in is not None
            enrolment = await enrol_credentials(cfg, self.site.jobs, address, enrol_in.name,
                                                src, dst=dst, enrol=intake.enrol_verified)
            verdict, accepted = enrolment.verdict, enrolment.job
            enrolled = accepted is not None
        log.info("intake_submitted", address=address, client=client, verdict=verdict.value,
                 enrolled=enrolled, personal_link=link is not None)
        if verdict in (Verdict.ACCEPTED, Verdict.UNAVAILABLE):
            await limits.release(self.site.intake, held)  # only failed checks count
        if verdict == Verdict.ACCEPTED and accepted is None:
            # enrol_verified = false: the verified address waits for the operator.
            await self.site.intake.record_request(address, enrol_in.name if enrol_in else None)
            return self.render(request, "message.html", 202, title=t["verified_title"],
                               message=t["verified_only"].format(address=address),
                               contact_line=True)
        if verdict == Verdict.ACCEPTED:
            assert accepted is not None
            if link is not None and token is not None:
                await self.site.links.mark_submitted(token)
            status_token = token if job is not None and link is None else None
            if status_token is None:
                status_token = security.new_status_token()
                await self.site.intake.save_token(security.token_hash(status_token),
                                                  accepted.id)
            return self.render(request, "accepted.html", 200, enrolled=enrolled,
                               status_link=f"/s/{status_token}{_suffix(request)}")
        if verdict == Verdict.TWO_FACTOR:
            return self.render(request, "twofa.html", 200)
        if verdict == Verdict.UNAVAILABLE:
            return self.render(request, "message.html", 503, title=t["unavailable_title"],
                               message=t["unavailable"], retry_link=True)
        dest = verdict == Verdict.DEST_INVALID
        return self.render(request, "invalid.html", 400, dest=dest,
                           message=t["dest_invalid" if dest else "invalid"])

    def refused(self, request: Request, refusal: limits.Refusal, client: str, address: str
                ) -> Response:
        """HTTP 429 with when to come back (and, when the ceiling of the address is reached,
        that the member's personal link still works)."""
        lang = _lang(request)
        t = TEXT[lang]
        log.warning("intake_rate_limited", limit=refusal.limit, client=client, address=address)
        seconds = max(1, int((refusal.retry_at - datetime.now(UTC)).total_seconds()))
        day, hour = _local(refusal.retry_at, lang).split(" ")
        if refusal.limit == "ceiling":
            response = self.render(request, "message.html", 429, title=t["ceiling_title"],
                                   message=t["ceiling"].format(date=day, time=hour),
                                   extra=t["ceiling_link"])
        else:
            response = self.render(request, "message.html", 429, title=t["rate_title"],
                                   message=t["rate"].format(date=day, time=hour))
        response.headers["Retry-After"] = str(seconds)
        return response


def _order_of_domain(cfg: Config, page_order: OrderInfo | None, address: str
                     ) -> OrderInfo | None:
    """The order a late member's address belongs to by its domain (the page's own order
    first), or None: the address is no order's, and nothing about it is recorded."""
    domain = address.rsplit("@", 1)[-1]
    candidates = [page_order] if page_order is not None else list(cfg.orders.values())
    for candidate in candidates:
        if domain in candidate.domains:
            return candidate
    return None


def _suffix(request: Request) -> str:
    return "?lang=en" if _lang(request) == "en" else ""


async def _captcha_ok(cfg: Config, response: str, client: str) -> bool:
    """The optional external CAPTCHA: its verification endpoint says ``{"success": true}``."""
    intake = cfg.intake
    if not response or intake.captcha_secret_file is None or intake.captcha_verify_url is None:
        return False
    secret = intake.captcha_secret_file.read_text("utf-8").strip()
    data = urllib.parse.urlencode({"secret": secret, "response": response,
                                   "remoteip": client}).encode()
    url = intake.captcha_verify_url

    def ask() -> bool:
        req = urllib.request.Request(url, data=data, method="POST")
        with urllib.request.urlopen(req, timeout=10) as answer:  # https only (config)
            return bool(json.loads(answer.read(65536)).get("success"))

    try:
        return await anyio.to_thread.run_sync(ask)
    except (OSError, ValueError):
        log.warning("captcha_unreachable")
        return False


class SecurityHeaders:
    """Pure ASGI middleware: the security headers and ``no-store`` on every response."""

    def __init__(self, app: ASGIApp, cfg: Config) -> None:
        self.app, self.cfg = app, cfg
        origin = None
        if cfg.intake.captcha_script_url:
            parts = urllib.parse.urlsplit(cfg.intake.captcha_script_url)
            origin = f"{parts.scheme}://{parts.netloc}"
        self.plain = security.security_headers(tls=False, captcha_origin=origin)
        self.tls = security.security_headers(tls=True, captcha_origin=origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        headers = self.tls if _tls(request, self.cfg) else self.plain
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                raw += [(k.lower().encode(), v.encode()) for k, v in headers]
                if not static:
                    raw.append((b"cache-control", b"no-store"))
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(cfg: Config, *, vault: Vault | None = None) -> Starlette:
    vault = vault or Vault(load_key(cfg.key_file))
    site = Site(cfg=cfg, vault=vault, key=vault.derive("pecsync/web/forms/v1"))
    pages = Pages(site)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with await CheckpointStore.open(cfg.state) as store:
            site.store = store
            log.info("intake_serving", database=str(cfg.state))
            yield
            site.store = None

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        t = TEXT[_lang(request)]
        if status == 405:
            return pages.render(request, "message.html", 405, title=t["bad_title"],
                                message=t["not_found"])
        return pages.render(request, "message.html", 404, title=t["not_found_title"],
                            message=t["not_found"])

    async def failure(request: Request, exc: Exception) -> Response:
        # A store that stays locked or a server problem: the member gets a plain page,
        # the log gets the details (never a traceback on the page).
        if isinstance(exc, PecsyncError):
            log.error("intake_failed", error=str(exc))
        else:
            log.exception("intake_internal_error")
        t = TEXT[_lang(request)]
        return HTMLResponse(pages.templates.get_template("message.html").render(
            t=t, lang=_lang(request), lang_link=request.url.path, suffix="",
            contact=cfg.intake.contact, title=t["error_title"], message=t["error"],
            retry_link=True), status_code=503)

    routes = [
        Route("/", pages.form, methods=["GET"]),
        Route("/", pages.submit, methods=["POST"]),
        Route("/o/{slug}", pages.form, methods=["GET"]),
        Route("/o/{slug}", pages.submit, methods=["POST"]),
        Route("/i/{token}", pages.link_form, methods=["GET"]),
        Route("/i/{token}", pages.link_submit, methods=["POST"]),
        Route("/s/{token}", pages.status, methods=["GET"]),
        Route("/s/{token}", pages.resubmit, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        *admin_routes(site),  # the orders' dashboard (pecsync.web.admin)
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: not_found, Exception: failure})
    app.add_middleware(SecurityHeaders, cfg=cfg)
    return app

