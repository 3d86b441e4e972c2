"""Dedupe and member bookkeeping for many events in one transaction (group commit).

Every event needs a few writes before any handler runs: its dedupe row, its community, its
sender. One transaction per event caps a bot on SQLite at a few hundred events per second;
``GroupCommit`` collects the events that arrive while a transaction is running and writes
them together, so a busy bot does a handful of statements per batch instead of per event,
and an idle bot still writes each event at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Generic, NamedTuple, TypeVar

from sqlalchemy.exc import DBAPIError

from bot.events import (
    BotRemoved,
    ButtonPressed,
    ChatMigrated,
    ChatType,
    EventBase,
    MemberJoined,
    MemberLeft,
    MessageEvent,
)
from storage import Store
from storage.base import PLATFORM_ID_LEN
from storage.communities import CommunityInfo
from storage.members import MemberInfo, Sighting
from storage.text import clip

__all__ = ["GroupCommit", "Recorded", "record_events"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class Recorded(NamedTuple):
    """What bookkeeping learned about one event: its community and its sender (a named
    tuple: one is made for every event, and a frozen dataclass costs twice as much)."""

    community: CommunityInfo
    member: MemberInfo | None


#: Attempts for a transaction that lost a deadlock (PostgreSQL) or found the database busy.
ATTEMPTS = 3


def _retryable(error: DBAPIError) -> bool:
    text = str(error.orig if error.orig is not None else error).lower()
    return "deadlock" in text or "could not serialize" in text or "database is locked" in text


async def record_events(
    store: Store,
    events: Sequence[EventBase],
    now: datetime,
    payloads: Sequence[str] | None = None,
    handled: Sequence[tuple[str, str]] = (),
) -> list[Recorded | None]:
    """Claim, register and record ``events`` in one transaction.

    ``payloads`` (each event's JSON, in order) are kept with the dedupe rows until the events
    are marked handled, so a restart can handle them again; ``handled`` (platform, update
    key) pairs are marked so in the same transaction (no transaction of their own).

    Returns, per event, ``None`` for a duplicate (or a migration, which has nothing to
    handle), else what was recorded. A transaction that loses a deadlock is rolled back as a
    whole and run again.
    """
    quick = await _record_known(store, events, now, payloads, handled)
    if quick is not None:
        return quick
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await _record_once(store, events, now, payloads, handled)
        except DBAPIError as error:
            if attempt == ATTEMPTS or not _retryable(error):
                raise
            log.warning(
                "bookkeeping transaction lost a race (%s); retrying", type(error.orig).__name__
            )
    raise AssertionError("unreachable")


async def _record_known(
    store: Store,
    events: Sequence[EventBase],
    now: datetime,
    payloads: Sequence[str] | None,
    handled: Sequence[tuple[str, str]],
) -> list[Recorded | None] | None:
    """The common page: messages and presses from known members of known communities, so
    that only the dedupe rows (and the stamps riding along) are written, in one trip on a
    plain connection (``UpdateRepo.claim_alone``). ``None`` when the page needs more (or the
    trip failed): the full transaction then does it all."""
    if not store.updates.plain or not events:
        return None
    for event in events:
        if type(event) not in (MessageEvent, ButtonPressed):
            return None
    communities = store.communities.known_many(
        [(e.platform, e.chat.id, e.chat.type.value, e.chat.title) for e in events], now
    )
    if communities is None:
        return None
    members = store.members.known_many(
        [
            (
                communities[(e.platform, e.chat.id)].id,
                e.sender.id,
                e.sender.name,
                e.sender.username,
                True,  # a message or a press: active
            )
            for e in events
            if e.sender is not None
        ],
        now,
    )
    if members is None:
        return None
    keys = [(e.platform, e.update_key) for e in events]
    kept = dict(zip(keys, payloads, strict=True)) if payloads is not None else None
    try:
        claimed = await store.updates.claim_alone(keys, now, kept, list(handled))
    except Exception as error:
        log.warning("the quick recording failed (%s); recording in full", error)
        return None
    recorded: list[Recorded | None] = []
    first_seen: set[tuple[str, str]] = set()
    for event, key in zip(events, keys, strict=True):
        if key not in claimed or key in first_seen:  # a duplicate, or a key twice in one page
            recorded.append(None)
            continue
        first_seen.add(key)
        community = communities[(event.platform, event.chat.id)]
        member = None
        if event.sender is not None:
            member = members.get((community.id, clip(event.sender.id, PLATFORM_ID_LEN)))
        recorded.append(Recorded(community, member))
    return recorded


def _sighting(event: EventBase, community_id: int) -> Sighting:
    """The event's sender, seen in its community (active when they spoke or pressed)."""
    assert event.sender is not None
    return Sighting(
        community_id=community_id,
        platform_user_id=event.sender.id,
        display_name=event.sender.name,
        username=event.sender.username,
        is_bot=event.sender.is_bot,
        active=isinstance(event, MessageEvent | ButtonPressed),
    )


async def _record_once(
    store: Store,
    events: Sequence[EventBase],
    now: datetime,
    payloads: Sequence[str] | None,
    handled: Sequence[tuple[str, str]],
) -> list[Recorded | None]:
    keys = [(e.platform, e.update_key) for e in events]
    kept = dict(zip(keys, payloads, strict=True)) if payloads is not None else None
    async with store.transaction() as session:
        if handled:
            await store.updates.mark_handled(session, list(handled), now)
        claimed = await store.updates.claim_many(session, keys, now, kept)
        fresh: list[tuple[int, EventBase]] = []
        first_seen: set[tuple[str, str]] = set()
        for position, event in enumerate(events):
            key = (event.platform, event.update_key)
            if key in claimed and key not in first_seen:  # a key twice in one batch: once
                first_seen.add(key)
                fresh.append((position, event))
        for _position, event in fresh:
            if isinstance(event, ChatMigrated):
                await store.communities.migrate(
                    session, event.platform, event.chat.id, event.new_chat_id, now
                )
                log.info(
                    "community %s:%s moved to %s", event.platform, event.chat.id, event.new_chat_id
                )
        handled = [(n, e) for n, e in fresh if not isinstance(e, ChatMigrated)]
        communities = await store.communities.ensure_many(
            session,
            [(e.platform, e.chat.id, e.chat.type.value, e.chat.title) for _n, e in handled],
            now,
        )

        def community_of(event: EventBase) -> CommunityInfo:
            return communities[(event.platform, event.chat.id)]

        members = await store.members.see_many(
            session,
            [_sighting(e, community_of(e).id) for _n, e in handled if e.sender is not None],
            now,
        )
        recorded: dict[int, Recorded] = {}
        communities_by_id = {info.id: info for info in communities.values()}
        newcomers: dict[int, tuple[CommunityInfo, MemberInfo]] = {}
        for position, event in handled:
            community = community_of(event)
            member = None
            if event.sender is not None:
                member = members.get((community.id, clip(event.sender.id, PLATFORM_ID_LEN)))
            if isinstance(event, MemberJoined | MemberLeft):
                subject = await store.members.record(
                    session,
                    community_id=community.id,
                    platform_user_id=event.member.id,
                    display_name=event.member.name,
                    username=event.member.username,
                    is_bot=event.member.is_bot,
                    now=now,
                    joined_at=event.at if isinstance(event, MemberJoined) else None,
                    left_at=event.at if isinstance(event, MemberLeft) else None,
                )
                if event.sender is not None and event.sender.id == event.member.id:
                    member = subject
                if subject.first_seen_at == now:
                    newcomers[subject.id] = (community, subject)
            if isinstance(event, BotRemoved):
                await store.communities.set_active(session, community.id, False, now)
            recorded[position] = Recorded(community, member)
        for found in members.values():
            if found.first_seen_at == now:
                newcomers[found.id] = (communities_by_id[found.community_id], found)
        # A new membership in a community takes what its person told the bot in private.
        await store.persons.adopt(
            session,
            [
                (community.platform, found.id, found.platform_user_id)
                for community, found in newcomers.values()
                if community.chat_type != ChatType.PRIVATE.value
            ],
        )
    return [recorded.get(position) for position in range(len(events))]


class GroupCommit(Generic[T, R]):
    """Runs ``flush`` over everything submitted while the previous flush was running.

    If a batch fails, its items are retried one by one, so one bad item fails alone.
    """

    def __init__(
        self, flush: Callable[[list[T]], Awaitable[list[R]]], *, max_batch: int = 500
    ) -> None:
        self._flush = flush
        self.max_batch = max_batch
        self._pending: list[tuple[list[T], asyncio.Future[list[R]]]] = []
        self._runner: asyncio.Task[None] | None = None
        #: Batches written and items in them, for benchmarks and logs.
        self.batches = 0
        self.items = 0

    async def submit(self, items: list[T]) -> list[R]:
        done: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        self._pending.append((items, done))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="group commit")
        return await done

    def _take(self) -> list[tuple[list[T], asyncio.Future[list[R]]]]:
        taken, size = [], 0
        while self._pending and (not taken or size + len(self._pending[0][0]) <= self.max_batch):
            entry = self._pending.pop(0)
            taken.append(entry)
            size += len(entry[0])
        return taken

    async def _run(self) -> None:
        await asyncio.sleep(0)  # let everyone who is ready join the first batch
        batch: list[tuple[list[T], asyncio.Future[list[R]]]] = []
        try:
            while self._pending:
                batch = [entry for entry in self._take() if not entry[1].cancelled()]
                items = [item for entry in batch for item in entry[0]]
                if not items:
                    continue
                try:
                    results = await self._flush(items)
                except Exception:
                    log.warning("a batch of %d failed; writing its items one by one", len(items))
                    for entry in batch:
                        await self._one_by_one(entry)
                    continue
                self.batches += 1
                self.items += len(items)
                position = 0
                for entry_items, done in batch:
                    _settle(done, results[position : position + len(entry_items)])
                    position += len(entry_items)
        finally:
            # Cancelled or crashed: nobody may wait forever for a batch that will not come.
            for _items, done in [*batch, *self._pending]:
                if not done.done():
                    done.cancel()

    async def _one_by_one(self, entry: tuple[list[T], asyncio.Future[list[R]]]) -> None:
        """After a failed batch: each item alone, so one bad item fails alone. An item that
        fails again is reported to its submitter (a lone item) or skipped (``None``)."""
        items, done = entry
        results: list[R] = []
        for item in items:
            try:
                results.extend(await self._flush([item]))
            except Exception as error:
                if len(items) == 1:
                    _settle(done, error=error)
                    return
                log.exception("an item could not be written and is skipped")
                results.append(None)  # type: ignore[arg-type]
        _settle(done, results)


def _settle(
    done: asyncio.Future[list[R]], results: list[R] | None = None, *, error: Exception | None = None
) -> None:
    if done.done():
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(results or [])
