"""The dashboard's pages and actions (mounted under ``/admin`` by pecsync.web.app).

``GET/POST /admin/login``, ``POST /admin/logout``, ``GET /admin/`` (overview),
``GET /admin/orders/<key>`` (an order: chart, members, late additions, audit log),
``.../members.csv`` (the table as shown), ``.../live.json`` (what the page's script polls),
``.../chart.svg`` (the burn-down), ``POST .../action`` (requeue, invite, check).

An order account reaches its own orders only: any other order answers 404, as an order that
does not exist.  Every POST carries the CSRF token of the member pages (pecsync.web.security).
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from pecsync.config import Config
from pecsync.errors import ConfigError, PecsyncError
from pecsync.state_wording import job_states, wording
from pecsync.store.admin import AdminStore, AdminUser
from pecsync.store.campaign import MEMBER_ACTION_STATES
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.intake import IntakeStore
from pecsync.store.jobs import Job, JobStore
from pecsync.store.reporting import ReportStore
from pecsync.web import security
from pecsync.web.admin import auth
from pecsync.web.admin.chart import burndown_svg
from pecsync.web.admin.csvexport import members_csv
from pecsync.web.admin.invitations import campaign_sends, invitation_stats, send_invitation
from pecsync.web.admin.view import (
    GROUPS,
    LOCAL_TZ,
    LateMember,
    MemberRow,
    OrderSummary,
    day,
    filtered,
    late_members,
    local,
    member_rows,
    order_key,
    order_of_key,
    summarize,
    valid_filter,
)
from pecsync.web.forms import BadInput, read_form

log = structlog.get_logger("pecsync.web.admin")
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
#: How often the order page's script asks for fresh numbers (milliseconds).
POLL_MS = 3000

MESSAGES = {
    "requeued": "La casella è stata rimessa in coda: la prossima copia usa la password "
                "salvata.",
    "not_requeueable": "Questa casella non è ferma: non c'è nulla da rimettere in coda.",
    "invited": "Invito inviato.",
    "invite_failed": "L'invito non è partito: il server di posta non ha risposto. Riprovi "
                     "più tardi.",
    "no_smtp": "L'invio degli inviti non è configurato: avvisi l'operatore.",
    "checked": "Segnato come verificato.",
    "invite_not_needed": "Questo iscritto non deve fare nulla: nessun invito inviato.",
}
#: The audit log's actions in plain words.
ACTION_WORDS = {"requeue": "rimessa in coda", "invite": "invito inviato",
                "check": "segnato come verificato"}
STATE_CHOICES = [(k, v) for k, v in GROUPS.items()] + [
    (state, wording(state, "it").member) for state in job_states()]


class AdminSite(Protocol):
    """What the member pages' Site (pecsync.web.app) shares with the dashboard."""

    cfg: Config
    key: bytes
    store: CheckpointStore | None


@dataclass
class OrderView:
    summary: OrderSummary
    rows: list[MemberRow]
    late: list[LateMember]


class Dashboard:
    def __init__(self, site: AdminSite) -> None:
        self.site = site
        self.templates = Jinja2Templates(directory=str(TEMPLATES))
        self.templates.env.autoescape = True

    @property
    def cfg(self) -> Config:
        return self.site.cfg

    @property
    def store(self) -> CheckpointStore:
        assert self.site.store is not None
        return self.site.store

    @property
    def admin(self) -> AdminStore:
        return AdminStore(self.store)

    # --- rendering ------------------------------------------------------------------------
    def render(self, request: Request, name: str, status: int = 200, **ctx: Any) -> Response:
        cookie = request.cookies.get(security.CSRF_COOKIE)
        new_cookie = None
        if not cookie or len(cookie) > 64:
            cookie = new_cookie = security.new_cookie_value()
        context = {"csrf": security.csrf_token(self.site.key, cookie), "user": None,
                   "local": local, "day": day, "action_words": ACTION_WORDS, **ctx}
        response = self.templates.TemplateResponse(request, name, context, status_code=status)
        if new_cookie:
            response.set_cookie(security.CSRF_COOKIE, new_cookie, httponly=True,
                                samesite="strict", secure=auth.is_tls(request, self.cfg),
                                path="/")
        return response

    def problem(self, request: Request, status: int, title: str, message: str,
                user: AdminUser | None = None) -> Response:
        return self.render(request, "admin/message.html", status, title=title,
                           message=message, user=user)

    async def _csrf_form(self, request: Request) -> dict[str, str] | Response:
        try:
            form = await read_form(request)
        except BadInput as exc:
            return self.problem(request, exc.status, "Richiesta non valida",
                                "Il modulo inviato non è leggibile. Ricarichi la pagina.")
        if not security.csrf_ok(self.site.key, request.cookies.get(security.CSRF_COOKIE),
                                form.get("csrf")):
            return self.problem(request, 403, "Modulo scaduto",
                                "Il modulo è scaduto o non viene da questa pagina. Ricarichi "
                                "la pagina e riprovi.")
        return form

    # --- login and logout ---------------------------------------------------------------
    async def login_page(self, request: Request) -> Response:
        if await auth.session_user(self.admin, self.cfg, request) is not None:
            return RedirectResponse("/admin/", 303)
        expired = request.query_params.get("expired") == "1"
        return self.render(request, "admin/login.html", expired=expired)

    async def login(self, request: Request) -> Response:
        form = await self._csrf_form(request)
        if isinstance(form, Response):
            return form
        name = form.get("name", "").strip()[:64]
        password = form.get("password", "")[:512]
        client = auth.client_of(request, self.cfg)
        retry_at = await auth.rate_limited(self.admin, self.cfg, name, client)
        if retry_at is not None:
            # A name that is no account may be a password typed in the wrong field: not logged.
            known = name and await self.admin.user(name) is not None
            log.warning("admin_login_rate_limited", account=name if known else "(unknown)",
                        client=client)
            hour = retry_at.astimezone(LOCAL_TZ).strftime("%H:%M")
            response = self.render(request, "admin/login.html", 429,
                                   error=f"Troppi tentativi di accesso. Riprovi dopo le "
                                         f"{hour}.")
            response.headers["Retry-After"] = str(auth.seconds_until(retry_at))
            return response
        user = await self.admin.user(name) if name else None
        if not await auth.check_password(user, password):
            log.warning("admin_login_failed", client=client)
            return self.render(request, "admin/login.html", 401,
                               error="Nome utente o password non validi.")
        assert user is not None
        log.info("admin_login", account=user.name, client=client)
        response = RedirectResponse("/admin/", 303)
        await auth.start_session(self.admin, self.cfg, request, user, response)
        return response

    async def logout(self, request: Request) -> Response:
        form = await self._csrf_form(request)
        if isinstance(form, Response):
            return form
        response = RedirectResponse("/admin/login", 303)
        await auth.end_session(self.admin, self.cfg, request, response)
        return response

    async def _user(self, request: Request) -> AdminUser | Response:
        user = await auth.session_user(self.admin, self.cfg, request)
        if user is None:
            return RedirectResponse("/admin/login?expired=1", 303)
        return user

    # --- data --------------------------------------------------------------------------
    async def _visible_orders(self, user: AdminUser) -> list[str]:
        names = set(await self.admin.order_names()) | set(self.cfg.orders)
        return sorted(n for n in names if user.may_see(n))

    def _order_of(self, request: Request, user: AdminUser, known: Sequence[str]) -> str:
        order = order_of_key(request.path_params["key"], known, self.cfg.orders)
        if order is None or not user.may_see(order):
            raise HTTPException(404)
        return order

    async def _order_view(self, order: str, *, group: str = "", search: str = "") -> OrderView:
        jobs_store = JobStore(self.store, None)
        jobs = await jobs_store.jobs(order)
        origins = await jobs_store.credential_sources()
        last_events = await self.admin.last_events()
        counts = await self.admin.action_counts()
        done_times = await ReportStore(self.store).first_done_times()
        summary = summarize(order, jobs, cfg=self.cfg, done_times=done_times,
                            last_events=last_events)
        sends = await campaign_sends(self.store, order)
        rows = member_rows(jobs, origins=origins, last_events=last_events, actions=counts,
                           invitations=invitation_stats(sends, counts))
        late = late_members(await IntakeStore(self.store).requests(), order, counts)
        return OrderView(summary, filtered(rows, group, search), late)

    # --- pages -------------------------------------------------------------------------
    async def overview(self, request: Request) -> Response:
        user = await self._user(request)
        if isinstance(user, Response):
            return user
        if user.role == "order" and len(user.orders) == 1:
            return RedirectResponse(f"/admin/orders/{self._quote(user.orders[0])}", 303)
        summaries = await self._summaries(user)
        late: list[LateMember] = []
        if user.role == "operator":
            late = late_members(await IntakeStore(self.store).requests(), None,
                                await self.admin.action_counts())
        return self.render(request, "admin/overview.html", user=user, summaries=summaries,
                           deadline=self.cfg.deadline, late=late, quote=self._quote,
                           poll_ms=POLL_MS,
                           actions=(await self.admin.actions(None, limit=20)
                                    if user.role == "operator" else []))

    async def _summaries(self, user: AdminUser) -> list[OrderSummary]:
        jobs = await JobStore(self.store, None).jobs()
        last_events = await self.admin.last_events()
        done_times = await ReportStore(self.store).first_done_times()
        return [summarize(o, [j for j in jobs if j.order == o], cfg=self.cfg,
                          done_times=done_times, last_events=last_events)
                for o in await self._visible_orders(user)]

    async def overview_live(self, request: Request) -> Response:
        """The overview's numbers, for its script (the orders this account sees)."""
        user = await auth.session_user(self.admin, self.cfg, request)
        if user is None:
            return JSONResponse({"error": "session expired", "login": "/admin/login"}, 401)
        return JSONResponse({"generated_at": local(datetime.now(LOCAL_TZ)),
                             "orders": [s.as_json() for s in await self._summaries(user)]})

    def _quote(self, order: str) -> str:
        return urllib.parse.quote(order_key(order, self.cfg.orders), safe="")

    def _filters(self, request: Request) -> tuple[str, str]:
        group = valid_filter(request.query_params.get("state", ""))
        search = request.query_params.get("q", "")[:254]
        return group, search

    async def order_page(self, request: Request) -> Response:
        user = await self._user(request)
        if isinstance(user, Response):
            return user
        order = self._order_of(request, user, await self._visible_orders(user))
        group, search = self._filters(request)
        view = await self._order_view(order, group=group, search=search)
        base = f"/admin/orders/{self._quote(order)}"
        query = urllib.parse.urlencode({k: v for k, v in (("state", group), ("q", search))
                                        if v})
        message = MESSAGES.get(request.query_params.get("msg", ""))
        return self.render(request, "admin/order.html", user=user, view=view,
                           summary=view.summary, rows=view.rows, base=base, group=group,
                           search=search, query=("?" + query) if query else "",
                           choices=STATE_CHOICES, message=message, poll_ms=POLL_MS,
                           chart_version=self._chart_version(view.summary),
                           back=user.role == "operator" or len(user.orders) > 1,
                           actions=await self.admin.actions(order, limit=20))

    async def order_csv(self, request: Request) -> Response:
        user = await self._user(request)
        if isinstance(user, Response):
            return user
        order = self._order_of(request, user, await self._visible_orders(user))
        group, search = self._filters(request)
        view = await self._order_view(order, group=group, search=search)
        stamp = datetime.now(LOCAL_TZ).strftime("%Y-%m-%d")
        filename = f"{order_key(order, self.cfg.orders)}-{stamp}.csv"
        ascii_name = "".join(c if c.isalnum() or c in "-._" else "_" for c in filename)
        return Response(members_csv(view.rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{ascii_name}"'})

    async def order_live(self, request: Request) -> Response:
        user = await auth.session_user(self.admin, self.cfg, request)
        if user is None:
            return JSONResponse({"error": "session expired", "login": "/admin/login"}, 401)
        order = self._order_of(request, user, await self._visible_orders(user))
        group, search = self._filters(request)
        view = await self._order_view(order, group=group, search=search)
        return JSONResponse({"generated_at": local(datetime.now(LOCAL_TZ)),
                             "summary": view.summary.as_json(),
                             "chart": self._chart_version(view.summary),
                             "members": [r.as_json() for r in view.rows]})

    async def order_chart(self, request: Request) -> Response:
        user = await self._user(request)
        if isinstance(user, Response):
            return user
        order = self._order_of(request, user, await self._visible_orders(user))
        s = (await self._order_view(order)).summary
        today = datetime.now(LOCAL_TZ).date()
        svg = burndown_svg(members=s.members, done_days=s.done_days, start=s.started,
                           today=today, deadline=s.deadline, projected=s.projected,
                           title=f"{s.display}: caselle da completare per giorno")
        return Response(svg, media_type="image/svg+xml")

    @staticmethod
    def _chart_version(s: OrderSummary) -> str:
        today = datetime.now(LOCAL_TZ).date()
        text = f"{s.members}|{s.done}|{s.projected}|{today}|{s.done_days}"
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    # --- actions -----------------------------------------------------------------------
    async def action(self, request: Request) -> Response:
        user = await self._user(request)
        if isinstance(user, Response):
            return user
        order = self._order_of(request, user, await self._visible_orders(user))
        form = await self._csrf_form(request)
        if isinstance(form, Response):
            return form
        what = form.get("action", "")
        address = form.get("address", "").strip().lower()
        found = await JobStore(self.store, None).job(address) if address else None
        job = found if found is not None and found.order == order else None
        back = f"/admin/orders/{self._quote(order)}"
        if what == "requeue" and job is not None:
            ok = await self.admin.requeue(job.id, job.address, order, user.name,
                                          job.state.value)
            log.info("admin_requeue", account=user.name, mailbox=address, requeued=ok)
            return self._back(back, "requeued" if ok else "not_requeueable", address)
        if what == "invite" and job is not None:
            if job.state not in MEMBER_ACTION_STATES:
                return self._back(back, "invite_not_needed", address)
            return self._back(back, await self._invite(request, user, job), address)
        if what == "check":
            late = {m.address for m in late_members(await IntakeStore(self.store).requests(),
                                                    order, {})}
            if job is not None or address in late:
                await self.admin.record(user.name, "check", address, order)
                log.info("admin_check", account=user.name, mailbox=address)
                return self._back(back, "checked", address)
        raise HTTPException(404)

    async def _invite(self, request: Request, user: AdminUser, job: Job) -> str:
        try:
            await send_invitation(self.cfg, self.store, address=job.address, order=job.order,
                                  state=job.state.value)
        except ConfigError as exc:
            log.warning("admin_invite_not_configured", error=str(exc))
            return "no_smtp"
        except PecsyncError as exc:  # the server unreachable, or its refusal
            log.warning("admin_invite_failed", mailbox=job.address, error=str(exc))
            return "invite_failed"
        await self.admin.record(user.name, "invite", job.address, job.order)
        log.info("admin_invite", account=user.name, mailbox=job.address)
        return "invited"

    @staticmethod
    def _back(path: str, message: str, address: str) -> Response:
        query = urllib.parse.urlencode({"msg": message, "q": address})
        return RedirectResponse(f"{path}?{query}", 303)
