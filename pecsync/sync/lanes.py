"""Folder lanes: the folders of one mailbox copied over several connection pairs at once.

Round trips dominate a mailbox copy over a slow link, and one connection pair serves one
folder at a time.  A mailbox therefore borrows extra connection pairs ("lanes") when the
per-host budget has room, up to ``[engine] folders_in_parallel`` (up to twice that from
pairs the budget has to spare: :data:`SPARE_LANES`, docs/design/architecture.md §5); lane 0
is the pair the mailbox logged in with.  Folders go to lanes largest first.  When a folder
fails, the other lanes finish the batch in flight (checkpoints recorded) and stop; the first
error is raised.
An extra lane that cannot log in (a server's per-user connection limit, say) is simply not
used; a refusal for the limit is learned (:mod:`pecsync.sync.limits`) and no mailbox opens
lanes over it again; unless the password itself was refused: that stops the mailbox at once
(one refused LOGIN per changed password).  An extra lane that loses its connection (network error,
timeout, BYE) hands its folder back to the queue (it resumes from its checkpoints on another
lane, lane 0 at the latest) and closes; a new lane may open later, with a new LOGIN, when the
budget has room.  Lane 0's own lost connection ends the round (:mod:`pecsync.sync.reconnect`).

Read-back verification overlaps the copy: the first extra lane of a verifying copy reads
back first: whenever ten copies or more of a folder being copied are recorded and not
verified, it verifies them on its own connections
(:meth:`pecsync.sync.copier.FolderCopier.help_round`), and copies (a few batches of a large
folder, :mod:`pecsync.sync.shares`, or a folder nobody copies) only when nothing waits for
its proof.  Over a link the destination's downstream then carries the read-back while its
upstream carries the APPENDs: measured (bench/README.md, issue 26), the read-back had been
the last link to finish, trailing the APPENDs by seconds when lanes verified only between
two folders.  The other lanes, between two folders, also verify a batch or more waiting, and
a lane with no folder left does so until the last copy ends, instead of closing.

The destination folders the plan must create are created by the first lane that needs one
(pipelined, one round trip), not before any copy starts: the largest folder (INBOX, which
always exists) is already being copied on lane 0 meanwhile.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

import anyio
import anyio.abc
import structlog

from pecsync.errors import AuthenticationFailed, StopRequested, TwoFactorRequired
from pecsync.imap.classify import Failure, Phase, classify_response
from pecsync.imap.session import ImapSession
from pecsync.model import FolderMapping, FolderReport
from pecsync.store.checkpoints import CopiedMessage
from pecsync.sync.aio import first_error, in_thread, logout_pair
from pecsync.sync.context import MailboxContext
from pecsync.sync.limits import MailboxLimits
from pecsync.sync.reconnect import reconnectable
from pecsync.sync.shares import MIN_BATCHES, SHARE_BATCHES

log = structlog.get_logger("pecsync.lanes")


#: While the connection budget has pairs to spare (the run's last mailboxes, nothing left to
#: start), a mailbox may open up to this many times ``[engine] folders_in_parallel`` lanes.
#: Measured over a 50 Mbit/s link with +20 ms, a mailbox alone at a run's end copied with
#: 3 lanes at about half the link (issue 26).
SPARE_LANES = 2


def most_lanes(lanes: int) -> int:
    """The lanes a mailbox may open at most when the budget has pairs to spare."""
    return lanes * SPARE_LANES


#: How often a mailbox looks for connections given back while work waits (seconds).
GROW_EVERY_S = 0.25

#: A mailbox with twice this many lanes or more has two lanes that read back first.
LANES_PER_VERIFIER = 3

#: A read-back round shorter than this (a fast link) is followed by a pause that long in
#: all, for copies to gather (seconds).
ROUND_GATHER_S = 0.05

#: A mailbox hands its place in the worker pool over (the next mailbox starts) once what is
#: left to fetch is about this many seconds of its own copy rate, instead of after its last
#: batch: the next mailbox's login, plan and first batches then overlap this one's last
#: batches.  Four mailboxes of a run that ended their copies together left the source's
#: downstream idle for about a second while the fifth logged in and planned (scenario A's
#: timeline, issue 26).
HAND_OVER_AHEAD_S = 1.0

#: When another mailbox waits for a connection, the lane that reads back keeps its pair for
#: up to this long while a lane of its mailbox that copies may give one (seconds): that lane
#: gives it at its next folder or share's end, which a large folder can put off for long.
KEEP_READING_S = 2.0


class FolderCopy(Protocol):
    """One folder to copy (:class:`pecsync.sync.copier.FolderCopier`)."""

    mapping: FolderMapping

    async def copy_folder(self, ctx: MailboxContext, *, verify: bool) -> FolderReport:
        """Copy on *ctx*'s connections, resuming from the folder's checkpoint."""


C = TypeVar("C", bound=FolderCopy)


class ConnectionSlots(Protocol):
    """Extra connection pairs a mailbox may borrow (the engine's per-host budget)."""

    def try_take(self) -> bool:
        """Take one source + one destination connection if both are free right now."""

    def give_back(self) -> None: ...

    def contended(self) -> bool:
        """True when another mailbox is waiting for connections (lanes then step back)."""

    def spare(self) -> int:
        """Pairs free beyond what the mailboxes still to start may need: a mailbox may then
        open more lanes than ``[engine] folders_in_parallel`` (see :data:`SPARE_LANES`)."""


class FixedSlots:
    """*n* extra pairs, for a single-mailbox command: ``FixedSlots(2)``."""

    def __init__(self, n: int) -> None:
        self.free = n

    def try_take(self) -> bool:
        if self.free <= 0:
            return False
        self.free -= 1
        return True

    def give_back(self) -> None:
        self.free += 1

    def contended(self) -> bool:
        return False

    def spare(self) -> int:
        return 0


OpenLane = Callable[[], Awaitable[tuple[ImapSession, ImapSession]]]


class EarlyLanes:
    """Extra lanes for a first copy (it almost always has several folders) that connect
    while the mailbox's own pair logs in, then log in as soon as the plan says how many
    folders need a lane (:meth:`proceed`).  Never a login before the mailbox's own worked: a
    refused password is tried once, not once per lane.  The connections run in the
    background (:meth:`start`): a slow one never holds up lane 0, one that fails is simply
    not used.  :func:`copy_mailbox` owns them: whatever :func:`copy_in_lanes` did not adopt
    is closed by :meth:`close`, on every path."""

    def __init__(self, connect_lane: Callable[[], Awaitable[tuple[ImapSession, ImapSession]]],
                 login_lane: Callable[[tuple[ImapSession, ImapSession]], Awaitable[None]],
                 slots: ConnectionSlots, n: int, label: str,
                 limit: MailboxLimits | None = None, more: int = 0) -> None:
        self.connect_lane, self.login_lane = connect_lane, login_lane
        self.limit = limit
        # Never more lanes than a connection limit learned from the servers allows.
        self.slots, self.n, self.label = slots, limit.lanes(n + 1) - 1 if limit else n, label
        self.more = (limit.lanes(n + 1 + more) - 1 if limit else n + more) - self.n
        self._logging_in = 0  # lanes logging in or logged in (the mailbox's own pair aside)
        self._pending: list[_PendingLane] = []
        self._go = anyio.Event()
        self._logins = 0  # how many may log in, set by proceed()

    def start(self, tg: anyio.abc.TaskGroup) -> None:
        """Start up to *n* lanes the budget has room for, in *tg*, and up to *more* beyond
        them while it has pairs to spare (:meth:`ConnectionSlots.spare`)."""
        for i in range(self.n + self.more):
            if (i < self.n or self.slots.spare() > 0) and self.slots.try_take():
                pending = _PendingLane()
                self._pending.append(pending)
                tg.start_soon(self._open, pending)
        log.debug("early_lanes", mailbox=self.label, lanes=len(self._pending))

    def proceed(self, logins: int) -> None:
        """The mailbox's own pair is logged in and *logins* lanes are wanted: that many log
        in, the others close without a login."""
        self._logins = logins
        self._go.set()

    async def _open(self, pending: _PendingLane) -> None:
        try:
            pair = await self.connect_lane()  # closes what it opened if it fails
            try:
                await self._go.wait()
            except BaseException:
                await logout_pair(*pair)
                raise
            if self._logins <= 0 or pending.abandoned:
                await logout_pair(*pair)
                return
            self._logins -= 1
            self._logging_in += 1
            try:
                await self.login_lane(pair)  # logs out what it opened if it fails
            except Exception as exc:
                self._logging_in -= 1
                if self.limit is not None:
                    # The others logging in count: the server may have counted them first.
                    await self.limit.refused(exc, held=1 + self._logging_in)
                raise
            if pending.abandoned:  # its owner stopped waiting meanwhile
                await logout_pair(*pair)
                return
            pending.pair = pair
        except Exception as exc:  # any other refusal: the lane is not used
            if _password_refused(exc):
                pending.error = exc  # the mailbox stops on it (see copy_in_lanes)
            # Said once, by the lane's owner (copy_in_lanes), if the copy goes on without it:
            # when the mailbox's own connection failed the same way, its attempt's end says
            # so, and a refused connection is not logged twice.
            pending.failure = str(exc)
            log.debug("extra_lane_not_opened", mailbox=self.label, reason=str(exc))
        finally:
            pending.done.set()

    def take(self) -> list[_PendingLane]:
        """The lanes started, handed over with their slots (see :func:`copy_in_lanes`)."""
        pending, self._pending = self._pending, []
        return pending

    async def close(self) -> None:
        """Lanes not handed over: no login any more; wait for them, log them out, give their
        slots back."""
        self.proceed(0)
        with anyio.CancelScope(shield=True):
            for pending in self.take():
                await pending.done.wait()
                try:
                    if pending.pair is not None:
                        await logout_pair(*pending.pair)
                finally:
                    self.slots.give_back()


class _PendingLane:
    def __init__(self) -> None:
        self.done = anyio.Event()
        self.pair: tuple[ImapSession, ImapSession] | None = None
        #: Set by an owner that stopped waiting: the pair, if it ever logs in, is closed.
        self.abandoned = False
        #: The lane's LOGIN was refused (see _password_refused).
        self.error: Exception | None = None
        #: Why the lane did not open (connecting or logging in failed).
        self.failure: str | None = None


def _password_refused(exc: Exception) -> bool:
    """A lane's LOGIN refused for the password (changed since the mailbox logged in, or an
    expired app password): not a lane to do without, but the mailbox's problem.  It stops
    the mailbox at once, so no other connection of it tries that password again (one refused
    LOGIN per changed password: providers lock accounts)."""
    if isinstance(exc, TwoFactorRequired):
        return True
    # Only a refusal that names the credentials: a lane refused by an unknown wording is more
    # likely a provider's connection limit, and the lane is simply not used.
    return isinstance(exc, AuthenticationFailed) and classify_response(
        Phase.LOGIN, exc.response or "") == Failure.INVALID_CREDENTIALS


class FolderTree:
    """The destination folders still to create (parents first): created once, all together,
    by the first lane that needs any of them; the other lanes wait for that."""

    def __init__(self, create: Sequence[str]) -> None:
        self.create = list(create)
        self._missing = frozenset(create)
        self._started = False
        self._done = anyio.Event()
        self._failed = False

    def missing(self, dst_name: str) -> bool:
        """True when *dst_name* does not exist on the destination before :meth:`ensure`."""
        return dst_name in self._missing

    async def ensure(self, dst: ImapSession) -> None:
        """Create the folders on *dst*, or wait until another lane has."""
        if self.create and not self._started:
            self._started = True
            try:
                await in_thread(dst.create_folders, self.create)
            except BaseException:
                self._failed = True
                raise
            finally:
                self._done.set()
        elif self.create:
            await self._done.wait()
        if self._failed:
            raise StopRequested("stopped: the destination folders could not be created")


async def copy_in_lanes(ctx: MailboxContext, copiers: Sequence[C], *, verify: bool,
                        lanes: int, slots: ConnectionSlots | None, open_lane: OpenLane,
                        on_done: Callable[[C], None] | None = None,
                        tree: FolderTree | None = None,
                        early: Sequence[_PendingLane] = (),
                        limit: MailboxLimits | None = None) -> None:
    """Run :meth:`FolderCopy.copy_folder` of every copier, on up to *lanes* connection
    pairs (lane 0: ``ctx.src``/``ctx.dst``; the others opened with *open_lane*, or *early*:
    logins already under way (:class:`EarlyLanes`), each holding one of *slots*, logged out
    and given back here).
    The folders of *tree* exist on the destination when this returns without error.
    *limit*: the connection limits learned from the servers (no lane over them)."""
    tree = tree or FolderTree(())
    queue = deque(sorted(copiers, key=lambda c: -_size_hint(ctx, c)))
    errors: list[Exception] = []
    copying: list[C] = []  # folders being copied now, in the order they started
    batch = max(10, ctx.engine.batch_max_messages)  # a helper round's least, mid-copy

    active = 1
    leaving = 0  # lanes stepping back for a limit learned meanwhile, not closed yet
    verifiers = 0  # extra lanes that read back first (work)
    lanes_lost = 0  # extra lanes closed for a lost connection: no lane opens after one
    to_finish: deque[C] = deque()  # copies whose final verification waits for a lane
    finishing = 0  # final verifications in flight
    group: anyio.abc.TaskGroup | None = None

    most = most_lanes(lanes)
    began = anyio.current_time()
    handed_over = False
    starting = 0  # folders taken from the queue, not in copying yet
    copying_lanes = 0  # extra lanes in work() that do not read back
    contended_since: float | None = None  # a reading-back lane kept on for another mailbox

    def cap(n: int) -> int:
        """*n* lanes, or fewer when a connection limit learned meanwhile allows fewer."""
        return limit.lanes(n) if limit is not None else n

    def grow(at_start: bool) -> None:
        """Open more lanes while folders wait and the budget has room: at the start one per
        folder, later (when another mailbox gave connections back) only if at least two
        wait, since a lane's login costs about as much as a small folder.  Beyond *lanes*
        only while the budget has pairs to spare (:data:`SPARE_LANES`)."""
        nonlocal active
        if lanes_lost:
            # A server that dropped one of the mailbox's sessions may be dropping them all
            # (a password changed, a restart): a lane opened now would try the old password
            # once more (two refused LOGINs after a password change, 1 run in about 12 of
            # test_password_changed_mid_copy_blocks_in_the_same_run).  The next round opens
            # lanes again.
            return
        while (group is not None and slots is not None
               and (active < cap(lanes) or (active < cap(most) and slots.spare() > 0))
               and waiting() >= (active + 1 if at_start else 2) and not ctx.halt.is_set()
               and slots.try_take()):
            active += 1
            group.start_soon(extra_lane)

    def waiting() -> int:
        """The lanes the work not started yet could use: one per folder waiting, more for a
        large one (its batches are shared), and those a large folder being copied still
        offers (a lane may join it)."""
        per_lane = MIN_BATCHES * max(1, ctx.engine.batch_max_messages)
        return (sum(lanes_for(ctx, c, most) for c in queue)
                + sum(_shares_left(c) // per_lane for c in copying))

    def hand_over() -> None:
        """Hand the mailbox's place in the pool over (``progress.copied``) once no folder
        waits to start and every folder is copied, or what the folders being copied have
        left to fetch is about :data:`HAND_OVER_AHEAD_S` of the mailbox's copy rate so far
        (then only reading back is left, or the last second of copying)."""
        nonlocal handed_over
        if handed_over or queue or starting or ctx.halt.is_set():
            return
        if copying:
            left = [_bytes_left(c) for c in copying]
            if None in left:
                return  # a folder still being planned: its size is not known yet
            left_bytes = sum(b for b in left if b is not None)
            copied = sum(_bytes_copied(c) for c in copiers)
            rate = copied / max(anyio.current_time() - began, 1e-3)
            if not copied or left_bytes > rate * HAND_OVER_AHEAD_S:
                return
            log.debug("hand_over", mailbox=ctx.label, bytes_left=left_bytes)
        handed_over = True
        ctx.progress.copied()

    def keep_on(extra: bool) -> bool:
        return not (extra and slots is not None and slots.contended())

    def kept_too_long() -> bool:
        """True once the reading-back lane has kept its pair for another mailbox for
        :data:`KEEP_READING_S`: it then gives it (a copying lane may be in a long folder)."""
        nonlocal contended_since
        now = anyio.current_time()
        if contended_since is None:
            contended_since = now
        return now - contended_since >= KEEP_READING_S

    def over_limit() -> bool:
        """More lanes than a connection limit learned meanwhile allows (lanes that logged in
        at once may all have been let in before one was refused)."""
        return limit is not None and active - leaving > limit.lanes(most)

    def lane_lost(exc: Exception, extra: bool, folder: C) -> bool:
        """Whether *exc*, raised by work for *folder* on a lane, closes that lane (an extra
        lane's lost connection: logged, the work handed back by the caller); otherwise it is
        the mailbox's error: recorded, and every lane stops (lane 0's lost connection ends
        the round, :mod:`pecsync.sync.reconnect`)."""
        nonlocal lanes_lost
        if extra and reconnectable(exc) and not ctx.halt.is_set():
            lanes_lost += 1
            log.warning("lane_connection_lost", mailbox=ctx.label,
                        folder=folder.mapping.src, error=str(exc))
            return True
        errors.append(exc)
        ctx.halt.set()
        return False

    async def help(lane_ctx: MailboxContext, extra: bool, least: int) -> int:
        """One round of verification of the folder with the most copies waiting for it
        (at least *least*), copied by another lane: how many; 0 when none has that many."""
        best: tuple[int, C, list[CopiedMessage]] | None = None
        # Most waiting first, by a cheap count; the rows of that folder only are read.
        for c in sorted((c for c in copying if _can_help(c)), key=_backlog_hint, reverse=True):
            if _backlog_hint(c) < least:
                break
            rows = await c.backlog()  # type: ignore[attr-defined]
            if len(rows) >= least:
                best = (len(rows), c, rows)
                break
        if best is None:
            return 0
        _, helped, rows = best
        try:
            await helped.help_round(lane_ctx, rows)  # type: ignore[attr-defined]
        except Exception as exc:
            if lane_lost(exc, extra, helped):
                raise _LaneLost from None
        return len(rows)

    def share_first() -> bool:
        """Batches of a folder being copied come before the next folder when more of them
        are left than that folder holds: the longest work first, so that the lanes end
        together instead of one lane copying the largest folder alone at the end."""
        left = max((_shares_left(c) for c in copying), default=0)
        return left > 0 and (not queue or left > _size_hint(ctx, queue[0]))

    async def share(lane_ctx: MailboxContext, extra: bool, batches: int = SHARE_BATCHES
                    ) -> bool:
        """Copy batches from the back of the folder with the most of them left that another
        lane copies (:mod:`pecsync.sync.shares`); False when no folder has any to share.
        *batches*: how many at most (see copy_share)."""
        shared = [c for c in copying if _shares_left(c)]
        if not shared:
            return False
        folder = max(shared, key=_shares_left)
        try:
            await folder.copy_share(lane_ctx, batches=batches)  # type: ignore[attr-defined]
        except Exception as exc:
            if lane_lost(exc, extra, folder):
                # The folder's owner copies what this lane left (after reconciling it).
                raise _LaneLost from None
        return True

    async def finish(lane_ctx: MailboxContext, extra: bool) -> bool:
        """The final verification of one copied folder on this lane; False when none waits."""
        nonlocal finishing
        if not to_finish:
            return False
        copier = to_finish.popleft()
        finishing += 1
        try:
            await copier.finish(lane_ctx)  # type: ignore[attr-defined]
        except Exception as exc:
            if lane_lost(exc, extra, copier):
                to_finish.appendleft(copier)  # another lane verifies it
                raise _LaneLost from None
            return True
        finally:
            finishing -= 1
        if on_done is not None:
            on_done(copier)
        return True

    async def work(lane_ctx: MailboxContext, extra: bool) -> bool:
        """Copy (or help) until nothing is left; True when the lane stepped back for a
        connection limit (it is then counted in *leaving* until closed)."""
        nonlocal verifiers, copying_lanes
        # The first extra lane reads back first and copies only when there is nothing to
        # verify (see the module docstring): the verification keeps pace with the copy.
        # With many lanes, so does a second one, on another folder: one lane reading back
        # alone for five that copied left the destination's downstream at 8-10 MB/s of 12.5
        # (100 Mbit/s), rotating between folders in short rounds, and the read-back ended 4 s
        # after the last APPEND (issue 26).
        reads_back = extra and verify and verifiers < (1 if active < LANES_PER_VERIFIER * 2
                                                       else 2)
        verifiers += reads_back
        copies = extra and not reads_back
        copying_lanes += copies
        try:
            return await copy_all(lane_ctx, extra, reads_back)
        except _LaneLost:
            return False
        finally:
            verifiers -= reads_back  # the next lane to start takes the part over
            copying_lanes -= copies

    async def copy_all(lane_ctx: MailboxContext, extra: bool, reads_back: bool = False
                       ) -> bool:
        nonlocal leaving, starting, contended_since
        shared_last = False
        while not ctx.halt.is_set():
            if not keep_on(extra):
                # Another mailbox waits for a connection: give ours back.  Not yet the lane
                # that reads back while a lane of this mailbox copies (that one gives its
                # pair at its next folder's or share's end): the read-back is what ends a
                # mailbox last, and it stopped for the next mailbox's start, the
                # destination's downstream at a third for 1.5 s (scenario A, issue 26).
                if not (reads_back and copying_lanes and not kept_too_long()):
                    return False
            elif extra:
                contended_since = None  # no mailbox waits now
            if extra and over_limit():
                leaving += 1  # so that only as many lanes leave as the limit requires
                return True
            if reads_back:
                if await finish(lane_ctx, extra):
                    continue  # a folder copied: what no round verified yet
                began = anyio.current_time()
                rows = await help(lane_ctx, extra, least=min(10, batch))
                if rows:
                    took = anyio.current_time() - began
                    if rows < batch and took < ROUND_GATHER_S:
                        # The read-back keeps pace: let copies gather for a larger round
                        # (on a fast link, rounds of a few copies cost more than they prove).
                        # Over a slow link the copies gathered during the round itself: a
                        # pause would only leave the destination's downstream idle.
                        await anyio.sleep(ROUND_GATHER_S - took)
                    continue  # copies recorded since the last round: their proof
                if await share(lane_ctx, extra, batches=1):
                    continue  # nothing to verify yet: a batch of a large folder
                # A small folder meanwhile only when no other extra lane copies: over a link
                # shared by seven lanes, one of 22 messages kept the read-back away for
                # 1.6 s, and the read-back finished last (issue 26).
                small = (active - leaving <= 2 and bool(queue)
                         and _size_hint(ctx, queue[-1]) <= batch)
                if not small and any(_can_help(c) or _may_share(c) for c in copying):
                    await anyio.sleep(0.05)  # copies being recorded: read them back soon
                    continue
                # Nothing else: a folder of one batch at most (the smallest: a short
                # absence from the read-back), or any folder when nothing is being copied.
            if not shared_last and share_first() and await share(lane_ctx, extra):
                shared_last = True  # batches of a large folder another lane copies
                continue
            shared_last = False
            if verify and not verifiers and await help(lane_ctx, extra, least=batch):
                continue  # a batch of copies waits for its proof (no lane reads back)
            if not queue and await share(lane_ctx, extra):
                shared_last = True
                continue
            if not queue and await finish(lane_ctx, extra):
                continue  # no folder left to start: verify one that was copied
            if not queue:
                if verify and any(_can_help(c) for c in copying):
                    # Nothing left to copy: help until the last copies end.
                    # Rounds of 10 copies at least: each costs an EXAMINE and a FETCH
                    # more on the destination; the folder's own verification takes the rest.
                    if not await help(lane_ctx, extra, least=min(10, batch)):
                        await anyio.sleep(0.2)  # let copies be recorded
                    continue
                if any(_may_share(c) for c in copying):
                    await anyio.sleep(0.05)  # a folder being opened may be shared
                    continue
                if not extra and (finishing or copying):
                    # Lane 0 returns only when every folder is copied and verified.
                    await anyio.sleep(0.05)
                    continue
                return False
            copier = queue.pop() if reads_back else queue.popleft()
            starting += 1  # in neither the queue nor copying: no hand-over meanwhile
            try:
                if tree.missing(copier.mapping.dst):
                    await tree.ensure(lane_ctx.dst)
            except Exception as exc:
                errors.append(exc)
                ctx.halt.set()
                return False
            finally:
                starting -= 1
            copying.append(copier)
            try:
                await copier.copy_folder(lane_ctx, verify=verify)
            except Exception as exc:
                if lane_lost(exc, extra, copier):
                    # The folder goes back to the queue, to resume from its checkpoints on
                    # another lane (lane 0 at the latest), and this lane closes; the mailbox
                    # and its other lanes go on.
                    queue.appendleft(copier)  # copy_folder re-reads its checkpoint
                # Otherwise the other lanes finish the batch in flight and stop.
                return False
            finally:
                copying.remove(copier)
            if _verify_pending(copier):
                to_finish.append(copier)  # verified by the next free lane (finish)
            elif on_done is not None:
                on_done(copier)
            hand_over()  # the next mailbox may start: the last folder copied, or nearly
            grow(at_start=False)
        return False

    async def extra_lane(pending: _PendingLane | None = None) -> None:
        nonlocal active, leaving
        assert slots is not None
        stepped_back = False
        try:
            if pending is not None:
                try:
                    await pending.done.wait()
                except BaseException:
                    pending.abandoned = True  # never logged in for nobody
                    raise
                if pending.pair is None:
                    if pending.error is not None:
                        errors.append(pending.error)
                        ctx.halt.set()
                    elif pending.failure is not None:
                        log.info("extra_lane_not_opened", mailbox=ctx.label,
                                 reason=pending.failure)
                    return
                src, dst = pending.pair
            else:
                if ctx.halt.is_set():  # e.g. another lane's LOGIN was just refused
                    return
                try:
                    src, dst = await open_lane()
                except Exception as exc:  # a refusal (a connection limit...): not used
                    log.info("extra_lane_not_opened", mailbox=ctx.label, reason=str(exc))
                    if limit is not None:
                        await limit.refused(exc, held=active - 1)
                    if _password_refused(exc):  # ...unless the password was refused
                        errors.append(exc)
                        ctx.halt.set()
                    return
            try:
                stepped_back = await work(dataclasses.replace(ctx, src=src, dst=dst),
                                          extra=True)
            finally:
                await logout_pair(src, dst)
        finally:
            leaving -= stepped_back
            active -= 1
            slots.give_back()  # on every path, cancellation included

    async def grower(scope: anyio.CancelScope) -> None:
        """Connections given back meanwhile (another mailbox ended, or its lanes stepped
        back) are taken up while work waits, not only at a folder's end: a mailbox started
        while the others still held the budget copied its large folder on one lane for
        seconds, its small folders queued behind it (issue 26)."""
        with scope:
            while not ctx.halt.is_set():
                await anyio.sleep(GROW_EVERY_S)
                grow(at_start=False)
                hand_over()

    try:
        async with anyio.create_task_group() as tg:
            group = tg
            for pending in early:
                active += 1
                tg.start_soon(extra_lane, pending)
            grow(at_start=True)
            growing = anyio.CancelScope()
            if slots is not None:
                tg.start_soon(grower, growing)
            try:
                await work(ctx, extra=False)
            finally:
                growing.cancel()
            if not ctx.halt.is_set():
                try:
                    # Folders no copy needed (empty ones) are created all the same.
                    await tree.ensure(ctx.dst)
                except Exception as exc:
                    errors.append(exc)
        # Folders handed back by a lane that lost its connection after lane 0 had finished.
        await work(ctx, extra=False)
    except BaseExceptionGroup as eg:
        raise first_error(eg) from None
    if errors:
        # The first real failure, rather than the stops it caused in the other lanes.
        raise next((e for e in errors if not isinstance(e, StopRequested)), errors[0])


class _LaneLost(Exception):
    """A lane's connection was lost while it helped: the lane closes."""


def _can_help(copier: FolderCopy) -> bool:
    can = getattr(copier, "can_help", None)
    return bool(can()) if can is not None else False


def _backlog_hint(copier: FolderCopy) -> int:
    hint = getattr(copier, "backlog_hint", None)
    return int(hint()) if hint is not None else 0


def _verify_pending(copier: FolderCopy) -> bool:
    pending = getattr(copier, "verify_pending", None)
    return bool(pending()) if pending is not None else False


def _may_share(copier: FolderCopy) -> bool:
    may = getattr(copier, "may_share", None)
    return bool(may()) if may is not None else False


def _bytes_left(copier: FolderCopy) -> int | None:
    left = getattr(copier, "bytes_left", None)
    return left() if left is not None else None


def _bytes_copied(copier: FolderCopy) -> int:
    copied = getattr(copier, "bytes_copied", None)
    return int(copied()) if copied is not None else 0


def _shares_left(copier: FolderCopy) -> int:
    left = getattr(copier, "shares_left", None)
    return int(left()) if left is not None else 0


def lanes_for(ctx: MailboxContext, copier: FolderCopy, lanes: int) -> int:
    """The lanes one folder's copy can use: one, more for a folder large enough that its
    batches are shared (one more per :data:`~pecsync.sync.shares.MIN_BATCHES` batches
    after the first, judged from its size in the LIST-STATUS), at most *lanes*."""
    batches = -(-_size_hint(ctx, copier) // max(1, ctx.engine.batch_max_messages))
    return max(1, min(lanes, 1 + (batches - 1) // MIN_BATCHES))


def _size_hint(ctx: MailboxContext, copier: FolderCopy) -> int:
    st = (ctx.src_statuses or {}).get(copier.mapping.src)
    return st.exists if st is not None else 0


class LaneLogins:
    """The extra lanes' LOGINs of one mailbox.  When several would start at once (the early
    lanes after :meth:`EarlyLanes.proceed`, or lanes opened together later), one goes first
    and the others wait for its answer: refused for the password, none of them tries it
    (one refused LOGIN per changed password, not one per lane: providers lock accounts);
    accepted, the others log in at once, side by side."""

    def __init__(self) -> None:
        self._in_flight: anyio.Event | None = None
        #: The lane LOGIN refused for the password, raised again to every later lane.
        self.refused: Exception | None = None

    async def login(self, log_in: Callable[[], Awaitable[None]]) -> None:
        if self._in_flight is not None:
            await self._in_flight.wait()  # the first lane's answer
            if self.refused is not None:
                raise self.refused
            await log_in()  # the password has just worked
            return
        if self.refused is not None:
            raise self.refused
        self._in_flight = done = anyio.Event()
        try:
            await log_in()
        except Exception as exc:
            if _password_refused(exc):
                self.refused = exc
            raise
        finally:
            self._in_flight = None
            done.set()
