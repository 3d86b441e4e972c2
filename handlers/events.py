"""Events with RSVP (社群活动): ``/event create``, sign-up buttons with a waitlist, reminders
to those going, ``/event cancel``, ``/events`` and ``/here`` at the event for points.

Answers, the waitlist and check-ins at the event are decided under the event's row lock
(``storage/events.py``). Reminders are rows unique per (event, minutes before), claimed by
one tick before they are sent. Policy when the bot stops between sending a reminder and
marking it sent: the row stays ``sending`` and is not sent again (at most once; a duplicate
reminder is worse than a missing one, and the event message still shows the time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field, field_validator

from bot.actions import Action, Button, Edit, Send
from bot.arguments import (
    arg_refusal,
    check_length,
    next_token,
    parse_count,
    parse_datetime,
    parse_int,
)
from bot.clock import parse_duration
from bot.config import Section
from bot.context import Context, TickContext
from bot.errors import ArgError
from bot.features import Arg, Feature
from bot.permissions import Role
from bot.richtext import RichText
from bot.signals import Interacted, Interaction
from handlers.shared import CoalescedEdits, Voice, answer_press, mentions, voice_for
from storage import posts
from storage.events import ANSWERS, GOING, MAYBE, WAITING, EventInfo
from storage.points import PointsReason

__all__ = ["EventSettings", "feature"]


class EventSettings(Section):
    """Events with RSVP (/event create "Title" 2026-12-01 20:00 [--where PLACE] [--limit N]
    [--for 2h]; planners and above).
    """

    reminders: list[int] = Field(default_factory=lambda: [24 * 60, 60], max_length=5)
    """Reminders to those going, in minutes before the start: a day and an hour before."""
    default_minutes: int = Field(120, ge=5, le=7 * 24 * 60)
    """How long an event lasts when --for is not given, in minutes."""
    here_early_minutes: int = Field(30, ge=0, le=24 * 60)
    """/here (checking in at the event) works from this many minutes before the start to the end."""
    here_points: int = Field(20, ge=0, le=1_000_000)
    """Points for /here at an event you signed up for (0 = none)."""

    @field_validator("reminders")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(not 1 <= minutes <= 30 * 24 * 60 for minutes in value):
            raise ValueError("reminders are minutes before the start, 1 to 43200")
        return sorted(set(value), reverse=True)


#: Its state: the event messages' edits, coalesced (see ``EDIT_EVERY``).
feature: Feature[CoalescedEdits] = Feature(
    "events",
    group="activities",
    order=130,
    settings=EventSettings,
    state=lambda clock: CoalescedEdits(EDIT_EVERY, clock),
)

BUTTON = "ev"
TITLE_LEN = 120
PLACE_LEN = 120
LONGEST = timedelta(days=7)
PLANNERS = [Role.PLANNER]
EDIT_EVERY = timedelta(seconds=5)


# -- creating -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    title: str
    starts_at: datetime
    ends_at: datetime
    place: str | None
    capacity: int | None


def _parse_plan(ctx: Context, text: str) -> _Plan | Any:
    """``"Title" 2026-12-01 20:00 [--where PLACE] [--limit N] [--for 2h]``, or the refusal."""
    title, rest = next_token(text)
    day, rest = next_token(rest)
    clock, rest = next_token(rest)
    if not title or not day or not clock:
        return ctx.reply("error.usage", private=True, usage=ctx.usage())
    try:
        check_length(ctx, "title", title, TITLE_LEN)
        starts_at = parse_datetime(day, clock, ctx.zone, ctx.now)
        place, capacity = None, None
        length = timedelta(minutes=ctx.settings_of(EventSettings).default_minutes)
        while rest.strip():
            option, rest = next_token(rest)
            value, rest = next_token(rest)
            if option in ("--where", "--at") and value:
                place = check_length(ctx, "place", value, PLACE_LEN)
            elif option == "--limit" and value:
                capacity = parse_int(value, minimum=1, maximum=10_000)
            elif option == "--for" and value:
                duration = parse_duration(value)
                if duration is None or not timedelta(minutes=5) <= duration <= LONGEST:
                    return ctx.reply("events.bad_length", private=True, value=value)
                length = duration
            else:
                return ctx.reply("error.usage", private=True, usage=ctx.usage())
    except ArgError as problem:
        return arg_refusal(ctx, problem)
    if starts_at <= ctx.now:
        return ctx.reply("events.past", private=True, when=_when(starts_at, ctx.zone))
    return _Plan(title, starts_at, starts_at + length, place, capacity)


@feature.command("event", args=[Arg("spec", "text", required=False, max_length=1000)])
async def event_command(ctx: Context) -> Any:
    if ctx.is_private:
        return ctx.reply("events.group_only")
    action, rest = next_token(str(ctx.args["spec"] or ""))
    if action == "create":
        return await _create(ctx, rest)
    if action == "cancel":
        return await _cancel(ctx, rest)
    return ctx.reply("error.usage", private=True, usage=ctx.usage())


async def _create(ctx: Context, text: str) -> Any:
    assert ctx.member is not None
    if refusal := await ctx.refusal(PLANNERS):
        return refusal
    plan = _parse_plan(ctx, text)
    if not isinstance(plan, _Plan):
        return plan
    async with ctx.store.transaction() as session:
        event_id = await ctx.store.events.create(
            session,
            community_id=ctx.community.id,
            channel_id=ctx.event.channel_id,
            creator_member_id=ctx.member.id,
            title=plan.title,
            place=plan.place,
            capacity=plan.capacity,
            starts_at=plan.starts_at,
            ends_at=plan.ends_at,
            reminders=list(ctx.settings_of(EventSettings).reminders),
            create_key=posts.create_key("event", ctx.event),
            now=ctx.now,
        )
        if event_id is None:
            return []  # this very command created it already
        await ctx.audit(session, "event.create", event=event_id, title=plan.title)
        event = await ctx.store.events.get(session, event_id)
    assert event is not None
    voice = voice_for(ctx, ctx.community, f"event:{event.id}")
    text = event_text(voice, event, {}, ctx.zone_for(ctx.community))
    return posts.post(event, text, _buttons(voice, event))


def _when(moment: datetime, zone: Any) -> str:
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M}"


def event_text(voice: Voice, event: EventInfo, counts: dict[str, int], zone: Any) -> RichText:
    """The event message: what, when, where, who is coming (live), its id."""
    lines = [
        voice.say("events.card", title=event.title, when=_when(event.starts_at, zone), id=event.id)
    ]
    if event.place:
        lines.append(voice.say("events.card_place", place=event.place))
    going = counts.get(GOING, 0)
    if event.capacity is None:
        lines.append(voice.say("events.card_counts", going=going, maybe=counts.get(MAYBE, 0)))
    else:
        lines.append(
            voice.say(
                "events.card_counts_limit",
                going=going,
                limit=event.capacity,
                maybe=counts.get(MAYBE, 0),
                waiting=counts.get(WAITING, 0),
            )
        )
    if event.status != "open":
        lines.append(voice.say("events.card_cancelled"))
    return RichText.join(lines)


def _buttons(voice: Voice, event: EventInfo) -> tuple[tuple[Button, ...], ...]:
    if event.status != "open":
        return ()
    return (
        tuple(
            Button(
                label=voice.say(f"events.button_{answer}").plain(),
                data=f"{BUTTON}:{event.id}:{answer}",
            )
            for answer in ANSWERS
        ),
    )


async def _event_edit(ctx: TickContext, event: EventInfo) -> Edit | None:
    if not event.message_id:
        return None
    async with ctx.store.transaction() as session:
        counts = await ctx.store.events.counts(session, event.id)
        community = await ctx.store.communities.get(session, event.community_id)
    assert community is not None
    voice = voice_for(ctx, community, f"event:{event.id}")
    text = event_text(voice, event, counts, ctx.zone_for(community))
    return posts.edit(event, text, _buttons(voice, event))


# -- answering ------------------------------------------------------------------------------------


@feature.button(
    BUTTON, fields=[Arg("event", "int", minimum=1), Arg("answer", "choice", choices=ANSWERS)]
)
async def on_answer(ctx: Context) -> list[Action]:
    if ctx.member is None:
        return [answer_press(ctx, ctx.say("error.button_expired"))]
    event_id, answer = int(ctx.args["event"]), str(ctx.args["answer"])
    async with ctx.store.transaction() as session:
        info = await ctx.store.events.get(session, event_id)
        if info is None or info.community_id != ctx.community.id:
            answered = None
        else:
            answered = await ctx.store.events.answer(
                session, event_id, ctx.member.id, answer, ctx.now
            )
            if answered.refused is None and answered.answer != answered.previous:
                await ctx.audit(session, "event.answer", event=event_id, answer=answered.answer)
            if answered.answer == WAITING:
                waiting = await ctx.store.events.attendees(session, event_id, (WAITING,))
                place = 1 + [a.member_id for a in waiting].index(ctx.member.id)
    if info is None or answered is None:
        return [answer_press(ctx, ctx.say("error.button_expired"))]
    if answered.refused is not None:
        note = ctx.say(f"events.note_{answered.refused}", title=info.title)
        return [answer_press(ctx, note)]
    if answered.answer != answered.previous:
        ctx.emit(Interacted(Interaction.RSVP))
    values: dict[str, Any] = {"title": info.title}
    if answered.answer == WAITING:
        values["place"] = place
    note = ctx.say(f"events.note_{answered.answer}", **values)
    actions: list[Action] = [answer_press(ctx, note)]
    if answered.promoted:
        actions.append(
            Send(
                platform=info.platform,
                chat_id=info.chat_id,
                channel_id=info.channel_id,
                text=ctx.say(
                    "events.promoted", members=mentions(answered.promoted, " "), title=info.title
                ),
            )
        )
    if answered.answer != answered.previous and ctx.state(feature).now_or_later(ctx, info.id):
        edit = await _event_edit(ctx, info)
        if edit is not None:
            actions.append(edit)
    return actions


@feature.tick("event-refresh", every=EDIT_EVERY)
async def refresh_events(ctx: TickContext) -> int:
    """Bring event messages marked stale up to date (one edit each)."""
    refreshed = 0
    for event_id in ctx.state(feature).take_stale(ctx):
        async with ctx.store.transaction() as session:
            info = await ctx.store.events.get(session, int(event_id))  # type: ignore[call-overload]
        edit = await _event_edit(ctx, info) if info is not None else None
        if edit is not None:
            await ctx.perform(edit)  # a tick has no outcome to return: waited, in order
            refreshed += 1
    return refreshed


# -- cancelling, listing, reminders, checking in ---------------------------------------------------


async def _cancel(ctx: Context, text: str) -> Any:
    value, _rest = next_token(text)
    if not value:
        return ctx.reply("error.usage", private=True, usage=ctx.usage())
    try:
        event_id = parse_count(value)
    except ArgError as problem:
        return arg_refusal(ctx, problem)
    async with ctx.store.transaction() as session:
        info = await ctx.store.events.get(session, event_id)
    if info is None or info.community_id != ctx.community.id:
        return ctx.reply("events.not_found", private=True, id=event_id)
    assert ctx.member is not None
    if info.creator_member_id != ctx.member.id and (refusal := await ctx.refusal([Role.MODERATOR])):
        return refusal
    async with ctx.store.transaction() as session:
        cancelled = await ctx.store.events.cancel(session, event_id)
        if cancelled:
            await ctx.audit(session, "event.cancel", event=event_id, title=info.title)
        people = await ctx.store.events.attendees(session, event_id, (GOING, MAYBE, WAITING))
        info = await ctx.store.events.get(session, event_id)
    assert info is not None
    if not cancelled:
        return ctx.reply("events.not_found", private=True, id=event_id)
    actions: list[Action] = [
        ctx.send(
            "events.cancelled",
            title=info.title,
            when=_when(info.starts_at, ctx.zone),
            members=mentions(people, " "),
        )
    ]
    if ctx.state(feature).now_or_later(ctx, info.id, final=True) and (
        edit := await _event_edit(ctx, info)
    ):
        actions.append(edit)
    return actions


@feature.command("events", keywords=["活动"])
async def list_events(ctx: Context) -> Any:
    async with ctx.store.transaction() as session:
        upcoming = await ctx.store.events.upcoming(session, ctx.community.id, ctx.now)
        counts = {event.id: await ctx.store.events.counts(session, event.id) for event in upcoming}
    if not upcoming:
        return ctx.reply("events.none")
    lines = [ctx.say("events.list_header")]
    for event in upcoming:
        going = counts[event.id].get(GOING, 0)
        limit = f"{going}/{event.capacity}" if event.capacity else str(going)
        lines.append(
            ctx.say(
                "events.list_line",
                id=event.id,
                title=event.title,
                when=_when(event.starts_at, ctx.zone),
                going=limit,
            )
        )
    return ctx.reply_text(RichText.join(lines))


def _lead(voice: Voice, left: timedelta) -> str:
    """How long until the start, as members would say it (a late reminder says the truth,
    not the lead it was scheduled for)."""
    minutes = max(1, round(left.total_seconds() / 60))
    if minutes >= 24 * 60 - 30:
        return voice.say("events.lead_days", n=round(minutes / (24 * 60))).plain()
    if minutes >= 60:
        return voice.say("events.lead_hours", n=round(minutes / 60)).plain()
    return voice.say("events.lead_minutes", n=minutes).plain()


@feature.tick("event-reminders", every=timedelta(seconds=30))
async def send_reminders(ctx: TickContext) -> int:
    """Remind those going, once per (event, minutes before). Claimed before sending; a
    reminder due while the bot was down is still sent unless the event has started."""
    repo = ctx.store.events
    async with ctx.store.transaction() as session:
        due = await repo.due_reminders(session, ctx.now)
    # After downtime several reminders of one event may be due: only the one nearest the
    # start is sent, the earlier ones are skipped (one reminder, not a burst).
    nearest: dict[int, int] = {}
    for reminder in due:
        nearest[reminder.event_id] = min(
            nearest.get(reminder.event_id, reminder.minutes_before), reminder.minutes_before
        )
    sent = 0
    for reminder in due:
        async with ctx.store.transaction() as session:
            if reminder.minutes_before != nearest[reminder.event_id]:
                await repo.move_reminder(session, reminder.id, "pending", "skipped")
                continue
            if not await repo.move_reminder(session, reminder.id, "pending", "sending"):
                continue  # another process has it
            info = await repo.get(session, reminder.event_id)
            going = await repo.attendees(session, reminder.event_id, (GOING,))
            community = (
                await ctx.store.communities.get(session, info.community_id) if info else None
            )
            late = info is None or info.status != "open" or ctx.now >= info.starts_at
            if late or not going:
                await repo.move_reminder(session, reminder.id, "sending", "skipped")
                continue
        assert info is not None and community is not None
        voice = voice_for(ctx, community, f"event:{info.id}:{reminder.minutes_before}")
        # Waited for: the reminder is marked sent only when it was (else tried again).
        result = await ctx.perform(
            Send(
                platform=info.platform,
                chat_id=info.chat_id,
                channel_id=info.channel_id,
                text=voice.say(
                    "events.reminder",
                    title=info.title,
                    lead=_lead(voice, info.starts_at - ctx.now),
                    when=_when(info.starts_at, ctx.zone_for(community)),
                    place=info.place or "-",
                    members=mentions(going, " "),
                ),
            )
        )
        async with ctx.store.transaction() as session:
            # A refused send is tried again on the next tick (until the event starts).
            await repo.move_reminder(
                session, reminder.id, "sending", "sent" if result.ok else "pending"
            )
        sent += int(result.ok)
    return sent


@feature.command("here", keywords=["到场"])
async def here(ctx: Context) -> Any:
    """Check in at an event happening now, once, for ``here_points``."""
    assert ctx.member is not None and ctx.sender is not None
    rules = ctx.settings_of(EventSettings)
    early = timedelta(minutes=rules.here_early_minutes)
    async with ctx.store.transaction() as session:
        happening = await ctx.store.events.happening(session, ctx.community.id, ctx.now, early)
        outcome, chosen = "none", None
        for info in happening:
            outcome = await ctx.store.events.check_in(session, info.id, ctx.member.id, ctx.now)
            chosen = info
            if outcome == "done":
                if rules.here_points:
                    await ctx.store.points.award(
                        session,
                        community_id=ctx.community.id,
                        member_id=ctx.member.id,
                        amount=rules.here_points,
                        why=PointsReason.event_here(info.id, ctx.member.id),
                        now=ctx.now,
                    )
                await ctx.audit(session, "event.here", event=info.id)
                break
            if outcome == "again":
                break
    who = ctx.address(ctx.sender)
    if chosen is None:
        async with ctx.store.transaction() as session:
            coming = await ctx.store.events.upcoming(session, ctx.community.id, ctx.now, limit=1)
        if not coming:
            return ctx.reply("events.here_none", member=who)
        # Too early: say when check-in opens, in community time.
        return ctx.reply(
            "events.here_not_yet",
            member=who,
            title=coming[0].title,
            opens=_when(coming[0].starts_at - early, ctx.zone),
            when=_when(coming[0].starts_at, ctx.zone),
        )
    if outcome == "done":  # committed, and new: a replay finds it done ("again")
        ctx.emit(Interacted(Interaction.ATTENDANCE))
    return ctx.reply(
        f"events.here_{outcome}", member=who, title=chosen.title, points=rules.here_points
    )
