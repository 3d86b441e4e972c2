"""Insights reports on a big community: 100,000 members with a year of daily rows, on SQLite
and PostgreSQL. Times the queries behind ``/stats 7d|30d|90d`` (period figures), ``/stats
members`` (member activity and the census of roles and stages), ``/stats lifecycle`` (the
census and the chart's weekly stage counts, one read, beside the anchor: a census per week),
``/stats retention`` (weekly cohorts) and the weekly digest end to end (the outbox's
deliverer ``handlers.digest.deliver_digest``: who is there to tell, the figures, newcomers, at
risk, top, suggestions and both charts drawn to PNG), min/median/max of the repetitions.

Memory after the timings, in a fresh process over the same filled database (so neither the
filling nor tracemalloc counts): its peak RSS once it has built one digest (imports, matplotlib
and its fonts included), then the traced peak of a second digest under tracemalloc.

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
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Column, Date, Integer, MetaData, Table, case, func, insert, select, text

from bench.databases import fresh_databases
from bench.report import conditions, max_rss_mib, spread, traced_peak
from bot.actions import Action, ActionResult, Notify
from bot.adapter import Adapter
from bot.clock import FakeClock
from bot.config import Settings
from bot.dispatch import Dispatcher
from bot.features import Registry
from bot.governor import Governor, Limits
from handlers import all_features
from handlers.digest import DIGEST, deliver_digest
from handlers.insights.roles import InsightRules, census, stage_counts
from handlers.insights.stats import LIFECYCLE_WEEKS
from persona import Renderer
from storage import Database, Store, migrate
from storage.insight_reports import Calendar, Days, InsightHour, InsightReports
from storage.insights import COUNTERS, InsightMemberDay, InsightMovement, InsightOptOut, InsightRepo
from storage.members import Member
from storage.outbox import Due

ZONE = ZoneInfo("Asia/Shanghai")
CALENDAR = Calendar(ZONE, 0)
LAST = date(2026, 11, 27)
NOW = datetime.combine(LAST, clock_time(12), ZONE).astimezone(UTC)
PAGE = 10_000
#: The community's one admin, who receives the digest.
ADMIN = "admin"

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
            0,  # reactions received
            0,  # event check-ins (/here)
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

    digest = digest_pass(db, community)

    return {
        "period 7d": period(7),
        "period 30d": period(30),
        "period 90d": period(90),
        "members (roles and lifecycle)": members,
        "lifecycle (8 weeks, one read)": lifecycle,
        "lifecycle anchor (census per week)": lifecycle_per_week,
        "retention (8 weekly cohorts)": retention,
        "digest (end to end, charts drawn)": digest,
    }


class OneAdmin(Adapter):
    """The platform as the digest sees it: one admin in the community, nothing performed."""

    platform = "bench"
    bot_username = "qunbot"

    def __init__(self) -> None:
        self._ids = itertools.count()

    async def perform(self, action: Action) -> ActionResult:
        return ActionResult.done(str(next(self._ids)))

    async def is_admin(self, chat_id: str, user_id: str) -> bool:
        return user_id == ADMIN

    async def chat_admins(self, chat_id: str) -> dict[str, str]:
        return {ADMIN: "Admin"}


def digest_pass(db: Database, community: int) -> Callable[[], Awaitable[Notify]]:
    """The week's digest as the outbox writes it: ``deliver_digest`` on a claimed row, in a
    running bot's tick context (default persona, zh-CN), the notice it returns."""
    store = Store(db)
    dispatcher = Dispatcher(
        registry=Registry(all_features()),
        store=store,
        renderer=Renderer(),
        settings=Settings(console={"enabled": False}),  # type: ignore[arg-type]
        clock=FakeClock(NOW),
    )
    dispatcher.attach(OneAdmin(), Governor(Limits.unlimited()))
    ctx = dispatcher.tick_context()
    year, week, _ = LAST.isocalendar()
    row = Due(
        id=0,
        community_id=community,
        platform="bench",
        chat_id="big",
        channel_id=None,
        target="operators",
        kind=DIGEST,
        occurrence=f"{year}-W{week:02d}",
        payload={},
        scheduled_for=NOW,
        due_at=NOW,
        attempts=0,
    )

    async def run() -> Notify:
        async with store.transaction() as session:
            found = await store.communities.get(session, community)
        assert found is not None
        notice = await deliver_digest(ctx, row, found)
        # Asserts nothing about speed: only that the real digest was built, charts and all.
        assert isinstance(notice, Notify) and len(notice.pictures) == 2, notice
        return notice

    return run


async def where(db: Database) -> tuple[str, str]:
    """The database's URL and PostgreSQL search path ("" on SQLite), for another process."""
    if db.dialect != "postgresql":
        return db.url, ""
    async with db.transaction() as session:
        return db.url, (await session.execute(text("SHOW search_path"))).scalar_one()


def digest_in_fresh_process(url: str, search_path: str, community: int) -> str:
    """Run ``--digest-memory`` in a new interpreter over the filled database; its line."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.insights",
            "--digest-memory",
            url,
            search_path or "-",
            str(community),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return f"failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}"
    return done.stdout.strip()


def high_water_mib() -> float:
    """This process's own peak RSS (``VmHWM``). Not ``ru_maxrss``: Linux carries that over
    ``fork`` and ``exec``, so a child started by a big parent reports the parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return max_rss_mib()


async def digest_memory(url: str, search_path: str, community: int) -> None:
    """The child's side: one digest, the process's peak RSS (tracemalloc not yet started),
    then a second digest under tracemalloc for its traced peak."""
    before = high_water_mib()
    paths = {} if search_path == "-" else {"server_settings": {"search_path": search_path}}
    db = Database(url, connect_args=paths) if paths else Database(url)
    try:
        run = digest_pass(db, community)
        started = time.perf_counter()
        await run()
        cold = time.perf_counter() - started
        peak_rss = high_water_mib()
        _notice, traced = await traced_peak(run)
    finally:
        await db.dispose()
    print(
        f"peak RSS {peak_rss:.0f} MiB (after imports {before:.0f} MiB; first digest {cold:.2f} s, "
        f"cold: matplotlib and its fonts loaded); traced peak of a second digest {traced:.0f} MiB",
        flush=True,
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("QUNBOT_TEST_POSTGRES_URL", ""))
    parser.add_argument("--digest-memory", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.digest_memory:
        url, search_path, community = args.digest_memory
        await digest_memory(url, search_path, int(community))
        return
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
        url, search_path = await where(db)
        line = await asyncio.to_thread(digest_in_fresh_process, url, search_path, community)
        print(f"  digest in a fresh process: {line}", flush=True)
        print(f"  this process's peak RSS (filling included) {max_rss_mib():.0f} MiB", flush=True)
        seen = await work["members (roles and lifecycle)"]()
        print(f"  roles {dict(seen.roles)}; stages {dict(seen.stages)}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
