"""What the orders' dashboard (``/admin``, pecsync.web.admin) keeps in the state database:
accounts, sessions, login rate limits and the audit log of actions.  Named queries only; typed
values out.  Passwords arrive here already hashed (Argon2id) and session tokens as SHA-256."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pecsync.errors import StoreConflict
from pecsync.store.checkpoints import CheckpointStore, now
from pecsync.store.intake import IntakeStore
from pecsync.store.rows import RowMapper

Role = Literal["operator", "order"]
ROLES: tuple[Role, ...] = ("operator", "order")
#: The dashboard's actions, as written in the audit log.
ACTIONS = ("requeue", "invite", "check")


@dataclass(frozen=True)
class AdminUser:
    """A dashboard account: an ``operator`` sees every order, an ``order`` account *orders*."""

    id: int
    name: str
    role: Role
    orders: tuple[str, ...]
    password_hash: str
    created_at: str
    last_login_at: str | None

    def may_see(self, order: str) -> bool:
        return self.role == "operator" or order in self.orders


@dataclass(frozen=True)
class AdminAction:
    """One line of the audit log: who did what to which member, and when."""

    at: str
    user: str
    action: str
    address: str
    order: str | None
    detail: str | None


@dataclass(frozen=True)
class ActionCount:
    """How often *action* was done for a member, and the last time."""

    count: int
    last_at: str


def _orders(value: object) -> tuple[str, ...]:
    """The ``orders`` column: a JSON list (empty or NULL: none)."""
    return tuple(str(o) for o in json.loads(str(value))) if value else ()


_USER = RowMapper(AdminUser, orders=_orders)
_ACTION = RowMapper(AdminAction, rename={"user": "user_name", "order": "order_name"})
_COUNT = RowMapper(ActionCount, count=int)


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


class AdminStore:
    def __init__(self, store: CheckpointStore) -> None:
        self.store = store

    # --- accounts ------------------------------------------------------------------------
    async def add_user(self, name: str, role: Role, orders: Sequence[str],
                       password_hash: str) -> AdminUser:
        """A new account; StoreConflict when the name is taken."""
        if await self.user(name) is not None:
            raise StoreConflict(f"dashboard account {name!r} exists already")
        await self.store._transaction([("insert_admin_user", {
            "name": name, "role": role, "orders": json.dumps(list(orders), ensure_ascii=False),
            "password_hash": password_hash, "now": now()})])
        user = await self.user(name)
        assert user is not None
        return user

    async def remove_user(self, name: str) -> bool:
        """Remove an account and end its sessions (its audit log stays); False if unknown."""
        rows = await self.store._transaction([
            ("delete_admin_sessions_of_user", {"name": name}),
            ("delete_admin_user", {"name": name})])
        return bool(rows)

    async def users(self) -> list[AdminUser]:
        return _USER.all(await self.store._query("admin_users", {}))

    async def user(self, name: str) -> AdminUser | None:
        rows = await self.store._query("admin_user_by_name", {"name": name})
        return _USER(rows[0]) if rows else None

    # --- sessions ------------------------------------------------------------------------
    async def open_session(self, user: AdminUser, token_hash: str, lifetime: timedelta
                           ) -> None:
        current = datetime.now(UTC)
        await self.store._transaction([
            ("prune_admin_sessions", {"now": _iso(current)}),
            ("insert_admin_session", {"token_hash": token_hash, "user_id": user.id,
                                      "now": _iso(current),
                                      "expires_at": _iso(current + lifetime)}),
            ("set_admin_last_login", {"id": user.id, "now": _iso(current)})])

    async def session_user(self, token_hash: str) -> AdminUser | None:
        """The account of a session that has not expired, else None."""
        rows = await self.store._query("admin_session_user", {"token_hash": token_hash,
                                                               "now": now()})
        return _USER(rows[0]) if rows else None

    async def close_session(self, token_hash: str) -> None:
        await self.store._transaction([("delete_admin_session", {"token_hash": token_hash})])

    # --- login rate limits -------------------------------------------------------------
    async def take_login_slot(self, kind: str, key: str, limit: int, window: timedelta
                              ) -> datetime | None:
        """Count one login tried by *key* (``account`` name or ``client`` address) against
        *limit* per *window*: None when allowed, else when the next try will be.  The member
        page's limiter (:meth:`IntakeStore.take_slot`), under kinds of the dashboard's own."""
        return await IntakeStore(self.store).take_slot(f"admin_{kind}", key, limit, window)

    async def clear_login_slots(self, kind: str, key: str) -> None:
        await IntakeStore(self.store).clear_slots(f"admin_{kind}", key)

    # --- the audit log and actions ------------------------------------------------------
    async def record(self, user: str, action: str, address: str, order: str | None,
                     detail: str | None = None) -> None:
        await self.store._transaction([("insert_admin_action", {
            "now": now(), "user_name": user, "action": action, "address": address,
            "order_name": order, "detail": detail})])

    async def requeue(self, job_id: int, address: str, order: str, user: str,
                      state_before: str) -> bool:
        """A failed or blocked mailbox back to ``pending`` (its stored credential is used by
        the next run), with a job event and an audit line; False when its state allows no
        re-queue (done, running, pending, waiting for a password)."""
        ts = now()
        rows = await self.store._transaction([
            ("admin_requeue_job", {"id": job_id, "now": ts}),
            ("insert_job_event_if_requeued", {"id": job_id, "now": ts,
                                              "detail": f"dashboard: {user}"}),
            ("insert_admin_action_if_requeued", {
                "id": job_id, "now": ts, "user_name": user, "address": address,
                "order_name": order, "detail": f"was {state_before}"})])
        return bool(rows)

    async def actions(self, order: str | None = None, limit: int = 50) -> list[AdminAction]:
        return _ACTION.all(await self.store._query("admin_actions",
                                                   {"order_name": order, "limit": limit}))

    async def action_counts(self) -> dict[tuple[str, str], ActionCount]:
        """``{(address, action): ActionCount}`` over the whole log."""
        return {(str(r["address"]), str(r["action"])): _COUNT(r)
                for r in await self.store._query("admin_action_counts", {})}

    async def order_names(self) -> list[str]:
        """Every order of the list (without reading its jobs)."""
        return [str(r["order_name"]) for r in await self.store._query("admin_order_names", {})]

    async def last_events(self) -> dict[int, str]:
        """Per job id: the time of its last job event."""
        return {int(r["job_id"]): str(r["at"])
                for r in await self.store._query("last_job_events", {})}
