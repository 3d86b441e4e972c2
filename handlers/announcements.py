"""Announcements (公告): ``/announce TEXT [--pin]`` posts now; ``/schedule`` posts later, once
or again and again, in community time; ``/schedules`` lists them, ``/unschedule`` stops one.

Occurrences are computed by APScheduler 3's triggers (``CronTrigger`` in the schedule's zone,
so "every sunday 09:00" stays at 09:00 across daylight-saving changes; ``DateTrigger`` for a
one-off), never by a cron parser of our own. Each occurrence goes out through the durable
outbox (``handlers/outbox.py``), which already enforces the late limit, quiet hours and the
hourly cap, and claims each row once across processes. A schedule keeps exactly one
occurrence in the outbox: the one in ``announcements.next_at``, enqueued in the same
transaction that sets it (at creation, then by the ``announcements-enqueue`` tick once it is
due), so recurring posts keep going and survive restarts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from pydantic import Field

from bot.actions import Pin, Send
from bot.arguments import arg_refusal, next_token, parse_count, parse_datetime
from bot.config import Section
from bot.context import Context, TickContext
from bot.errors import ArgError
from bot.features import Arg, Feature
from bot.permissions import Role
from bot.richtext import RichText
from handlers.outbox import deliverer, quiet_until
from handlers.shared import voice_for
from storage import posts
from storage.announcements import (
    ANNOUNCEMENT_LEN,
    TARGET_PREFIX,
    AnnouncementInfo,
    announcement_of,
    target_of,
)
from storage.communities import CommunityInfo
from storage.outbox import Due, Scheduled, Waiting

__all__ = [
    "AnnouncementSettings",
    "BadSchedule",
    "Rule",
    "enqueue_next",
    "feature",
    "next_fire",
    "parse_schedule",
    "write_announcement",
]


class AnnouncementSettings(Section):
    """/announce TEXT [--pin] posts now; /schedule "every friday 20:00" TEXT (or "2026-12-01 09:00",
    or a cron rule like "0 9 * * 1-5") posts later, in community time, through the outbox below.
    """

    max_active: int = Field(20, ge=1, le=1000)
    """Most running schedules per community."""


feature = Feature("announcements", group="activities", order=140, settings=AnnouncementSettings)

KIND = "announcement"
PLANNERS = [Role.PLANNER]
#: A recurring schedule may not post more often than this (the hourly cap would hold the
#: rest back anyway; refusing says so at once).
CLOSEST = timedelta(hours=1)
PREVIEW_LEN = 40


# -- reading a schedule ---------------------------------------------------------------------------


#: A first word written as a date (``2026-12-01``, full-width digits too): read as one.
_DATE_LIKE = re.compile(r"[0-9０-９]{4}[-/.－／][0-9０-９]{1,2}[-/.－／][0-9０-９]{1,2}")


class BadSchedule(Exception):
    """Why a schedule was refused: a persona key and its values."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


@dataclass(frozen=True, slots=True)
class Rule:
    """A schedule read from what was typed: a crontab rule (weekdays named, so it means the
    same to APScheduler as to cron) or one instant; ``first`` is its next occurrence (UTC)."""

    spec: str
    cron: str | None
    at: datetime | None
    first: datetime


_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_EN_DAYS = {
    "monday": "mon",
    "tuesday": "tue",
    "tues": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "thur": "thu",
    "thurs": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
} | {day: day for day in _CRON_DAYS}
_EN_GROUPS = {
    "day": "*",
    "weekday": "mon-fri",
    "weekdays": "mon-fri",
    "weekend": "sat,sun",
    "weekends": "sat,sun",
}
_ZH_DAYS = {
    "一": "mon",
    "二": "tue",
    "三": "wed",
    "四": "thu",
    "五": "fri",
    "六": "sat",
    "日": "sun",
    "天": "sun",
    "七": "sun",
}
_CLOCK = r"(?P<hour>\d{1,2})[:：](?P<minute>\d{2})"
_EVERY_EN = re.compile(
    rf"(?:every\s+(?P<days>[a-z]+(?:\s*,\s*[a-z]+)*)|daily)\s+(?:at\s+)?{_CLOCK}"
)
_EVERY_ZH = re.compile(
    rf"(?:(?P<daily>每天|每日|天天)|(?P<workdays>每个?工作日|工作日)|(?P<weekend>每个?周末|周末)"
    rf"|每个?(?:周|星期|礼拜)(?P<day>[一二三四五六日天七]))\s*{_CLOCK}"
)


def _weekdays(days: str | None) -> str:
    """The crontab weekday field for "friday", "mon, wed", "weekday" and the like."""
    if days is None:  # "daily"
        return "*"
    words = [word.strip() for word in days.split(",")]
    if len(words) == 1 and words[0] in _EN_GROUPS:
        return _EN_GROUPS[words[0]]
    if not all(word in _EN_DAYS for word in words):
        raise BadSchedule("announcements.bad_spec")
    return ",".join(dict.fromkeys(_EN_DAYS[word] for word in words))


def _cron_day(token: str) -> int:
    if token.isascii() and token.isdigit() and int(token) <= 7:
        return int(token)
    if token in _CRON_DAYS:
        return _CRON_DAYS.index(token)
    raise ValueError(token)


def crontab_weekdays(field: str) -> str:
    """Crontab counts weekdays from Sunday (0 or 7); APScheduler 3's ``from_crontab`` counts
    from Monday (its documented historical mistake). Spelled out as names, "1-5" means
    Monday to Friday to both."""
    if field == "*":
        return "*"
    names: list[str] = []
    for part in field.lower().split(","):
        body, _, step = part.partition("/")
        if step and not (step.isascii() and step.isdigit() and int(step) >= 1):
            raise ValueError(field)
        stride = int(step) if step else 1
        if body == "*":
            low, high = 0, 6
        elif "-" in body:
            first, _, last = body.partition("-")
            low, high = _cron_day(first), _cron_day(last)
        else:
            low = _cron_day(body)
            high = 6 if step else low
        if low > high:
            raise ValueError(field)
        names += [_CRON_DAYS[day % 7] for day in range(low, high + 1, stride)]
    return ",".join(dict.fromkeys(names))


def trigger_for(cron: str | None, at: datetime | None, zone: ZoneInfo) -> BaseTrigger:
    if cron is not None:
        return CronTrigger.from_crontab(cron, timezone=zone)
    assert at is not None
    return DateTrigger(run_date=at, timezone=zone)


def next_fire(cron: str, zone: ZoneInfo, after: datetime) -> datetime | None:
    """The first occurrence of a crontab rule at or after ``after`` (UTC), or ``None``."""
    fire = CronTrigger.from_crontab(cron, timezone=zone).get_next_fire_time(None, after)
    return None if fire is None else fire.astimezone(UTC)


def _cron_rule(spec: str, cron: str, zone: ZoneInfo, now: datetime) -> Rule:
    try:
        trigger = trigger_for(cron, None, zone)
    except ValueError as error:
        raise BadSchedule("announcements.bad_spec") from error
    first = trigger.get_next_fire_time(None, now + timedelta(seconds=1))  # strictly later
    if first is None:
        raise BadSchedule("announcements.never")
    # A rule firing more often than hourly would flood (the cap would queue the rest).
    previous = first
    for _ in range(24):
        following = trigger.get_next_fire_time(previous, previous + timedelta(seconds=1))
        if following is None:
            break
        if following - previous < CLOSEST:
            raise BadSchedule("announcements.too_often")
        previous = following
    return Rule(spec=spec, cron=cron, at=None, first=first.astimezone(UTC))


def parse_schedule(spec: str, zone: ZoneInfo, now: datetime) -> Rule:
    """``2026-12-01 09:00``, ``every friday 20:00``, ``daily 09:00``, ``每周五 20:00``,
    ``每天 09:00``, ``工作日 09:00`` or a five-field crontab rule, in ``zone``; raises
    ``BadSchedule`` (unreadable, in the past, never, too often) naming what was typed."""
    text = " ".join(spec.split())
    try:
        return _parse_schedule(text, zone, now)
    except BadSchedule as refused:
        refused.values.setdefault("value", text)
        raise


def _parse_schedule(text: str, zone: ZoneInfo, now: datetime) -> Rule:
    lowered = text.lower()
    day, _, clock = text.partition(" ")
    at = None
    if clock and _DATE_LIKE.fullmatch(day):
        try:
            at = parse_datetime(day, clock, zone, now)
        except ArgError as problem:  # 9999-12-31 23:59: a date, but not one to wait for
            raise BadSchedule(f"error.{problem.reason}", **problem.detail) from None
    if at is not None:
        if at <= now:
            raise BadSchedule("announcements.past", when=f"{at:%Y-%m-%d %H:%M}")
        trigger = trigger_for(None, at, zone)
        first = trigger.get_next_fire_time(None, now)
        assert first is not None
        return Rule(spec=text, cron=None, at=at.astimezone(UTC), first=first.astimezone(UTC))
    if match := _EVERY_EN.fullmatch(lowered):
        weekdays = _weekdays(match["days"])
    elif match := _EVERY_ZH.fullmatch(text):
        if match["daily"]:
            weekdays = "*"
        elif match["workdays"]:
            weekdays = "mon-fri"
        elif match["weekend"]:
            weekdays = "sat,sun"
        else:
            weekdays = _ZH_DAYS[match["day"]]
    elif len(fields := lowered.split()) == 5:
        try:
            fields[4] = crontab_weekdays(fields[4])
        except ValueError as error:
            raise BadSchedule("announcements.bad_spec") from error
        return _cron_rule(text, " ".join(fields), zone, now)
    else:
        raise BadSchedule("announcements.bad_spec")
    hour, minute = int(match["hour"]), int(match["minute"])
    if hour > 23 or minute > 59:
        raise BadSchedule("announcements.bad_spec")
    return _cron_rule(text, f"{minute} {hour} * * {weekdays}", zone, now)


def _take_schedule(text: str, zone: ZoneInfo, now: datetime) -> tuple[Rule, str]:
    """The schedule at the start of ``text`` (quoted, or up to three plain words, the
    shortest that reads) and the rest; raises the most telling ``BadSchedule``."""
    words: list[str] = []
    rest = text
    problem: BadSchedule | None = None
    for _ in range(3):
        word, rest = next_token(rest)
        if word is None:
            break
        words.append(word)
        try:
            return parse_schedule(" ".join(words), zone, now), rest
        except BadSchedule as refused:
            if problem is None or problem.key == "announcements.bad_spec":
                problem = refused
    if problem is None or problem.key == "announcements.bad_spec":
        quoted = text.lstrip()[:1] in {'"', "“", "「", "‘", "'"}
        typed = words[0] if quoted or not words else " ".join(words)
        raise BadSchedule("announcements.bad_spec", value=typed)
    raise problem


# -- commands -------------------------------------------------------------------------------------


def _when(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M}"


def _announcement_text(text: str) -> str | None:
    """Blank text is not an announcement; the rest is kept as typed."""
    text = text.strip()
    return text or None


@feature.command(
    "announce",
    roles=PLANNERS,
    args=[Arg("text", "text", required=False, max_length=ANNOUNCEMENT_LEN + 100)],
)
async def announce(ctx: Context) -> Any:
    """Post now; with ``--pin`` (first or last word) pin it too. A pin the platform refuses
    (the bot lacks the right) gets the dispatcher's ``declined.*`` answer."""
    if ctx.is_private:
        return ctx.reply("announcements.group_only")
    text = str(ctx.args["text"] or "").strip()
    pin = False
    if text.split()[:1] == ["--pin"]:
        pin, text = True, text[len("--pin") :]
    elif text.split()[-1:] == ["--pin"]:
        pin, text = True, text.rstrip()[: -len("--pin")]
    body = _announcement_text(text)
    if body is None:
        return ctx.reply("announcements.empty", private=True, usage=ctx.usage())
    if len(body) > ANNOUNCEMENT_LEN:
        return ctx.reply("announcements.too_long", private=True, most=ANNOUNCEMENT_LEN)
    async with ctx.store.transaction() as session:
        await ctx.audit(session, "announcement.post", pin=pin, text=body[:PREVIEW_LEN])
    event = ctx.event
    # Waited for: the pin names the new message's id. An announcement stands for no row (it
    # is never edited later), so it carries no anchor.
    sent = await ctx.perform(
        Send(
            platform=event.platform,
            chat_id=event.chat.id,
            channel_id=event.channel_id,
            text=ctx.say("announcements.post", text=body),
        )
    )
    if pin and sent.ok and sent.message_id:
        return Pin(
            platform=event.platform,
            chat_id=event.chat.id,
            channel_id=event.channel_id,
            message_id=sent.message_id,
        )
    return None


def _outbox_row(info: AnnouncementInfo, fire: datetime) -> Scheduled:
    """The outbox row of one occurrence: unique by its UTC instant."""
    fire = fire.astimezone(UTC)
    return Scheduled(
        community_id=info.community_id,
        target=target_of(info.id),
        kind=KIND,
        occurrence=fire.isoformat(),
        due_at=fire,
        payload={"announcement": info.id},
        channel_id=info.channel_id,
    )


@feature.command(
    "schedule",
    roles=PLANNERS,
    args=[Arg("spec", "text", required=False, max_length=ANNOUNCEMENT_LEN + 100)],
)
async def schedule_command(ctx: Context) -> Any:
    """``/schedule "every friday 20:00" TEXT``: a post later, in community time."""
    if ctx.is_private:
        return ctx.reply("announcements.group_only")
    assert ctx.member is not None
    raw = str(ctx.args["spec"] or "")
    if not raw.strip():
        return ctx.reply("error.usage", private=True, usage=ctx.usage())
    zone = ctx.zone
    try:
        rule, rest = _take_schedule(raw, zone, ctx.now)
    except BadSchedule as refused:
        return ctx.reply(refused.key, private=True, usage=ctx.usage(), **refused.values)
    body = _announcement_text(rest)
    if body is None:
        return ctx.reply("announcements.empty", private=True, usage=ctx.usage())
    if len(body) > ANNOUNCEMENT_LEN:
        return ctx.reply("announcements.too_long", private=True, most=ANNOUNCEMENT_LEN)
    most = ctx.settings_of(AnnouncementSettings).max_active
    repo = ctx.store.announcements
    async with ctx.store.transaction() as session:
        if await repo.count_active(session, ctx.community.id) >= most:
            refusal = ctx.reply("announcements.too_many", private=True, most=most)
            announcement_id = None
        else:
            refusal = None
            announcement_id = await repo.create(
                session,
                community_id=ctx.community.id,
                channel_id=ctx.event.channel_id,
                creator_member_id=ctx.member.id,
                text=body,
                spec=rule.spec,
                cron=rule.cron,
                zone=zone.key,
                next_at=rule.first,
                create_key=posts.create_key("announcement", ctx.event),
                now=ctx.now,
            )
        if announcement_id is not None:
            info = await repo.get(session, announcement_id)
            assert info is not None
            await ctx.store.outbox.enqueue(session, [_outbox_row(info, rule.first)], ctx.now)
            await ctx.audit(
                session,
                "announcement.schedule",
                announcement=announcement_id,
                spec=rule.spec,
                cron=rule.cron,
            )
    if refusal is not None:
        return refusal
    if announcement_id is None:
        return None  # this very command made it already
    lines = [
        ctx.say(
            "announcements.scheduled" if rule.cron else "announcements.scheduled_once",
            id=announcement_id,
            spec=rule.spec,
            when=_when(rule.first, zone),
        )
    ]
    waits = quiet_until(rule.first, zone, ctx.settings.schedule)
    if waits is not None:
        lines.append(ctx.say("announcements.scheduled_quiet", until=_when(waits, zone)))
    return ctx.reply_text(RichText.join(lines))


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_LEN else flat[: PREVIEW_LEN - 1] + "…"


def _goes_out(ctx: Context, row: Waiting) -> datetime:
    """When a waiting post will actually go out: its due time, moved past quiet hours (the
    outbox moves it there when it comes due)."""
    due = max(row.due_at, ctx.now)
    return quiet_until(due, ctx.zone, ctx.settings.schedule) or due


@feature.command("schedules", roles=PLANNERS)
async def list_schedules(ctx: Context) -> Any:
    """The schedules with their next post as it will actually go out, in community time:
    running ones, and one-offs whose post still waits (held by quiet hours or the cap)."""
    async with ctx.store.transaction() as session:
        waiting = await ctx.store.outbox.waiting(session, ctx.community.id, TARGET_PREFIX)
        nearest: dict[int, tuple[datetime, Waiting]] = {}
        for row in waiting:
            number = announcement_of(row.target)
            goes = _goes_out(ctx, row)
            if number is not None and (number not in nearest or goes < nearest[number][0]):
                nearest[number] = (goes, row)
        shown = await ctx.store.announcements.listed(session, ctx.community.id, set(nearest))
    if not shown:
        return ctx.reply("announcements.none")
    latest = datetime.max.replace(tzinfo=UTC)

    def soonest(info: AnnouncementInfo) -> tuple[datetime, int]:
        goes = nearest[info.id][0] if info.id in nearest else info.next_at
        return (goes or latest, info.id)

    lines = [ctx.say("announcements.list_header")]
    for info in sorted(shown, key=soonest):
        values = {"id": info.id, "spec": info.spec, "text": _preview(info.text)}
        if info.id not in nearest:
            when = _when(info.next_at, ctx.zone) if info.next_at else "-"
            lines.append(ctx.say("announcements.list_line", when=when, **values))
            continue
        goes, row = nearest[info.id]
        if goes > max(row.scheduled_for, ctx.now):
            lines.append(
                ctx.say(
                    "announcements.list_line_held",
                    when=_when(goes, ctx.zone),
                    planned=_when(row.scheduled_for, ctx.zone),
                    **values,
                )
            )
        else:
            lines.append(ctx.say("announcements.list_line", when=_when(goes, ctx.zone), **values))
    return ctx.reply_text(RichText.join(lines))


@feature.command("unschedule", roles=PLANNERS, args=[Arg("id")])
async def unschedule(ctx: Context) -> Any:
    """Stop a schedule (its creator, or moderators) and cancel its pending posts."""
    try:
        announcement_id = parse_count(str(ctx.args["id"]))
    except ArgError as problem:
        return arg_refusal(ctx, problem)
    repo = ctx.store.announcements
    async with ctx.store.transaction() as session:
        info = await repo.get(session, announcement_id)
    if info is None or info.community_id != ctx.community.id or info.removed:
        return ctx.reply("announcements.not_found", private=True, id=announcement_id)
    assert ctx.member is not None
    if info.creator_member_id != ctx.member.id and (refusal := await ctx.refusal([Role.MODERATOR])):
        return refusal
    async with ctx.store.transaction() as session:
        removed = await repo.remove(session, announcement_id, ctx.now)
        if removed:
            await ctx.store.outbox.cancel(session, info.community_id, target_of(info.id))
            await ctx.audit(session, "announcement.remove", announcement=info.id, spec=info.spec)
    if not removed:
        return ctx.reply("announcements.not_found", private=True, id=announcement_id)
    return ctx.reply("announcements.removed", id=info.id, spec=info.spec)


# -- the schedule's next occurrence and writing it ------------------------------------------------


def _following(info: AnnouncementInfo, now: datetime) -> datetime | None:
    """The occurrence after ``next_at`` that is not yet past (after downtime the missed ones
    are not made up: the outbox's late limit decides about the one already enqueued)."""
    if info.cron is None or info.next_at is None:
        return None
    return next_fire(info.cron, ZoneInfo(info.zone), max(now, info.next_at + timedelta(seconds=1)))


@feature.tick("announcements-enqueue", every=timedelta(seconds=30))
async def enqueue_next(ctx: TickContext) -> int:
    """Once a schedule's enqueued occurrence is due, enqueue the next one (in the same
    transaction that moves ``next_at``; a one-off is then finished). Returns how many moved."""
    repo = ctx.store.announcements
    async with ctx.store.transaction() as session:
        due = await repo.running(session, due_by=ctx.now)
    moved = 0
    for info in due:
        assert info.next_at is not None
        following = _following(info, ctx.now)
        async with ctx.store.transaction() as session:
            if not await repo.advance(session, info.id, info.next_at, following):
                continue  # another process moved it, or it was removed meanwhile
            if following is not None:
                await ctx.store.outbox.enqueue(session, [_outbox_row(info, following)], ctx.now)
        moved += 1
    return moved


@deliverer(KIND)
async def write_announcement(
    ctx: TickContext, row: Due, community: CommunityInfo
) -> RichText | None:
    """The post, written when it goes out; nothing if the schedule was removed, or if the
    row was held back (quiet hours, the cap) past the schedule's next occurrence, which is
    then posted instead (one post, not a burst of stale ones)."""
    announcement_id = int(row.payload.get("announcement") or 0)
    async with ctx.store.transaction() as session:
        info = await ctx.store.announcements.get(session, announcement_id)
    if info is None or info.removed or info.community_id != row.community_id:
        return None
    if info.cron is not None:
        after = next_fire(info.cron, ZoneInfo(info.zone), row.scheduled_for + timedelta(seconds=1))
        if after is not None and after <= ctx.now:
            return None
    voice = voice_for(ctx, community, f"announcement:{info.id}:{row.occurrence}")
    return voice.say("announcements.post", text=info.text)
