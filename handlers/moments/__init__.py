"""A persona that remembers: facts the bot already holds become a warm line, said once.

One place decides (``_say_once``): a reply that may carry a moment hands over its candidates
in priority order (a birthday, a round streak, a check-in count, a year since joining, a
welcome back after a long silence, one day from a round streak, a holiday, a weekend), and
the first whose key (community, member, kind, occasion) a single ``INSERT`` claims is said;
the others stay unsaid and unclaimed. So a reply carries at most one moment, each moment is
said at most once whatever the concurrency or restarts, and nothing is written per chat
message: moments ride on replies the bot gives anyway (check-in, welcome, the red packet, the
accepted answer) and on the weekly digest.

``/callme NAME`` sets the name the persona calls a member in this community
(``Context.address`` reads it from memory); ``/holiday add MM-DD NAME`` adds a day the
community celebrates every year (audited).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from bot.actions import Reply
from bot.cache import BoundedCache
from bot.clock import Clock
from bot.config import Section
from bot.context import Context, TickContext
from bot.events import MessageEvent, User
from bot.features import Arg, Feature
from bot.permissions import Role
from bot.richtext import RichText
from handlers import enforcement
from handlers.birthdays import BirthdaySettings, birthday_on
from handlers.moments.calendar import (
    CalendarChoice,
    Occasion,
    calendars_for,
    holidays_in,
    holidays_on,
    weekend_of,
)
from handlers.shared import voice_for
from storage.communities import CommunityInfo
from storage.members import MemberInfo
from storage.moments import CALL_NAME_LEN, HOLIDAY_NAME_LEN, Holiday, MomentFacts

__all__ = [
    "Candidate",
    "HolidayEntry",
    "MomentSettings",
    "checkin_candidates",
    "checkin_lines",
    "digest_lines",
    "feature",
    "first_time_line",
    "welcome_line",
]


class HolidayEntry(BaseModel):
    """A day celebrated every year: ``{ date = "12-24", name = "..." }``."""

    date: str
    name: str = Field(min_length=1, max_length=HOLIDAY_NAME_LEN)

    @field_validator("date")
    @classmethod
    def _month_day(cls, value: str) -> str:
        if _month_day(value) is None:
            raise ValueError("expected MM-DD, a day that exists (02-29 is allowed)")
        return value


class MomentSettings(Section):
    """A persona that remembers: one warm line, once, on a check-in, a welcome, a red packet
    or an accepted answer (milestones, birthdays, a welcome back, holidays); /callme; /holiday.
    """

    enabled: bool = True
    """Say moments at all (/callme works either way)."""
    return_after_days: int = Field(14, ge=0, le=3650)
    """Welcome a member back on their first check-in (or rejoin) after this many days of
    silence (check-ins and, where insights counts it, activity); 0 = never."""
    streaks: list[int] = Field(default_factory=lambda: [7, 30, 50, 100, 200, 365, 500, 1000])
    """Round check-in streaks that earn a line (once per streak)."""
    almost_from: int = Field(30, ge=0, le=100_000)
    """From this round streak up, the check-in one day before it says "one more day"; 0 = never."""
    checkins: list[int] = Field(default_factory=lambda: [100, 365, 500, 1000])
    """Total check-ins that earn a line (the 100th...), once each."""
    calendar: CalendarChoice = "auto"
    """Built-in holidays: "auto" (the persona's language), "zh-CN", "en", "both" or "none"."""
    holidays: list[HolidayEntry] = Field(default_factory=list)
    """The community's own days, every year: [{ date = "12-24", name = "..." }]
    (operators add more with /holiday add)."""
    weekends: bool = False
    """A weekend line on a member's first check-in of a weekend."""
    anniversary_days: int = Field(7, ge=1, le=31)
    """A year since joining is said on a check-in within this many days of the date."""


@dataclass
class _State:
    """Each community's own holidays, read at most once a minute (changes here forget them)."""

    holidays: BoundedCache[int, tuple[Holiday, ...]] = field(
        default_factory=lambda: BoundedCache(5_000, 60.0)
    )


def _state(clock: Clock) -> _State:
    return _State()


feature: Feature[_State] = Feature(
    "moments", group="members", order=75, settings=MomentSettings, state=_state
)

_MONTH_DAY = re.compile(r"(\d{1,2})-(\d{1,2})")


def _month_day(text: str) -> tuple[int, int] | None:
    found = _MONTH_DAY.fullmatch(text.strip())
    if found is None:
        return None
    month, day = int(found[1]), int(found[2])
    try:
        date(2000, month, day)  # a leap year: 02-29 exists
    except ValueError:
        return None
    return month, day


# -- deciding --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """A moment that may be said: its claim key (kind, occasion) and its line."""

    kind: str
    occasion: str
    intent: str
    values: dict[str, Any] = field(default_factory=dict)


def _streak_start(today: date, streak: int) -> str:
    return (today - timedelta(days=streak - 1)).isoformat()


def checkin_candidates(
    rules: MomentSettings,
    facts: MomentFacts,
    streak: int,
    today: date,
    occasions: Sequence[Occasion],
    feb29: str = "feb28",
) -> list[Candidate]:
    """What a new check-in on ``today`` (streak ``streak``) may say, in priority order."""
    found: list[Candidate] = []
    if facts.birthday is not None:
        month, day = facts.birthday
        if birthday_on(today.year, month, day, feb29) == today:
            found.append(Candidate("birthday", str(today.year), "moments.birthday"))
    if streak in rules.streaks:
        occasion = f"{streak}:{_streak_start(today, streak)}"
        found.append(Candidate("streak", occasion, "moments.streak", {"streak": streak}))
    if facts.checkins in rules.checkins:
        found.append(
            Candidate(
                "checkins", str(facts.checkins), "moments.checkins", {"count": facts.checkins}
            )
        )
    joined = facts.member_since.date()
    years = today.year - joined.year
    if years >= 1:
        anniversary = birthday_on(today.year, joined.month, joined.day, feb29)
        if timedelta(0) <= today - anniversary < timedelta(days=rules.anniversary_days):
            found.append(Candidate("joined", str(years), "moments.joined", {"years": years}))
    if rules.return_after_days and facts.last_seen is not None:
        gap = (today - facts.last_seen).days
        if gap >= rules.return_after_days:
            found.append(Candidate("return", today.isoformat(), "moments.return", {"days": gap}))
    target = streak + 1
    if rules.almost_from and target >= rules.almost_from and target in rules.streaks:
        occasion = f"{target}:{_streak_start(today, streak)}"
        found.append(Candidate("almost", occasion, "moments.almost", {"target": target}))
    for occasion in occasions:
        found.append(_holiday_candidate(occasion))
    weekend = weekend_of(today)
    if rules.weekends and weekend is not None:
        found.append(Candidate("weekend", weekend, "moments.weekend"))
    return found


def _holiday_candidate(occasion: Occasion) -> Candidate:
    """A holiday's own greeting (``moments.greeting.<key>``: 清明 is not wished "happy"); the
    name is filled in when said (built-in ones are named by the pack)."""
    intent = f"moments.greeting.{occasion.key}"
    return Candidate("holiday", occasion.claim_key, intent, {"holiday": occasion})


def _values(ctx: TickContext, persona: Any, candidate: Candidate) -> dict[str, Any]:
    values = dict(candidate.values)
    holiday = values.get("holiday")
    if isinstance(holiday, Occasion):
        values["holiday"] = _holiday_name(ctx, persona, holiday)
    return values


def _holiday_name(ctx: TickContext, persona: Any, occasion: Occasion) -> str:
    if occasion.name is not None:
        return occasion.name
    return ctx.renderer.render(persona, f"moments.holiday.{occasion.key}").plain()


async def _claim_first(
    ctx: TickContext,
    session: AsyncSession,
    community_id: int,
    member_id: int,
    candidates: Sequence[Candidate],
    day: date,
) -> Candidate | None:
    """The one place that decides: claim the first candidate not said yet (one ``INSERT``
    each, in priority order, until one makes its row); the others stay unclaimed."""
    for candidate in candidates:
        claimed = await ctx.store.moments.claim(
            session,
            community_id=community_id,
            member_id=member_id,
            kind=candidate.kind,
            occasion=candidate.occasion,
            day=day,
            now=ctx.now,
        )
        if claimed:
            return candidate
    return None


async def _say_once(
    ctx: Context,
    session: AsyncSession,
    member: MemberInfo,
    candidates: Sequence[Candidate],
    day: date,
) -> RichText | None:
    """``_claim_first`` for a member of this community, said in its persona."""
    chosen = await _claim_first(ctx, session, ctx.community.id, member.id, candidates, day)
    if chosen is None:
        return None
    values = _values(ctx, ctx.persona, chosen)
    return ctx.say(chosen.intent, member=ctx.address(member), **values)


async def _own_holidays(
    ctx: TickContext, community: CommunityInfo, session: AsyncSession | None = None
) -> list[tuple[int, int, str]]:
    """The community's own holidays: the config's and the ones its operators added (read in
    ``session`` when the caller holds one: a write transaction must not wait on another)."""
    state = ctx.state(feature)
    stored = state.holidays.get(community.id)
    if stored is None:
        if session is None:
            async with ctx.store.transaction() as own:
                stored = tuple(await ctx.store.moments.holidays(own, community.id))
        else:
            stored = tuple(await ctx.store.moments.holidays(session, community.id))
        state.holidays[community.id] = stored
    rules = ctx.settings_of(MomentSettings, community)
    configured = []
    for entry in rules.holidays:
        month_day = _month_day(entry.date)
        if month_day is not None:
            configured.append((*month_day, entry.name))
    return [*((h.month, h.day, h.name) for h in stored), *configured]


async def _occasions(
    ctx: TickContext, community: CommunityInfo, day: date, session: AsyncSession | None = None
) -> list[Occasion]:
    rules = ctx.settings_of(MomentSettings, community)
    calendars = calendars_for(rules.calendar, ctx.persona_for(community).locale)
    return holidays_on(day, calendars, await _own_holidays(ctx, community, session))


# -- hooks for other features -----------------------------------------------------------------


async def checkin_lines(
    ctx: Context,
    session: AsyncSession,
    checked: Sequence[tuple[MemberInfo, int]],
    day: date,
) -> dict[int, RichText]:
    """The moment line of each new check-in (member, streak) on ``day``, by member id: said
    in the check-ins' own transaction, so a check-in and its moment commit together."""
    rules = ctx.settings_of(MomentSettings)
    if not rules.enabled or not checked:
        return {}
    occasions = await _occasions(ctx, ctx.community, day, session)
    facts = await ctx.store.moments.facts(session, [m.id for m, _ in checked], day)
    feb29 = ctx.settings_of(BirthdaySettings).feb29
    waiting: dict[int, list[Candidate]] = {}
    members = {member.id: member for member, _ in checked}
    for member, streak in checked:
        known = facts.get(member.id)
        if known is not None:
            found = checkin_candidates(rules, known, streak, day, occasions, feb29)
            if found:
                waiting[member.id] = found
    chosen = await _claim_rounds(ctx, session, waiting, day)
    lines: dict[int, RichText] = {}
    for member_id, candidate in chosen.items():
        values = _values(ctx, ctx.persona, candidate)
        lines[member_id] = ctx.say(
            candidate.intent, member=ctx.address(members[member_id]), **values
        )
    return lines


async def _claim_rounds(
    ctx: Context,
    session: AsyncSession,
    waiting: dict[int, list[Candidate]],
    day: date,
) -> dict[int, Candidate]:
    """``_claim_first`` for many members at once: round ``n`` claims every member's ``n``-th
    candidate in one statement (only members whose earlier ones were taken), so a burst of
    check-ins on a holiday costs a few statements, not one per member."""
    chosen: dict[int, Candidate] = {}
    position = 0
    while waiting:
        round_ = {m: found[position] for m, found in waiting.items() if position < len(found)}
        if not round_:
            break
        made = await ctx.store.moments.claim_many(
            session,
            community_id=ctx.community.id,
            wanted=[(m, c.kind, c.occasion) for m, c in round_.items()],
            day=day,
            now=ctx.now,
        )
        for member_id, candidate in round_.items():
            if (member_id, candidate.kind, candidate.occasion[:64]) in made:
                chosen[member_id] = candidate
                del waiting[member_id]
        position += 1
    return chosen


async def welcome_line(ctx: Context, user: User) -> RichText | None:
    """A line for a newcomer's welcome: welcome back after a long silence (a rejoin), or the
    day's holiday, once per member and occasion."""
    rules = ctx.settings_of(MomentSettings)
    if not rules.enabled or ctx.is_private:
        return None
    day = ctx.today()
    occasions = await _occasions(ctx, ctx.community, day)
    async with ctx.store.transaction() as session:
        member = await ctx.store.members.find(session, ctx.community.id, user.id)
        if member is None:
            return None
        candidates: list[Candidate] = []
        last_seen = await ctx.store.moments.last_seen(session, member.id, day)
        if rules.return_after_days and last_seen is not None:
            gap = (day - last_seen).days
            if gap >= rules.return_after_days:
                candidates.append(
                    Candidate("return", day.isoformat(), "moments.welcome_return", {"days": gap})
                )
        candidates += [_holiday_candidate(o) for o in occasions]
        return await _say_once(ctx, session, member, candidates, day)


async def first_time_line(
    ctx: Context,
    session: AsyncSession,
    member: MemberInfo,
    kind: str,
    community: CommunityInfo | None = None,
) -> RichText | None:
    """The line for a member's first red packet sent (``first_redpacket``) or first accepted
    answer (``first_answer``), claimed in the transaction that made it; ``None`` after the
    first. ``community``: the member's, when the event came from elsewhere (an answer
    accepted in private), whose persona then speaks."""
    community = community or ctx.community
    if not ctx.settings_of(MomentSettings, community).enabled:
        return None
    candidate = Candidate(kind, "1", f"moments.{kind}")
    chosen = await _claim_first(ctx, session, community.id, member.id, [candidate], ctx.today())
    if chosen is None:
        return None
    if community.id == ctx.community.id:
        return ctx.say(chosen.intent, member=ctx.address(member))
    voice = voice_for(ctx, community, f"moment:{member.id}")
    address = voice.address(member.platform_user_id, member.display_name)
    return voice.say(chosen.intent, member=address)


async def digest_lines(
    ctx: TickContext, community: CommunityInfo, speaker: Any, today: date
) -> list[RichText]:
    """The week ahead's holidays for the operators' digest (said once: the digest is one row
    per community and week)."""
    rules = ctx.settings_of(MomentSettings, community)
    if not rules.enabled:
        return []
    persona = ctx.persona_for(community)
    calendars = calendars_for(rules.calendar, persona.locale)
    coming = holidays_in(
        today, today + timedelta(days=6), calendars, await _own_holidays(ctx, community)
    )
    if not coming:
        return []
    separator = speaker.say("digest.name_separator").plain()
    named = separator.join(
        speaker.say(
            "moments.digest_holiday",
            holiday=_holiday_name(ctx, persona, o),
            date=o.day.strftime("%m-%d"),
        ).plain()
        for o in coming
    )
    return [speaker.say("moments.digest_week", holidays=named)]


# -- call names -------------------------------------------------------------------------------


@feature.middleware(order=5)
async def know_call_names(ctx: Context) -> bool:
    """Keep the community's call names in memory for ``Context.address``: read once per
    ``storage.moments.REFRESH`` per community, and only for an event the bot may answer (a
    command, a keyword, a button, a join): plain chatter never reads. Never stops the event."""
    moments = ctx.store.moments
    if ctx.is_private or moments.names_of(ctx.community.id) is not None:
        return True
    event = ctx.event
    if isinstance(event, MessageEvent):
        if event.command is None and (not event.text or ctx.commands.keyword(event.text) is None):
            return True
    async with ctx.store.transaction() as session:
        await moments.load_names(session, ctx.community.id)
    return True


def _clean_name(text: str) -> str:
    """A call name as stored: NFKC, control and format characters removed, spaces joined."""
    kept = "".join(
        c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c)[0] != "C"
    )
    return " ".join(kept.split())


@feature.command("callme", args=[Arg("name", "text", required=False, max_length=200)])
async def callme(ctx: Context) -> Reply:
    """``/callme NAME``: how the persona addresses me here; ``/callme reset``: my own name."""
    assert ctx.member is not None and ctx.sender is not None
    raw = ctx.args.get("name") or ""
    name = _clean_name(raw)
    if not name:
        return ctx.reply("moments.callme.bad_empty", limit=CALL_NAME_LEN, usage=ctx.usage())
    reset = name.casefold() in {"reset", "重置"}
    if not reset and len(name) > CALL_NAME_LEN:
        return ctx.reply("moments.callme.too_long", limit=CALL_NAME_LEN, length=len(name))
    if not reset:
        hit = await ctx.state(enforcement.feature).matchers.first(ctx, name)
        if hit is not None:
            return ctx.reply("moments.callme.bad_word", word=hit.matched)
    async with ctx.store.transaction() as session:
        if ctx.store.moments.names_of(ctx.community.id) is None:
            await ctx.store.moments.load_names(session, ctx.community.id)
        await ctx.store.moments.call(
            session,
            community_id=ctx.community.id,
            member_id=ctx.member.id,
            platform_user_id=ctx.member.platform_user_id,
            name=None if reset else name,
            now=ctx.now,
        )
    if reset:
        return ctx.reply("moments.callme.reset", member=ctx.address(ctx.member))
    return ctx.reply("moments.callme.set", member=ctx.address(ctx.member), name=name)


# -- a community's own holidays ---------------------------------------------------------------


@feature.command(
    "holiday",
    roles=[Role.ADMIN],
    group="settings",
    args=[
        Arg("action", "choice", required=False, choices=("add", "remove", "list")),
        Arg("date", "word", required=False, max_length=10),
        Arg("name", "text", required=False, max_length=200),
    ],
)
async def holiday(ctx: Context) -> Reply:
    """``/holiday add MM-DD NAME``, ``/holiday remove MM-DD``, ``/holiday list``."""
    action = ctx.args.get("action") or "list"
    if action == "list":
        return await _list_holidays(ctx)
    month_day = _month_day(ctx.args.get("date") or "")
    if month_day is None:
        return ctx.reply("moments.holidays.bad_date", usage=ctx.usage())
    month, day = month_day
    shown = f"{month:02d}-{day:02d}"
    cid = ctx.community.id
    if action == "remove":
        async with ctx.store.transaction() as session:
            removed = await ctx.store.moments.remove_holiday(session, cid, month, day)
            if removed:
                await ctx.audit(session, "holiday.remove", date=shown)
        ctx.state(feature).holidays.pop(cid)
        if not removed:
            return ctx.reply("moments.holidays.not_found", date=shown)
        return ctx.reply("moments.holidays.removed", date=shown)
    name = _clean_name(ctx.args.get("name") or "")
    if not name:
        return ctx.reply("moments.holidays.bad_name", usage=ctx.usage())
    if len(name) > HOLIDAY_NAME_LEN:
        return ctx.reply("moments.holidays.too_long", limit=HOLIDAY_NAME_LEN, length=len(name))
    async with ctx.store.transaction() as session:
        await ctx.store.moments.add_holiday(session, cid, Holiday(month, day, name), ctx.now)
        await ctx.audit(session, "holiday.add", date=shown, name=name)
    ctx.state(feature).holidays.pop(cid)
    return ctx.reply("moments.holidays.added", date=shown, holiday=name)


async def _list_holidays(ctx: Context) -> Reply:
    own = await _own_holidays(ctx, ctx.community)
    if not own:
        return ctx.reply("moments.holidays.none", usage=ctx.usage())
    lines = [ctx.say("moments.holidays.header")]
    lines += [
        ctx.say("moments.holidays.line", date=f"{month:02d}-{day:02d}", holiday=name)
        for month, day, name in sorted(own)
    ]
    return ctx.reply_text(RichText.join(lines))
