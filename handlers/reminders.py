"""Reminders (提醒我): ``/remindme 2h TEXT`` writes to the member privately at that time.

Set in a group or in private. ``/remindme`` alone lists the member's pending reminders,
privately. A tick sends what is due as a ``Notify``: when the platform cannot write to the
member, it mentions them where the reminder was set (in private, that is the private chat).
Each reminder is claimed by one atomic update (``storage/reminders.py``), so concurrent ticks
and restarts never send it twice; one at a time, so a stop mid-way loses none of the others.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from pydantic import Field

from bot.actions import Notify, Reply
from bot.clock import parse_duration
from bot.config import Section
from bot.context import Context, TickContext, addressee
from bot.features import Arg, Feature
from bot.richtext import RichText
from handlers.persona_settings import tracked_reminder
from handlers.shared import tell_privately, visible_length, voice_for
from storage.reminders import TEXT_LEN, ReminderRepo

__all__ = ["RemindersSettings", "feature", "remindme", "send_reminders"]

log = logging.getLogger(__name__)


class RemindersSettings(Section):
    """/remindme 2h TEXT: a private reminder at that time."""

    most_pending: int = Field(10, ge=1, le=100)
    """Pending reminders a member may have at once (so nobody fills the table)."""


feature = Feature("reminders", group="members", order=160, settings=RemindersSettings)

SHORTEST, LONGEST = timedelta(minutes=1), timedelta(days=366)
#: A reminder claimed longer ago than this by a process that never marked it: ``unsure``.
STALE_CLAIM = timedelta(minutes=10)


def _repo(ctx: TickContext) -> ReminderRepo:
    return ReminderRepo(ctx.store.db)


@feature.command(
    "remindme",
    keywords=["提醒我"],
    where="any",
    args=[
        Arg("when", "word", required=False),
        Arg("text", "text", required=False, max_length=TEXT_LEN),
    ],
)
async def remindme(ctx: Context) -> Reply | None:
    """Set a reminder, or list the pending ones (privately: they are the member's own)."""
    assert ctx.member is not None
    when: str | None = ctx.args["when"]
    text: str | None = ctx.args["text"]
    if when is None:
        return await _listed(ctx)
    delay = parse_duration(when)
    if delay is None or not SHORTEST <= delay <= LONGEST:
        return ctx.reply("reminders.bad_when", value=when, usage=ctx.usage())
    if not text or not visible_length(text):
        return ctx.reply("reminders.no_text", usage=ctx.usage())
    rules = ctx.settings_of(RemindersSettings)
    async with ctx.store.transaction() as session:
        kept = await _repo(ctx).add(
            session,
            member_id=ctx.member.id,
            channel_id=ctx.event.channel_id,
            text=text,
            due_at=ctx.now + delay,
            now=ctx.now,
            most_pending=rules.most_pending,
        )
    if not kept:
        return ctx.reply("reminders.too_many", most=rules.most_pending)
    return ctx.reply("reminders.set", when=_shown(ctx, ctx.now + delay))


async def _listed(ctx: Context) -> Reply | None:
    assert ctx.member is not None
    async with ctx.store.transaction() as session:
        pending = await _repo(ctx).pending(session, ctx.member.id)
    if not pending:
        return ctx.reply("reminders.none", private=True, usage=ctx.usage())
    lines = [ctx.say("reminders.list_header", count=len(pending))]
    lines += [
        ctx.say("reminders.list_line", when=_shown(ctx, r.due_at), text=r.text) for r in pending
    ]
    listed = RichText.join(lines)
    if ctx.is_private:
        return ctx.reply_text(listed, private=True)
    # A group message command has no caller-only answer: the texts would be read by everyone.
    sent = await tell_privately(ctx, listed)
    if sent.detail == "mentioned":
        return None  # the fallback mention already asked them to open a private chat
    if not sent.ok:
        return ctx.reply("declined.failed", private=True)
    return ctx.reply("reminders.listed_privately", private=True, count=len(pending))


def _shown(ctx: Context, moment: datetime) -> str:
    """A moment in the community's time zone, to the minute."""
    return moment.astimezone(ctx.zone).strftime("%Y-%m-%d %H:%M")


@feature.tick("reminders", every=timedelta(seconds=30))
async def send_reminders(ctx: TickContext) -> int:
    """Send the due reminders, each once; returns how many went out."""
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        abandoned = await repo.abandon_stale(session, ctx.now - STALE_CLAIM)
    if abandoned:
        log.warning("%d reminder(s) were claimed but never marked: not sent again", abandoned)
    sent = 0
    # One claimed at a time: a stop or a kill mid-way leaves the others pending.
    while True:
        async with ctx.store.transaction() as session:
            reminder = await repo.claim_next(session, ctx.now)
            community = (
                await ctx.store.communities.get(session, reminder.community_id)
                if reminder is not None
                else None
            )
        if reminder is None:
            return sent
        if community is not None:
            who = addressee(reminder.platform, reminder.chat_id, reminder.user_id)
            voice = voice_for(
                ctx, community, f"reminder:{reminder.id}", ctx.occasion_for(community, who)
            )
            text = voice.say(
                "reminders.due",
                member=voice.address(reminder.user_id, reminder.display_name),
                text=reminder.text,
            )
            # Waited for: a refusal falls back to a mention where it was set.
            result = await ctx.perform(
                Notify(
                    platform=reminder.platform,
                    chat_id=reminder.chat_id,
                    channel_id=reminder.channel_id,
                    user_id=reminder.user_id,
                    text=text,
                    fallback="mention",
                )
            )
            # Measured: a reply to it counts for the persona (``/stats persona``).
            await tracked_reminder(ctx, community, reminder.user_id, result)
            sent += 1
        async with ctx.store.transaction() as session:
            await repo.mark_sent(session, reminder.id)
