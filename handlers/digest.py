"""The weekly digest (每周简报): once a week, at the community's own time, the operators and
analysts get privately what a week of ``/stats`` would tell them, and three things to do.

A tick puts the week's digest in the durable outbox (``handlers/outbox.py``) once its time
has come: one row per community and ISO week (the outbox's unique key), so two processes or
a restart add nothing, and the outbox claims the row once (quiet hours and lateness apply).
Its writer reads the week then, and answers a role ``Notify`` (admins and analysts; the
``record`` fallback: a refused private chat never shows the figures in the group).

The three suggested actions come from ``RULES``: each a stated condition on the week's
figures, in priority order; the first three that apply are said.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from bot.actions import Action, Notify, NotifyRole, Picture, Reply
from bot.config import Section
from bot.context import Context, TickContext
from bot.features import Arg, Feature
from bot.permissions import Role, allowed
from bot.richtext import RichText
from handlers.care import check_in_list
from handlers.feedback import feedback_figures
from handlers.insights import InsightsSettings
from handlers.insights.roles import Census, census
from handlers.insights.stats import Speaker, activity_charts, command_word, figures_text
from handlers.intro import not_introduced
from handlers.moments import digest_lines
from handlers.outbox import deliverer
from handlers.persona_settings import effect_lines, persona_effect
from handlers.shared import store_override, voice_for
from persona.render import Occasion
from storage.communities import CommunityInfo
from storage.digest import active_communities
from storage.insight_reports import (
    Calendar,
    Days,
    InsightReports,
    MemberName,
    PeriodFigures,
    Ranked,
)
from storage.insights import InsightRepo
from storage.outbox import Due, Scheduled
from storage.questions import UNANSWERED_ANCHOR, QuestionRepo
from storage.referrals import ReferralRepo

__all__ = [
    "RULES",
    "DigestSettings",
    "Facts",
    "due_this_week",
    "enqueue_digests",
    "feature",
    "suggestions",
]

log = logging.getLogger(__name__)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class DigestSettings(Section):
    """The weekly digest sent privately to admins and analysts."""

    enabled: bool = True
    """Send it every week (/digest off|on per community)."""
    weekday: Weekday = "monday"
    """The day it goes out, community time."""
    time: str = Field("09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    """The hour it goes out, community time (HH:MM)."""


feature = Feature("digest", group="settings", order=185, settings={"digest": DigestSettings})

DIGEST = "digest"
#: Who reads it: analysts and every role that implies analyst (admins, owners).
READERS: NotifyRole = "analyst"
#: Names listed in a digest line (the rest are counted).
NAMED = 5
#: A fall at least this large (0.3 = 30%) is a fall worth acting on.
FALL = -0.3
#: Referred newcomers still here this many days after joining are "kept".
KEPT_DAYS = 30


def due_this_week(now: datetime, calendar_zone: Any, rules: DigestSettings) -> datetime:
    """The UTC instant of this ISO week's digest in the community's zone (may be past)."""
    local = now.astimezone(calendar_zone)
    monday = local.date() - timedelta(days=local.weekday())
    day = monday + timedelta(days=WEEKDAYS.index(rules.weekday))
    hours, minutes = (int(part) for part in rules.time.split(":"))
    return datetime.combine(day, time(hours, minutes), tzinfo=calendar_zone).astimezone(UTC)


@feature.tick("digest-enqueue", every=timedelta(minutes=5))
async def enqueue_digests(ctx: TickContext) -> int:
    """Put each community's digest in the outbox once its time this week has come (one row
    per community and ISO week: enqueueing again adds nothing). How many rows were new."""
    async with ctx.store.transaction() as session:
        communities = await active_communities(session)
    late, rows = timedelta(hours=ctx.settings.schedule.late_limit_hours), []
    for community in communities:
        rules = ctx.settings_of(DigestSettings, community)
        zone = ctx.zone_for(community)
        due = due_this_week(ctx.now, zone, rules)
        # Not yet, or too late to be worth it (a new community, the bot down for days).
        if not rules.enabled or not due <= ctx.now <= due + late:
            continue
        year, week, _ = due.astimezone(zone).isocalendar()
        rows.append(
            Scheduled(
                community_id=community.id,
                target="operators",
                kind=DIGEST,
                occurrence=f"{year}-W{week:02d}",
                due_at=due,
                payload={},
            )
        )
    async with ctx.store.transaction() as session:
        return await ctx.store.outbox.enqueue(session, rows, ctx.now)


# -- suggested actions -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Facts:
    """What the suggestion rules look at: the week's figures and the named lists."""

    figures: PeriodFigures
    newcomers_silent: Sequence[str]
    at_risk: Sequence[str]
    top: Sequence[str]


@dataclass(frozen=True, slots=True)
class Rule:
    """A suggestion: its pack intent, and when it applies."""

    name: str
    applies: Callable[[Facts], bool]


def _fell(now: float, before: float) -> bool:
    return before > 0 and (now - before) / before <= FALL


#: In priority order; the digest says the first three that apply.
RULES: tuple[Rule, ...] = (
    # Newcomers who never spoke: a welcome by name is the cheapest retention there is.
    Rule("welcome_newcomers", lambda f: bool(f.newcomers_silent)),
    # Regulars gone quiet: a personal hello brings some back.
    Rule("hello_quiet", lambda f: bool(f.at_risk)),
    # Check-ins fell 30% or more: a red packet relay gets the habit going again.
    Rule(
        "checkins_fell",
        lambda f: _fell(f.figures.checked_in.now, f.figures.checked_in.before),
    ),
    # Messages fell 30% or more: a question or a poll gives people something to answer.
    Rule("messages_fell", lambda f: _fell(f.figures.messages.now, f.figures.messages.before)),
    # More left than joined: ask the ones who stay what they miss.
    Rule("more_left", lambda f: f.figures.leaves.now > f.figures.joins.now),
    # Someone carried the week: thank them (privately or in the group, as they like).
    Rule("thank_top", lambda f: bool(f.top)),
)
MOST_SUGGESTIONS = 3


def suggestions(facts: Facts) -> list[str]:
    """The names of the rules that apply, the first ``MOST_SUGGESTIONS`` by priority."""
    return [rule.name for rule in RULES if rule.applies(facts)][:MOST_SUGGESTIONS]


def _names(speaker: Speaker, names: Sequence[str]) -> str:
    shown = speaker.say("digest.name_separator").plain().join(names[:NAMED])
    if len(names) > NAMED:
        shown += speaker.say("digest.and_more", count=len(names) - NAMED).plain()
    return shown


def _suggestion(speaker: Speaker, rule: str, facts: Facts) -> RichText:
    f = facts.figures
    values: dict[str, Any] = {
        "welcome_newcomers": {
            "count": len(facts.newcomers_silent),
            "names": _names(speaker, facts.newcomers_silent),
        },
        "hello_quiet": {"count": len(facts.at_risk), "names": _names(speaker, facts.at_risk)},
        "checkins_fell": {"percent": _percent_fall(f.checked_in.now, f.checked_in.before)},
        "messages_fell": {"percent": _percent_fall(f.messages.now, f.messages.before)},
        "more_left": {"left": int(f.leaves.now), "joined": int(f.joins.now)},
        "thank_top": {"name": facts.top[0] if facts.top else ""},
    }[rule]
    return speaker.say(f"digest.suggest.{rule}", **values)


def _percent_fall(now: float, before: float) -> str:
    return f"{(before - now) / before * 100:.0f}%" if before else "0%"


# -- writing the digest ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Digest:
    """The text and the charts of one digest."""

    text: RichText
    pictures: tuple[Picture, ...]


async def write_digest(ctx: TickContext, community: CommunityInfo, speaker: Speaker) -> Digest:
    """The last 7 days in ``community``, today included: the same figures ``/stats 7d``
    gives at that moment, so the digest and the command never disagree."""
    reset = community.day_reset_hour
    calendar = Calendar(
        ctx.zone_for(community),
        ctx.settings.community.day_reset_hour if reset is None else reset,
    )
    today = calendar.day_of(ctx.now)
    week = Days.ending(today, 7)
    reports, cid = InsightReports(ctx.store.db), community.id
    drawing: asyncio.Future[tuple[Picture, ...]] | None = None
    try:
        async with ctx.store.transaction() as session:
            figures = await reports.period(session, cid, week, calendar)
            if not figures.empty:
                daily = await reports.daily(session, cid, week)
                rhythm = await reports.heatmap(session, cid, week)
                # The charts need only these two: drawn in the render thread while the
                # members are read (their queries wait on the database, not on this loop).
                drawing = asyncio.ensure_future(_charts(speaker, week, daily, rhythm))
                lists = await _lists(ctx, session, community, today, calendar, week)
        # Questions, introductions, the feedback inbox and referrals: each read in a
        # transaction of its own, after this one.
        asked = await _questions_block(ctx, community, speaker)
        inbox = await _feedback_block(ctx, community, speaker)
        asked = [*asked, *await _intro_block(ctx, community, speaker)]
        asked = [*asked, *await digest_lines(ctx, community, speaker, today)]  # holidays ahead
        referred = await _referrals_block(ctx, community, speaker)
        referred = [*referred, *await _care_block(ctx, community, speaker, today)]
        # The persona's effect goes with the week's figures, before the suggestions.
        asked = [*asked, *await _persona_block(ctx, community, speaker)]
        if drawing is None:
            quiet = [speaker.say("digest.header"), speaker.say("digest.not_enough_data")]
            return Digest(RichText.join([*quiet, *asked, *inbox, *referred], "\n\n"), ())
        text = _text(speaker, figures, *lists, asked)
        return Digest(RichText.join([text, *inbox, *referred], "\n\n"), await drawing)
    finally:
        if drawing is not None and not drawing.done():
            drawing.cancel()  # the digest failed: its charts are not waited for


def _text(
    speaker: Speaker,
    figures: PeriodFigures,
    found: Census,
    ranked: Sequence[Ranked],
    named: dict[int, MemberName],
    asked: Sequence[RichText] = (),
) -> RichText:
    """The digest's words: the figures, the three lists, the week's questions and the
    newcomers who have not introduced themselves (``asked``),
    and the suggestions."""
    name = {member_id: found_name.display_name for member_id, found_name in named.items()}
    facts = Facts(
        figures=figures,
        newcomers_silent=[name[i] for i in found.newcomers_silent if i in name],
        at_risk=[name[q.member_id] for q in found.at_risk if q.member_id in name],
        top=[name[r.member_id] for r in ranked if r.member_id in name],
    )
    lines = [speaker.say("digest.header"), figures_text(speaker, figures)]
    for key, names in (
        ("newcomers", facts.newcomers_silent),
        ("at_risk", facts.at_risk),
        ("top", facts.top),
    ):
        if names:
            lines.append(
                speaker.say(f"digest.{key}", count=len(names), names=_names(speaker, names))
            )
        else:
            lines.append(speaker.say(f"digest.{key}_none"))
    lines += asked
    lines.append(speaker.say("digest.suggest_header"))
    lines += [_suggestion(speaker, rule, facts) for rule in suggestions(facts)] or [
        speaker.say("digest.suggest_none")
    ]
    return RichText.join(lines, "\n\n")


async def _lists(
    ctx: TickContext,
    session: AsyncSession,
    community: CommunityInfo,
    today: date,
    calendar: Calendar,
    week: Days,
) -> tuple[Census, list[Ranked], dict[int, MemberName]]:
    """The census (newcomers who never spoke, members at risk), the week's top, and the
    names of the few listed."""
    rules, reports, cid = (
        ctx.settings_of(InsightsSettings, community),
        InsightReports(ctx.store.db),
        community.id,
    )
    members = await reports.activity(
        session,
        cid,
        today,
        calendar,
        role_days=rules.role_days,
        history_days=rules.history_days,
    )
    opted_out = await InsightRepo(ctx.store.db).opted_out(session, cid)
    found = census(members, rules, opted_out, sample=NAMED)
    del members  # every member's activity: not kept while the names are read
    ranked = await reports.top(session, cid, week, NAMED)
    ids = [*found.newcomers_silent, *(q.member_id for q in found.at_risk)]
    named = await reports.names(session, [*ids, *(r.member_id for r in ranked)])
    return found, ranked, named


# -- the feedback inbox (handlers/feedback.py): one block, only where feedback exists --------


async def _feedback_block(
    ctx: TickContext, community: CommunityInfo, speaker: Speaker
) -> list[RichText]:
    inbox = await feedback_figures(ctx, community.id)
    if not (inbox.new_this_week or inbox.waiting_triage or inbox.filed_in_window):
        return []
    unknown = speaker.say("digest.feedback_unknown").plain()
    median = inbox.median_triage
    share = inbox.loop_closed_share
    return [
        speaker.say(
            "digest.feedback",
            new=inbox.new_this_week,
            waiting=inbox.waiting_triage,
            median=speaker.say(
                "digest.feedback_hours", hours=f"{median.total_seconds() / 3600:.1f}"
            ).plain()
            if median is not None
            else unknown,
            share=f"{share:.0%}" if share is not None else unknown,
        )
    ]


async def _charts(speaker: Speaker, week: Days, daily: Any, rhythm: Any) -> tuple[Picture, ...]:
    """The daily activity and the hour heatmap, as ``/stats`` draws them."""
    (daily_png, daily_title), (rhythm_png, rhythm_title) = await activity_charts(
        speaker, week, daily, rhythm
    )
    return (
        Picture(png=daily_png, caption=RichText.of(daily_title), filename="digest-daily.png"),
        Picture(png=rhythm_png, caption=RichText.of(rhythm_title), filename="digest-hours.png"),
    )


@deliverer(DIGEST)
async def deliver_digest(ctx: TickContext, row: Due, community: CommunityInfo) -> Action | None:
    """The week's digest to every admin and analyst privately; nothing when it was turned
    off after the row was made, or when nobody holds a role to read it (the row settles
    at once, unwritten: no retries drawing charts for no one; next week's row tries again)."""
    if not ctx.settings_of(DigestSettings, community).enabled:
        return None
    if not await _anyone_to_tell(ctx, row):
        log.warning(
            "weekly digest %s for community %d (%s:%s): nobody to tell (no owner, admin or"
            " analyst there); not written, next week's is tried as usual",
            row.occurrence,
            row.community_id,
            row.platform,
            row.chat_id,
        )
        return None
    # Weekly: the opening turns per week (a day number would step by 7), at the hour of the
    # community's zone, which is the operators'.
    today = ctx.occasion_for(community, f"{row.platform}:{row.chat_id}|digest")
    occasion = Occasion(who=today.who, day=today.day // 7, hour=today.hour)
    digest = await write_digest(
        ctx, community, voice_for(ctx, community, f"digest:{row.occurrence}", occasion)
    )
    return Notify(
        platform=row.platform,
        chat_id=row.chat_id,
        channel_id=row.channel_id,
        role=READERS,
        text=digest.text,
        fallback="record",
        pictures=digest.pictures,
    )


async def _anyone_to_tell(ctx: TickContext, row: Due) -> bool:
    """Whether a notice to the readers' role would reach someone. When the platform cannot
    say (an error asking for its admins), assume so: the notice's own lookup then decides,
    and the outbox retries it as any failed send."""
    try:
        return bool(await ctx.holders(row.platform, row.chat_id, Role(READERS)))
    except Exception as error:
        log.warning(
            "weekly digest %s for community %d: its readers could not be listed (%s); written"
            " anyway",
            row.occurrence,
            row.community_id,
            error,
        )
        return True


# -- the command -----------------------------------------------------------------------------

SWITCHES = {"on": True, "off": False, "开": True, "关": False, "开启": True, "关闭": False}


@feature.command(
    "digest", keywords=["周报"], roles=[Role.ANALYST], args=[Arg("what", "word", required=False)]
)
async def digest(ctx: Context) -> Reply | list[Action] | None:
    """``/digest now`` (analysts and admins: this week's digest to the asker, privately),
    ``/digest off|on`` (admins: this community's weekly digest)."""
    assert ctx.sender is not None
    word = command_word(str(ctx.args["what"] or ""))
    if word in SWITCHES:
        if not allowed(await ctx.roles(), [Role.ADMIN]):
            return ctx.reply("digest.admins_only", private=True)
        async with ctx.store.transaction() as session:
            await store_override(ctx, session, DigestSettings, "enabled", SWITCHES[word])
            await ctx.audit(session, "digest.settings", key="enabled", value=SWITCHES[word])
        rules = ctx.settings_of(DigestSettings)
        intent = "digest.turned_on" if SWITCHES[word] else "digest.turned_off"
        return ctx.reply(
            intent, weekday=ctx.say(f"digest.weekday.{rules.weekday}").plain(), time=rules.time
        )
    if word != "now":
        return ctx.reply("digest.usage", private=True, usage=ctx.usage())
    found = await write_digest(ctx, ctx.community, ctx)
    told = Notify(
        platform=ctx.event.platform,
        chat_id=ctx.event.chat.id,
        channel_id=ctx.event.channel_id,
        user_id=ctx.sender.id,
        text=found.text,
        fallback="mention",
        pictures=found.pictures,
    )
    if ctx.is_private:
        return [told]
    return [told, ctx.reply("digest.sent_privately")]


# -- introductions (handlers/intro.py): one line, only when newcomers have not introduced ----


async def _intro_block(
    ctx: TickContext, community: CommunityInfo, speaker: Speaker
) -> list[RichText]:
    """Newcomers who have not introduced themselves yet (自我介绍), read after the main
    transaction; nothing when everyone has."""
    count, names = await not_introduced(ctx, community)
    if not count:
        return []
    if not names:  # every one of them opted out of being named
        return [speaker.say("digest.not_introduced_unnamed", count=count)]
    return [speaker.say("digest.not_introduced", count=count, names=_names(speaker, names))]


# -- referrals (handlers/referrals.py): one block, only where members invite -----------------

#: Inviters and links named in the referrals block.
REFERRERS = 3


async def _referrals_block(
    ctx: TickContext, community: CommunityInfo, speaker: Speaker
) -> list[RichText]:
    """The week's referred joins (and the ones nobody could be credited with), and who keeps
    their newcomers: of the joins 30 days old or more, how many are still here, by inviter
    and by link (the top 3 each; opted-out members are never named)."""
    repo, since = ReferralRepo(ctx.store.db), ctx.now - timedelta(days=7)
    async with ctx.store.transaction() as session:
        referred, unknown = await repo.joined_since(session, community.id, since)
        by_inviter = await repo.kept_after(session, community.id, ctx.now, KEPT_DAYS)
        by_link = await repo.kept_by_link(session, community.id, ctx.now, KEPT_DAYS)
        opted_out = await InsightRepo(ctx.store.db).opted_out(session, community.id)
    if not (referred or unknown or by_inviter):
        return []
    none = speaker.say("digest.referrals_none").plain()
    inviters = [
        speaker.say("digest.referrals_kept", name=k.display_name, kept=k.kept, joined=k.joined)
        for k in by_inviter
        if k.member_id not in opted_out
    ][:REFERRERS]
    links = [
        speaker.say("digest.referrals_kept", name=k.name, kept=k.kept, joined=k.joined)
        for k in by_link
        if k.member_id not in opted_out
    ][:REFERRERS]
    separator = speaker.say("digest.name_separator").plain()
    return [
        speaker.say(
            "digest.referrals",
            referred=referred,
            unknown=unknown,
            days=KEPT_DAYS,
            inviters=separator.join(k.plain() for k in inviters) or none,
            links=separator.join(k.plain() for k in links) or none,
        )
    ]


# -- care (handlers/care): one gentle line, only where care is on and someone reads low ------


async def _care_block(
    ctx: TickContext, community: CommunityInfo, speaker: Speaker, today: date
) -> list[RichText]:
    """Members whose mood has read low for days against their own baseline: someone to
    check in with, privately and kindly (nothing where care is off or nobody reads low)."""
    low = await check_in_list(ctx, community, today)
    if not low:
        return []
    names = [member.display_name for member in low]
    return [speaker.say("digest.care_check_in", count=len(names), names=_names(speaker, names))]


# -- the persona (handlers/persona_settings.py): one block, only where greetings were measured


async def _persona_block(
    ctx: TickContext, community: CommunityInfo, speaker: Speaker
) -> list[RichText]:
    """How the persona's greetings did this week, by preset (what ``/stats persona`` shows
    for 30 days); nothing when no greeting was measured."""
    effect = await persona_effect(ctx, community, days=7)
    if not effect.presets and effect.milestone is None:
        return []
    lines = effect_lines(speaker, effect, ctx.persona_for(community).locale)
    return [RichText.join(lines, "\n")]


# -- expert Q&A (handlers/questions.py): one block, only where questions were asked ---------


async def _questions_block(
    ctx: TickContext, community: CommunityInfo, speaker: Speaker
) -> list[RichText]:
    """The week's questions: how many, the median wait for a first answer, the share without
    an answer in 24 h beside the 23% anchor, and who answered (never an opted-out member)."""
    week_ago = ctx.now - timedelta(days=7)
    async with ctx.store.transaction() as session:
        found = await QuestionRepo(ctx.store.db).figures(session, community.id, week_ago, ctx.now)
        opted_out = await InsightRepo(ctx.store.db).opted_out(session, community.id)
        helpers = [(m, n) for m, n in found.answers_per_member if m not in opted_out][:NAMED]
        named = await InsightReports(ctx.store.db).names(session, [m for m, _n in helpers])
    if not found.asked:
        return []
    unknown = speaker.say("digest.questions_unknown").plain()
    median = found.median_first_answer_minutes
    share = found.unanswered_share
    people = [
        speaker.say("digest.questions_helper", name=named[m].display_name, count=n).plain()
        for m, n in helpers
        if m in named
    ]
    return [
        speaker.say(
            "digest.questions",
            asked=found.asked,
            median=speaker.say("digest.questions_minutes", minutes=round(median)).plain()
            if median is not None
            else unknown,
            share=f"{share:.0%}" if share is not None else unknown,
            anchor=f"{UNANSWERED_ANCHOR:.0%}",
            helpers=_names(speaker, people) if people else unknown,
        )
    ]
