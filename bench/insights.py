"""Insights reports on a big community: 100,000 members with a year of daily rows, on SQLite
and PostgreSQL. Times the queries behind ``/stats 7d|30d|90d`` (period figures), ``/stats
members`` (member activity and the census of roles and stages), ``/stats lifecycle`` (the
census and the chart's weekly stage counts, one read, beside the anchor: a census per week),
``/stats retention`` (weekly cohorts) and the weekly digest (all of its queries in a row),
min/median/max of the repetitions; memory in a separate pass under tracemalloc, untimed, and
the process's peak RSS at the end (the filling included).

    .venv/bin/python -m bench.insights [--members 100000] [--days 365] [--repetitions 3]
                                       [--postgres URL]

The rows are made by SQL from the members and a table of days, then folded into the reports'
rollups (not timed; each timed report folds yesterday and today again): a tenth of the
members are active on about 60% of days, a fifth on 15%, the rest on 1% (about 9,700 active
members a day, 3.5 million daily rows a year); joins spread over the 400 days before the last
day, one member in 20 has left. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Column, Date, Integer, MetaData, Table, case, func, insert, select

from bench.databases import fresh_databases
from bench.report import conditions, max_rss_mib, spread, traced_peak
from handlers.insights.roles import InsightRules, census, stage_counts
from handlers.insights.stats import LIFECYCLE_WEEKS
from storage import Database, Store, migrate
from storage.insight_reports import Calendar, Days, InsightHour, InsightReports
from storage.insights import COUNTERS, InsightMemberDay, InsightMovement, InsightOptOut, InsightRepo
from storage.members import Member

ZONE = ZoneInfo("Asia/Shanghai")
CALENDAR = Calendar(ZONE, 0)
LAST = date(2026, 11, 27)
NOW = datetime.combine(LAST, clock_time(12), ZONE).astimezone(UTC)
PAGE = 10_000

scratch = MetaData()
bench_days = Table(
    "bench_days", scratch, Column("n", Integer, primary_key=True), Column("day", Date)
)


async def fill(db: Database, members: int, days: int) -> int:
    """The community, its members and a year of rows; the community's id."""
    await migrate.upgrade(db)
    store = Store(db)
    async with store.transaction() as session:
        community = await store.communities.ensure(
            session, platform="bench", chat_id="big", chat_type="group", title="Big", now=NOW
        )
    first_join = NOW - timedelta(days=400)
    step = timedelta(days=400) / members
    async with db.engine.begin() as connection:
        await connection.run_sync(scratch.create_all)
    for start in range(0, members, PAGE):
        rows = []
        for n in range(start, min(start + PAGE, members)):
            joined = first_join + step * n
            left = joined + timedelta(days=30) if n % 20 == 7 else None
            rows.append(
                {
                    "community_id": community.id,
                    "platform_user_id": f"u{n}",
                    "display_name": f"Member {n}",
                    "name_key": f"member {n}",
                    "is_bot": False,
                    "joined_at": joined,
                    "first_seen_at": joined,
                    "left_at": left if left is not None and left < NOW else None,
                    "birthday_year_public": False,
                    "birthday_listed": True,
                    "approved": False,
                }
            )
        async with db.transaction() as session:
            await session.execute(insert(Member), rows)
    first = LAST - timedelta(days=days - 1)
    async with db.transaction() as session:
        await session.execute(
            insert(bench_days),
            [{"n": n, "day": first + timedelta(days=n)} for n in range(days)],
        )
        h = (Member.id * 7919 + bench_days.c.n * 104729) % 1000
        rate = case((Member.id % 10 == 0, 600), (Member.id % 10 < 3, 150), else_=10)
        made = select(
            Member.id,
            bench_days.c.day,
            Member.community_id,
            1 + h % 7,  # messages
            h % 3,  # replies given (at most the messages)
            h % 4,  # replies received
            case((h % 10 == 0, 1), else_=0),  # links
            case((h % 17 == 0, 1), else_=0),  # files
            0,  # reactions
            h % 2,  # check-ins
            case((h % 23 == 0, 1), else_=0),  # grabs
            case((h % 29 == 0, 1), else_=0),  # votes
            case((h % 31 == 0, 1), else_=0),  # RSVPs
            0,  # submissions
        ).where(Member.community_id == community.id, h < rate)
        # In the order the capture writes them: a day's rows together, as they come.
        made = made.order_by(bench_days.c.day, Member.id)
        await session.execute(
            insert(InsightMemberDay).from_select(
                ["member_id", "day", "community_id", *COUNTERS],
                made,
            )
        )
        every_day = [first + timedelta(days=n) for n in range(days)]
        await session.execute(
            insert(InsightMovement),
            [
                {
                    "community_id": community.id,
                    "day": day,
                    "direction": way,
                    "how": how,
                    "link": "",
                    "n": n,
                }
                for day in every_day
                for way, how, n in (("join", "link", 250), ("leave", "left", 12))
            ],
        )
        await session.execute(
            insert(InsightHour),
            [
                {"community_id": community.id, "day": day, "hour": hour, "messages": 100 + hour}
                for day in every_day
                for hour in range(24)
            ],
        )
        await session.execute(
            insert(InsightOptOut).from_select(
                ["member_id", "since"],
                select(Member.id, Member.first_seen_at).where(Member.id % 100 == 42),
            )
        )
    async with db.transaction() as session:  # the rollups, as the reports keep them
        await InsightReports(db).fold(session, community.id, LAST)
    async with db.engine.begin() as connection:
        await connection.run_sync(scratch.drop_all)
        await connection.exec_driver_sql("ANALYZE")
    return community.id


async def timed(work: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


def passes(db: Database, community: int) -> dict[str, Callable[[], Awaitable[Any]]]:
    """The reports to time, by name."""
    store, reports, rules = Store(db), InsightReports(db), InsightRules()

    def period(days: int) -> Callable[[], Awaitable[Any]]:
        async def run() -> Any:
            async with store.transaction() as session:
                return await reports.period(session, community, Days.ending(LAST, days), CALENDAR)

        return run

    async def members() -> Any:
        async with store.transaction() as session:
            found = await reports.activity(session, community, LAST, CALENDAR)
            opted_out = await InsightRepo(db).opted_out(session, community)
        return census(found, rules, opted_out)

    ends = [LAST - timedelta(weeks=n) for n in range(LIFECYCLE_WEEKS - 1, -1, -1)]

    async def lifecycle() -> Any:
        """``/stats lifecycle``: the census and the chart's weekly stage counts, one read."""
        async with store.transaction() as session:
            found = await reports.activity_weeks(session, community, ends, CALENDAR)
            opted_out = await InsightRepo(db).opted_out(session, community)
        return census(found[LAST], rules, opted_out), [
            stage_counts(found[end], rules) for end in ends[:-1]
        ]

    async def lifecycle_per_week() -> Any:
        """The anchor: a census per week, each reading everyone's activity (as it was)."""
        weeks = []
        for end in ends:
            async with store.transaction() as session:
                found = await reports.activity(session, community, end, CALENDAR)
                opted_out = await InsightRepo(db).opted_out(session, community)
            weeks.append(census(found, rules, opted_out).stages)
        return weeks

    async def retention() -> Any:
        async with store.transaction() as session:
            return await reports.cohorts(session, community, LAST, CALENDAR)

    async def digest() -> Any:
        week = Days.ending(LAST, 7)
        async with store.transaction() as session:
            figures = await reports.period(session, community, week, CALENDAR)
            series = await reports.daily(session, community, Days.ending(LAST, 30))
            heat = await reports.heatmap(session, community, Days.ending(LAST, 28))
            found = await reports.activity(session, community, LAST, CALENDAR)
            opted_out = await InsightRepo(db).opted_out(session, community)
            seen = census(found, rules, opted_out)
            del found
            top = await reports.top(session, community, week, limit=10)
            named = [q.member_id for q in seen.at_risk[:10]] + seen.newcomers_silent[:10]
            names = await reports.names(session, named + [r.member_id for r in top])
        return figures, series, heat, seen, top, names

    return {
        "period 7d": period(7),
        "period 30d": period(30),
        "period 90d": period(90),
        "members (roles and lifecycle)": members,
        "lifecycle (8 weeks, one read)": lifecycle,
        "lifecycle anchor (census per week)": lifecycle_per_week,
        "retention (8 weekly cohorts)": retention,
        "digest (all its queries)": digest,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("QUNBOT_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    conditions(
        "SQLite file" + (" and PostgreSQL" if args.postgres else ""),
        members=args.members,
        days=args.days,
        repetitions=args.repetitions,
    )
    async for label, db in fresh_databases(args.postgres):
        started = time.perf_counter()
        community = await fill(db, args.members, args.days)
        async with db.transaction() as session:
            rows = (
                await session.execute(select(func.count()).select_from(InsightMemberDay))
            ).scalar_one()
        print(
            f"{label}: {rows:,} daily rows filled in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        work = passes(db, community)
        times: dict[str, list[float]] = {name: [] for name in work}
        for _ in range(args.repetitions):
            for name, run in work.items():
                times[name].append(await timed(run))
        for name, spent in times.items():
            print(f"  {name:32s} {spread(spent, 's', 2)}", flush=True)
        print(f"  process peak RSS after the timed passes {max_rss_mib():.0f} MiB", flush=True)
        _result, peak = await traced_peak(work["digest (all its queries)"])
        print(
            f"  digest traced peak {peak:.0f} MiB; process peak RSS so far {max_rss_mib():.0f} MiB"
        )
        seen = await work["members (roles and lifecycle)"]()
        print(f"  roles {dict(seen.roles)}; stages {dict(seen.stages)}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
