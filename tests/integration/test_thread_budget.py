"""Blocking IMAP calls run on threads sized from the connection budget (issue 25).

anyio's default limiter has 40 threads for the whole process: with
``max_connections_per_host = 32`` a run holds 32 source and 32 destination connections, and
past 40 calls in flight the others silently queued for a thread.  Against the lab's two
Dovecot servers, each behind a proxy that adds a round-trip time, 64 connections are made
to work at once; the peak of calls in flight is measured inside the calls themselves.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from bench.latency_proxy import LatencyProxy
from pecsync.config import EngineConfig
from pecsync.imap.session import ImapSession
from pecsync.model import Credentials, Secret, Side
from pecsync.sync.aio import in_thread, thread_budget, threads_for
from tests.helpers import server_config

RTT_MS = 600
PER_HOST = 32


class InFlight:
    """Counts the calls running at once (in their threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def around(self, call: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            with self.lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
            try:
                call()
            finally:
                with self.lock:
                    self.now -= 1
        return run


async def _all_at_once(sessions: list[ImapSession]) -> tuple[int, float]:
    """One STATUS on every session at the same time: the peak of calls in flight, and the
    seconds it took (on two shared cores too noisy to compare; the peak is the measure)."""
    counter = InFlight()
    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        for s in sessions:
            tg.start_soon(in_thread, counter.around(lambda s=s: s.status("INBOX")))
    return counter.peak, time.monotonic() - started


@pytest.fixture
def sessions(dovecot_src: Any, dovecot_dst: Any, users: Any) -> Any:
    """PER_HOST logged-in sessions to each server, each through a proxy adding RTT_MS."""
    names = [users.pair() for _ in range(PER_HOST)]
    with LatencyProxy(dovecot_src.host, dovecot_src.port, RTT_MS) as src_proxy, \
            LatencyProxy(dovecot_dst.host, dovecot_dst.port, RTT_MS) as dst_proxy:
        opened: list[ImapSession] = []
        for server, proxy, side in ((dovecot_src, src_proxy, Side.SRC),
                                    (dovecot_dst, dst_proxy, Side.DST)):
            cfg = dataclasses.replace(server_config(server), port=proxy.port)
            opened += [ImapSession(cfg, side, mailbox=u) for u in names]
        masters = {Side.SRC: dovecot_src, Side.DST: dovecot_dst}

        async def login_all() -> None:
            with thread_budget(len(opened)):
                async with anyio.create_task_group() as tg:
                    for s in opened:
                        server = masters[s.connection.side]
                        tg.start_soon(in_thread, s.login,
                                      Credentials(s.connection.mailbox or "",
                                                  Secret(server.master_password),
                                                  server.master_user))

        anyio.run(login_all)
        try:
            yield opened
        finally:
            for s in opened:
                s.logout()
            # The proxies pass the goodbyes on a round trip later: stopped before, they
            # would leave their streams open (to be reported in some later test).
            time.sleep(2 * RTT_MS / 1000 + 0.5)


def test_32_connections_per_host_work_at_once(sessions: list[ImapSession]) -> None:
    engine = dataclasses.replace(EngineConfig(), max_connections_per_host=PER_HOST)
    assert threads_for(engine) == 2 * PER_HOST

    async def measured() -> tuple[int, float]:
        with thread_budget(threads_for(engine)):
            return await _all_at_once(sessions)

    peak, seconds = anyio.run(measured)
    assert peak == 2 * PER_HOST  # every connection of both servers busy at once
    assert seconds < 10


def test_without_the_budget_calls_queue_behind_anyios_40_threads(
        sessions: list[ImapSession]) -> None:
    """What the budget fixes (and proof that the measurement can fail): on anyio's default
    limiter at most 40 of the 64 calls are in flight, the rest wait for a thread."""
    peak, seconds = anyio.run(_all_at_once, sessions)
    assert peak == 40
    assert seconds >= RTT_MS / 1000  # (the wall times are too noisy on 2 shared cores)
