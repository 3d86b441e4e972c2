"""``/stats``: the reports operators read (figures, roles, lifecycle, retention, lists, export)
and a member's own activity, built from ``storage/insight_reports.py`` and the rules of
``handlers/insights/roles.py``.

Privacy is the shape of this module: aggregates (counts, shares, charts) may go to the chat the
command came from; anything per member (names, lists, one member's figures, the CSV) goes only
privately to the asker, by ``Notify``, and never names a member who opted out.

Which community: in a group, that group. In a private chat, the only group the asker shares
with the bot on this platform (a member still present); with several, the reply asks them to
run the command in the group they mean (the answer then comes privately anyway).

The text builders (``figures_text``, ``roles_text``, ``stages_text``...) take any ``Speaker``
(a ``Context`` or a ``handlers.shared.Voice``), so the weekly digest can reuse them from a tick.

Charts are drawn by ``handlers/insights/charts.py``, imported inside the functions that draw:
matplotlib costs about a second to import, which the bot's start should not pay.
"""

from __future__ import annotations

import csv
import io
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.actions import (
    MAX_FILE_BYTES,
    Action,
    Document,
    Notify,
    Reply,
    SendImage,
)
from bot.context import Context
from bot.permissions import Role as Permission
from bot.permissions import allowed, owner_keys
from bot.richtext import RichText
from handlers.insights.roles import (
    Census,
    InsightRules,
    Role,
    Stage,
    census,
    role_of,
    stage_counts,
    stage_of,
    why,
)
from handlers.persona_settings import effect_lines, persona_effect
from handlers.shared import voice_for
from storage.care import CareRepo
from storage.communities import CommunityInfo
from storage.insight_reports import (
    EXPORT_COLUMNS,
    Calendar,
    DayPoint,
    Days,
    Figure,
    InsightReports,
    MemberActivity,
    PeriodFigures,
)
from storage.insights import InsightRepo
from storage.members import MemberInfo

if TYPE_CHECKING:  # charts import matplotlib: only where a chart is drawn
    from handlers.insights.charts import Formats

__all__ = [
    "PERIODS",
    "Numbers",
    "Speaker",
    "activity_charts",
    "command_word",
    "figures_text",
    "report",
    "roles_text",
    "stages_text",
]

#: ``/stats 7d|30d|90d``: the periods a report may cover, by the word typed.
PERIODS = {"7d": 7, "30d": 30, "90d": 90}
SUBCOMMANDS = (
    "members",
    "why",
    "lifecycle",
    "retention",
    "top",
    "quiet",
    "me",
    "export",
    "mood",
    "persona",
)
#: The period of ``/stats``, ``/stats top`` and ``/stats export`` when none is typed.
DEFAULT_PERIODS = {"": 7, "top": 7, "export": 30, "mood": 30}
#: Who may read the community's reports (admins and owners imply analyst).
READERS = (Permission.ANALYST, Permission.MODERATOR)
#: Weeks of lifecycle the chart shows (this week included).
LIFECYCLE_WEEKS = 8
#: Members named per role in ``/stats members`` (privately), and in ``top``.
NAMED_PER_ROLE, TOP_LIMIT = 10, 10
#: Pseudonyms of opted-out members in exports when no ``pseudonym_key`` is configured: stable
#: while the process runs, different after a restart (never the member's id).
PROCESS_KEY = secrets.token_bytes(32)
#: Characters that make a spreadsheet read a cell as a formula: such a name gets a quote first.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class Speaker(Protocol):
    """Anything that renders persona intents: a ``Context`` or a ``Voice``."""

    def say(self, intent: str, **values: Any) -> RichText: ...


# -- numbers as members read them ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Numbers:
    """Counts, averages, shares, changes and days in the persona's locale (the day's pattern
    and the words for a change come from the packs)."""

    speaker: Speaker

    @staticmethod
    def count(value: float) -> str:
        return f"{value:,.0f}"

    @staticmethod
    def average(value: float) -> str:
        return f"{value:,.1f}".removesuffix(".0")

    @staticmethod
    def share(value: float) -> str:
        return f"{value * 100:.0f}%"

    def day(self, day: date) -> str:
        return self.speaker.say("insights.format.day", month=day.month, day=day.day).plain()

    def change(self, figure: Figure) -> str:
        """Signed percent against the period before; "new" when it was 0 before."""
        if figure.now == figure.before:
            return self.speaker.say("insights.change.same").plain()
        relative = figure.change
        if relative is None:
            return self.speaker.say("insights.change.new").plain()
        key = "insights.change.up" if relative > 0 else "insights.change.down"
        return self.speaker.say(key, percent=f"{abs(relative) * 100:.0f}%").plain()

    def signed(self, value: float) -> str:
        return f"+{self.count(value)}" if value > 0 else self.count(value).replace("-", "−")

    def formats(self) -> Formats:
        from handlers.insights.charts import Formats

        return Formats(day=self.day, count=self.count, share=self.share)


# -- text builders (the digest reuses them) ----------------------------------------------------


def figures_text(speaker: Speaker, figures: PeriodFigures) -> RichText:
    """The key figures of a period, each with its change against the period before."""
    n = Numbers(speaker)
    f = figures
    lines = [
        speaker.say(
            "insights.figures_header",
            days=f.days.count,
            first=n.day(f.days.first),
            last=n.day(f.days.last),
        ),
        speaker.say(
            "insights.figure_members", value=n.count(f.members.now), change=n.change(f.members)
        ),
        speaker.say(
            "insights.figure_active", value=n.count(f.active.now), change=n.change(f.active)
        ),
        speaker.say("insights.figure_dau", value=n.average(f.dau.now), change=n.change(f.dau)),
        speaker.say(
            "insights.figure_wau_mau",
            wau=n.count(f.wau.now),
            mau=n.count(f.mau.now),
            stickiness=n.share(f.stickiness.now),
        ),
        speaker.say(
            "insights.figure_messages", value=n.count(f.messages.now), change=n.change(f.messages)
        ),
        speaker.say(
            "insights.figure_movement",
            joins=n.count(f.joins.now),
            leaves=n.count(f.leaves.now),
            net=n.signed(f.net_growth.now),
            change=n.change(f.net_growth),
        ),
        speaker.say(
            "insights.figure_checkins",
            value=n.share(f.checkin_rate.now),
            change=n.change(f.checkin_rate),
        ),
    ]
    return RichText.join(lines, "\n")


def _count_lines(speaker: Speaker, labels: str, counts: Mapping[StrEnum, int]) -> list[RichText]:
    """``label: count`` for each key of ``counts`` (roles or stages), labelled from the packs'
    ``<labels>.<key>``."""
    return [
        speaker.say(
            "insights.count_line",
            label=speaker.say(f"{labels}.{key.value}").plain(),
            count=Numbers.count(count),
        )
        for key, count in counts.items()
    ]


def roles_text(speaker: Speaker, found: Census, rules: InsightRules) -> RichText:
    """The six roles' counts (no names: fit for the group)."""
    present = sum(found.roles.values())
    return RichText.join(
        [
            speaker.say("insights.members_header", count=present, days=rules.role_days),
            *_count_lines(speaker, "insights.roles", found.roles),
            speaker.say("insights.members_why"),
        ],
        "\n",
    )


def stages_text(speaker: Speaker, found: Census) -> RichText:
    """Counts per lifecycle stage and how many moved this week (no names)."""
    return RichText.join(
        [
            speaker.say("insights.lifecycle_header", count=sum(found.stages.values())),
            *_count_lines(speaker, "insights.stage", found.stages),
            speaker.say("insights.lifecycle_moved", count=len(found.moved)),
        ],
        "\n",
    )


def _names(speaker: Speaker, names: Sequence[str]) -> str:
    separator = speaker.say("insights.separator").plain()
    return separator.join(names) if names else speaker.say("insights.nobody").plain()


# -- where and who ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """The community a report is about, the asker's membership there, and its days."""

    community: CommunityInfo
    member: MemberInfo
    calendar: Calendar
    today: date
    rules: InsightRules


class _Stop(Exception):
    """The answer is ready before any report: say it and stop (no group, several groups)."""

    def __init__(self, answer: Reply) -> None:
        self.answer = answer


async def _scope(ctx: Context, rules_model: type[InsightRules]) -> Scope:
    """The community this ``/stats`` is about (module docstring)."""
    assert ctx.sender is not None
    if not ctx.is_private:
        assert ctx.member is not None
        community, member = ctx.community, ctx.member
    else:
        async with ctx.store.transaction() as session:
            ids = await InsightRepo(ctx.store.db).memberships(
                session, ctx.event.platform, ctx.sender.id
            )
            present = [
                found
                for found in [await ctx.store.members.get(session, i) for i in ids]
                if found is not None and found.left_at is None
            ]
            if len(present) != 1:
                key = "insights.no_groups" if not present else "insights.which_group"
                raise _Stop(ctx.reply(key, private=True, count=len(present)))
            member = present[0]
            known = await ctx.store.communities.get(session, member.community_id)
            assert known is not None
            community = known
    reset = community.day_reset_hour
    calendar = Calendar(
        ctx.zone_for(community),
        ctx.settings.community.day_reset_hour if reset is None else reset,
    )
    return Scope(
        community,
        member,
        calendar,
        calendar.day_of(ctx.now),
        ctx.settings_of(rules_model, community),
    )


async def _may_read(ctx: Context, scope: Scope) -> bool:
    """Whether the asker holds a reader's role in the scope's community (in private: granted
    roles, the owner, and the platform's admins of that group)."""
    if not ctx.is_private:
        return allowed(await ctx.roles(), READERS)
    assert ctx.sender is not None
    held: set[Permission] = set()
    if (ctx.event.platform, ctx.sender.id) in owner_keys(ctx.settings.owners.ids):
        held.add(Permission.OWNER)
    if await ctx.is_admin(ctx.event.platform, scope.community.chat_id, ctx.sender.id):
        held.add(Permission.ADMIN)
    async with ctx.store.transaction() as session:
        held |= {Permission(r) for r in await ctx.store.roles.of_member(session, scope.member.id)}
    return allowed(held, READERS)


async def _privately(
    ctx: Context,
    scope: Scope,
    text: RichText,
    *,
    document: Document | None = None,
) -> Reply | None:
    """Send ``text`` (and a file) to the asker alone. In a group the chat reads only that
    it was sent; a refusal there mentions the asker (never the data)."""
    assert ctx.sender is not None
    sent = await ctx.perform(
        Notify(
            platform=ctx.event.platform,
            chat_id=scope.community.chat_id if ctx.is_private else ctx.event.chat.id,
            channel_id=None if ctx.is_private else ctx.event.channel_id,
            user_id=ctx.sender.id,
            text=text,
            fallback="record" if ctx.is_private else "mention",
            document=document,
        )
    )
    if sent.detail == "mentioned":
        return None  # the fallback mention already asked them to open a private chat
    if not sent.ok:
        return ctx.reply("insights.not_delivered", private=True)
    if ctx.is_private:
        return None
    return ctx.reply("insights.answered_privately", private=True)


def command_word(text: str) -> str:
    """A subcommand or period word as members type it: full-width letters and digits
    (``７ｄ``, ``ＭＥ``) read as ASCII (NFKC, as durations are), case and outer spaces
    ignored."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


def _period(word: str, default: int) -> int | None:
    """Days of a period word (``7d``, ``７ｄ``); the default when none; ``None``: not a
    period."""
    if not word:
        return default
    return PERIODS.get(command_word(word))


def _usage(ctx: Context) -> Reply:
    return ctx.reply("insights.usage", private=True, usage=ctx.usage())


# -- the command --------------------------------------------------------------------------------


async def report(
    ctx: Context, what: str, rest: str, rules_model: type[InsightRules]
) -> Reply | list[Action] | None:
    """``/stats [PERIOD]``, ``members``, ``why @member``, ``lifecycle``, ``retention``,
    ``top [PERIOD]``, ``quiet``, ``me``, ``export [PERIOD]`` (optout/optin: the caller)."""
    what, rest = command_word(what), rest.strip()
    subcommand = what if what in SUBCOMMANDS else ""
    word = rest if subcommand else what
    days: int | None = None
    if subcommand in DEFAULT_PERIODS:
        days = _period(word, DEFAULT_PERIODS[subcommand])
        if days is None or (not subcommand and rest):
            return _usage(ctx)  # "/stats 8d", "/stats 7d more": not a report
    elif subcommand != "why" and rest:
        return _usage(ctx)
    try:
        scope = await _scope(ctx, rules_model)
    except _Stop as stop:
        return stop.answer
    if subcommand == "me":
        return await _me(ctx, scope)
    if not await _may_read(ctx, scope):
        return ctx.reply("insights.not_allowed", private=True)
    reports = InsightReports(ctx.store.db)
    if subcommand == "why":
        return await _why(ctx, scope, reports, rest)
    if subcommand == "persona":
        return await _persona(ctx, scope)
    if days is not None:
        period = Days.ending(scope.today, days)
        if subcommand == "top":
            return await _top(ctx, scope, reports, period)
        if subcommand == "export":
            return await _export(ctx, scope, reports, period, rules_model)
        if subcommand == "mood":
            return await _mood(ctx, scope, period)
        return await _figures(ctx, scope, reports, period)
    if subcommand == "retention":
        return await _retention(ctx, scope, reports)
    weeks = LIFECYCLE_WEEKS if subcommand == "lifecycle" else 1
    found, known, past = await _census(ctx, scope, reports, weeks)
    if not known and subcommand != "quiet":
        return _not_enough(ctx)
    if subcommand == "lifecycle":
        return await _lifecycle(ctx, scope, reports, found, past)
    by_census = {"members": _members, "quiet": _quiet}
    return await by_census[subcommand](ctx, scope, reports, found)


async def _mood(ctx: Context, scope: Scope, period: Days) -> Reply | list[Action]:
    """The community's mood (care, ``handlers/care``): the daily share of negative messages
    among those read, as a line, and the period's figures. Counts of the community only,
    never a member's; nothing where care never read a message."""
    from handlers.insights import charts

    days = period.each()
    async with ctx.store.transaction() as session:
        counts = await CareRepo(ctx.store.db).mood(session, scope.community.id, days[0], days[-1])
    scored = sum(s for s, _n in counts.values())
    if not scored:
        return ctx.reply("insights.mood_none", private=True)
    negative = sum(n for _s, n in counts.values())
    by_day = {d: counts[d][1] / counts[d][0] for d in days if counts.get(d, (0, 0))[0]}
    shares = [by_day.get(d) for d in days]
    n = Numbers(ctx)
    title = ctx.say("insights.chart.mood_title", days=period.count).plain()
    png = await charts.render(
        charts.mood_trend,
        days,
        shares,
        title=title,
        share_label=ctx.say("insights.chart.negative_share").plain(),
        formats=n.formats(),
    )
    worst = max(by_day, key=lambda d: (by_day[d], d))
    text = ctx.say(
        "insights.mood",
        days=period.count,
        scored=n.count(scored),
        share=n.share(negative / scored),
        worst=n.day(worst),
        worst_share=n.share(by_day[worst]),
    )
    return [ctx.reply_text(text), _image(ctx, png, title, "mood")]


async def _persona(ctx: Context, scope: Scope) -> Reply | None:
    """Whether the persona works (``handlers/persona_settings.py``): replies to its greetings
    and welcomed members' first words, by preset, privately to the asker."""
    voice = voice_for(ctx, scope.community, f"stats-persona:{scope.today.isoformat()}")
    effect = await persona_effect(ctx, scope.community)
    lines = effect_lines(voice, effect, voice.persona.locale)
    return await _privately(ctx, scope, RichText.join(lines, "\n"))


def _not_enough(ctx: Context) -> Reply:
    return ctx.reply("insights.not_enough_data", private=True)


def _image(ctx: Context, png: bytes, caption: str, name: str) -> SendImage:
    return SendImage(
        platform=ctx.event.platform,
        chat_id=ctx.event.chat.id,
        channel_id=ctx.event.channel_id,
        png=png,
        caption=RichText.of(caption),
        filename=f"stats-{name}.png",
    )


async def activity_charts(
    speaker: Speaker, period: Days, daily: Sequence[DayPoint], rhythm: Any
) -> tuple[tuple[bytes, str], tuple[bytes, str]]:
    """Each (PNG, title): the daily active members and messages, and the hour-by-weekday
    rhythm, over ``period``, labelled in the speaker's language and drawn off the event loop
    (``/stats`` and the weekly digest show the same two)."""
    from handlers.insights import charts

    formats = Numbers(speaker).formats()
    daily_title = speaker.say("insights.chart.daily_title", days=period.count).plain()
    daily_png = await charts.render(
        charts.daily_activity,
        [point.day for point in daily],
        [point.active for point in daily],
        [point.messages for point in daily],
        title=daily_title,
        active_label=speaker.say("insights.chart.active").plain(),
        messages_label=speaker.say("insights.chart.messages").plain(),
        formats=formats,
    )
    rhythm_title = speaker.say("insights.chart.rhythm_title", days=period.count).plain()
    rhythm_png = await charts.render(
        charts.weekly_rhythm,
        rhythm,
        title=rhythm_title,
        weekday_names=speaker.say("insights.chart.weekdays").plain().split(),
        hour_axis_label=speaker.say("insights.chart.hour").plain(),
        value_label=speaker.say("insights.chart.messages").plain(),
        formats=formats,
    )
    return (daily_png, daily_title), (rhythm_png, rhythm_title)


async def _figures(
    ctx: Context, scope: Scope, reports: InsightReports, period: Days
) -> Reply | list[Action]:
    """Key figures in the chat, then the daily chart and the weekly rhythm."""

    cid = scope.community.id
    async with ctx.store.transaction() as session:
        figures = await reports.period(session, cid, period, scope.calendar)
        if figures.empty:
            return _not_enough(ctx)
        daily = await reports.daily(session, cid, period)
        rhythm = await reports.heatmap(session, cid, period)
    (daily_png, daily_title), (rhythm_png, rhythm_title) = await activity_charts(
        ctx, period, daily, rhythm
    )
    return [
        ctx.reply_text(figures_text(ctx, figures)),
        _image(ctx, daily_png, daily_title, "daily"),
        _image(ctx, rhythm_png, rhythm_title, "hours"),
    ]


async def _activity(
    session: AsyncSession,
    reports: InsightReports,
    scope: Scope,
    today: date,
    member_id: int | None = None,
) -> list[MemberActivity]:
    """Members' activity as the scope's rules look at it (every member, or ``member_id``)."""
    return await reports.activity(
        session,
        scope.community.id,
        today,
        scope.calendar,
        role_days=scope.rules.role_days,
        history_days=scope.rules.history_days,
        member_id=member_id,
    )


async def _census(
    ctx: Context, scope: Scope, reports: InsightReports, weeks: int = 1
) -> tuple[Census, bool, list[dict[Stage, int]]]:
    """The census of the scope's today, whether there is anything to report on (someone
    active or a join recorded), and the stage counts at the end of each of the ``weeks - 1``
    weeks before (oldest first): all from one read of the members' activity."""
    cid, rules, today = scope.community.id, scope.rules, scope.today
    ends = [today - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    async with ctx.store.transaction() as session:
        found = await reports.activity_weeks(
            session,
            cid,
            ends,
            scope.calendar,
            role_days=rules.role_days,
            history_days=rules.history_days,
        )
        opted_out = await InsightRepo(ctx.store.db).opted_out(session, cid)
    members = found[today]
    # Nobody active and no join recorded: a new community, nothing to report on yet.
    known = any(m.last_active is not None or m.joined is not None for m in members)
    past = [stage_counts(found[end], rules) for end in ends[:-1]]
    return census(members, rules, opted_out, sample=NAMED_PER_ROLE), known, past


async def _named(ctx: Context, reports: InsightReports, ids: Sequence[int]) -> dict[int, str]:
    async with ctx.store.transaction() as session:
        found = await reports.names(session, ids)
    return {member_id: name.display_name for member_id, name in found.items()}


async def _counts_then_names(
    ctx: Context, scope: Scope, counts: RichText, names: RichText
) -> Reply | list[Action]:
    """Counts where asked; names to the asker alone (in private: one message)."""
    if ctx.is_private:
        return ctx.reply_text(RichText.join([counts, names], "\n\n"))
    told = await _privately(ctx, scope, names)
    shown = ctx.reply_text(counts)
    return [shown] if told is None else [shown, told]


async def _members(
    ctx: Context, scope: Scope, reports: InsightReports, found: Census
) -> Reply | list[Action] | None:
    named = await _named(ctx, reports, [i for ids in found.examples.values() for i in ids])
    lines = [ctx.say("insights.members_names_header")]
    for role in Role:
        lines.append(
            ctx.say(
                "insights.names_line",
                label=ctx.say(f"insights.roles.{role.value}").plain(),
                names=_names(ctx, [named[i] for i in found.examples[role] if i in named]),
            )
        )
    return await _counts_then_names(
        ctx, scope, roles_text(ctx, found, scope.rules), RichText.join(lines, "\n")
    )


async def _target(ctx: Context, scope: Scope, rest: str) -> MemberInfo | None:
    """The member ``/stats why`` asks about: a mention, ``@name`` or a reply's author."""
    event, cid = ctx.event, scope.community.id
    token = rest.split()[0] if rest else ""
    async with ctx.store.transaction() as session:
        if token:
            wanted = token.removeprefix("@").casefold()
            for user in getattr(event, "mentions", ()):
                if wanted in {(user.username or "").casefold(), user.name.casefold()}:
                    return await ctx.store.members.find(session, cid, user.id)
            found = await ctx.store.members.find_by_name(session, cid, token)
            return found[0] if len(found) == 1 else None
        reply_to = getattr(event, "reply_to", None)
        if not ctx.is_private and reply_to is not None and reply_to.sender is not None:
            return await ctx.store.members.find(session, cid, reply_to.sender.id)
    return None


async def _why(ctx: Context, scope: Scope, reports: InsightReports, rest: str) -> Reply | None:
    target = await _target(ctx, scope, rest)
    if target is None or target.is_bot:
        return _usage(ctx)
    rules, cid = scope.rules, scope.community.id
    async with ctx.store.transaction() as session:
        unnamed = target.id in await InsightRepo(ctx.store.db).opted_out(session, cid)
        [activity] = await _activity(session, reports, scope, scope.today, target.id) or [None]
    if unnamed:
        return await _privately(ctx, scope, ctx.say("insights.why_opted_out"))
    if activity is None:
        return _usage(ctx)
    reason = why(activity, rules)
    numbers = {
        key: Numbers.share(value) if key in ("share", "reply_share") else Numbers.count(value)
        for key, value in reason.numbers.items()
    }
    text = RichText.join(
        [
            ctx.say(
                "insights.why_header",
                name=target.display_name,
                role=ctx.say(f"insights.role.{reason.role.value}").plain(),
            ),
            ctx.say(f"insights.rule.{reason.role.value}", role_days=rules.role_days, **numbers),
        ],
        "\n",
    )
    return await _privately(ctx, scope, text)


async def _lifecycle_chart(
    ctx: Context, scope: Scope, now: Census, past: Sequence[dict[Stage, int]]
) -> bytes:
    """Stage counts at the end of each of the last weeks (``past``, oldest first) and now."""
    from handlers.insights import charts

    ends = [scope.today - timedelta(weeks=n) for n in range(len(past), 0, -1)]
    series = {state: [] for state in charts.LIFECYCLE_STATES}  # type: dict[str, list[float]]
    for stages in [*past, now.stages]:
        for stage in Stage:
            series[stage.value].append(stages[stage])
    starts = [end - timedelta(days=end.weekday()) for end in [*ends, scope.today]]
    return await charts.render(
        charts.lifecycle,
        starts,
        series,
        title=ctx.say("insights.chart.lifecycle_title").plain(),
        state_labels={s.value: ctx.say(f"insights.stage.{s.value}").plain() for s in Stage},
        formats=Numbers(ctx).formats(),
    )


async def _lifecycle(
    ctx: Context,
    scope: Scope,
    reports: InsightReports,
    found: Census,
    past: Sequence[dict[Stage, int]],
) -> Reply | list[Action] | None:
    png = await _lifecycle_chart(ctx, scope, found, past)
    named = await _named(ctx, reports, [move.member_id for move in found.moved])

    def stage(value: Stage | None) -> str:
        key = "insights.stage.none" if value is None else f"insights.stage.{value.value}"
        return ctx.say(key).plain()

    lines = [ctx.say("insights.moved_header", count=len(found.moved))]
    lines += [
        ctx.say(
            "insights.moved_line",
            name=named.get(move.member_id, "?"),
            before=stage(move.before),
            now=stage(move.now),
        )
        for move in found.moved
    ]
    counts = stages_text(ctx, found)
    picture = _image(ctx, png, ctx.say("insights.chart.lifecycle_title").plain(), "lifecycle")
    if ctx.is_private:
        return [ctx.reply_text(RichText.join([counts, *lines], "\n")), picture]
    shown: list[Action] = [ctx.reply_text(counts), picture]
    if found.moved:
        told = await _privately(ctx, scope, RichText.join(lines, "\n"))
        if told is not None:
            shown.append(told)
    return shown


async def _retention(
    ctx: Context, scope: Scope, reports: InsightReports
) -> Reply | list[Action] | None:
    from handlers.insights import charts

    async with ctx.store.transaction() as session:
        cohorts = await reports.cohorts(session, scope.community.id, scope.today, scope.calendar)
    if not any(cohort.size for cohort in cohorts):
        return _not_enough(ctx)
    n = Numbers(ctx)
    weeks = [ctx.say("insights.chart.week", n=week).plain() for week in range(1, 9)]
    lines = [ctx.say("insights.retention_header")]
    for cohort in cohorts:
        if not cohort.size:
            continue
        shares = [
            ctx.say("insights.retention_cell", week=week, share=n.share(share)).plain()
            for week, share in zip(weeks, cohort.retained, strict=True)
            if share is not None
        ]
        lines.append(
            ctx.say(
                "insights.retention_line",
                week=n.day(cohort.week),
                size=cohort.size,
                shares=ctx.say("insights.separator").plain().join(shares)
                or ctx.say("insights.retention_too_early").plain(),
            )
        )
    title = ctx.say("insights.chart.retention_title").plain()
    png = await charts.render(
        charts.retention,
        [cohort.week for cohort in cohorts],
        [list(cohort.retained) for cohort in cohorts],
        title=title,
        week_names=weeks,
        cohort_axis_label=ctx.say("insights.chart.cohort").plain(),
        cohort_sizes=[cohort.size for cohort in cohorts],
        formats=n.formats(),
    )
    return [ctx.reply_text(RichText.join(lines, "\n")), _image(ctx, png, title, "retention")]


async def _top(ctx: Context, scope: Scope, reports: InsightReports, period: Days) -> Reply | None:
    async with ctx.store.transaction() as session:
        ranked = await reports.top(session, scope.community.id, period, TOP_LIMIT)
    named = await _named(ctx, reports, [r.member_id for r in ranked])
    lines = [ctx.say("insights.top_header", days=period.count)]
    lines += [
        ctx.say(
            "insights.top_line",
            rank=rank,
            name=named.get(r.member_id, "?"),
            score=r.score,
            messages=r.messages,
            interactions=r.interactions,
            active_days=r.active_days,
        )
        for rank, r in enumerate(ranked, 1)
    ]
    if not ranked:
        lines.append(ctx.say("insights.top_empty"))
    return await _privately(ctx, scope, RichText.join(lines, "\n"))


async def _quiet(
    ctx: Context, scope: Scope, reports: InsightReports, found: Census
) -> Reply | None:
    named = await _named(ctx, reports, [q.member_id for q in found.at_risk])
    lines = [ctx.say("insights.quiet_header", history=scope.rules.history_days)]
    lines += [
        ctx.say(
            "insights.quiet_line",
            name=named.get(q.member_id, "?"),
            silent=q.silent_days,
            active=q.active_days,
        )
        for q in found.at_risk
    ]
    if not found.at_risk:
        lines.append(ctx.say("insights.quiet_empty"))
    return await _privately(ctx, scope, RichText.join(lines, "\n"))


async def _me(ctx: Context, scope: Scope) -> Reply | None:
    """The asker's own activity, role, stage and streaks, privately (any member). Only the
    asker's rows are read (any member may ask, so it stays cheap in a large community): the
    stage is told without "at risk", which ranks a member against everyone (an operator's
    notion; they read as active or silent here)."""
    reports, rules, cid = InsightReports(ctx.store.db), scope.rules, scope.community.id
    period = Days.ending(scope.today, rules.role_days)
    async with ctx.store.transaction() as session:
        mine = await reports.me(session, scope.member.id, period)
        [own] = await _activity(session, reports, scope, scope.today, scope.member.id) or [None]
        opted_out = scope.member.id in await InsightRepo(ctx.store.db).opted_out(session, cid)
    c = mine.counts
    lines = [
        ctx.say(
            "insights.me_header",
            community=scope.community.title or scope.community.chat_id,
            days=period.count,
        ),
        ctx.say(
            "insights.me_counts",
            messages=c["messages"],
            replies=c["replies_given"],
            shares=c["links"] + c["files"],
            checkins=c["checkins"],
            grabs=c["grabs"],
            votes=c["votes"],
            rsvps=c["rsvps"],
            attended=c["attendances"],
            submissions=c["submissions"],
            questions=c["questions"],
            answers=c["answers"],
            feedback=c["feedback"],
            reactions=c["reactions"],
            reactions_received=c["reactions_received"],
        ),
        ctx.say(
            "insights.me_days",
            active=mine.active_days,
            current=mine.current_streak,
            longest=mine.longest_streak,
        ),
    ]
    if own is not None:
        stage = stage_of(own, rules, quarter=0) or Stage.NEW
        lines.append(
            ctx.say(
                "insights.me_role",
                role=ctx.say(f"insights.role.{role_of(own, rules).value}").plain(),
                stage=ctx.say(f"insights.stage.{stage.value}").plain(),
            )
        )
    if opted_out:
        lines.append(ctx.say("insights.me_opted_out"))
    return await _privately(ctx, scope, RichText.join(lines, "\n"))


def _cell(text: str) -> str:
    """A name as a spreadsheet shows it, never as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


async def _export(
    ctx: Context,
    scope: Scope,
    reports: InsightReports,
    period: Days,
    rules_model: type[InsightRules],
) -> Reply | None:
    """Daily per-member rows as CSV (UTF-8 with a BOM, for Excel), privately."""
    configured = getattr(ctx.settings_of(rules_model, scope.community), "pseudonym_key", None)
    key = configured.get_secret_value().encode() if configured is not None else PROCESS_KEY
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    rows = 0
    async with ctx.store.transaction() as session:
        async for row in reports.export(session, scope.community.id, period, key):
            writer.writerow([row.day.isoformat(), _cell(row.member), _cell(row.name), *row.counts])
            rows += 1
    if not rows:
        return _not_enough(ctx)
    data = out.getvalue().encode("utf-8")
    if len(data) > MAX_FILE_BYTES:
        return ctx.reply("insights.export_too_big", private=True)
    n = Numbers(ctx)
    first, last = period.first.isoformat(), period.last.isoformat()
    document = Document(
        data=data,
        filename=f"stats-{first}-{last}.csv",
        mime_type="text/csv",
        caption=ctx.say("insights.export_caption", rows=rows),
    )
    text = ctx.say(
        "insights.export_text", first=n.day(period.first), last=n.day(period.last), rows=rows
    )
    return await _privately(ctx, scope, text, document=document)
