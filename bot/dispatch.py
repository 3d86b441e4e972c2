"""The dispatcher: dedupe, member bookkeeping, middleware, then routing to feature handlers.

Events of one chat are handled in order (one worker per busy chat); different chats run
concurrently. A failing handler is logged with its context and the member gets a short
apology; the bot and the other handlers keep running.

Handling never waits for sending: actions go to the chat's outbound queue (messages in order
through the governor; moderation and button answers in a lane of their own, never behind
messages), and waiting answers of one kind merge when the chat's window cannot take them all.
An event's future resolves once its actions are performed (or stored for after a restart).

Shutdown (``persist_waiting``): what is still waiting in the outbound queues when the stop's
budget runs out is stored (``storage/waiting.py`` says which kinds and why), each action's
future resolving as ``ActionResult.persisted()``; ``restore_waiting`` queues it again after
the restart and deletes each row once its action is performed.

Posted objects: a ``Send`` carrying an ``Anchor`` (a poll's, a red packet's message) has its
new message id bound to the anchor's row (``storage.posts``) once performed, before the send
counts as done, also when it went out after a restart; and its event holds the chat's next
one until then, so a press right after the post finds the message to edit.

Dedupe policy (at-least-once intake, exactly-once effects): an event is recorded before its
platform is told it arrived: its (platform, update key) row, with the event's JSON, is
committed with the member bookkeeping (a Telegram page in one transaction, ``intake``; other
events group-committed, ``submit``), so a redelivered update is a duplicate and is not handled
again. The row is marked handled (``handled_at``, the JSON dropped) only once the handlers
finished and every action settled: performed, given up, declined, or persisted to be sent
later. Marks are group-committed (``STAMP_DELAY``, ``STAMP_BATCH``; ``flush`` at shutdown); a
quiet event's mark (plain chatter: see ``_handle``) rides along with the next write, at most
``QUIET_STAMP_DELAY`` later. At
start, ``replay`` handles the platform's recorded, unhandled events from their JSON, in
recorded order, before new ones and without bookkeeping again. So an event is never lost, and
one whose handling was under way when the process died is handled again: **a reply may be sent
again, never lost**. Money-like operations carry their own idempotency keys (a check-in is
unique per member and day, a ledger entry and a red-packet share per key) and stay
exactly-once. A handler that fails is not retried: its event counts as handled.

Backpressure: a poller asks ``room`` how many more events fit under its ``max_pending``. A
platform that cannot be paused (Discord, through ``submit``) keeps at most ``limits[platform]``
events in memory; later ones are recorded only and loaded back by ``replay`` as room opens.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from typing import Any, TypeVar

from pydantic import TypeAdapter

from bot.actions import (
    Action,
    ActionResult,
    Anchor,
    AnswerButton,
    Ban,
    DeclineReason,
    Edit,
    Kick,
    Merge,
    Notify,
    Reply,
    Restrict,
    Send,
    SendImage,
    SendPoll,
)
from bot.adapter import Adapter
from bot.arguments import parse_arguments, parse_button
from bot.bookkeeping import GroupCommit, record_events
from bot.cache import BoundedCache
from bot.clock import Clock
from bot.config import Settings
from bot.context import Context, TickContext, as_actions, resolve_persona
from bot.errors import ArgError
from bot.events import (
    ButtonPressed,
    ChatMigrated,
    ChatType,
    Command,
    Event,
    EventBase,
    MessageEvent,
    split_args,
)
from bot.features import ButtonSpec, CommandSpec, Feature, Registry
from bot.governor import Governor
from bot.permissions import Role, effective, owner_keys
from bot.richtext import Code, RichText
from bot.runtime import FeatureStates
from persona import Renderer
from storage import Store
from storage.base import PLATFORM_ID_LEN
from storage.communities import CommunityInfo
from storage.members import MemberInfo
from storage.text import clip

__all__ = ["Dispatcher", "Sent"]

#: At most this many queued events of one chat are recorded together (and, for batchable
#: commands such as 签到, handled together). Larger batches mean fewer round trips in a burst;
#: bench.checkin: 100 -> 250 took PostgreSQL from about 1,900 to 2,400 check-ins/s.
CHAT_BATCH = 250

#: Events of a platform waiting in memory when its adapter names no bound (``max_pending``).
DEFAULT_BACKLOG = 1000

#: Handled-stamps are written together: at most this long after the handling, or at once
#: when this many wait. A kill loses at most that window (those events are handled again).
STAMP_DELAY = 0.25
STAMP_BATCH = 500
#: A quiet event's stamp (plain chatter: see ``Dispatcher._handle``) waits this long for a
#: ride with the next write before it is written on its own: a group talking at least this
#: often never pays a write for its chatter's stamps.
QUIET_STAMP_DELAY = 5.0
#: How long a closing database waits for the last stamps before cutting the task off.
STOP_STAMPING_TIMEOUT = 5.0

#: Reads a kept event back (its ``kind`` names its class).
_EVENTS: TypeAdapter[EventBase] = TypeAdapter(Event)

log = logging.getLogger(__name__)
S = TypeVar("S")

_MESSAGE_KINDS = (Reply, Send, Edit, SendPoll, SendImage, Notify)

#: Button answers of one chat on the wire at once. Each answers its own press, so none waits
#: for another's round trip (in turn, the last of 1,000 presses would wait 999 of them: 50 s
#: at 50 ms a call); half the Telegram adapter's 256 connections.
ANSWERS_AT_ONCE = 128

#: A merged message stops growing here (Telegram takes 4,096 characters; Discord 2,000 is
#: the adapter's to split): further lines go into the next one.
MERGED_MAX_CHARS = 3500

#: An action on its way out: resolves with its result once performed (never raises).
Sent = asyncio.Future[ActionResult]


def _merge_of(action: Action) -> Merge | None:
    merge: Merge | None = getattr(action, "merge", None)
    return merge


#: Calls that are not repeated when a stop cut them off on the wire (they may have arrived):
#: sends (a duplicate is worse than a gap) and a kick (a ban then an unban: repeated after the
#: restart, it would throw out a member who came back meanwhile). Everything else leaves the
#: same state when performed twice and is stored to be performed again.
_NOT_REPEATED = (Reply, Send, SendPoll, SendImage, Notify, Kick)

#: Telegram reads a restriction's ``until`` less than 30 s ahead as "forever": a stored
#: restriction or ban that ends sooner than this after the restart is dropped.
_UNTIL_MARGIN = timedelta(seconds=30)


@dataclass
class _Waiting:
    action: Action
    sent: Sent
    #: The ``waiting_actions`` row it was restored from (it stays stored until performed).
    row_id: int | None = None


@dataclass(slots=True)
class _Taken:
    """A recorded event in its chat's queue; ``done`` resolves once it is handled."""

    event: EventBase
    ctx: Context | None
    done: asyncio.Future[list[ActionResult]] | None


@dataclass
class _Lane:
    """One chat's outbound queue of one kind: its actions go out in order, one at a time."""

    waiting: deque[_Waiting] = field(default_factory=deque)
    #: The action being performed, with those merged into it.
    sending: list[_Waiting] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    #: Calls to the platform under way (from their start to their answer).
    in_flight: int = 0
    #: A stop cancelled the call under way: the platform may have received it.
    cut_off: bool = False


class Dispatcher:
    def __init__(
        self,
        *,
        registry: Registry,
        store: Store,
        renderer: Renderer,
        settings: Settings,
        clock: Clock,
        entropy: Callable[[int], str] = secrets.token_hex,
    ) -> None:
        self.registry = registry
        #: Random tokens (red-packet seeds): ``secrets.token_hex`` unless a demo fixes them.
        self.entropy = entropy
        self.store = store
        # Stamping runs in the background: a database closed under it (a test's fixture, an
        # embedding program that skips ``flush``) would leave a write in flight on a closed
        # connection; its last stamps are written first instead.
        store.db.closing.append(self._stop_stamping)
        # The features' config sections are validated here at the latest (``App`` does it
        # first, for the startup error): ``ctx.settings_of`` reads them typed.
        settings = settings.with_sections(registry.sections)
        self.settings = settings
        self.clock = clock
        self.outbound: dict[str, Adapter] = {}
        self.governors: dict[str, Governor] = {}
        self.renderer = renderer
        #: Each feature's in-memory state (``ctx.state(feature)``), for this bot only.
        self.states = FeatureStates(clock)
        self._queues: dict[tuple[str, str], deque[_Taken]] = {}
        self._workers: dict[tuple[str, str], asyncio.Task[None]] = {}
        #: The most recently active chats' types (private chats are paced differently).
        self._chat_types: BoundedCache[tuple[str, str], ChatType] = BoundedCache(100_000)
        #: Outbound queues by (place, urgent): moderation and button answers (urgent) never
        #: wait behind a chat's pending messages.
        self._lanes: dict[tuple[str, bool], _Lane] = {}
        self._recorder: GroupCommit[EventBase, Context | None] = GroupCommit(self._record)
        #: Set by ``persist_waiting``: lanes take no new call; then, once stored, ``_closed``.
        self._closing = False
        self._closed = False
        #: Restored rows whose actions were performed, and the task deleting them.
        self._done_rows: list[int] = []
        self._forgetting: asyncio.Task[None] | None = None
        #: Set each time a lane settles an action (``drain`` looks again at what can still go).
        self._progress = asyncio.Event()
        #: Per platform: in-memory backlog bound of events that ``submit`` takes (beyond it,
        #: events wait in the database), and bound of events waiting to be recorded (beyond
        #: it, events are dropped with an ERROR). Set by ``attach`` from the adapter.
        self.limits: dict[str, int] = {}
        self.unrecorded_limits: dict[str, int] = {}
        #: Recorded (or being recorded) and not yet handled, by platform.
        self._pending: Counter[str] = Counter()
        #: Set whenever an event is handled: room may have opened (see ``room``).
        self._changed = asyncio.Event()
        #: Keys of events in memory, from recording until their stamp is written: a loader
        #: reading unhandled rows skips them.
        self._inflight: dict[str, Counter[str]] = {}
        #: Events being recorded to be kept in memory (counted against the bound).
        self._holding: Counter[str] = Counter()
        self._to_record: list[tuple[EventBase, asyncio.Future[list[ActionResult]]]] = []
        self._recording: asyncio.Task[None] | None = None
        self._unrecorded: Counter[str] = Counter()
        self._dropped: Counter[str] = Counter()
        #: Events being recorded to be handled from the database, and batches of those done.
        self._spilling: Counter[str] = Counter()
        self._spill_commits: Counter[str] = Counter()
        self._loaders: dict[str, asyncio.Task[None]] = {}
        #: Futures of events left to a loader (at most ``limits[platform]``; beyond, they
        #: resolve at once, empty: a Discord interaction is then acknowledged at once).
        self._waiting: dict[tuple[str, str], asyncio.Future[list[ActionResult]]] = {}
        #: Events waiting for their actions to settle (then they are stamped handled).
        self._settling: set[asyncio.Future[list[ActionResult]]] = set()
        self._stamps: list[tuple[str, str]] = []
        #: Stamps of quiet events (see ``_handle``): no write of their own, they ride along
        #: with the next recording or stamp write (or ``flush``); at most ``STAMP_BATCH``.
        self._quiet_stamps: list[tuple[str, str]] = []
        self._quiet: set[tuple[str, str]] = set()
        self._quiet_timer: asyncio.TimerHandle | None = None
        #: Actions queued so far (a quiet event queues none while it is handled).
        self._enqueued = 0
        self._stamper: asyncio.Task[None] | None = None
        self._stamp_now = asyncio.Event()
        #: Anchored sends not performed yet: the event that posts one holds its chat.
        self._posting: set[Sent] = set()
        #: Notices to a role whose holders are being looked up (a stop stores them as they
        #: are), and every task answering for a notice to a role until its parts settle.
        self._resolving: dict[asyncio.Task[None], _Waiting] = {}
        self._notifying: set[asyncio.Task[None]] = set()
        #: Names of admins the platform listed (they may have no member row yet).
        self._names: BoundedCache[tuple[str, str], str] = BoundedCache(10_000)
        #: Called after each event is handled, with its results (metrics, tests).
        self.observers: list[Callable[[EventBase, list[ActionResult]], None]] = []

    # -- wiring ---------------------------------------------------------------------------
    def attach(self, adapter: Adapter, governor: Governor | None = None) -> None:
        """Perform the platform's actions through ``adapter`` (paced by ``governor``) and
        take its bounds on events in memory."""
        self.outbound[adapter.platform] = adapter
        self.governors[adapter.platform] = governor or Governor()
        if adapter.max_pending is not None:
            self.limits[adapter.platform] = adapter.max_pending
        if adapter.max_unrecorded is not None:
            self.unrecorded_limits[adapter.platform] = adapter.max_unrecorded

    def tick_context(self) -> TickContext:
        return TickContext(self)

    # -- the runtime a context sees (``bot.runtime.Runtime``) ------------------------------
    @property
    def commands(self) -> Registry:
        """The command catalogue (``/help``): the registry."""
        return self.registry

    def state(self, feature: Feature[S]) -> S:
        """The feature's in-memory state in this bot, made on first use."""
        return self.states.of(feature)

    # -- inbound --------------------------------------------------------------------------
    def pending(self, platform: str) -> int:
        """Events of ``platform`` recorded (or being recorded) and not yet handled."""
        return self._pending[platform] + self._holding[platform]

    async def room(self, platform: str, limit: int) -> int:
        """Wait until fewer than ``limit`` events of ``platform`` are pending; how many more
        fit (a poller asks for no more than that)."""
        while self.pending(platform) >= limit:
            self._changed.clear()
            await self._changed.wait()
        return limit - self.pending(platform)

    async def intake(self, events: list[EventBase]) -> None:
        """Record a page of events in ONE transaction, then queue them for handling.

        Raises when the page could not be recorded: the caller must not confirm it (Telegram
        then delivers it again). Once this returns, the events are durable: a kill before they
        are handled leaves them to :meth:`replay`.
        """
        if not events:
            return
        for event in events:
            self._hold(event)
        try:
            contexts = await self._record(events, keep=True)
        except BaseException:
            for event in events:
                self._holding[event.platform] -= 1
                self._release(event.platform, event.update_key)
            raise
        for event, ctx in zip(events, contexts, strict=True):
            self._take(event, ctx, None)

    def submit(self, event: EventBase) -> asyncio.Future[list[ActionResult]]:
        """Record the event (group-committed with others arriving meanwhile), then queue it
        behind earlier events of its chat; the future resolves when it is handled.

        For a platform that cannot be paused (Discord): when ``limits[platform]`` events are
        already waiting in memory, further ones are recorded only and handled later from the
        database (their futures resolve when they are handled, or at once, empty, beyond
        another ``limits[platform]`` of them); when ``unrecorded_limits[platform]``
        events wait to be recorded, further ones are dropped with an ERROR (recording cannot
        keep up: the database is down or far too slow).
        """
        done: asyncio.Future[list[ActionResult]] = asyncio.get_running_loop().create_future()
        platform = event.platform
        cap = self.unrecorded_limits.get(platform)
        if cap is not None and self._unrecorded[platform] >= cap:
            self._dropped[platform] += 1
            if self._dropped[platform] % 1000 == 1:
                log.error(
                    "%s: %d events waiting to be recorded; %d dropped so far (the database"
                    " cannot keep up)",
                    platform,
                    self._unrecorded[platform],
                    self._dropped[platform],
                )
            done.set_result([])
            return done
        self._unrecorded[platform] += 1
        self._to_record.append((event, done))
        if self._recording is None:
            self._recording = asyncio.create_task(self._record_submitted(), name="recording")
        return done

    async def _record_submitted(self) -> None:
        """Record what ``submit`` took, in batches, and queue (or leave in the database) each."""
        batch: list[tuple[EventBase, asyncio.Future[list[ActionResult]]]] = []
        try:
            while self._to_record:
                await asyncio.sleep(0)  # let what is ready join the batch
                batch = self._to_record[: self._recorder.max_batch]
                del self._to_record[: len(batch)]
                kept = []
                for event, _done in batch:  # each kept one counts against the bound at once
                    kept.append(self._keeps(event))
                    if kept[-1]:
                        self._hold(event)
                    else:
                        self._spilling[event.platform] += 1
                try:
                    contexts = await self._recorder.submit([event for event, _done in batch])
                except Exception:
                    log.exception(
                        "%d event(s) could not be recorded; first: %s/%s in chat %s",
                        len(batch),
                        batch[0][0].platform,
                        batch[0][0].update_key,
                        batch[0][0].chat.id,
                    )
                    contexts = [None] * len(batch)
                finally:
                    for (event, _done), keep in zip(batch, kept, strict=True):
                        self._unrecorded[event.platform] -= 1
                        if not keep:
                            self._spilling[event.platform] -= 1
                            self._spill_commits[event.platform] += 1
                for (event, done), ctx, keep in zip(batch, contexts, kept, strict=True):
                    if keep:
                        self._take(event, ctx, done)
                    elif ctx is not None and len(self._waiting) < self.limits.get(
                        event.platform, DEFAULT_BACKLOG
                    ):
                        # Handled later, from the database: its future waits for that.
                        self._waiting[(event.platform, event.update_key)] = done
                    else:
                        if not done.done():
                            done.set_result([])
                        if ctx is None:
                            self._observe(event, [])  # a duplicate: nothing to do is done
                batch = []
        finally:
            self._recording = None
            for _event, done in [*batch, *self._to_record]:
                done.cancel()
            self._to_record.clear()
            self._unrecorded.clear()
            for platform, count in self._dropped.items():
                log.error("%s: %d events were dropped unrecorded in this burst", platform, count)
            self._dropped.clear()

    def _keeps(self, event: EventBase) -> bool:
        """Whether the event waits in memory (else it is recorded only, handled later from
        the database by the platform's loader, which this starts when needed)."""
        platform = event.platform
        limit = self.limits.get(platform)
        if platform in self._loaders:
            return False  # the loader is behind: later events must not overtake its own
        if limit is None or self.pending(platform) < limit:
            return True
        log.warning(
            "%s: %d events waiting; further ones are handled from the database as room opens",
            platform,
            limit,
        )
        self.replay(platform)
        return False

    def _hold(self, event: EventBase) -> None:
        """The event is being recorded to be handled from memory: the loader skips it."""
        held = self._inflight.get(event.platform)
        if held is None:  # not ``setdefault``: that builds a Counter for every event
            held = self._inflight[event.platform] = Counter()
        key = event.update_key
        held[key] = held.get(key, 0) + 1  # a new key: no ``Counter.__missing__`` call
        self._holding[event.platform] += 1

    def _release(self, platform: str, key: str) -> None:
        held = self._inflight.get(platform)
        if held is None:
            return
        left = held.get(key, 0) - 1
        if left > 0:
            held[key] = left
        else:
            held.pop(key, None)

    def _take(
        self,
        event: EventBase,
        ctx: Context | None,
        done: asyncio.Future[list[ActionResult]] | None,
    ) -> None:
        """A recorded event: queue it behind earlier events of its chat."""
        self._holding[event.platform] -= 1
        if ctx is None:
            # A duplicate (handled or being handled under its first delivery), or a chat
            # migration (recorded is handled).
            if isinstance(event, ChatMigrated):
                self._stamps.append((event.platform, event.update_key))
                self._start_stamping()
            else:
                self._release(event.platform, event.update_key)
            self._changed.set()  # it no longer counts as pending
            if done is not None and not done.done():
                done.set_result([])
            self._observe(event, [])  # nothing to do is done
            return
        self._pending[event.platform] += 1
        self._enqueue_event(_Taken(event, ctx, done))

    def _enqueue_event(self, taken: _Taken) -> None:
        # One queue per place people talk: a Telegram chat, a Discord channel (a guild's
        # channels do not wait for each other).
        event = taken.event
        key = (event.platform, f"{event.chat.id}/{event.channel_id or ''}")
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
        queue.append(taken)
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._work(key), name=f"chat {key}")

    async def _work(self, key: tuple[str, str]) -> None:
        queue = self._queues[key]
        current: list[_Taken] = []
        try:
            while queue:
                current = [queue.popleft() for _ in range(min(CHAT_BATCH, len(queue)))]
                # Handling in order; batchable commands of a run together.
                outcomes = await self._handle_recorded(
                    [t.event for t in current], [t.ctx for t in current]
                )
                for taken, results in zip(current, outcomes, strict=True):
                    self._settle_into(taken, results)
                current = []
            # no await since the check: nothing can be queued behind us unseen
        finally:
            # Also on cancellation: forget this worker so the chat stays usable, and cancel
            # what it will no longer handle (still recorded: a restart handles it).
            self._workers.pop(key, None)
            if self._queues.get(key) is queue:
                del self._queues[key]
            for taken in [*current, *queue]:
                self._forget(taken.event)
                if taken.done is not None and not taken.done.done():
                    taken.done.cancel()
            queue.clear()

    async def drain(self, deadline: float | None = None) -> bool:
        """Wait until every recorded event has been handled and its actions performed, or
        until ``deadline`` (the event loop's time). ``False``: the deadline came first, or
        nothing more can go out before it (every chat with waiting actions is throttled past
        it), so a stop stores them at once instead of waiting the slice out.

        Loaders of events left in the database stop (a restart handles those); what they
        already queued is handled.
        """
        for loader in [*self._loaders.values()]:
            loader.cancel()
        loop = asyncio.get_running_loop()
        while True:
            busy = [*self._workers.values(), *self._loaders.values()]
            busy += [self._recording] if self._recording is not None else []
            busy += [lane.task for lane in self._lanes.values() if lane.task is not None]
            busy += self._notifying
            if self._forgetting is not None:
                busy.append(self._forgetting)
            if not busy:
                return True
            if deadline is None:
                await asyncio.wait(busy)
                continue
            timeout = deadline - loop.time()
            if timeout <= 0 or self._throttled_past(timeout):
                return False
            self._progress.clear()
            progress = asyncio.ensure_future(self._progress.wait())
            try:
                await asyncio.wait(
                    [*busy, progress], timeout=timeout, return_when="FIRST_COMPLETED"
                )
            finally:
                progress.cancel()

    def _throttled_past(self, seconds: float) -> bool:
        """No handler is running, no call is on the wire, and the governor says no lane's next
        action can start within ``seconds`` (its chat's window is full, or a 429 pause)."""
        if self._workers or self._loaders or self._recording or self._forgetting is not None:
            return False
        if self._resolving:
            return False
        for key, lane in self._lanes.items():
            head = next((w for w in [*lane.sending, *lane.waiting] if not w.sent.done()), None)
            if lane.in_flight or head is None:
                return False
            governor = self.governors[head.action.platform]
            private = self._is_private(head.action)
            counted = self._counts(head.action)
            if governor.next_slot(key[0], private=private, counted=counted) < seconds:
                return False
        return True

    async def flush(self, *, quiet: bool = True) -> None:
        """Write every handled-stamp still waiting (shutdown: before the database closes),
        once the events whose actions were settled meanwhile (persisted for later) count.
        ``quiet=False``: only what the timer would write, quiet events' stamps keep waiting
        for a ride (``bench.inbound`` measures a quiet group's message so)."""
        while self._settling:
            await asyncio.wait([*self._settling])
        await asyncio.sleep(0)  # their done-callbacks queue the stamps
        if quiet:
            self._unquiet()
        if self._stamper is None:
            return  # nothing to write (the flag is not left set: the next batch waits its turn)
        self._stamp_now.set()
        while self._stamper is not None:
            await asyncio.gather(self._stamper, return_exceptions=True)

    def _unquiet(self) -> None:
        """Quiet events' stamps join the others, to be written now."""
        if self._quiet_stamps:
            self._stamps += self._take_quiet()
            self._stamp_now.set()
            self._start_stamping()

    def _take_quiet(self) -> list[tuple[str, str]]:
        """The quiet events' stamps, taken to be written (their timer stops)."""
        if self._quiet_timer is not None:
            self._quiet_timer.cancel()
            self._quiet_timer = None
        quiet, self._quiet_stamps = self._quiet_stamps, []
        return quiet

    async def _stop_stamping(self) -> None:
        """Before the database closes: the stamps waiting are written now (bounded), and the
        stamping task is gone."""
        self._unquiet()
        stamper = self._stamper
        if stamper is None:
            return
        self._stamp_now.set()
        done, _ = await asyncio.wait({stamper}, timeout=STOP_STAMPING_TIMEOUT)
        if not done:
            stamper.cancel()
            await asyncio.gather(stamper, return_exceptions=True)

    async def handle(self, event: EventBase) -> list[ActionResult]:
        """Handle one event completely, its actions performed. Never raises: failures are
        logged."""
        self._hold(event)
        try:
            [ctx] = await self._recorder.submit([event])
        except Exception:
            log.exception("event %s/%s could not be recorded", event.platform, event.update_key)
            self._holding[event.platform] -= 1
            self._release(event.platform, event.update_key)
            return []
        done: asyncio.Future[list[ActionResult]] = asyncio.get_running_loop().create_future()
        self._take(event, ctx, done)
        return await done

    def replay(self, platform: str) -> asyncio.Task[None]:
        """Handle the recorded, unhandled events of ``platform`` (a kill's leftovers, or
        those left in the database under load) from their stored JSON, in recorded order,
        without bookkeeping again; at most ``limits[platform]`` (default 1,000) in memory.
        The task ends when none is left; events submitted meanwhile queue behind."""
        loader = self._loaders.get(platform)
        if loader is None:
            loader = self._loaders[platform] = asyncio.create_task(
                self._load(platform), name=f"replay {platform}"
            )
        return loader

    async def _load(self, platform: str) -> None:
        limit = self.limits.get(platform, DEFAULT_BACKLOG)
        try:
            while True:
                room = await self.room(platform, limit)
                # Copied before the read: an event handled from memory leaves ``_inflight``
                # once its handled-stamp is committed, which may happen while this read runs
                # on a snapshot from before that commit; checking only the live set afterwards
                # would take it for unhandled and handle it a second time.
                skip = Counter(self._inflight.get(platform, ()))
                commits = self._spill_commits[platform]
                async with self.store.db.reading() as session:
                    rows = await self.store.updates.unhandled(
                        session, platform, limit=room + len(skip)
                    )
                held = self._inflight.get(platform, ())  # ``handle`` holds without asking
                fresh = [(key, data) for key, data in rows if key not in skip and key not in held]
                if not fresh:
                    if self._spilling[platform] or commits != self._spill_commits[platform]:
                        await asyncio.sleep(0.01)  # a batch is being recorded: look again
                        continue
                    return  # nothing left, nothing on its way: new events stay in memory
                events = [_EVENTS.validate_json(data) for _key, data in fresh]
                contexts = await self._contexts(events)
                log.info("%s: handling %d recorded events again", platform, len(events))
                for event, ctx in zip(events, contexts, strict=True):
                    self._hold(event)
                    if ctx is None:  # its chat is gone (migrated): nothing to handle
                        self._holding[platform] -= 1
                        self._stamps.append((platform, event.update_key))
                        self._start_stamping()
                        continue
                    self._chat_types[(event.platform, event.chat.id)] = event.chat.type
                    self._take(event, ctx, self._waiting.pop((platform, event.update_key), None))
        finally:
            self._loaders.pop(platform, None)
            for waiting in [w for w in self._waiting if w[0] == platform]:
                self._waiting.pop(waiting).cancel()  # stopped: a restart handles them

    async def _contexts(self, events: list[EventBase]) -> list[Context | None]:
        """Contexts of recorded events, read back without bookkeeping (counts not doubled)."""
        communities: dict[tuple[str, str], CommunityInfo | None] = {}
        members: dict[tuple[int, str], MemberInfo | None] = {}
        contexts: list[Context | None] = []
        async with self.store.db.reading() as session:
            for event in events:
                where = (event.platform, event.chat.id)
                if where not in communities:
                    communities[where] = await self.store.communities.find(session, *where)
                community = communities[where]
                if community is None or isinstance(event, ChatMigrated):
                    contexts.append(None)
                    continue
                member = None
                if event.sender is not None:
                    who = (community.id, clip(event.sender.id, PLATFORM_ID_LEN))
                    if who not in members:
                        members[who] = await self.store.members.find(session, *who)
                    member = members[who]
                contexts.append(Context(self, event, community, member))
        return contexts

    async def _handle_recorded(
        self, events: list[EventBase], contexts: list[Context | None]
    ) -> list[list[Sent]]:
        """Handle recorded events one after the other, in order (batchable runs together)."""
        outcomes: list[list[Sent]] = []
        #: A run of consecutive uses of one batchable command, admitted, not yet handled.
        run: list[Context] = []
        run_spec: CommandSpec | ButtonSpec | None = None

        async def finish_run() -> None:
            nonlocal run, run_spec
            if run and run_spec is not None:
                for results in await self._handle_run(run_spec, run):
                    outcomes.append(results)
                    self._observe(events[len(outcomes) - 1], results)
            run, run_spec = [], None

        for event, ctx in zip(events, contexts, strict=True):
            spec = self._batchable(event) if ctx is not None else None
            if run and spec is not run_spec:
                await finish_run()
            results: list[Sent] = []
            try:
                if spec is not None and ctx is not None:
                    if await self._admit(event, ctx):
                        run.append(ctx)
                        run_spec = spec
                        continue
                else:
                    results = await self._handle(event, ctx)
                    if self._posting:
                        await self._posted(results)
            except Exception:
                log.exception(
                    "event %s/%s in chat %s could not be handled",
                    event.platform,
                    event.update_key,
                    event.chat.id,
                )
            if run:  # an event that was not admitted ends the run before it
                await finish_run()
            outcomes.append(results)
            self._observe(event, results)
        if run:
            await finish_run()
        return outcomes

    def _observe(self, event: EventBase, sent: list[Sent]) -> None:
        """Tell the observers about the event once its actions are performed."""
        if not self.observers:
            return
        if not sent:  # most events (plain chatter) answer nothing: no task for them
            for observer in self.observers:
                observer(event, [])
            return

        def tell(settled: asyncio.Future[list[ActionResult]]) -> None:
            if settled.cancelled():
                return
            for observer in self.observers:
                observer(event, settled.result())

        asyncio.ensure_future(self._settled(sent)).add_done_callback(tell)

    def _batchable(self, event: EventBase) -> CommandSpec | ButtonSpec | None:
        """The batchable command this event uses, when it uses one without arguments, or the
        batchable button it presses, when its data fits the button's fields."""
        if isinstance(event, ButtonPressed):
            button = self.registry.button(event.data) if self.registry.button_batches else None
            if button is None or button.prefix not in self.registry.button_batches:
                return None
            return button if parse_button(button, event.data) is not None else None
        if not isinstance(event, MessageEvent) or not self.registry.batches:
            return None
        if event.command is not None:
            if event.command.arg_text.strip():
                return None
            spec = self.registry.commands.get(event.command.name)
        else:
            found = self.registry.keyword(event.text)
            spec = found[0] if found is not None and not found[1] else None
        if spec is None or spec.name not in self.registry.batches:
            return None
        # A command used where it does not work is refused one by one by ``_run_command``.
        return spec if spec.works_in(event.chat.is_private) else None

    async def _handle_run(
        self, spec: CommandSpec | ButtonSpec, run: list[Context]
    ) -> list[list[Sent]]:
        """Handle admitted uses of a batchable command (or presses of a batchable button)
        together; if the batch handler fails, each is handled alone by the plain handler (its
        claims make that safe)."""
        if isinstance(spec, ButtonSpec):
            where, batch = f"button {spec.prefix}", self.registry.button_batches[spec.prefix]
            for ctx in run:
                assert isinstance(ctx.event, ButtonPressed)
                ctx.args = parse_button(spec, ctx.event.data) or {}
        else:
            where, batch = f"command /{spec.name}", self.registry.batches[spec.name]
            for ctx in run:
                ctx.command = spec
        try:
            outcomes = await batch(run)
            if len(outcomes) != len(run):
                raise RuntimeError(f"batch {where} returned {len(outcomes)} for {len(run)}")
        except Exception:
            log.exception("batch %s of %d failed; handling them one by one", where, len(run))
            outcomes = [None] * len(run)
            for n, ctx in enumerate(run):
                outcomes[n] = await self._guard(ctx, where, spec.handler(ctx))
        # Every answer is queued before any listener runs: the chat's outbound queue sees the
        # whole run waiting at once and merges it when the chat's send limit cannot take it.
        results = [
            self._perform_all(ctx, outcome) for ctx, outcome in zip(run, outcomes, strict=True)
        ]
        for ctx, done in zip(run, results, strict=True):
            try:
                done += await self._listen(ctx)
            except Exception:
                log.exception("event %s could not be finished", ctx.event.update_key)
        return results

    async def _record(self, events: list[EventBase], *, keep: bool = True) -> list[Context | None]:
        """Dedupe and bookkeeping for a batch of events, in one transaction; with ``keep``,
        each event's JSON too, kept until it is marked handled."""
        # The serializer itself: ``model_dump_json`` costs a third more per event. Fields
        # that are None are left out (a fifth of a plain message's JSON, written and read
        # back for every event): each defaults to None, so the event read back is the same.
        payloads = (
            [
                event.__pydantic_serializer__.to_json(event, exclude_none=True).decode()
                for event in events
            ]
            if keep
            else None
        )
        # Handled-stamps waiting for their batch ride along: no transaction of their own.
        stamps, self._stamps = self._stamps + self._take_quiet(), []
        try:
            recorded = await record_events(
                self.store, events, self.clock.now(), payloads, handled=stamps
            )
        except BaseException:
            self._stamps[:0] = stamps
            if stamps:
                self._start_stamping()
            raise
        for platform, key in stamps:
            self._release(platform, key)
        contexts: list[Context | None] = []
        chat_types = self._chat_types
        for event, seen in zip(events, recorded, strict=True):
            if seen is None:
                log.debug(
                    "update %s/%s: duplicate or nothing to handle", event.platform, event.update_key
                )
                contexts.append(None)
                continue
            where, chat_type = (event.platform, event.chat.id), event.chat.type
            if chat_types.get(where) is not chat_type:  # read: now the most recently used
                chat_types[where] = chat_type
            ctx = Context(self, event, seen.community, seen.member)
            contexts.append(ctx)
            if self.registry.observers:
                self._watch(ctx)
        return contexts

    def _watch(self, ctx: Context) -> None:
        """Show a freshly recorded event to the features watching its kind (once per update:
        a duplicate is not recorded again, a replay does not come through here)."""
        watching = self.registry.watching(getattr(ctx.event, "kind", ""))
        if not watching:
            return
        off = self.registry.switched_on(ctx).observers_off
        for observer in watching:
            if off and id(observer) in off:
                continue  # switched off in this community
            try:
                observer.handler(ctx)
            except Exception:
                log.exception("an observer failed on update %s", ctx.event.update_key)

    def emit(self, ctx: Context, signal: object) -> None:
        """Give a feature's signal (``bot.signals``) to the features receiving its type."""
        for receiver in self.registry.receivers.get(type(signal), ()):
            try:
                receiver.handler(ctx, signal)
            except Exception:
                log.exception("%s could not receive %r", receiver.feature, signal)

    async def _handle(self, event: EventBase, ctx: Context | None) -> list[Sent]:
        """Route an admitted event. One that reached no command, button or listener and
        queued no action anywhere meanwhile (plain chatter) is *quiet*: handling it again
        repeats only the middleware checks, so its handled-stamp costs no write of its own
        (it rides along with the next one; a kill before that replays it, harmlessly).
        Middleware must therefore act (queue actions) for anything it changes."""
        enqueued = self._enqueued
        if ctx is None or not await self._admit(event, ctx):
            return []
        results: list[Sent] = []
        routed = False
        if isinstance(event, MessageEvent):
            # Most messages are chatter: neither a command nor a keyword, nothing to route.
            if event.command is not None or self.registry.keyword(event.text) is not None:
                routed = True
                results += await self._route_message(ctx, event)
        elif isinstance(event, ButtonPressed):
            routed = True
            results += await self._route_button(ctx, event)
        if self.registry.listening(getattr(event, "kind", "")):
            routed = True
            results += await self._listen(ctx)
        if not routed and self._enqueued == enqueued:  # another chat's action counts too
            self._quiet.add((event.platform, event.update_key))
        return results

    async def _admit(self, event: EventBase, ctx: Context) -> bool:
        """Whether the event reaches commands and listeners: fresh, passed by every
        middleware, not from a bot."""
        if self._is_stale(event):
            # Recorded above, but an old event (redelivered after downtime) triggers no reply
            # and no punishment: the group is not flooded, nobody is punished for the past.
            log.debug("stale update %s/%s: recorded only", event.platform, event.update_key)
            return False
        for middleware in self.registry.switched_on(ctx).middlewares:
            # A crashing middleware is logged and skipped (no apology: the member asked nothing);
            # one broken gate must not silence the whole bot. (``_guard`` inlined: this runs
            # for every event.)
            try:
                proceed = await middleware.handler(ctx)
            except Exception:
                self._log_failure(ctx, f"middleware {middleware.feature}")
                continue
            if proceed is False:
                return False
        return not (event.sender is not None and event.sender.is_bot)

    async def _listen(self, ctx: Context) -> list[Sent]:
        results: list[Sent] = []
        for listener in self.registry.listening(getattr(ctx.event, "kind", "")):
            outcome = await self._guard(ctx, f"listener {listener.feature}", listener.handler(ctx))
            results += self._perform_all(ctx, outcome)
        return results

    def _is_stale(self, event: EventBase) -> bool:
        adapter = self.outbound.get(event.platform)
        limit = adapter.stale_after if adapter is not None else None
        return limit is not None and self.clock.now() - event.at > limit

    async def _route_message(self, ctx: Context, event: MessageEvent) -> list[Sent]:
        command = event.command
        spec: CommandSpec | None
        if command is not None:
            spec = self.registry.commands.get(command.name)
            if spec is None:
                if ctx.is_private:
                    hint = ctx.reply("help.unknown_command", command=Code(text="/" + command.name))
                    return self._perform_all(ctx, hint)
                return []  # many bots share a group: stay silent
        else:
            found = self.registry.keyword(event.text)
            if found is None:
                return []
            spec, arg_text = found
            command = Command(name=spec.name, args=split_args(arg_text), arg_text=arg_text)
        return await self._run_command(ctx, spec, command)

    async def _run_command(self, ctx: Context, spec: CommandSpec, command: Command) -> list[Sent]:
        ctx.command = spec
        if not spec.works_in(ctx.is_private):
            # A private chat is not a community (and a community is no place for what is
            # private): say where the command works instead of running it here.
            intent = "error.group_only" if ctx.is_private else "error.private_only"
            where = ctx.reply(
                intent, private=not ctx.is_private, command=Code(text="/" + spec.name)
            )
            return self._perform_all(ctx, where)
        refusal = await ctx.refusal(spec.roles)
        if refusal is not None:
            return self._perform_all(ctx, refusal)
        try:
            ctx.args = await parse_arguments(ctx, spec, command)
        except ArgError as problem:
            reply = ctx.reply(
                f"error.{problem.reason}", private=True, usage=ctx.usage(spec), **problem.detail
            )
            return self._perform_all(ctx, reply)
        outcome = await self._guard(ctx, f"command /{spec.name}", spec.handler(ctx))
        return self._perform_all(ctx, outcome)

    async def _route_button(self, ctx: Context, event: ButtonPressed) -> list[Sent]:
        spec = self.registry.button(event.data)
        values = parse_button(spec, event.data) if spec is not None else None
        if spec is None or values is None:
            # Unknown, malformed or forged data (a press is client input): the same answer
            # as an old button, never a traceback.
            note = ctx.say("error.button_expired").plain()
            return self._perform_all(
                ctx,
                AnswerButton(
                    platform=event.platform,
                    chat_id=event.chat.id,
                    channel_id=event.channel_id,
                    press_id=event.press_id,
                    text=note,
                ),
            )
        ctx.args = values
        outcome = await self._guard(ctx, f"button {spec.prefix}", spec.handler(ctx))
        return self._perform_all(ctx, outcome)

    # -- isolation and outbound -----------------------------------------------------------
    async def _guard(
        self, ctx: Context, where: str, work: Awaitable[Any], *, apologise: bool = True
    ) -> Any:
        """Run handler code; on failure log it with context and apologise to the member."""
        try:
            return await work
        except Exception:
            event = ctx.event
            self._log_failure(ctx, where)
            if not apologise:
                return None
            try:
                # The apology is the outcome: queued like any answer, in the chat's order.
                if isinstance(event, ButtonPressed):
                    note = ctx.say("error.apology").plain()
                    return AnswerButton(
                        platform=event.platform,
                        chat_id=event.chat.id,
                        channel_id=event.channel_id,
                        press_id=event.press_id,
                        text=note,
                    )
                if isinstance(event, MessageEvent):
                    return ctx.reply("error.apology")
            except Exception:
                log.exception("the apology failed too")
            return None

    @staticmethod
    def _log_failure(ctx: Context, where: str) -> None:
        """Log the exception being handled with the event's context (in an ``except``)."""
        event = ctx.event
        log.exception(
            "%s failed on %s update %s in chat %s (sender %s)",
            where,
            event.platform,
            event.update_key,
            event.chat.id,
            event.sender.id if event.sender else "-",
        )

    def _perform_all(self, ctx: Context, outcome: Any) -> list[Sent]:
        """Queue the outcome's actions without waiting for them (handling never waits for
        sending); a declined moderation action is explained in the chat once it is known."""
        sent: list[Sent] = []
        for action in as_actions(outcome):
            queued = self.enqueue(action)
            if _anchor_of(action) is not None and not queued.done():
                self._posting.add(queued)
                queued.add_done_callback(self._posting.discard)
            if not isinstance(action, (*_MESSAGE_KINDS, AnswerButton)):
                queued = asyncio.ensure_future(self._explain(ctx, action, queued))
            sent.append(queued)
        return sent

    async def _posted(self, sent: list[Sent]) -> None:
        """Wait until the event's anchored sends are performed and bound (as when a handler
        posted and bound them itself): the next event of the chat may edit the message."""
        posting = [queued for queued in sent if queued in self._posting]
        if posting:
            await asyncio.wait(posting)

    async def _explain(self, ctx: Context, action: Action, queued: Sent) -> ActionResult:
        result = await queued
        if not result.ok:
            intent = f"declined.{(result.reason or DeclineReason.FAILED).value}"
            # The right as the operator finds it in the platform's settings, in the chat's
            # language, with its technical name (``declined.right.*``); else the raw name.
            right = result.detail or action.kind
            if ctx.renderer.packs.has(named := f"declined.right.{right}"):
                right = ctx.say(named).plain()
            await self.enqueue(ctx.reply(intent, right=right))
        return result

    def _settle_into(self, taken: _Taken, sent: list[Sent]) -> None:
        """Resolve an event's future once its queued actions are settled (performed, given
        up or declined), and only then count it handled (its stamp is group-committed)."""
        if not sent:
            self._handled(taken, [])
            return

        def finish(settled: asyncio.Future[list[ActionResult]]) -> None:
            if settled.cancelled():
                # Shutdown cancelled its actions: not handled, a restart handles it again.
                self._forget(taken.event)
                if taken.done is not None and not taken.done.done():
                    taken.done.cancel()
            else:
                self._handled(taken, settled.result())

        settling = asyncio.ensure_future(self._settled_or_cancelled(sent))
        settling.add_done_callback(finish)
        self._settling.add(settling)
        settling.add_done_callback(self._settling.discard)

    @staticmethod
    async def _settled_or_cancelled(sent: list[Sent]) -> list[ActionResult]:
        """Like ``_settled``, but cancelled when any action was cancelled (not performed)."""
        await asyncio.wait(sent)
        if any(s.cancelled() for s in sent):
            raise asyncio.CancelledError
        return await Dispatcher._settled(sent)

    def _handled(self, taken: _Taken, results: list[ActionResult]) -> None:
        event = taken.event
        self._pending[event.platform] -= 1
        self._changed.set()
        key = (event.platform, event.update_key)
        if key in self._quiet:
            self._quiet.discard(key)
            self._quiet_stamps.append(key)
            if len(self._quiet_stamps) >= STAMP_BATCH:
                self._unquiet()
            elif self._quiet_timer is None:
                loop = asyncio.get_running_loop()
                self._quiet_timer = loop.call_later(QUIET_STAMP_DELAY, self._unquiet)
        else:
            self._stamps.append(key)
            self._start_stamping()
        if taken.done is not None and not taken.done.done():
            taken.done.set_result(results)

    def _forget(self, event: EventBase) -> None:
        """An event that will not be handled in this run (shutdown): left to a replay."""
        self._pending[event.platform] -= 1
        self._changed.set()
        self._quiet.discard((event.platform, event.update_key))
        self._release(event.platform, event.update_key)

    def _start_stamping(self) -> None:
        if len(self._stamps) >= STAMP_BATCH:
            self._stamp_now.set()
        if self._stamper is None:
            self._stamper = asyncio.create_task(self._stamp(), name="handled stamps")

    async def _stamp(self) -> None:
        """Mark handled events in batches: with the next recording (``_record``), else after
        ``STAMP_DELAY`` seconds, or at once when ``STAMP_BATCH`` wait or on :meth:`flush`; a
        kill loses at most that window's stamps (those events are handled again after the
        restart)."""
        try:
            loop = asyncio.get_running_loop()
            while self._stamps:
                if not self._stamp_now.is_set():
                    # A timer, not ``wait_for`` (a task of its own each time): this runs for
                    # every lone message.
                    timer = loop.call_later(STAMP_DELAY, self._stamp_now.set)
                    try:
                        await self._stamp_now.wait()
                    finally:
                        timer.cancel()
                self._stamp_now.clear()
                keys, self._stamps = self._stamps + self._take_quiet(), []  # quiet ones ride
                if not keys:
                    continue  # a recording took them along meanwhile
                try:
                    updates = self.store.updates
                    if updates.plain:  # one trip, no ORM
                        await updates.claim_alone([], self.clock.now(), handled=keys)
                    else:
                        async with self.store.transaction() as session:
                            await updates.mark_handled(session, keys, self.clock.now())
                except Exception:
                    log.exception(
                        "%d handled updates could not be marked so; a restart handles them again",
                        len(keys),
                    )
                for platform, key in keys:
                    self._release(platform, key)
        finally:
            self._stamper = None

    @staticmethod
    async def _settled(sent: list[Sent]) -> list[ActionResult]:
        """The results of queued actions, once all are performed (cancelled ones: failed)."""
        outcomes = await asyncio.gather(*sent, return_exceptions=True)
        return [
            o if isinstance(o, ActionResult) else ActionResult.declined(DeclineReason.FAILED)
            for o in outcomes
        ]

    async def perform(self, action: Action) -> ActionResult:
        """Perform one action in its chat's order and wait for its result (a handler that
        needs the posted message's id). Cancelling the wait does not withdraw the action."""
        return await asyncio.shield(self.enqueue(action))

    def enqueue(self, action: Action) -> Sent:
        """Queue an action behind the earlier ones of its chat and returns at once.

        Messages (replies, sends, edits, polls) go out in order through the chat's window;
        everything else (delete, restrict, ban, button answers...) takes a lane of its own,
        so moderation is never held behind pending messages.
        """
        return self._enqueue(action)

    def _enqueue(self, action: Action, row_id: int | None = None) -> Sent:
        self._enqueued += 1
        sent: Sent = asyncio.get_running_loop().create_future()
        if isinstance(action, Notify) and action.role is not None and not self._closed:
            self._notify_role(_Waiting(action, sent, row_id))
            return sent
        if action.platform not in self.outbound:
            log.error("no adapter for platform %s; %s dropped", action.platform, action.kind)
            sent.set_result(ActionResult.declined(DeclineReason.UNSUPPORTED, action.platform))
            return sent
        if self._closed:
            # Only a handler the stop cut off gets here; its event did not finish, so it does
            # not count as handled.
            log.warning("%s to %s:%s after the stop: dropped", action.kind, *_where(action))
            sent.set_result(ActionResult.declined(DeclineReason.FAILED, "stopped"))
            return sent
        key = (self._place(action), not isinstance(action, _MESSAGE_KINDS))
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        lane.waiting.append(_Waiting(action, sent, row_id))
        if lane.task is None and not self._closing:  # closing: it waits to be stored
            lane.task = asyncio.create_task(self._send_lane(key, lane), name=f"outbound {key}")
        return sent

    @staticmethod
    def _place(action: Action) -> str:
        if isinstance(action, Notify) and action.user_id is not None:
            # The member's private chat: paced as one (on Telegram its id is the user's, so a
            # notice waits its turn with the private replies to that member).
            return f"{action.platform}:{action.user_id}"
        place = f"{action.platform}:{action.chat_id}"
        if action.channel_id and action.channel_id != action.chat_id:
            place += f":{action.channel_id}"  # Discord limits sends per channel
        return place

    def _counts(self, action: Action) -> bool:
        """Whether the action uses the chat's send window (an answer to a Discord
        interaction does not, and is never merged: it answers its own interaction)."""
        return isinstance(action, _MESSAGE_KINDS) and self.outbound[action.platform].counts(action)

    def _is_private(self, action: Action) -> bool:
        if isinstance(action, Notify):
            return True
        return self._chat_types.get((action.platform, action.chat_id)) is ChatType.PRIVATE

    async def _send_lane(self, key: tuple[str, bool], lane: _Lane) -> None:
        """Perform a lane's actions one after the other until it is empty."""
        try:
            while lane.waiting and not self._closing:
                head = lane.waiting.popleft()
                if head.sent.done():
                    continue
                if _is_answer(head) and lane.waiting and _is_answer(lane.waiting[0]):
                    await self._answer_buttons(lane, head)  # a run of them: side by side
                    continue
                lane.sending = [head]
                governor = self.governors[head.action.platform]
                # More waiting than the chat's window takes now: merge what may be merged,
                # at the moment the slot opens (what arrived during the wait joins too).
                merging = (
                    _merge_of(head.action) is not None
                    and self._counts(head.action)
                    and len(lane.waiting) + 1
                    > governor.free_slots(key[0], private=self._is_private(head.action))
                )
                result = await self._deliver(lane, head.action, self._builder(lane, merging))
                try:
                    if (
                        isinstance(head.action, Notify)
                        and result.reason is DeclineReason.UNREACHABLE
                    ):
                        # Settled below also when a stop cuts the fallback off: the platform
                        # refused already and the mention (if any) is queued, stored with the
                        # rest: not again.
                        result = await self._fall_back(head.action, result)
                    anchor = _anchor_of(head.action)
                    if anchor is not None and result.message_id:
                        # Shielded: a stop cancelling the lane now leaves the binding to
                        # finish, and the send counts as performed (never stored again).
                        await asyncio.shield(self._bind(anchor, result.message_id))
                finally:
                    for waiting in lane.sending:
                        self._settle(waiting, result)
                    lane.sending = []
                self._progress.set()
        finally:
            lane.task = None
            if not self._closing:
                # Cancelled otherwise than by a stop: what was not performed is cancelled,
                # and a later action starts a fresh lane.
                if self._lanes.get(key) is lane:
                    del self._lanes[key]
                for waiting in [*lane.sending, *lane.waiting]:
                    waiting.sent.cancel()
            elif not lane.sending and not lane.waiting and self._lanes.get(key) is lane:
                del self._lanes[key]
            # else: a stop; ``persist_waiting`` stores what the lane still holds.

    async def _answer_buttons(self, lane: _Lane, head: _Waiting) -> None:
        """Perform the run of button answers at the head of a lane side by side, at most
        ``ANSWERS_AT_ONCE`` on the wire; what follows the run in the lane (a ban) waits for
        it, as before. Answers that join the run while it goes out are taken too. An answer
        leaves ``lane.waiting`` only as it starts, so a stop finds every other one there."""
        running: set[asyncio.Future[None]] = set()

        async def answer(waiting: _Waiting) -> None:
            result = await self._deliver(lane, waiting.action, lambda: waiting.action)
            self._settle(waiting, result)
            lane.sending.remove(waiting)
            self._progress.set()

        def start(waiting: _Waiting) -> None:
            if not waiting.sent.done():
                lane.sending.append(waiting)
                running.add(asyncio.ensure_future(answer(waiting)))

        start(head)
        try:
            while True:
                while (
                    lane.waiting
                    and len(running) < ANSWERS_AT_ONCE
                    and _is_answer(lane.waiting[0])
                    and not self._closing
                ):
                    start(lane.waiting.popleft())
                if not running:
                    return
                _done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in running:  # the lane was cancelled (a stop): so are its calls
                task.cancel()
            if running:
                await asyncio.wait(running)

    def _builder(self, lane: _Lane, merging: bool) -> Callable[[], Action]:
        """What the governor calls when the slot opens (once, kept for retries)."""
        built: list[Action] = []

        def build() -> Action:
            if not built:
                head = lane.sending[0].action
                built.append(self._merge_waiting(lane) if merging else head)
            return built[0]

        return build

    def _merge_waiting(self, lane: _Lane) -> Action:
        """Move the waiting messages that merge with the one being sent into
        ``lane.sending`` and build the one message that answers them all."""
        batch = lane.sending
        head = batch[0].action
        merge = _merge_of(head)
        assert isinstance(head, _MESSAGE_KINDS) and merge is not None
        lines = [merge.line]
        size = len(merge.header.plain()) + len(merge.line.plain())
        keep: deque[_Waiting] = deque()
        for waiting in lane.waiting:
            other = _merge_of(waiting.action)
            fits = (
                other is not None
                and other.key == merge.key
                and type(waiting.action) is type(head)
                and getattr(waiting.action, "private", False) == getattr(head, "private", False)
                and not waiting.sent.done()
                and self._counts(waiting.action)
                and size + len(other.line.plain()) + 1 <= MERGED_MAX_CHARS
            )
            if other is not None and fits:
                batch.append(waiting)
                lines.append(other.line)
                size += len(other.line.plain()) + 1
            else:
                keep.append(waiting)
        lane.waiting = keep
        if len(batch) == 1:
            return head
        log.info("merged %d %s messages in %s", len(batch), merge.key, head.chat_id)
        update: dict[str, Any] = {"text": RichText.join([merge.header, *lines]), "merge": None}
        if isinstance(head, Reply):
            update["to_message_id"] = None  # it answers many messages, not the first
        return head.model_copy(update=update)

    async def _deliver(
        self, lane: _Lane, action: Action, build: Callable[[], Action]
    ) -> ActionResult:
        """Perform an action (``build`` makes it when its slot opens) through the governor."""
        outbound = self.outbound[action.platform]
        governor = self.governors[action.platform]

        async def attempt() -> ActionResult:
            if self._closing:
                # The slot opened after the stop began: make no new call, wait to be stored.
                await asyncio.get_running_loop().create_future()
            built = build()
            lane.in_flight += 1
            try:
                return await outbound.perform(built)
            except asyncio.CancelledError:
                lane.cut_off = self._closing
                raise
            finally:
                lane.in_flight -= 1

        try:
            return await governor.run(
                self._place(action),
                attempt,
                private=self._is_private(action),
                counted=self._counts(action),
            )
        except Exception:
            # Given up (retries spent, or a send that may have arrived): never silently.
            log.exception("%s to %s:%s not delivered", action.kind, action.platform, action.chat_id)
            return ActionResult.declined(DeclineReason.FAILED)

    async def _bind(self, anchor: Anchor, message_id: str) -> None:
        """Store a posted message's id on the row it stands for (never raises: a message
        left unbound is only not edited later)."""
        try:
            async with self.store.transaction() as session:
                await self.store.posts.bind(session, anchor, message_id)
        except Exception:
            log.exception(
                "message %s of %s %d could not be bound: it will not be edited",
                message_id,
                anchor.kind,
                anchor.id,
            )

    # -- private notices ------------------------------------------------------------------
    def _notify_role(self, waiting: _Waiting) -> None:
        """A notice to every holder of a role: one ``Notify`` each, through their own private
        lanes; ``waiting.sent`` resolves with the parts' results combined."""
        task = asyncio.create_task(self._notify_holders(waiting), name="notify role")
        self._resolving[task] = waiting
        self._notifying.add(task)
        task.add_done_callback(self._notifying.discard)

    async def _notify_holders(self, waiting: _Waiting) -> None:
        notice = waiting.action
        assert isinstance(notice, Notify) and notice.role is not None
        task = asyncio.current_task()
        try:
            holders = await self.holders(notice.platform, notice.chat_id, Role(notice.role))
        except Exception:
            log.exception("holders of %s in %s:%s not found", notice.role, *_where(notice))
            holders = None
        if task is not None and self._resolving.pop(task, None) is None:
            return  # a stop stored the notice meanwhile
        if holders is None:
            result = ActionResult.declined(DeclineReason.FAILED, "holders")
        elif not holders:
            result = ActionResult.declined(DeclineReason.NOT_FOUND, f"role:{notice.role}")
        else:
            parts = [
                self._enqueue(notice.model_copy(update={"role": None, "user_id": user_id}))
                for user_id in holders
            ]
            result = _combined(await self._settled(parts))
        if not waiting.sent.done():
            waiting.sent.set_result(result)
        # A restored notice's row goes once its parts settled, also when a stop stored them:
        # they are rows of their own then.
        if waiting.row_id is not None:
            self._drop_row(waiting.row_id)

    async def holders(self, platform: str, chat_id: str, role: Role) -> list[str]:
        """The platform user ids holding ``role`` (or a role implying it) in the community
        ``chat_id``: owners (config), the platform's admins there, and members granted it
        who have not left. Each once, in that order."""
        found: dict[str, None] = {}
        for owner_platform, user_id in sorted(owner_keys(self.settings.owners.ids)):
            if owner_platform == platform:
                found[user_id] = None
        if role in effective({Role.ADMIN}):
            outbound = self.outbound.get(platform)
            if outbound is not None:
                for user_id, name in (await outbound.chat_admins(chat_id)).items():
                    found[user_id] = None
                    # A name to mention them by should the platform refuse: an admin may
                    # never have spoken where the bot could see it (no member row).
                    self._names[(platform, user_id)] = name
        async with self.store.db.reading() as session:
            community = await self.store.communities.find(session, platform, chat_id)
            granted = (
                await self.store.roles.in_community(session, community.id) if community else []
            )
        for member, held in granted:
            if member.left_at is None and not member.is_bot and role in effective({held}):
                found[member.platform_user_id] = None
        return list(found)

    async def _fall_back(self, notice: Notify, refused: ActionResult) -> ActionResult:
        """The platform refused a private notice: remember the member cannot be reached, then
        mention them in the community with a short line, or record the notice undelivered.
        Its attachments are private: neither fallback posts or keeps them."""
        assert notice.user_id is not None
        user_id, store = notice.user_id, self.store
        member: MemberInfo | None = None
        community: CommunityInfo | None = None
        try:
            async with store.transaction() as session:
                await store.persons.mark_unreachable(session, notice.platform, user_id)
                if notice.fallback == "record":
                    await store.notices.record(
                        session,
                        platform=notice.platform,
                        chat_id=notice.chat_id,
                        user_id=user_id,
                        text=notice.text,
                        reason=refused.detail or "refused",
                        now=self.clock.now(),
                        # Private data: only counted, never kept.
                        dropped_pictures=len(notice.pictures),
                        dropped_files=int(notice.document is not None),
                    )
                else:
                    community = await store.communities.find(
                        session, notice.platform, notice.chat_id
                    )
                    if community is not None:
                        member = await store.members.find(session, community.id, user_id)
        except Exception:
            log.exception("refused notice to %s in %s:%s not kept", user_id, *_where(notice))
            return ActionResult.declined(DeclineReason.FAILED, refused.detail)
        unreached = ActionResult(ok=False, reason=DeclineReason.UNREACHABLE, unreached=(user_id,))
        if notice.fallback == "record":
            log.info("notice to %s in %s:%s recorded undelivered", user_id, *_where(notice))
            return unreached.model_copy(update={"detail": "recorded"})
        texts = store.persona_texts.of(community.id) if community is not None else None
        persona = resolve_persona(self.settings, community, texts)
        renderer = self.renderer
        name = self._names.get((notice.platform, user_id), user_id)
        name = member.display_name if member is not None else name
        text = renderer.render(
            persona, "notify.unreachable", member=renderer.address(persona, user_id, name)
        )
        mention = Send(
            platform=notice.platform,
            chat_id=notice.chat_id,
            channel_id=notice.channel_id,
            text=text,
        )
        # Waited for, so the notice settles (and its event counts handled) once the member
        # was told where they can be reached.
        said = await self.enqueue(mention)
        return unreached.model_copy(update={"detail": "mentioned", "message_id": said.message_id})

    # -- shutdown and restart -------------------------------------------------------------
    async def persist_waiting(self, deadline: float) -> int:
        """Stop sending and store what still waits, by ``deadline`` (the event loop's time).

        Lanes waiting for a slot or a retry stop at once; a call on the wire gets a third of
        the time left to finish. Each stored action's future resolves as
        ``ActionResult.persisted()``, so a handler still waiting for a send (a poll's message)
        goes on; events still being handled after that are cancelled (not handled), and what
        they queued meanwhile is stored too. Returns how many actions were stored.
        """
        loop = asyncio.get_running_loop()
        self._closing = True
        await self._stop_lanes(deadline)
        stored = await self._store_waiting(self._take_waiting(), deadline)
        workers = [*self._workers.values()]
        if workers:
            await asyncio.wait(workers, timeout=max((deadline - loop.time()) / 2, 0.01))
            for worker in workers:
                worker.cancel()
            await asyncio.wait(workers, timeout=max(deadline - loop.time(), 0.01))
        # Also without workers now: one may have answered and ended while the rows above were
        # written. Closed before taking, so nothing can slip into a queue after this take.
        self._closed = True
        stored += await self._store_waiting(self._take_waiting(), deadline)
        if self._forgetting is not None:
            await asyncio.wait([self._forgetting], timeout=max(deadline - loop.time(), 0.01))
        return stored

    async def _stop_lanes(self, deadline: float) -> None:
        """Cancel the lanes' tasks: at once where no call is on the wire, else after a grace."""
        loop = asyncio.get_running_loop()
        lanes = [*self._lanes.values()]
        tasks = [lane.task for lane in lanes if lane.task is not None]
        on_wire = [lane.task for lane in lanes if lane.task is not None and lane.in_flight]
        for lane in lanes:
            if lane.task is not None and not lane.in_flight:
                lane.task.cancel()
        if on_wire:
            await asyncio.wait(on_wire, timeout=max((deadline - loop.time()) / 3, 0.01))
            for task in on_wire:
                task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=max(deadline - loop.time(), 0.01))

    def _take_waiting(self) -> list[_Waiting]:
        keep: list[_Waiting] = []
        # Notices to a role whose holders were not known yet: stored as they are (those
        # whose parts are queued are stored as those parts, below).
        for task, waiting in [*self._resolving.items()]:
            task.cancel()
            keep.append(waiting)
        self._resolving.clear()
        for lane in [*self._lanes.values()]:
            keep += self._to_store(lane)
        self._lanes.clear()
        return keep

    def _to_store(self, lane: _Lane) -> list[_Waiting]:
        """What of a stopped lane is stored: everything not performed, in order, but button
        answers (meaningless later) and a send the stop cut off on the wire (it may have
        arrived; as ``Unsure`` in the governor, never sent twice)."""
        keep: list[_Waiting] = []
        on_wire = {id(waiting) for waiting in lane.sending} if lane.cut_off else set()
        for waiting in [*lane.sending, *lane.waiting]:
            action = waiting.action
            if waiting.sent.done():
                continue
            if isinstance(action, AnswerButton):
                log.info("button answer in %s:%s dropped by the stop", *_where(action))
                self._settle(waiting, ActionResult.declined(DeclineReason.FAILED, "stopped"))
            elif id(waiting) in on_wire and isinstance(action, _NOT_REPEATED):
                log.warning(
                    "%s to %s:%s cut off by the stop; it may have arrived, not sent again",
                    action.kind,
                    *_where(action),
                )
                self._settle(waiting, ActionResult.declined(DeclineReason.FAILED, "unsure"))
            else:
                keep.append(waiting)
        lane.sending, lane.waiting = [], deque()
        return keep

    async def _store_waiting(self, keep: list[_Waiting], deadline: float) -> int:
        """One transaction for every waiting action (restored ones are stored already)."""
        new = [waiting for waiting in keep if waiting.row_id is None]
        if new:
            loop = asyncio.get_running_loop()
            # In a task of its own, left behind if late: a write cut off by a timeout rolls
            # back, and SQLAlchemy runs a session's close to completion whatever cancels it,
            # so on a connection that does not answer, an ``asyncio.timeout`` around the
            # write would hold the stop for good.
            writing = asyncio.ensure_future(self._write_waiting([w.action for w in new]))
            try:
                await asyncio.wait([writing], timeout=max(deadline - loop.time(), 0.05))
                if not writing.done():
                    writing.cancel()
                    writing.add_done_callback(_quietly)  # its end is not awaited
                    raise TimeoutError("the database did not answer in time")
                writing.result()
            except Exception:  # TimeoutError included
                log.exception("%d waiting action(s) could not be stored: lost", len(new))
                for waiting in new:
                    self._settle(waiting, ActionResult.declined(DeclineReason.FAILED, "lost"))
                new = []
            else:
                log.info("stopping: %d waiting action(s) stored for after the restart", len(new))
        for waiting in keep:
            if not waiting.sent.done():  # restored ones stay stored in any case
                waiting.sent.set_result(ActionResult.persisted())
        return len(new)

    async def _write_waiting(self, actions: list[Action]) -> None:
        async with self.store.transaction() as session:
            await self.store.waiting.save(session, actions, self.clock.now())

    async def restore_waiting(self, platform: str) -> int:
        """Queue again, in their order, the actions a stop stored for ``platform`` (call it
        once its adapter is started); each row is deleted once its action is performed or
        finally refused. Returns how many were queued."""
        async with self.store.transaction() as session:
            rows = await self.store.waiting.load(session, platform)
        now = self.clock.now()
        expired: list[int] = []
        for row_id, action in rows:
            until = action.until if isinstance(action, (Restrict, Ban)) else None
            if until is not None and until.tzinfo is None:  # never a reason not to start
                until = until.replace(tzinfo=UTC)
            if until is not None and until <= now + _UNTIL_MARGIN:
                log.info("stored %s in %s:%s has expired: dropped", action.kind, *_where(action))
                expired.append(row_id)
                continue
            self._enqueue(action, row_id)
        # The adapter is already taking updates (those that came during the downtime arrive
        # first): what was asked for before the stop goes ahead of what was asked since.
        for lane in self._lanes.values():
            if any(waiting.row_id is None for waiting in lane.waiting):
                lane.waiting = deque(sorted(lane.waiting, key=lambda w: w.row_id is None))
        if expired:
            async with self.store.transaction() as session:
                await self.store.waiting.forget(session, expired)
        if rows:
            log.info("%s: %d stored action(s) queued again", platform, len(rows) - len(expired))
        return len(rows) - len(expired)

    def _settle(self, waiting: _Waiting, result: ActionResult) -> None:
        """Resolve a waiting action's future; a restored one's row is deleted (in the lane's
        own step, so ``drain`` sees the deletion under way), unless it was stored again."""
        if not waiting.sent.done():
            waiting.sent.set_result(result)
        if waiting.row_id is None or result.is_persisted:
            return
        self._drop_row(waiting.row_id)

    def _drop_row(self, row_id: int) -> None:
        """Delete a restored action's row (in the background, batched with others)."""
        self._done_rows.append(row_id)
        if self._forgetting is None:
            self._forgetting = asyncio.create_task(self._forget_rows(), name="forget sent rows")

    async def _forget_rows(self) -> None:
        try:
            while self._done_rows:
                ids, self._done_rows = self._done_rows, []
                try:
                    async with self.store.transaction() as session:
                        await self.store.waiting.forget(session, ids)
                except Exception:
                    # Not lost: those rows go out once more after the next restart.
                    log.exception("%d sent action(s) could not be unmarked", len(ids))
        finally:
            self._forgetting = None

    async def is_admin(self, platform: str, chat_id: str, user_id: str) -> bool:
        outbound = self.outbound.get(platform)
        if outbound is None:
            return False
        try:
            return await outbound.is_admin(chat_id, user_id)
        except Exception:
            log.exception(
                "could not ask %s whether %s is an admin of %s", platform, user_id, chat_id
            )
            return False

    def command_summary(self, spec: CommandSpec, locale: str) -> str:
        """A command's one-line help in a persona locale (for platform command menus)."""
        key = f"{spec.help_key}.summary"
        renderer = self.renderer
        if not renderer.packs.has(key):
            return spec.name
        persona = resolve_persona(self.settings, None).model_copy(
            update={"locale": locale, "emoji": 0}
        )
        return renderer.render(persona, key).plain()

    async def persona_name(self, platform: str, chat_id: str) -> str:
        """The persona's name in a chat (operators may rename it per community)."""
        async with self.store.transaction() as session:
            community = await self.store.communities.find(session, platform, chat_id)
        return resolve_persona(self.settings, community).name


def _quietly(task: asyncio.Future[None]) -> None:
    """Collect a task left behind (its failure was logged as the rows' loss already)."""
    if not task.cancelled():
        task.exception()


def _where(action: Action) -> tuple[str, str]:
    return action.platform, action.chat_id


def _anchor_of(action: Action) -> Anchor | None:
    return action.anchor if isinstance(action, Send) else None


def _combined(results: list[ActionResult]) -> ActionResult:
    """One result for the parts of a notice to a role: done when each member got it
    privately, stored when a stop stored a part, else who could not be reached and how."""
    if any(result.is_persisted for result in results):
        return ActionResult.persisted()
    if all(result.ok for result in results):
        return ActionResult.done()
    unreached = tuple(user_id for result in results for user_id in result.unreached)
    if unreached:
        how = next(r.detail for r in results if r.reason is DeclineReason.UNREACHABLE)
        return ActionResult(
            ok=False, reason=DeclineReason.UNREACHABLE, detail=how, unreached=unreached
        )
    failed = next(result for result in results if not result.ok)
    return failed


def _is_answer(waiting: _Waiting) -> bool:
    return isinstance(waiting.action, AnswerButton)
