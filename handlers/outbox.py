"""The outbox tick: scheduled messages (birthdays, anniversaries, announcements) go out once,
at a decent hour and not too many at a time (避免过度打扰).

APScheduler only says "look now"; what is due lives in ``scheduled_sends``
(``storage/outbox.py`` explains the claim and the crash policy). For each claimed row the tick
skips it if it is more than ``late_limit_hours`` late (no "happy birthday" two days late),
moves it to the end of the community's quiet hours, or to the next free slot under
``max_per_hour``; otherwise the feature that made it writes the text (its ``deliverer``) and
the message goes out through the governor.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.actions import Action, ActionResult, DeclineReason, Notify, Send
from bot.config import ScheduleSettings
from bot.context import TickContext
from bot.features import Feature
from bot.richtext import RichText
from storage.communities import CommunityInfo
from storage.outbox import FAILED, SENT, SKIPPED, Due

__all__ = ["Deliverer", "deliverer", "feature", "quiet_until", "send_due"]

log = logging.getLogger(__name__)

feature = Feature("outbox", order=180)

#: Writes a claimed row's message (text for the chat, or an action of its own such as a
#: private role notice), or ``None`` when there is nothing to say any more.
Deliverer = Callable[[TickContext, Due, CommunityInfo], Awaitable[RichText | Action | None]]
_DELIVERERS: dict[str, Deliverer] = {}
#: A row claimed longer ago than this by a process that never marked it: ``unsure``.
STALE_CLAIM = timedelta(minutes=10)
MOST_ATTEMPTS = 5


def deliverer(kind: str) -> Callable[[Deliverer], Deliverer]:
    """Register the function that writes messages of ``kind``."""

    def register(function: Deliverer) -> Deliverer:
        _DELIVERERS[kind] = function
        return function

    return register


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def quiet_until(now: datetime, zone: ZoneInfo, rules: ScheduleSettings) -> datetime | None:
    """The end of the quiet hours ``now`` falls in (community time), or ``None``."""
    start, end = _clock(rules.quiet_start), _clock(rules.quiet_end)
    if start == end:
        return None
    local = now.astimezone(zone)
    moment = local.time()
    if start < end:
        quiet = start <= moment < end
        ends_on = local.date()
    else:  # across midnight, e.g. 23:00-08:00
        quiet = moment >= start or moment < end
        ends_on = local.date() + timedelta(days=1) if moment >= start else local.date()
    if not quiet:
        return None
    return datetime.combine(ends_on, end, tzinfo=zone)


@feature.tick("outbox", every=timedelta(seconds=30))
async def send_due(ctx: TickContext) -> int:
    """Send what is due, once each; returns how many went out."""
    rules, outbox = ctx.settings.schedule, ctx.store.outbox
    async with ctx.store.transaction() as session:
        abandoned = await outbox.abandon_stale(session, ctx.now - STALE_CLAIM)
        claimed = await outbox.claim(session, ctx.now)
    if abandoned:
        log.warning(
            "%d scheduled message(s) were claimed but never marked: not sent again", abandoned
        )
    sent = 0
    for row in claimed:
        async with ctx.store.transaction() as session:
            community = await ctx.store.communities.get(session, row.community_id)
        if community is None or not community.active:
            await _finish(ctx, row, SKIPPED)
            continue
        late = ctx.now - row.scheduled_for
        if late > timedelta(hours=rules.late_limit_hours):
            log.warning(
                "%s %s for %s in community %d is %s late: skipped",
                row.kind,
                row.occurrence,
                row.target,
                row.community_id,
                late,
            )
            await _finish(ctx, row, SKIPPED)
            continue
        later = quiet_until(ctx.now, ctx.zone_for(community), rules)
        if later is None:
            later = await _next_free_slot(ctx, row, rules)
        if later is not None:
            async with ctx.store.transaction() as session:
                await outbox.defer(session, row.id, later)
            continue
        write = _DELIVERERS.get(row.kind)
        try:
            text = await write(ctx, row, community) if write else None
        except Exception:
            log.exception(
                "writing %s %s for community %d failed", row.kind, row.occurrence, row.community_id
            )
            await _finish(ctx, row, FAILED)
            continue
        if text is None:
            await _finish(ctx, row, SKIPPED)
            continue
        # Waited for: the row is marked sent only when it was (else retried or given up).
        if isinstance(text, RichText):
            text = Send(
                platform=row.platform, chat_id=row.chat_id, channel_id=row.channel_id, text=text
            )
        result = await ctx.perform(text)
        if result.ok:
            await _finish(ctx, row, SENT)
            sent += 1
        elif _nobody_holds(text, result):
            # Retrying cannot help within minutes: settled, and said once.
            log.warning(
                "%s %s in community %d: nobody holds %s there to tell; not sent",
                row.kind,
                row.occurrence,
                row.community_id,
                result.detail,
            )
            await _finish(ctx, row, SKIPPED)
        elif row.attempts < MOST_ATTEMPTS:
            async with ctx.store.transaction() as session:
                await outbox.defer(session, row.id, ctx.now + timedelta(minutes=row.attempts))
        else:
            await _finish(ctx, row, FAILED)
    return sent


def _nobody_holds(action: Action, result: ActionResult) -> bool:
    """A notice to a role that nobody in the community holds (``Dispatcher`` declines it
    ``not_found``)."""
    return (
        isinstance(action, Notify)
        and action.role is not None
        and result.reason is DeclineReason.NOT_FOUND
    )


async def _finish(ctx: TickContext, row: Due, status: str) -> None:
    async with ctx.store.transaction() as session:
        await ctx.store.outbox.finish(session, row.id, status, ctx.now)


async def _next_free_slot(ctx: TickContext, row: Due, rules: ScheduleSettings) -> datetime | None:
    """``None`` if the chat is under its hourly cap, else when a slot frees."""
    async with ctx.store.transaction() as session:
        recent = await ctx.store.outbox.sent_since(
            session, row.community_id, row.channel_id, ctx.now - timedelta(hours=1)
        )
    if len(recent) < rules.max_per_hour:
        return None
    return recent[-rules.max_per_hour] + timedelta(hours=1)
