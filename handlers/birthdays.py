"""Birthdays and join anniversaries (生日、入群纪念日): the moments that make a member feel
known, greeted once, at a decent hour in their own time zone.

``/birthday 11-21`` (or ``1990-11-21``, the year private unless ``public``), ``/birthday off``,
``/birthday hide|show`` (the ``/birthdays`` list), ``/timezone Asia/Shanghai``, ``/birthdays``.

A tick finds the coming greetings with indexed queries (birthdays by month and day, joins by
date ranges) and enqueues them in the outbox (``handlers/outbox.py``) a day ahead: one row
per chat and greeting time, so several birthdays in one chat become one message. The row's
writer runs when it is sent: it re-reads the members (someone who left or removed their
birthday is not greeted) and gives the optional points through the ledger, once per member
and birthday.
"""

from __future__ import annotations

import calendar
import functools
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field

from bot.actions import Reply
from bot.config import Section
from bot.context import Context, TickContext
from bot.features import Arg, Feature
from bot.richtext import Mention, RichText
from bot.zones import ZONE_EXAMPLES, parse_zone, zone_label
from handlers.outbox import deliverer
from handlers.shared import Voice, mentions, voice_for
from storage.birthdays import Celebrant, MemberBirthday
from storage.communities import CommunityInfo
from storage.outbox import Due, Scheduled
from storage.points import PointsReason

__all__ = [
    "AnniversarySettings",
    "BirthdaySettings",
    "birthday_on",
    "enqueue_greetings",
    "feature",
    "greeting_days",
]


class BirthdaySettings(Section):
    """/birthday 11-21 (or 1990-11-21; the year stays private unless you add "public")."""

    greeting_hour: int = Field(9, ge=0, le=23)
    """The greeting's hour in each member's own zone (/timezone), else the community's."""
    feb29: Literal["feb28", "mar1"] = "feb28"
    """29 February birthdays in common years: "feb28" or "mar1"."""
    gift_points: int = Field(0, ge=0, le=1_000_000)
    """Points given on a birthday through the ledger; 0 = none."""


class AnniversarySettings(Section):
    """Join anniversaries, from the join date the bot recorded."""

    days: list[int] = Field(default_factory=lambda: [100], max_length=10)
    """Milestones in days after joining, besides the yearly ones."""
    yearly: bool = True
    """Greet every full year in the group."""


feature = Feature(
    "birthdays",
    group="care",
    order=150,
    settings={"birthdays": BirthdaySettings, "anniversaries": AnniversarySettings},
)

BIRTHDAY, ANNIVERSARY = "birthday", "anniversary"
#: Greetings are enqueued this far ahead of their time (the tick runs every few minutes).
AHEAD = timedelta(hours=36)
#: Yearly anniversaries are looked for this many years back.
MOST_YEARS = 20
_DATE = re.compile(r"(?:(\d{4})[-/.])?(\d{1,2})[-/.](\d{1,2})")
PUBLIC = frozenset({"public", "公开"})


def birthday_on(year: int, month: int, day: int, feb29: str) -> date:
    """The day a birthday falls on in ``year``: 29 February moves to 28 February or 1 March
    in common years, as the community chose."""
    if (month, day) == (2, 29) and not calendar.isleap(year):
        return date(year, 2, 28) if feb29 == "feb28" else date(year, 3, 1)
    return date(year, month, day)


def greeting_days(days: Iterable[date], feb29: str) -> set[tuple[int, int]]:
    """The (month, day) birthdays greeted on ``days``."""
    pairs = set()
    for day in days:
        pairs.add((day.month, day.day))
        if not calendar.isleap(day.year) and birthday_on(day.year, 2, 29, feb29) == day:
            pairs.add((2, 29))
    return pairs


@functools.lru_cache(maxsize=1_024)  # zone names are few (about 600), yet never unbounded
def _zone(name: str | None, default: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or default)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo(default)


# -- finding and enqueueing ----------------------------------------------------------------------


def _window(ctx: TickContext) -> tuple[datetime, datetime]:
    """Greetings due in this window are enqueued: from as late as still worth sending to a
    day and a half ahead."""
    return ctx.now - timedelta(hours=ctx.settings.schedule.late_limit_hours), ctx.now + AHEAD


def _due(day: date, hour: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)


def _birthday_rows(ctx: TickContext, people: Sequence[Celebrant]) -> list[Scheduled]:
    rules, default = ctx.settings_of(BirthdaySettings), ctx.settings.community.timezone
    start, end = _window(ctx)
    groups: dict[tuple[int, datetime], list[int]] = defaultdict(list)
    for person in people:
        if person.month is None or person.day is None:
            continue
        zone = _zone(person.timezone, default)
        local = ctx.now.astimezone(zone).date()
        # The occurrence near now: this year's, or a neighbour's around New Year.
        years = [local.year]
        if local.month == 1:
            years.insert(0, local.year - 1)
        elif local.month == 12:
            years.append(local.year + 1)
        for year in years:
            due = _due(
                birthday_on(year, person.month, person.day, rules.feb29), rules.greeting_hour, zone
            )
            if start <= due <= end:
                groups[(person.community_id, due)].append(person.member_id)
    return [
        Scheduled(
            community_id=community_id,
            target="chat",
            kind=BIRTHDAY,
            occurrence=due.isoformat(),
            due_at=due,
            payload={"members": sorted(members)},
        )
        for (community_id, due), members in groups.items()
    ]


def _milestone(joined: date, day: date, rules: Any, feb29: str) -> dict[str, int] | None:
    """Which anniversary ``day`` is for someone who joined on ``joined``, if any."""
    days = (day - joined).days
    if days <= 0:
        return None
    years = day.year - joined.year
    if (
        rules.yearly
        and years >= 1
        and birthday_on(day.year, joined.month, joined.day, feb29) == day
    ):
        return {"days": days, "years": years}
    if days in rules.days:
        return {"days": days, "years": 0}
    return None


def _years_ago(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a common year
        return date(day.year - years, 2, 28)


def _anniversary_windows(ctx: TickContext) -> list[tuple[datetime, datetime]]:
    """Join-date ranges (UTC, with a day's margin for any zone) that can have a milestone
    in the greeting window."""
    rules = ctx.settings_of(AnniversarySettings)
    first, last = (ctx.now - timedelta(days=1)).date(), (ctx.now + timedelta(days=2)).date()
    windows = [(first - timedelta(days=n), last - timedelta(days=n)) for n in rules.days]
    if rules.yearly:
        windows += [(_years_ago(first, y), _years_ago(last, y)) for y in range(1, MOST_YEARS + 1)]
    return [
        (
            datetime.combine(a - timedelta(days=1), time(), tzinfo=UTC),
            datetime.combine(b + timedelta(days=2), time(), tzinfo=UTC),
        )
        for a, b in windows
    ]


def _anniversary_rows(ctx: TickContext, people: Sequence[Celebrant]) -> list[Scheduled]:
    rules, default = ctx.settings_of(AnniversarySettings), ctx.settings.community.timezone
    hour, feb29 = (
        ctx.settings_of(BirthdaySettings).greeting_hour,
        ctx.settings_of(BirthdaySettings).feb29,
    )
    start, end = _window(ctx)
    groups: dict[tuple[int, datetime], list[dict[str, int]]] = defaultdict(list)
    for person in people:
        zone = _zone(person.timezone, default)
        joined = person.member_since.astimezone(zone).date()
        today = ctx.now.astimezone(zone).date()
        for day in (today - timedelta(days=1), today, today + timedelta(days=1)):
            milestone = _milestone(joined, day, rules, feb29)
            if milestone is None:
                continue
            due = _due(day, hour, zone)
            if start <= due <= end:
                groups[(person.community_id, due)].append({"id": person.member_id, **milestone})
    return [
        Scheduled(
            community_id=community_id,
            target="chat",
            kind=ANNIVERSARY,
            occurrence=due.isoformat(),
            due_at=due,
            payload={"members": sorted(members, key=lambda m: m["id"])},
        )
        for (community_id, due), members in groups.items()
    ]


@feature.tick("greetings-enqueue", every=timedelta(minutes=5))
async def enqueue_greetings(ctx: TickContext) -> int:
    """Put the coming birthday and anniversary greetings in the outbox (idempotent: a row per
    chat and greeting time; a pending row takes the current list of members)."""
    local_days = [(ctx.now + timedelta(days=n)).date() for n in (-1, 0, 1, 2)]
    async with ctx.store.transaction() as session:
        born = await ctx.store.birthdays.on_days(
            session, greeting_days(local_days, ctx.settings_of(BirthdaySettings).feb29)
        )
        joined = await ctx.store.birthdays.joined_within(session, _anniversary_windows(ctx))
    rows = _birthday_rows(ctx, born) + _anniversary_rows(ctx, joined)
    async with ctx.store.transaction() as session:
        await ctx.store.outbox.enqueue(session, rows, ctx.now, refresh=True)
    return len(rows)


# -- writing the greetings ------------------------------------------------------------------------


@deliverer(BIRTHDAY)
async def write_birthdays(ctx: TickContext, row: Due, community: CommunityInfo) -> RichText | None:
    """One message for the chat's birthdays at this time; ``None`` if nobody is left."""
    rules, default = ctx.settings_of(BirthdaySettings), ctx.settings.community.timezone
    store = ctx.store
    async with store.transaction() as session:
        people = await store.birthdays.members(session, row.payload.get("members", []))
        today: dict[int, date] = {}
        for person in people:
            local = row.scheduled_for.astimezone(_zone(person.timezone, default)).date()
            if (
                person.month
                and person.day
                and birthday_on(local.year, person.month, person.day, rules.feb29) == local
            ):
                today[person.member_id] = local
        people = sorted((p for p in people if p.member_id in today), key=lambda p: p.display_name)
        gifts = []
        for person in people if rules.gift_points else []:
            if await store.points.award(
                session,
                community_id=person.community_id,
                member_id=person.member_id,
                amount=rules.gift_points,
                why=PointsReason.birthday(person.member_id, today[person.member_id]),
                now=ctx.now,
            ):
                gifts.append(person)
    if not people:
        return None
    # The wording turns per chat and day; the hour is the celebrant's (one) or the chat's.
    zone = _zone(people[0].timezone, default) if len(people) == 1 else None
    occasion = ctx.occasion_for(community, f"{row.platform}:{row.chat_id}|birthday", zone)
    voice = voice_for(ctx, community, f"birthday:{row.occurrence}", occasion)
    if len(people) == 1:
        lines = [voice.say("birthday.one", member=mentions(people, "、"))]
    else:
        lines = [voice.say("birthday.many", members=mentions(people, "、"), count=len(people))]
    for person in people:
        age = (
            today[person.member_id].year - person.year if person.year and person.year_public else 0
        )
        if age > 0 and age % 10 == 0:
            lines.append(voice.say("birthday.round", member=person.display_name, age=age))
    if gifts:
        lines.append(
            voice.say(
                "birthday.gift",
                members="、".join(p.display_name for p in gifts),
                points=rules.gift_points,
            )
        )
    return RichText.join(lines)


def _record(voice: Voice, checkins: int, earned: int) -> RichText | None:
    """What a member did here, leaving out what is zero (no "0 check-ins"); ``None`` when
    both are, and the greeting then leaves the record out."""
    parts = []
    if checkins:
        one = "_one" if checkins == 1 else ""
        parts.append(voice.say(f"anniversary.record_checkins{one}", count=checkins).plain())
    if earned > 0:
        one = "_one" if earned == 1 else ""
        parts.append(voice.say(f"anniversary.record_points{one}", count=earned).plain())
    if not parts:
        return None
    return RichText.of(voice.say("anniversary.record_and").plain().join(parts))


@deliverer(ANNIVERSARY)
async def write_anniversaries(
    ctx: TickContext, row: Due, community: CommunityInfo
) -> RichText | None:
    store = ctx.store
    wanted = {int(m["id"]): m for m in row.payload.get("members", [])}
    lines = []
    occasion = ctx.occasion_for(community, f"{row.platform}:{row.chat_id}|anniversary")
    voice = voice_for(ctx, community, f"anniversary:{row.occurrence}", occasion)
    async with store.transaction() as session:
        people = await store.birthdays.members(session, list(wanted))
        for person in sorted(people, key=lambda p: p.display_name):
            milestone = wanted[person.member_id]
            checkins, earned = await store.birthdays.numbers(session, person.member_id)
            values: dict[str, Any] = {
                "member": RichText.of(
                    Mention(text=person.display_name, user_id=person.platform_user_id)
                ),
                "days": milestone["days"],
                "years": milestone["years"],
            }
            intent = "anniversary.years" if milestone["years"] else "anniversary.days"
            record = _record(voice, checkins, earned)
            if record is None:
                intent += "_plain"
            else:
                values["record"] = record
            lines.append(voice.say(intent, **values))
    return RichText.join(lines) if lines else None


# -- commands -------------------------------------------------------------------------------------


def _shown(month: int, day: int, year: int | None) -> str:
    return f"{year:04d}-{month:02d}-{day:02d}" if year else f"{month:02d}-{day:02d}"


async def _tell(ctx: Context, values: dict[str, Any]) -> int | None:
    """Remember what the member says about themselves. In a group it is this membership's;
    in private it is their person's, applied in every community they share with the bot
    (the count returned; 0: it applies when they join one)."""
    assert ctx.member is not None and ctx.sender is not None
    async with ctx.store.transaction() as session:
        if ctx.is_private:
            return await ctx.store.persons.tell(
                session,
                platform=ctx.event.platform,
                platform_user_id=ctx.sender.id,
                display_name=ctx.sender.name,
                now=ctx.now,
                values=values,
            )
        await ctx.store.birthdays.update(session, ctx.member.id, values)
    return None


def _told(ctx: Context, said: RichText, shared: int | None) -> Reply:
    """The answer, and in private where it applies."""
    if shared is None:
        return ctx.reply_text(said)
    if shared == 0:
        scope = ctx.say("birthday.applies_later")
    elif shared == 1:
        scope = ctx.say("birthday.applies_one")
    else:
        scope = ctx.say("birthday.applies_many", count=shared)
    return ctx.reply_text(RichText.join([said, scope]))


async def _mine(ctx: Context) -> MemberBirthday:
    """What the member told the bot: here, or in private their person's values."""
    assert ctx.member is not None and ctx.sender is not None
    async with ctx.store.transaction() as session:
        if not ctx.is_private:
            return await ctx.store.birthdays.get(session, ctx.member.id)
        person = await ctx.store.persons.of_account(session, ctx.event.platform, ctx.sender.id)
    if person is None:
        return MemberBirthday(None, None, None, False, True, None)
    return MemberBirthday(
        person.birthday_month,
        person.birthday_day,
        person.birthday_year,
        person.birthday_year_public,
        person.birthday_listed,
        person.timezone,
    )


@feature.command(
    "birthday", keywords=["生日"], where="any", args=[Arg("spec", "text", required=False)]
)
async def birthday(ctx: Context) -> Any:
    """Said in a group, the birthday is this community's to greet; said in private, it is
    the member's own and applies in every community they share with the bot."""
    assert ctx.member is not None and ctx.sender is not None
    who = ctx.address(ctx.sender)
    spec = str(ctx.args["spec"] or "").split()
    if not spec:
        mine = await _mine(ctx)
        if mine.month is None or mine.day is None:
            return ctx.reply("birthday.none", member=who)
        return ctx.reply(
            "birthday.show",
            member=who,
            date=_shown(mine.month, mine.day, mine.year),
            public=ctx.say(
                "birthday.year_public" if mine.year_public else "birthday.year_private"
            ).plain(),
        )
    word = spec[0].lower()
    if word in ("off", "取消", "删除"):
        shared = await _tell(
            ctx,
            {
                "birthday_month": None,
                "birthday_day": None,
                "birthday_year": None,
                "birthday_year_public": False,
            },
        )
        return _told(ctx, ctx.say("birthday.removed", member=who), shared)
    if word in ("hide", "隐藏", "show", "显示"):
        listed = word in ("show", "显示")
        shared = await _tell(ctx, {"birthday_listed": listed})
        intent = "birthday.listed" if listed else "birthday.hidden"
        return _told(ctx, ctx.say(intent, member=who), shared)
    match = _DATE.fullmatch(spec[0])
    public = any(word.lower() in PUBLIC for word in spec[1:])
    parsed = _parse_birthday(match, ctx.now.year) if match else None
    if parsed is None or len(spec) > 2 or (len(spec) == 2 and not public):
        return ctx.reply("birthday.bad", private=True, value=" ".join(spec), usage=ctx.usage())
    year, month, day = parsed
    shared = await _tell(
        ctx,
        {
            "birthday_month": month,
            "birthday_day": day,
            "birthday_year": year,
            "birthday_year_public": bool(year) and public,
        },
    )
    said = ctx.say(
        "birthday.saved",
        member=who,
        date=_shown(month, day, year if public else None),
        public=ctx.say(
            "birthday.year_public" if year and public else "birthday.year_private"
        ).plain(),
    )
    return _told(ctx, said, shared)


def _parse_birthday(match: re.Match[str], this_year: int) -> tuple[int | None, int, int] | None:
    year = int(match[1]) if match[1] else None
    month, day = int(match[2]), int(match[3])
    if year is not None and not 1900 <= year <= this_year:
        return None
    try:
        date(year or 2000, month, day)  # 2000 was a leap year: 02-29 without a year is fine
    except ValueError:
        return None
    return year, month, day


RESET = frozenset({"off", "reset", "default", "默认", "恢复", "取消"})


@feature.command(
    "timezone", keywords=["时区"], where="any", args=[Arg("zone", "text", required=False)]
)
async def set_timezone(ctx: Context) -> Any:
    """A personal zone for greetings: any case, city names, aliases and offsets
    (``bot.zones.parse_zone``); in private it applies in every shared community."""
    assert ctx.member is not None and ctx.sender is not None
    who, value = ctx.address(ctx.sender), str(ctx.args["zone"] or "").strip()
    if not value:
        mine = await _mine(ctx)
        if mine.timezone is None and ctx.is_private:
            return ctx.reply("timezone.none_private", member=who)
        return ctx.reply(
            "timezone.show", member=who, zone=zone_label(mine.timezone or ctx.zone.key)
        )
    if value.casefold() in RESET:
        zone = None
    else:
        zone = parse_zone(value)
        if zone is None:
            return ctx.reply(
                "timezone.bad",
                private=True,
                value=value[:64],
                examples=" ".join(ZONE_EXAMPLES),
                usage=ctx.usage(),
            )
    shared = await _tell(ctx, {"timezone": zone})
    if zone is None and ctx.is_private:
        said = ctx.say("timezone.reset_private", member=who)
    else:
        said = ctx.say("timezone.saved", member=who, zone=zone_label(zone or ctx.zone.key))
    return _told(ctx, said, shared)


@feature.command("birthdays", keywords=["生日列表"])
async def upcoming_birthdays(ctx: Context) -> Any:
    """Birthdays in the next 30 days of members who let themselves be listed."""
    today, feb29 = ctx.now.astimezone(ctx.zone).date(), ctx.settings_of(BirthdaySettings).feb29
    async with ctx.store.transaction() as session:
        people = await ctx.store.birthdays.of_community(session, ctx.community.id)
    coming = []
    for person in people:
        assert person.month is not None and person.day is not None
        for year in (today.year, today.year + 1):
            day = birthday_on(year, person.month, person.day, feb29)
            if today <= day <= today + timedelta(days=30):
                coming.append((day, person))
                break
    if not coming:
        return ctx.reply("birthday.list_none")
    lines = [ctx.say("birthday.list_header", days=30)]
    for day, person in sorted(coming, key=lambda pair: (pair[0], pair[1].display_name)):
        age = day.year - person.year if person.year and person.year_public else None
        intent = "birthday.list_line_age" if age else "birthday.list_line"
        lines.append(ctx.say(intent, date=f"{day:%m-%d}", member=person.display_name, age=age or 0))
    return ctx.reply_text(RichText.join(lines))
