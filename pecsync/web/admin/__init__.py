"""The orders' dashboard under ``/admin`` of ``pecsync serve`` (issue 24): accounts and
sessions (auth), what is shown (view, chart, csvexport), the pages and actions (routes), and
the one adapter to member invitations (invitations).  pecsync.web.app mounts
:func:`admin_routes`; nothing else of the member pages is touched."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from pecsync.web.admin.routes import AdminSite, Dashboard


def admin_routes(site: AdminSite) -> list[BaseRoute]:
    d = Dashboard(site)
    order = "/admin/orders/{key}"
    return [
        Route("/admin/login", d.login_page, methods=["GET"]),
        Route("/admin/login", d.login, methods=["POST"]),
        Route("/admin/logout", d.logout, methods=["POST"]),
        Route("/admin", d.overview, methods=["GET"]),
        Route("/admin/", d.overview, methods=["GET"]),
        Route("/admin/live.json", d.overview_live, methods=["GET"]),
        Route(order, d.order_page, methods=["GET"]),
        Route(order + "/members.csv", d.order_csv, methods=["GET"]),
        Route(order + "/live.json", d.order_live, methods=["GET"]),
        Route(order + "/chart.svg", d.order_chart, methods=["GET"]),
        Route(order + "/action", d.action, methods=["POST"]),
    ]
