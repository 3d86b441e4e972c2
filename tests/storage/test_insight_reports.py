"""Insights reports on a simulated group with known answers, on SQLite and PostgreSQL.

The clock moves day by day from 1 September to Friday 27 November 2026 (Asia/Shanghai); each
day the members' counts are written through the capture's own write path (``InsightRepo.add``)
and joins and leaves through the members table. Eleven members, each there for one reason:

- alice: creator (two new threads a day from 29 Oct, one reply to her a day);
- bob: commenter (two replies a day from 13 Nov);
- carol: collector (a link on 3, 10, 17 and 24 Nov, a file too on the 24th);
- dave: participant (a check-in every day of November, one message on the 5th);
- erin: lurker (joined 1 Oct, never a word);
- frank: very active 1 Sep - 9 Nov, then silent 18 days: 不活跃分子, and at risk;
- gina: active 1 Sep - 17 Nov, silent 10 days: at risk (moved from active this week);
- hank: joined Tue 24 Nov, silent: new, a newcomer who has not spoken, a lurker;
- ivy: joined Sun 22 Nov, replied once on the 23rd: new;
- jack: active 1-10 Oct, left 25 Nov: gone (moved from silent);
- kate: ten messages a day from 20 Nov, opted out: counted, never named.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import FakeClock
from handlers.insights.roles import (
    InsightRules,
    Move,
    Quiet,
    Role,
    Stage,
    census,
    stage_counts,
    why,
)
from storage import Store
from storage.insight_reports import (
    EXPORT_COLUMNS,
    Calendar,
    Days,
    HourCount,
    InsightReports,
    MemberActivity,
    pseudonym,
)
from storage.insights import COUNTERS, InsightRepo, MemberDay, Movement
from storage.members import MemberInfo

ZONE = ZoneInfo("Asia/Shanghai")
ROLE_COUNTERS = ("messages", "replies_given", "replies_received", "links", "files", "reactions")
CALENDAR = Calendar(ZONE, 0)
FIRST, TODAY = date(2026, 9, 1), date(2026, 11, 27)
KEY = b"export-key"


def d(month: int, day: int) -> date:
    return date(2026, month, day)


def counts(**given: int) -> tuple[int, ...]:
    return tuple(given.get(name, 0) for name in COUNTERS)


def between(first: date, last: date, on: date) -> bool:
    return first <= on <= last


#: Who does what on a day: counts, or None.
PLAN: dict[str, Callable[[date], tuple[int, ...] | None]] = {
    "alice": lambda on: (
        counts(messages=2, replies_received=1) if between(d(10, 29), TODAY, on) else None
    ),
    "bob": lambda on: (
        counts(messages=2, replies_given=2) if between(d(11, 13), TODAY, on) else None
    ),
    "carol": lambda on: (
        counts(messages=1, links=1, files=1 if on == d(11, 24) else 0)
        if on in (d(11, 3), d(11, 10), d(11, 17), d(11, 24))
        else None
    ),
    "dave": lambda on: (
        counts(checkins=1, messages=1 if on == d(11, 5) else 0)
        if between(d(11, 1), TODAY, on)
        else None
    ),
    "erin": lambda on: None,
    "frank": lambda on: counts(messages=3) if between(d(9, 1), d(11, 9), on) else None,
    "gina": lambda on: counts(messages=1) if between(d(9, 1), d(11, 17), on) else None,
    "hank": lambda on: None,
    "ivy": lambda on: counts(messages=1, replies_given=1) if on == d(11, 23) else None,
    "jack": lambda on: counts(messages=1) if between(d(10, 1), d(10, 10), on) else None,
    "kate": lambda on: counts(messages=10) if between(d(11, 20), TODAY, on) else None,
}
JOINED = {
    "alice": d(9, 1),
    "bob": d(10, 6),
    "carol": d(10, 6),
    "dave": d(10, 14),
    "erin": d(10, 1),
    "frank": d(9, 1),
    "gina": d(9, 1),
    "hank": d(11, 24),
    "ivy": d(11, 22),
    "jack": d(9, 1),
    "kate": d(10, 13),
}
LEFT = {"jack": d(11, 25)}
#: Joins and leaves as the capture counts them (independent of the members table).
MOVES = [
    Movement(0, d(11, 15), "join", "unknown", "", 1),
    Movement(0, d(11, 22), "join", "added", "", 1),
    Movement(0, d(11, 24), "join", "link", "spring", 1),
    Movement(0, d(11, 25), "leave", "left", "", 1),
]


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), ZONE).astimezone(UTC)


@dataclass
class Group:
    store: Store
    reports: InsightReports
    community: int
    ids: dict[str, int]

    def name(self, member_id: int) -> str:
        return next(name for name, i in self.ids.items() if i == member_id)


@pytest.fixture
async def group(store: Store, clock: FakeClock) -> Group:
    """The simulated group, the clock moved day by day to noon of 27 November."""
    repo = InsightRepo(store.db)
    ids: dict[str, int] = {}
    clock.set(at(FIRST, 8))
    async with store.transaction() as s:
        community = await store.communities.ensure(
            s, platform="fake", chat_id="g", chat_type="group", title="G", now=clock.now()
        )

    async def record(s: AsyncSession, name: str, **moved: datetime) -> MemberInfo:
        """The member's join or leave, as the bookkeeping records it."""
        return await store.members.record(
            s,
            community_id=community.id,
            platform_user_id=name,
            display_name=name.title(),
            username=None,
            is_bot=False,
            now=clock.now(),
            **moved,
        )

    day = FIRST
    while day <= TODAY:
        clock.set(at(day, 10))
        async with store.transaction() as s:
            for name in PLAN:  # ids follow the joins, then this order
                if JOINED[name] == day:
                    member = await record(s, name, joined_at=clock.now())
                    ids[name] = member.id
                if LEFT.get(name) == day:
                    await record(s, name, left_at=clock.now())
            rows = [
                MemberDay(community.id, ids[name], day, done)
                for name, plan in PLAN.items()
                if name in ids and (done := plan(day)) is not None
            ]
            moves = [
                Movement(community.id, m.day, m.direction, m.how, m.link, m.n)
                for m in MOVES
                if m.day == day
            ]
            await repo.add(s, rows, moves)
        day += timedelta(days=1)
    clock.set(at(TODAY))
    async with store.transaction() as s:
        await repo.set_opted_out(s, [ids["kate"]], True, clock.now())
    return Group(store, InsightReports(store.db), community.id, ids)


def today(clock: FakeClock) -> date:
    return CALENDAR.day_of(clock.now())


async def test_a_week_of_figures_against_the_week_before(group: Group, clock: FakeClock) -> None:
    week = Days.ending(today(clock), 7)
    async with group.store.transaction() as s:
        figures = await group.reports.period(s, group.community, week, CALENDAR)
    assert week == Days(d(11, 21), d(11, 27))
    assert (figures.members.now, figures.members.before) == (10, 9)  # jack left; hank, ivy came
    # active member-days 30 (alice 7, bob 7, carol 1, dave 7, ivy 1, kate 7) against 27
    assert (figures.dau.now, figures.dau.before) == pytest.approx((30 / 7, 27 / 7))
    assert (figures.active.now, figures.active.before) == (6, 6)
    assert (figures.wau.now, figures.wau.before) == (6, 6)
    assert (figures.mau.now, figures.mau.before) == (8, 7)  # frank and gina this month; ivy
    assert figures.stickiness.now == pytest.approx(30 / 7 / 8)
    assert figures.stickiness.before == pytest.approx(27 / 7 / 7)
    assert (figures.messages.now, figures.messages.before) == (100, 43)
    assert figures.messages.change == pytest.approx(57 / 43)
    assert (figures.joins.now, figures.joins.before) == (2, 1)
    assert (figures.leaves.now, figures.leaves.before) == (1, 0)
    assert (figures.net_growth.now, figures.net_growth.before) == (1, 1)
    assert (figures.checked_in.now, figures.checkin_rate.now) == (1, pytest.approx(1 / 6))
    assert not figures.empty


async def test_an_empty_period_says_so(group: Group) -> None:
    async with group.store.transaction() as s:
        figures = await group.reports.period(s, group.community, Days.ending(d(8, 1), 30), CALENDAR)
    assert figures.empty and figures.members.now == 0 and figures.dau.change is None


async def test_daily_series_and_the_hour_by_weekday_heatmap(group: Group) -> None:
    reports, c = group.reports, group.community
    async with group.store.transaction() as s:
        series = await reports.daily(s, c, Days(d(11, 22), d(11, 24)))
        await reports.add_hours(
            s,
            [
                HourCount(c, d(11, 27), 9, 5),
                HourCount(c, d(11, 27), 9, 1),
                HourCount(c, d(11, 20), 9, 2),
                HourCount(c, d(11, 23), 22, 1),
            ],
        )
    async with group.store.transaction() as s:
        await reports.add_hours(s, [HourCount(c, d(11, 27), 9, 2)])  # adds to the slot
        week = await reports.heatmap(s, c, Days.ending(TODAY, 7))
        fortnight = await reports.heatmap(s, c, Days.ending(TODAY, 14))
    # 22 Nov: alice, bob, dave, kate (ivy joined, silent); 23rd: + ivy; 24th: + carol
    assert [(p.day, p.active, p.messages) for p in series] == [
        (d(11, 22), 4, 14),
        (d(11, 23), 5, 15),
        (d(11, 24), 5, 15),
    ]
    assert week[4][9] == 8 and week[0][22] == 1  # Friday 9:00, Monday 22:00
    assert sum(map(sum, week)) == 9
    assert fortnight[4][9] == 10  # Friday 20 Nov too


async def test_roles_lifecycle_and_the_quiet_list(group: Group, clock: FakeClock) -> None:
    rules = InsightRules()
    async with group.store.transaction() as s:
        members = await group.reports.activity(s, group.community, today(clock), CALENDAR)
        opted_out = await InsightRepo(group.store.db).opted_out(s, group.community)
    seen = census(members, rules, opted_out)
    ids = group.ids
    assert opted_out == {ids["kate"]}
    assert seen.roles == {
        Role.CREATOR: 1,
        Role.COMMENTER: 4,  # bob, gina, ivy, kate
        Role.COLLECTOR: 1,
        Role.PARTICIPANT: 1,
        Role.LURKER: 2,  # erin, hank
        Role.INACTIVE: 1,  # frank
    }
    by_name = {group.name(m.member_id): m for m in members}
    roles = {name: why(member, rules).role for name, member in by_name.items() if name != "jack"}
    assert roles == {
        "alice": Role.CREATOR,
        "bob": Role.COMMENTER,
        "carol": Role.COLLECTOR,
        "dave": Role.PARTICIPANT,
        "erin": Role.LURKER,
        "frank": Role.INACTIVE,
        "gina": Role.COMMENTER,
        "hank": Role.LURKER,
        "ivy": Role.COMMENTER,
        "kate": Role.COMMENTER,
    }
    assert why(by_name["frank"], rules).numbers["silent_days"] == 18
    assert why(by_name["alice"], rules).numbers == {
        "threads": 60,
        "replies_received": 30,
        "creator_min_threads": 3,
        "creator_min_replies_received": 3,
    }
    assert why(by_name["carol"], rules).numbers["shares"] == 5
    assert seen.examples[Role.COMMENTER] == [ids["gina"], ids["bob"], ids["ivy"]]  # not kate
    assert seen.quarter == 30  # 78 70 [30] 27 15 10 8 4 1: the 3rd of 9 active
    assert seen.stages == {
        Stage.ACTIVE: 5,  # alice, bob, carol, dave, kate
        Stage.SILENT: 1,  # erin
        Stage.AT_RISK: 2,  # gina, frank
        Stage.NEW: 2,  # hank, ivy
        Stage.GONE: 1,  # jack
    }
    assert seen.at_risk == [Quiet(ids["gina"], 10, 78), Quiet(ids["frank"], 18, 70)]
    assert seen.moved == [
        Move(ids["gina"], Stage.ACTIVE, Stage.AT_RISK),
        Move(ids["jack"], Stage.SILENT, Stage.GONE),
        Move(ids["ivy"], None, Stage.NEW),  # ivy joined first
        Move(ids["hank"], None, Stage.NEW),
    ]
    assert seen.newcomers_silent == [ids["hank"]]


async def test_one_member_alone_matches_the_whole_census(group: Group, clock: FakeClock) -> None:
    async with group.store.transaction() as s:
        everyone = await group.reports.activity(s, group.community, today(clock), CALENDAR)
        gina = group.ids["gina"]
        alone = await group.reports.activity(
            s, group.community, today(clock), CALENDAR, member_id=gina
        )
    assert alone == [next(m for m in everyone if m.member_id == gina)]
    assert alone[0] == MemberActivity(
        gina,
        TODAY,
        since=d(9, 1),
        joined=d(9, 1),
        left=None,
        messages=20,
        active_days=78,
        active_days_before=78,
        last_active=d(11, 17),
        last_active_before=d(11, 17),
    )


async def test_weekly_cohorts_and_their_retention(group: Group, clock: FakeClock) -> None:
    async with group.store.transaction() as s:
        cohorts = await group.reports.cohorts(s, group.community, today(clock), CALENDAR)
    found = {c.week: (c.size, c.retained) for c in cohorts}
    assert [c.week for c in cohorts] == [d(9, 28) + timedelta(weeks=n) for n in range(8)]
    no = None
    assert found[d(9, 28)] == (1, (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, no))  # erin
    # bob (from 13 Nov, week 5) and carol (3, 10, 17 Nov: weeks 4-6); week 7 is not over
    assert found[d(10, 5)] == (2, (0.0, 0.0, 0.0, 0.5, 1.0, 1.0, no, no))
    # dave (from 1 Nov: week 2) and kate (from 20 Nov: week 5)
    assert found[d(10, 12)] == (2, (0.0, 0.5, 0.5, 0.5, 1.0, no, no, no))
    assert found[d(11, 16)] == (1, (no,) * 8)  # ivy: her first week is not over
    assert found[d(10, 19)] == (0, (no,) * 8)


async def test_top_leaves_out_who_opted_out(group: Group, clock: FakeClock) -> None:
    async with group.store.transaction() as s:
        top = await group.reports.top(s, group.community, Days.ending(today(clock), 7), limit=3)
        names = await group.reports.names(s, [r.member_id for r in top])
    assert [(group.name(r.member_id), r.score) for r in top] == [
        ("alice", 14),
        ("bob", 14),
        ("dave", 7),
    ]  # kate's 70 messages count in the totals only
    assert [names[r.member_id].display_name for r in top] == ["Alice", "Bob", "Dave"]


async def test_my_figures_and_streaks(group: Group, clock: FakeClock) -> None:
    week = Days.ending(today(clock), 7)
    async with group.store.transaction() as s:
        alice = await group.reports.me(s, group.ids["alice"], week)
        frank = await group.reports.me(s, group.ids["frank"], week)
    assert alice.counts["messages"] == 14 and alice.counts["replies_received"] == 7
    assert (alice.active_days, alice.current_streak, alice.longest_streak) == (7, 30, 30)
    assert (frank.active_days, frank.current_streak, frank.longest_streak) == (0, 0, 70)
    assert frank.last_active == d(11, 9)


async def test_export_streams_daily_rows_with_opted_out_members_anonymised(
    group: Group, clock: FakeClock
) -> None:
    async with group.store.transaction() as s:
        rows = [
            row
            async for row in group.reports.export(
                s, group.community, Days.ending(today(clock), 2), KEY
            )
        ]
    kate = pseudonym(KEY, group.ids["kate"])
    assert [(r.day, r.member, r.name) for r in rows] == [
        (d(11, 26), "alice", "Alice"),
        (d(11, 26), "bob", "Bob"),
        (d(11, 26), kate, ""),  # ids follow the joins: kate joined before dave
        (d(11, 26), "dave", "Dave"),
        (d(11, 27), "alice", "Alice"),
        (d(11, 27), "bob", "Bob"),
        (d(11, 27), kate, ""),
        (d(11, 27), "dave", "Dave"),
    ]
    assert rows[2].counts == counts(messages=10)
    assert len(EXPORT_COLUMNS) == 3 + len(rows[0].counts)
    assert kate.startswith("anon-") and "kate" not in kate
    assert pseudonym(b"another key", group.ids["kate"]) != kate


async def test_the_rollups_catch_up_with_counts_written_after_a_report(
    group: Group, clock: FakeClock
) -> None:
    """Reports fold the daily rows into their rollups; yesterday and today are folded again
    each time, so later counts show (and folding twice changes nothing)."""
    week, reports, c = Days.ending(today(clock), 7), group.reports, group.community
    async with group.store.transaction() as s:
        first = await reports.period(s, c, week, CALENDAR)
        assert await reports.fold(s, c, TODAY) == 0  # once per transaction
    async with group.store.transaction() as s:
        assert await reports.fold(s, c, TODAY) == 2  # yesterday and today again
    async with group.store.transaction() as s:
        again = await reports.period(s, c, week, CALENDAR)
        late = [
            MemberDay(c, group.ids["frank"], TODAY - timedelta(days=1), counts(messages=4)),
            MemberDay(c, group.ids["alice"], TODAY, counts(messages=1)),
        ]
        await InsightRepo(group.store.db).add(s, late, [])
    async with group.store.transaction() as s:
        later = await reports.period(s, c, week, CALENDAR)
        frank = await reports.activity(s, c, TODAY, CALENDAR, member_id=group.ids["frank"])
    assert again == first
    assert (later.active.now, later.messages.now) == (7, 105)  # frank is back, 5 more
    assert later.dau.now == pytest.approx(31 / 7)
    assert frank[0].last_active == TODAY - timedelta(days=1) and frank[0].active_days == 71


async def test_prune_drops_what_is_older_than_the_retention(group: Group) -> None:
    reports, c = group.reports, group.community
    async with group.store.transaction() as s:
        await reports.add_hours(s, [HourCount(c, d(9, 1), 9, 1), HourCount(c, d(11, 1), 9, 1)])
        await reports.fold(s, c, TODAY)
        gone = await reports.prune(s, d(10, 15))
        grid = await reports.heatmap(s, c, Days(FIRST, TODAY))
        series = await reports.daily(s, c, Days(d(10, 14), d(10, 15)))
        alice = await reports.activity(s, c, d(10, 31), CALENDAR, member_id=group.ids["alice"])
    assert gone > 0 and sum(map(sum, grid)) == 1  # 1 Sep's slot went, 1 Nov's stayed
    assert [p.active for p in series] == [0, 2]  # frank and gina on 15 Oct; 14 Oct pruned
    # bits go by whole blocks of 60 days: alice's days from 29 Oct are kept
    assert alice[0].last_active == d(10, 31)


async def test_each_week_read_at_once_is_what_a_census_of_that_day_reads(
    group: Group, clock: FakeClock
) -> None:
    """``activity_weeks`` (the lifecycle chart: one read) gives, for each day asked, the
    members ``activity`` of that day gives: the latest day exactly, the others counters aside."""
    ends = [TODAY - timedelta(weeks=n) for n in range(8)]
    reports, c = group.reports, group.community
    async with group.store.transaction() as s:
        weeks = await reports.activity_weeks(s, c, ends, CALENDAR)
        each = {end: await reports.activity(s, c, end, CALENDAR) for end in ends}
    assert sorted(weeks) == sorted(ends)
    assert weeks[TODAY] == each[TODAY]
    assert any(m.messages for m in weeks[TODAY])
    for end in ends[1:]:
        expected = [
            replace(m, **dict.fromkeys(ROLE_COUNTERS, 0), interactions=0) for m in each[end]
        ]
        assert weeks[end] == expected, end
    gina = next(m for m in weeks[d(11, 20)] if m.member_id == group.ids["gina"])
    assert (gina.last_active, gina.active_days) == (d(11, 17), 78)
    frank = next(m for m in weeks[d(10, 9)] if m.member_id == group.ids["frank"])
    assert (frank.last_active, frank.active_days, frank.active_days_before) == (d(10, 9), 39, 32)
    gina = next(m for m in weeks[d(11, 20)] if m.member_id == group.ids["gina"])
    assert (gina.last_active, gina.active_days) == (d(11, 17), 78)


async def test_a_members_day_at_the_edges_of_a_local_day(store: Store) -> None:
    """``since`` and ``left`` are local days found by comparing the instants as the database
    returns them with the day starts: an instant exactly at a day's start is on that day, one
    a microsecond earlier on the day before; a member gone exactly when the history window
    starts is still listed, one gone a microsecond earlier is not."""
    calendar = Calendar(ZONE, 4)  # days start at 04:00 local
    start = calendar.start(TODAY)
    gone_since = calendar.start(TODAY - timedelta(days=89))
    tiny = timedelta(microseconds=1)
    async with store.transaction() as s:
        community = await store.communities.ensure(
            s, platform="fake", chat_id="edges", chat_type="group", title="E", now=start
        )
        ids = {}
        for name, joined, left in (
            ("on", start, None),
            ("before", start - tiny, None),
            ("left on", start - timedelta(days=200), gone_since),
            ("left before", start - timedelta(days=200), gone_since - tiny),
        ):
            member = await store.members.record(
                s,
                community_id=community.id,
                platform_user_id=name,
                display_name=name,
                username=None,
                is_bot=False,
                now=joined,
                joined_at=joined,
            )
            if left is not None:
                await store.members.record(
                    s,
                    community_id=community.id,
                    platform_user_id=name,
                    display_name=name,
                    username=None,
                    is_bot=False,
                    now=left,
                    left_at=left,
                )
            ids[name] = member.id
    async with store.transaction() as s:
        found = await InsightReports(store.db).activity(s, community.id, TODAY, calendar)
    by_id = {m.member_id: m for m in found}
    assert by_id[ids["on"]].since == TODAY == calendar.day_of(start)
    assert by_id[ids["before"]].since == TODAY - timedelta(days=1) == calendar.day_of(start - tiny)
    assert by_id[ids["left on"]].left == TODAY - timedelta(days=89)
    assert ids["left before"] not in by_id


async def test_the_lifecycle_weeks_count_as_a_census_of_each_week(
    group: Group, clock: FakeClock
) -> None:
    """The lifecycle chart's weeks (``stage_counts`` of one ``activity_weeks`` read) are the
    stage counts a census of each of those days gives."""
    rules = InsightRules()
    ends = [TODAY - timedelta(weeks=n) for n in range(7, -1, -1)]
    reports, c = group.reports, group.community
    async with group.store.transaction() as s:
        weeks = await reports.activity_weeks(s, c, ends, CALENDAR)
        each = [census(await reports.activity(s, c, end, CALENDAR), rules).stages for end in ends]
    series = [stage_counts(weeks[end], rules) for end in ends]
    assert series == each
    assert series[-1][Stage.AT_RISK] == 2 and series[0][Stage.ACTIVE] == 3  # frank, gina, jack
    assert len({tuple(week.values()) for week in series}) > 3  # the weeks differ
